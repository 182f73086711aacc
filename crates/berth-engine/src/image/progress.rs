//! Docker's JSON message stream (`/images/create`, `/images/load`, push): one JSON object per
//! line, `{"status":...,"id":...,"progressDetail":{...}}`, `{"stream":...}`, or a final
//! `{"errorDetail":{"message":...},"error":...}`. The docker CLI draws its progress bars from
//! `progressDetail`; `progress` is the pre-rendered bar older clients print.

use serde_json::{json, Value};
use tokio::sync::mpsc;

pub type Sender = mpsc::Sender<Value>;
pub type Receiver = mpsc::Receiver<Value>;

pub fn status(s: impl Into<String>) -> Value {
    json!({ "status": s.into() })
}

pub fn with_id(id: &str, s: &str) -> Value {
    json!({ "status": s, "progressDetail": {}, "id": id })
}

pub fn bytes(id: &str, s: &str, current: u64, total: u64) -> Value {
    json!({
        "status": s,
        "progressDetail": { "current": current, "total": total },
        "progress": bar(current, total),
        "id": id,
    })
}

pub fn stream(text: impl Into<String>) -> Value {
    json!({ "stream": text.into() })
}

pub fn error(message: &str) -> Value {
    json!({ "errorDetail": { "message": message }, "error": message })
}

/// The short id Docker shows for a blob: the first 12 hex digits.
pub fn short(digest: &str) -> String {
    let h = digest.strip_prefix("sha256:").unwrap_or(digest);
    h.chars().take(12).collect()
}

/// Decimal sizes as Docker's `units.HumanSize` (`1.23MB`).
pub fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    // Four significant digits (Go's %.4g), trailing zeros dropped.
    let int_digits = (v.max(1.0).log10().floor() as usize) + 1;
    let prec = 4usize.saturating_sub(int_digits);
    let mut t = format!("{v:.prec$}");
    if t.contains('.') {
        t = t.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{t}{}", units[i])
}

/// `[=====>      ]  1.2MB/3.4MB`, 50 columns like Docker's.
pub fn bar(current: u64, total: u64) -> String {
    if total == 0 {
        return human(current);
    }
    let width = 50u64;
    let filled = (current.min(total) * width / total).min(width);
    let mut b = String::from("[");
    for i in 0..width {
        b.push(if i < filled {
            '='
        } else if i == filled {
            '>'
        } else {
            ' '
        });
    }
    b.push(']');
    format!("{b} {:>8}/{}", human(current), human(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(999), "999B");
        assert_eq!(human(1234), "1.234kB");
        assert_eq!(human(2_500_000), "2.5MB");
        assert_eq!(human(12_345_678), "12.35MB");
    }

    #[test]
    fn bars() {
        let b = bar(50, 100);
        assert!(b.starts_with("[=========================>"), "{b}");
        assert!(b.ends_with("50B/100B"), "{b}");
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
