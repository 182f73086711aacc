//! Docker's list filters (`?filters={"label":["a=b"],"status":["running"]}`), applied by the
//! daemon as Docker applies them: values of one key are alternatives, except `label`, whose
//! values must all match; different keys must all match. Clients such as Compose rely on the
//! daemon doing this (`label=com.docker.compose.project=NAME`).

use std::collections::HashMap;

/// Key → values, as parsed from the `filters` query parameter.
pub type Filters = HashMap<String, Vec<String>>;

/// Refuses keys outside `known`, with Docker's message.
pub fn check_keys(filters: &Filters, known: &[&str]) -> crate::Result<()> {
    for k in filters.keys() {
        if !known.contains(&k.as_str()) {
            return Err(crate::EngineError::Invalid(format!("invalid filter '{k}'")));
        }
    }
    Ok(())
}

/// Whether one of the values of `key` satisfies `pred` (true when the key is absent).
pub fn any_of(filters: &Filters, key: &str, pred: impl Fn(&str) -> bool) -> bool {
    match filters.get(key) {
        None => true,
        Some(vals) if vals.is_empty() => true,
        Some(vals) => vals.iter().any(|v| pred(v)),
    }
}

/// Whether every value of `key` satisfies `pred` (true when the key is absent).
pub fn all_of(filters: &Filters, key: &str, pred: impl Fn(&str) -> bool) -> bool {
    filters
        .get(key)
        .is_none_or(|vals| vals.iter().all(|v| pred(v)))
}

/// `key` or `key=value` against a label map.
pub fn label_matches(want: &str, labels: Option<&HashMap<String, String>>) -> bool {
    let (k, v) = match want.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (want, None),
    };
    match labels.and_then(|l| l.get(k)) {
        None => false,
        Some(actual) => v.is_none_or(|v| v == actual),
    }
}

/// Rob Pike's tiny regex matcher: literals, `.`, `*`, `^`, `$`; unanchored patterns match
/// anywhere, like Go's `regexp.MatchString` (which Docker uses for `name`).
pub fn regex_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    if let Some(rest) = p.strip_prefix(&['^']) {
        return match_here(rest, &t);
    }
    (0..=t.len()).any(|i| match_here(&p, &t[i..]))
}

fn match_here(p: &[char], t: &[char]) -> bool {
    match p {
        [] => true,
        [c, '*', rest @ ..] => match_star(*c, rest, t),
        ['$'] => t.is_empty(),
        [c, rest @ ..] => match t.split_first() {
            Some((tc, trest)) if *c == '.' || c == tc => match_here(rest, trest),
            _ => false,
        },
    }
}

fn match_star(c: char, p: &[char], t: &[char]) -> bool {
    let mut i = 0;
    loop {
        if match_here(p, &t[i..]) {
            return true;
        }
        if i < t.len() && (c == '.' || t[i] == c) {
            i += 1;
        } else {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Filters {
        let mut m: Filters = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn labels_must_all_match_other_keys_any() {
        let l: HashMap<String, String> = [
            ("com.docker.compose.project".to_string(), "demo".to_string()),
            ("com.docker.compose.service".to_string(), "web".to_string()),
        ]
        .into();
        let both = f(&[
            ("label", "com.docker.compose.project=demo"),
            ("label", "com.docker.compose.service=web"),
        ]);
        assert!(all_of(&both, "label", |v| label_matches(v, Some(&l))));
        let other = f(&[
            ("label", "com.docker.compose.project=demo"),
            ("label", "com.docker.compose.service=client"),
        ]);
        assert!(!all_of(&other, "label", |v| label_matches(v, Some(&l))));
        let st = f(&[("status", "created"), ("status", "exited")]);
        assert!(any_of(&st, "status", |v| v == "exited"));
        assert!(!any_of(&st, "status", |v| v == "running"));
        assert!(any_of(&st, "absent", |_| false));
    }

    #[test]
    fn tiny_regex() {
        assert!(regex_match("web", "/myweb1"));
        assert!(regex_match("^/web$", "/web"));
        assert!(!regex_match("^/web$", "/web1"));
        assert!(regex_match("^we.*1$", "web-1"));
        assert!(!regex_match("^db", "web"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(check_keys(&f(&[("label", "a")]), &["label"]).is_ok());
        let e = check_keys(&f(&[("nope", "a")]), &["label"]).unwrap_err();
        assert!(e.to_string().contains("invalid filter 'nope'"), "{e}");
    }
}
