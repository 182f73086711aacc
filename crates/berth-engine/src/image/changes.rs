//! `docker import --change` instructions: a Dockerfile subset applied to an image's config.

use crate::error::{EngineError, Result};
use bollard_stubs::models::ImageConfig;
use std::collections::HashMap;

/// Applies one instruction such as `ENV PATH=/bin` or `CMD ["sh"]` to `config`.
pub fn apply(config: &mut ImageConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    let bad = || {
        EngineError::Invalid(format!(
            "invalid change {change:?}: expected a value after {instr}"
        ))
    };
    if rest.is_empty() {
        return Err(bad());
    }
    match instr.to_ascii_uppercase().as_str() {
        "ENV" => {
            let env = config.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(rest) {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = config.labels.get_or_insert_with(HashMap::new);
            labels.extend(key_values(rest));
        }
        "CMD" => config.cmd = Some(command(rest)),
        "ENTRYPOINT" => config.entrypoint = Some(command(rest)),
        "WORKDIR" => config.working_dir = Some(rest.to_string()),
        "USER" => config.user = Some(rest.to_string()),
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_with(Vec::new);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
        }
        other => {
            return Err(EngineError::Invalid(format!(
                "{other} is not a valid change command (supported: ENV, LABEL, CMD, ENTRYPOINT, WORKDIR, USER, EXPOSE)"
            )))
        }
    }
    Ok(())
}

/// `K=V K2="v 2"` or the legacy `K V` form.
fn key_values(rest: &str) -> Vec<(String, String)> {
    if !rest.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return vec![(k.to_string(), v.trim().to_string())];
    }
    split_words(rest)
        .into_iter()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// JSON-array form (`["a","b"]`) or shell form (`a b` → `/bin/sh -c "a b"`).
fn command(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return v;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), rest.into()]
}

/// Splits on whitespace outside double quotes, removing the quotes.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_cmd_workdir_expose() {
        let mut c = ImageConfig::default();
        apply(&mut c, "ENV PATH=/bin").unwrap();
        apply(&mut c, "ENV A=1 B=\"two words\"").unwrap();
        apply(&mut c, "ENV PATH=/usr/bin").unwrap();
        apply(&mut c, "CMD [\"sh\", \"-c\", \"echo\"]").unwrap();
        apply(&mut c, "WORKDIR /srv").unwrap();
        apply(&mut c, "EXPOSE 80 53/udp").unwrap();
        assert_eq!(c.env.unwrap(), vec!["A=1", "B=two words", "PATH=/usr/bin"]);
        assert_eq!(c.cmd.unwrap(), vec!["sh", "-c", "echo"]);
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert_eq!(c.exposed_ports.unwrap(), vec!["80/tcp", "53/udp"]);
    }

    #[test]
    fn shell_form_and_errors() {
        let mut c = ImageConfig::default();
        apply(&mut c, "ENTRYPOINT top -b").unwrap();
        assert_eq!(
            c.entrypoint.clone().unwrap(),
            vec!["/bin/sh", "-c", "top -b"]
        );
        assert!(apply(&mut c, "RUN echo")
            .unwrap_err()
            .to_string()
            .contains("RUN is not a valid change"));
        assert!(apply(&mut c, "ENV").is_err());
    }
}
