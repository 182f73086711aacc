//! `version` and `info`.

use crate::args::FormatArgs;
use crate::client::Client;
use crate::error::describe;
use crate::output::{self, out};
use crate::template::{object, Template};
use bollard::API_DEFAULT_VERSION;
use serde_json::Value;

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => crate::template::go_format(other),
    }
}

fn default_api() -> String {
    format!(
        "{}.{}",
        API_DEFAULT_VERSION.major_version, API_DEFAULT_VERSION.minor_version
    )
}

/// The client half of `version`.
pub fn client_info(negotiated: Option<String>) -> Value {
    let default = default_api();
    object([
        (
            "Version",
            Value::String(env!("CARGO_PKG_VERSION").to_string()),
        ),
        (
            "APIVersion",
            Value::String(negotiated.unwrap_or_else(|| default.clone())),
        ),
        ("DefaultAPIVersion", Value::String(default)),
        ("Os", Value::String(std::env::consts::OS.to_string())),
        ("Arch", Value::String(go_arch().to_string())),
        ("Context", Value::String("default".to_string())),
    ])
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Docker's `version` text (tab-aligned with min width 20, padding 1).
pub fn version_text(client: &Value, server: Option<&Value>) -> String {
    let mut t = String::new();
    t.push_str("Client:\n");
    t.push_str(&format!(" Version:\t{}\n", s(client, "Version")));
    let api = s(client, "APIVersion");
    let default = s(client, "DefaultAPIVersion");
    if api != default {
        t.push_str(&format!(
            " API version:\t{api} (downgraded from {default})\n"
        ));
    } else {
        t.push_str(&format!(" API version:\t{api}\n"));
    }
    t.push_str(&format!(
        " OS/Arch:\t{}/{}\n",
        s(client, "Os"),
        s(client, "Arch")
    ));
    t.push_str(&format!(" Context:\t{}\n", s(client, "Context")));
    if let Some(sv) = server {
        t.push('\n');
        let platform = sv.get("Platform").map(|p| s(p, "Name")).unwrap_or_default();
        if platform.is_empty() {
            t.push_str("Server:\n");
        } else {
            t.push_str(&format!("Server: {platform}\n"));
        }
        t.push_str(" Engine:\n");
        t.push_str(&format!("  Version:\t{}\n", s(sv, "Version")));
        t.push_str(&format!(
            "  API version:\t{} (minimum version {})\n",
            s(sv, "ApiVersion"),
            s(sv, "MinAPIVersion")
        ));
        for (label, key) in [
            ("Go version", "GoVersion"),
            ("Git commit", "GitCommit"),
            ("Built", "BuildTime"),
        ] {
            let v = s(sv, key);
            if !v.is_empty() {
                t.push_str(&format!("  {label}:\t{v}\n"));
            }
        }
        t.push_str(&format!("  OS/Arch:\t{}/{}\n", s(sv, "Os"), s(sv, "Arch")));
        t.push_str(&format!(
            "  Experimental:\t{}\n",
            sv.get("Experimental")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        ));
        for comp in sv
            .get("Components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = s(comp, "Name");
            if name == "Engine" || name.is_empty() {
                continue;
            }
            t.push_str(&format!(" {name}:\n"));
            t.push_str(&format!("  Version:\t{}\n", s(comp, "Version")));
            if let Some(details) = comp.get("Details").filter(|d| d.is_object()) {
                let mut keys: Vec<&String> = details
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                    .collect();
                keys.sort();
                for k in keys {
                    t.push_str(&format!("  {k}:\t{}\n", s(details, k)));
                }
            }
        }
    }
    tabwrite_version(&t)
}

/// tabwriter with minwidth 20, padding 1.
fn tabwrite_version(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        match line.split_once('\t') {
            Some((label, value)) => {
                let w = (label.chars().count() + 1).max(20);
                out.push_str(label);
                out.push_str(&" ".repeat(w - label.chars().count()));
                out.push_str(value);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

pub async fn version(host: &str, a: &FormatArgs) -> anyhow::Result<i32> {
    let connected = Client::connect(host).await;
    let (client, server, err) = match connected {
        Ok(c) => {
            let v = c.docker.client_version();
            let api = format!("{}.{}", v.major_version, v.minor_version);
            match c.get_raw("/version").await {
                Ok(raw) => (
                    client_info(Some(api)),
                    serde_json::from_slice::<Value>(&raw).ok(),
                    None,
                ),
                Err(e) => (client_info(Some(api)), None, Some(anyhow::Error::new(e))),
            }
        }
        Err(e) => (client_info(None), None, Some(e)),
    };
    if let Some(f) = &a.format {
        let data = object([
            ("Client", client),
            ("Server", server.unwrap_or(Value::Null)),
        ]);
        let mut text = Template::parse(f)?.execute(&data)?;
        text.push('\n');
        out(&text);
    } else {
        out(&version_text(&client, server.as_ref()));
    }
    match err {
        Some(e) => {
            eprintln!("{}", describe(&e));
            Ok(1)
        }
        None => Ok(0),
    }
}

/// A minimal `docker info` text from the daemon's `/info` object.
pub fn info_text(info: &Value) -> String {
    let mut t = String::new();
    t.push_str("Client:\n");
    t.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    t.push_str(" Context:    default\n");
    t.push_str(" Debug Mode: false\n");
    t.push_str("\nServer:\n");
    let n = |k: &str| info.get(k).and_then(Value::as_i64).unwrap_or(0);
    t.push_str(&format!(" Containers: {}\n", n("Containers")));
    t.push_str(&format!("  Running: {}\n", n("ContainersRunning")));
    t.push_str(&format!("  Paused: {}\n", n("ContainersPaused")));
    t.push_str(&format!("  Stopped: {}\n", n("ContainersStopped")));
    t.push_str(&format!(" Images: {}\n", n("Images")));
    for (label, key) in [
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Default Runtime", "DefaultRuntime"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
    ] {
        let v = s(info, key);
        if !v.is_empty() {
            t.push_str(&format!(" {label}: {v}\n"));
        }
    }
    if let Some(mem) = info.get("MemTotal").and_then(Value::as_f64) {
        t.push_str(&format!(" Total Memory: {}\n", output::bytes_size(mem)));
    }
    for (label, key) in [
        ("Name", "Name"),
        ("ID", "ID"),
        ("Root Dir", "DockerRootDir"),
        ("Debug Mode", "Debug"),
        ("Experimental", "ExperimentalBuild"),
        ("Live Restore Enabled", "LiveRestoreEnabled"),
    ] {
        let v = s(info, key);
        if !v.is_empty() {
            t.push_str(&format!(" {label}: {v}\n"));
        }
    }
    for w in info
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        t.push_str(&format!("{w}\n"));
    }
    t
}

pub async fn info(c: &Client, a: &FormatArgs) -> anyhow::Result<i32> {
    let raw = c.get_raw("/info").await?;
    let v: Value = serde_json::from_slice(&raw)?;
    match &a.format {
        Some(f) => {
            let mut text = Template::parse(f)?.execute(&v)?;
            text.push('\n');
            out(&text);
        }
        None => out(&info_text(&v)),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_layout() {
        let client = object([
            ("Version", json!("0.1.0")),
            ("APIVersion", json!("1.51")),
            ("DefaultAPIVersion", json!("1.53")),
            ("Os", json!("linux")),
            ("Arch", json!("amd64")),
            ("Context", json!("default")),
        ]);
        let server = json!({
            "Version": "0.1.0", "ApiVersion": "1.51", "MinAPIVersion": "1.24",
            "Os": "linux", "Arch": "amd64"
        });
        let text = version_text(&client, Some(&server));
        let expected = "Client:\n \
Version:           0.1.0\n \
API version:       1.51 (downgraded from 1.53)\n \
OS/Arch:           linux/amd64\n \
Context:           default\n\
\n\
Server:\n \
Engine:\n  \
Version:          0.1.0\n  \
API version:      1.51 (minimum version 1.24)\n  \
OS/Arch:          linux/amd64\n  \
Experimental:     false\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn info_has_counts() {
        let text = info_text(&json!({
            "Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0,
            "ContainersStopped": 2, "Images": 5, "NCPU": 2, "MemTotal": 16000000000u64,
            "Name": "host"
        }));
        assert!(text.contains(" Containers: 3\n  Running: 1\n"));
        assert!(text.contains(" CPUs: 2\n"));
        assert!(text.contains(" Total Memory: 14.9GiB\n"));
        assert!(text.contains(" Name: host\n"));
    }
}
