//! Docker-style output helpers: tab-aligned tables, `--format` handling,
//! human-readable durations and sizes, and writing to stdout safely.

use crate::template::{Template, TemplateError};
use serde_json::Value;
use std::io::Write;

/// Writes `s` to stdout. A closed pipe (`berth ps | head -1`) ends the process
/// quietly instead of panicking like `println!` would.
pub fn out(s: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(s.as_bytes()).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// `out` plus a trailing newline.
pub fn outln(s: &str) {
    let mut line = String::with_capacity(s.len() + 1);
    line.push_str(s);
    line.push('\n');
    out(&line);
}

/// Aligns tab-separated cells the way Docker does with
/// `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: every cell that is followed by a
/// tab is padded to the width of its column (widest cell + 3, at least 10); the
/// last cell of a line is not padded. Widths count characters, not bytes.
pub fn tabwrite(text: &str) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    // Go's tabwriter aligns a column over a block of consecutive lines that all
    // have that column; handle it the same way, column by column.
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; l.len()]).collect();
    let max_cols = lines.iter().map(Vec::len).max().unwrap_or(0);
    for col in 0..max_cols.saturating_sub(1) {
        let mut start = 0;
        while start < lines.len() {
            // A cell is terminated by a tab, so the column exists on a line only
            // when the line has a cell after it.
            if lines[start].len() <= col + 1 {
                start += 1;
                continue;
            }
            let mut end = start;
            while end < lines.len() && lines[end].len() > col + 1 {
                end += 1;
            }
            let w = lines[start..end]
                .iter()
                .map(|l| l[col].chars().count() + PADDING)
                .max()
                .unwrap_or(0)
                .max(MIN_WIDTH);
            for row in widths.iter_mut().take(end).skip(start) {
                row[col] = w;
            }
            start = end;
        }
    }
    for (line, w) in lines.iter().zip(widths.iter()) {
        let n = line.len();
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < n {
                let pad = w[i].saturating_sub(cell.chars().count());
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    }
    out
}

/// A `--format` value, interpreted like Docker's formatter context.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// `table ...` (also the default): header row, tab-aligned.
    Table(String),
    /// A raw template, one line per item.
    Raw(String),
}

impl Format {
    /// Interprets a user `--format`; `None` selects `default_table`.
    pub fn from_user(user: Option<&str>, default_table: &str) -> Format {
        let s = match user {
            None | Some("") | Some("table") => default_table.to_string(),
            Some("json") => "{{json .}}".to_string(),
            Some(s) => s.to_string(),
        };
        match s.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                Format::Table(Self::prepare(rest))
            }
            _ => Format::Raw(Self::prepare(&s)),
        }
    }

    /// Docker trims spaces and turns the two-character sequences `\t` and `\n`
    /// into real tabs and newlines.
    fn prepare(s: &str) -> String {
        s.trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n")
    }
}

/// Renders a list of items (format contexts) with a header context, the way
/// `docker ps` / `docker network ls` do.
pub fn render_list(
    format: &Format,
    header: &Value,
    rows: &[Value],
) -> Result<String, TemplateError> {
    match format {
        Format::Table(t) => {
            let tpl = Template::parse(t)?;
            let mut buf = String::new();
            buf.push_str(&tpl.execute(header)?);
            buf.push('\n');
            for row in rows {
                buf.push_str(&tpl.execute(row)?);
                buf.push('\n');
            }
            Ok(tabwrite(&buf))
        }
        Format::Raw(t) => {
            let tpl = Template::parse(t)?;
            let mut buf = String::new();
            for row in rows {
                buf.push_str(&tpl.execute(row)?);
                buf.push('\n');
            }
            Ok(buf)
        }
    }
}

/// go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let seconds = secs;
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = ((seconds as f64) / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", seconds / 3600 / 24 / 365)
}

/// "5 seconds ago" for a unix timestamp, relative to `now`.
pub fn ago(created: i64, now: i64) -> String {
    format!("{} ago", human_duration(now - created))
}

/// Current unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// go-units `HumanSizeWithPrecision(size, 3)`: decimal units, `%.3g`.
pub fn human_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", format_g(size, 3), UNITS[i])
}

/// go-units `BytesSize`: binary units, `%.4g` (used by `info`).
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", format_g(size, 4), UNITS[i])
}

/// Go's `%.{prec}g`.
pub fn format_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, x);
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let m = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Docker's `formatter.Ellipsis`: cut to `max` characters, the last being `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// First 12 hex digits of an id, without any `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// Go's `time.Time.String()` for a UTC unix timestamp.
pub fn go_time_string(unix: i64) -> String {
    match chrono::DateTime::from_timestamp(unix, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        None => String::new(),
    }
}

/// Parses an RFC 3339 timestamp into unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

