//! Client-side application of common `--filter` keys.
//!
//! The filters are also sent to the daemon; applying them again here is
//! harmless when the daemon honours them and makes `ps -f name=x` and
//! `network ls -f driver=bridge` work when it does not.

use bollard::models::{ContainerSummary, Network};
use std::collections::HashMap;

pub type Filters = HashMap<String, Vec<String>>;

/// Rob Pike's tiny regex matcher: literals, `.`, `*`, `^`, `$`; unanchored
/// patterns match anywhere, like Go's `regexp.MatchString`.
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

/// `label=key` or `label=key=value` against a label map.
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

fn any_of(filters: &Filters, key: &str, pred: impl Fn(&str) -> bool) -> bool {
    match filters.get(key) {
        None => true,
        Some(vals) if vals.is_empty() => true,
        Some(vals) => vals.iter().any(|v| pred(v)),
    }
}

fn all_of(filters: &Filters, key: &str, pred: impl Fn(&str) -> bool) -> bool {
    filters
        .get(key)
        .is_none_or(|vals| vals.iter().all(|v| pred(v)))
}

/// Whether `ps` should show this container.
pub fn keep_container(filters: &Filters, c: &ContainerSummary) -> bool {
    let id = c.id.as_deref().unwrap_or("");
    let names: Vec<&str> = c.names.iter().flatten().map(String::as_str).collect();
    let state = c.state.map(|s| s.to_string()).unwrap_or_default();
    any_of(filters, "id", |v| id.starts_with(v))
        && any_of(filters, "name", |v| {
            names.iter().any(|n| {
                let bare = n.strip_prefix('/').unwrap_or(n);
                regex_match(v, n) || regex_match(v, bare)
            })
        })
        && any_of(filters, "status", |v| v == state)
        && all_of(filters, "label", |v| label_matches(v, c.labels.as_ref()))
        && any_of(filters, "ancestor", |v| c.image.as_deref() == Some(v))
}

const BUILTIN_NETWORKS: &[&str] = &["bridge", "host", "none"];

/// Whether `network ls` should show this network.
pub fn keep_network(filters: &Filters, n: &Network) -> bool {
    let id = n.id.as_deref().unwrap_or("");
    let name = n.name.as_deref().unwrap_or("");
    any_of(filters, "id", |v| id.starts_with(v))
        && any_of(filters, "name", |v| regex_match(v, name))
        && any_of(filters, "driver", |v| n.driver.as_deref() == Some(v))
        && any_of(filters, "scope", |v| n.scope.as_deref() == Some(v))
        && any_of(filters, "type", |v| match v {
            "builtin" => BUILTIN_NETWORKS.contains(&name),
            "custom" => !BUILTIN_NETWORKS.contains(&name),
            _ => true,
        })
        && all_of(filters, "label", |v| label_matches(v, n.labels.as_ref()))
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
    fn tiny_regex() {
        assert!(regex_match("web", "/myweb1"));
        assert!(regex_match("^/web$", "/web"));
        assert!(!regex_match("^/web$", "/web1"));
        assert!(regex_match("^we.*1$", "web-1"));
        assert!(!regex_match("^db", "web"));
        assert!(regex_match("", "anything"));
    }

    #[test]
    fn labels() {
        let l: HashMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(label_matches("a", Some(&l)));
        assert!(label_matches("a=1", Some(&l)));
        assert!(!label_matches("a=2", Some(&l)));
        assert!(!label_matches("b", Some(&l)));
        assert!(!label_matches("a", None));
    }

    #[test]
    fn containers() {
        let c = ContainerSummary {
            id: Some("abcdef".into()),
            names: Some(vec!["/web".into()]),
            state: Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
            ..Default::default()
        };
        assert!(keep_container(&f(&[]), &c));
        assert!(keep_container(&f(&[("name", "web")]), &c));
        assert!(keep_container(&f(&[("name", "^web$")]), &c));
        assert!(keep_container(&f(&[("name", "db"), ("name", "web")]), &c));
        assert!(!keep_container(&f(&[("name", "db")]), &c));
        assert!(keep_container(
            &f(&[("id", "abc"), ("status", "running")]),
            &c
        ));
        assert!(!keep_container(&f(&[("status", "exited")]), &c));
        assert!(!keep_container(&f(&[("label", "x")]), &c));
        // Unknown keys are left to the daemon.
        assert!(keep_container(&f(&[("volume", "v")]), &c));
    }

    #[test]
    fn networks() {
        let n = Network {
            id: Some("1234".into()),
            name: Some("n1".into()),
            driver: Some("bridge".into()),
            ..Default::default()
        };
        assert!(keep_network(&f(&[("driver", "bridge")]), &n));
        assert!(!keep_network(&f(&[("driver", "host")]), &n));
        assert!(keep_network(&f(&[("type", "custom")]), &n));
        assert!(!keep_network(&f(&[("type", "builtin")]), &n));
        assert!(keep_network(&f(&[("name", "n")]), &n));
        assert!(!keep_network(&f(&[("id", "9")]), &n));
    }
}
