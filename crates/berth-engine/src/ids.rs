//! Identifiers and names: 64-hex ids, Docker-style random names, RFC 3339 timestamps.

use rand::Rng;

/// A fresh 256-bit id as 64 lowercase hex digits.
pub fn new_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

const LEFT: &[&str] = &[
    "admiring",
    "brave",
    "clever",
    "dazzling",
    "eager",
    "focused",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "loving",
    "modest",
    "nifty",
    "optimistic",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];
const RIGHT: &[&str] = &[
    "albattani",
    "babbage",
    "curie",
    "darwin",
    "euclid",
    "feynman",
    "galileo",
    "hopper",
    "joliot",
    "kepler",
    "lovelace",
    "mayer",
    "noether",
    "pasteur",
    "ritchie",
    "shannon",
    "tesla",
    "turing",
    "volta",
    "wozniak",
    "yalow",
    "zhukovsky",
];

/// A Docker-style random name such as `happy_turing`.
pub fn random_name() -> String {
    let mut r = rand::rng();
    format!(
        "{}_{}",
        LEFT[r.random_range(0..LEFT.len())],
        RIGHT[r.random_range(0..RIGHT.len())]
    )
}

/// Docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_id());
    }

    #[test]
    fn names() {
        assert!(valid_name("web-1"));
        assert!(valid_name("a.b_c"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("a/b"));
        assert!(valid_name(&random_name()));
    }
}