/// Natural ("version") ordering used by `docker network ls`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if ab[i] != bb[j] {
                return ab[i].cmp(&bb[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

/// Go's `encoding/json.Indent(dst, src, "", indent)`: re-indents raw JSON
/// without reordering keys or touching string contents.
pub fn json_indent(src: &[u8], indent: &str) -> String {
    let mut out = Vec::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(indent.as_bytes());
        }
    };
    for &c in src {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if need_indent && c != b']' && c != b'}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b'{' | b'[' => {
                out.push(c);
                need_indent = true;
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => {
                out.push(c);
                out.push(b' ');
            }
            b'}' | b']' => {
                if need_indent {
                    // empty object/array
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Docker's inspect output: a JSON array of the raw objects, 4-space indented.
pub fn inspect_array(raw: &[bytes::Bytes]) -> String {
    let mut joined = Vec::new();
    joined.push(b'[');
    for (i, r) in raw.iter().enumerate() {
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(r);
    }
    joined.push(b']');
    let mut s = json_indent(&joined, "    ");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tabwriter_matches_docker_network_ls() {
        let text = "NETWORK ID\tNAME\tDRIVER\tSCOPE\n\
                    1c2f3e4d5a6b\tbridge\tbridge\tlocal\n\
                    9a8b7c6d5e4f\thost\thost\tlocal\n";
        let expected = "NETWORK ID     NAME      DRIVER    SCOPE\n\
                        1c2f3e4d5a6b   bridge    bridge    local\n\
                        9a8b7c6d5e4f   host      host      local\n";
        assert_eq!(tabwrite(text), expected);
    }

    #[test]
    fn tabwriter_empty_column_is_min_width() {
        let text = "PORTS\tNAMES\n\tweb\n";
        assert_eq!(tabwrite(text), "PORTS     NAMES\n          web\n");
    }

    #[test]
    fn tabwriter_counts_chars_not_bytes() {
        let text = "A\tB\n\"sleep 1…\"\tx\n";
        assert_eq!(tabwrite(text), "A            B\n\"sleep 1…\"   x\n");
    }

    #[test]
    fn format_table_and_raw() {
        assert_eq!(
            Format::from_user(None, "table {{.ID}}\t{{.Name}}"),
            Format::Table("{{.ID}}\t{{.Name}}".to_string())
        );
        assert_eq!(
            Format::from_user(Some("table {{.ID}}\\t{{.Name}}"), "x"),
            Format::Table("{{.ID}}\t{{.Name}}".to_string())
        );
        assert_eq!(
            Format::from_user(Some("{{.ID}}"), "x"),
            Format::Raw("{{.ID}}".to_string())
        );
        assert_eq!(
            Format::from_user(Some("json"), "x"),
            Format::Raw("{{json .}}".to_string())
        );
    }

    #[test]
    fn render_list_with_header() {
        let header = json!({"ID": "NETWORK ID", "Name": "NAME"});
        let rows = vec![json!({"ID": "abc", "Name": "n1"})];
        let f = Format::from_user(Some("table {{.ID}}\t{{.Name}}"), "");
        assert_eq!(
            render_list(&f, &header, &rows).unwrap_or_default(),
            "NETWORK ID   NAME\nabc          n1\n"
        );
        let f = Format::from_user(Some("{{.Name}}"), "");
        assert_eq!(render_list(&f, &header, &rows).unwrap_or_default(), "n1\n");
    }

    #[test]
    fn humanize_durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(3599), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5400), "2 hours");
        assert_eq!(human_duration(47 * 3600), "47 hours");
        assert_eq!(human_duration(48 * 3600), "2 days");
        assert_eq!(human_duration(14 * 24 * 3600), "2 weeks");
        assert_eq!(human_duration(60 * 24 * 3600), "2 months");
        assert_eq!(human_duration(800 * 24 * 3600), "2 years");
        assert_eq!(ago(100, 105), "5 seconds ago");
    }

    #[test]
    fn humanize_sizes() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(4_200_000.0), "4.2MB");
        assert_eq!(human_size(4_194_304.0), "4.19MB");
        assert_eq!(human_size(123_456.0), "123kB");
        assert_eq!(human_size(7_800_000_000.0), "7.8GB");
        // Go's %.3g switches to an exponent here, and so does Docker.
        assert_eq!(human_size(999_600.0), "1e+03kB");
        assert_eq!(bytes_size(16_000_000_000.0), "14.9GiB");
    }

    #[test]
    fn format_g_cases() {
        assert_eq!(format_g(1.0, 3), "1");
        assert_eq!(format_g(12.345, 3), "12.3");
        assert_eq!(format_g(0.000012345, 3), "1.23e-05");
        assert_eq!(format_g(100.0, 3), "100");
    }

    #[test]
    fn ellipsis_like_docker() {
        assert_eq!(ellipsis("short", 20), "short");
        assert_eq!(
            ellipsis("/bin/sh -c 'while true; do sleep 1; done'", 20),
            "/bin/sh -c 'while t…"
        );
        assert_eq!(ellipsis("/bin/sh -c 'while t…", 20).chars().count(), 20);
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["net10", "net2", "bridge", "host", "net1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["bridge", "host", "net1", "net2", "net10"]);
    }

    #[test]
    fn json_indent_like_go() {
        let raw = br#"{"Id":"a","Args":[],"Env":["A=1","B=2"],"Labels":{},"S":"x: {y}, [z]"}"#;
        let expected = "{\n    \"Id\": \"a\",\n    \"Args\": [],\n    \"Env\": [\n        \"A=1\",\n        \"B=2\"\n    ],\n    \"Labels\": {},\n    \"S\": \"x: {y}, [z]\"\n}";
        assert_eq!(json_indent(raw, "    "), expected);
    }

    #[test]
    fn inspect_array_output() {
        let raw = vec![bytes::Bytes::from_static(br#"{"Id":"a"}"#)];
        assert_eq!(
            inspect_array(&raw),
            "[\n    {\n        \"Id\": \"a\"\n    }\n]\n"
        );
        assert_eq!(inspect_array(&[]), "[]\n");
    }

    #[test]
    fn go_time() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
