//! Docker's json-file log format: one JSON object per line with `log`, `stream` and `time`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogLine {
    pub log: String,
    pub stream: String,
    pub time: String,
}

impl LogLine {
    pub fn new(stream: &str, bytes: &[u8]) -> Self {
        LogLine {
            log: String::from_utf8_lossy(bytes).into_owned(),
            stream: stream.to_string(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        }
    }

    /// Parses one line; malformed lines give `None`, never a panic.
    pub fn parse(line: &str) -> Option<Self> {
        serde_json::from_str(line).ok()
    }
}

/// Splits a chunk into log records at newlines, keeping the newline in each record as Docker
/// does; an unterminated tail stays in `pending` until more data (or EOF) arrives.
pub fn split_lines(pending: &mut Vec<u8>, chunk: &[u8]) -> Vec<Vec<u8>> {
    pending.extend_from_slice(chunk);
    let mut out = Vec::new();
    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
        out.push(pending.drain(..=i).collect());
    }
    // Very long lines are cut like Docker's 16 KiB partial messages.
    while pending.len() >= 16 * 1024 {
        out.push(pending.drain(..16 * 1024).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_newline_and_tail_waits() {
        let mut p = Vec::new();
        let l = split_lines(&mut p, b"a\nbc");
        assert_eq!(l, vec![b"a\n".to_vec()]);
        assert_eq!(p, b"bc");
        let l = split_lines(&mut p, b"d\n");
        assert_eq!(l, vec![b"bcd\n".to_vec()]);
    }

    #[test]
    fn roundtrip() {
        let l = LogLine::new("stderr", b"x\n");
        let s = serde_json::to_string(&l).unwrap();
        assert_eq!(LogLine::parse(&s), Some(l));
        assert_eq!(LogLine::parse("{garbage"), None);
    }
}
