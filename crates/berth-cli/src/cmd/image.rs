//! Image commands: `images`, `rmi`, `import`, and the registry/archive ones: `pull`, `push`,
//! `save`, `load`, `tag`, `image prune`, `login`, `logout`.

use super::{report, status};
use crate::args::{
    ImagePruneArgs, ImagesArgs, ImportArgs, LoadArgs, LoginArgs, LogoutArgs, PullArgs, PushArgs,
    RmiArgs, SaveArgs, TagArgs,
};
use crate::client::{query_string, Client};
use crate::cmd::run::{split_reference, validate_reference};
use crate::error::StatusError;
use crate::opts::parse_filters;
use crate::output::{self, out, outln, Format};
use crate::template::object;
use bollard::models::ImageSummary;
use bollard::query_parameters::{ListImagesOptions, RemoveImageOptions};
use bytes::Bytes;
use serde_json::Value;

pub const IMAGES_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub fn images_header() -> Value {
    object(
        [
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("Digest", "DIGEST"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("Size", "SIZE"),
            ("Containers", "CONTAINERS"),
        ]
        .map(|(k, v)| (k, Value::String(v.to_string()))),
    )
}

/// One row per repository:tag (or one `<none>` row), like `docker images`.
pub fn image_rows(img: &ImageSummary, trunc: bool, now: i64) -> Vec<Value> {
    let id = if trunc {
        output::short_id(&img.id)
    } else {
        img.id.clone()
    };
    let digest = img
        .repo_digests
        .first()
        .and_then(|d| d.split_once('@'))
        .map_or("<none>".to_string(), |(_, d)| d.to_string());
    let mut tags: Vec<(String, String)> = img
        .repo_tags
        .iter()
        .filter(|t| t.as_str() != "<none>:<none>")
        .map(|t| {
            let (repo, tag) = split_reference(t);
            (repo.to_string(), tag.unwrap_or("<none>").to_string())
        })
        .collect();
    if tags.is_empty() {
        tags.push(("<none>".to_string(), "<none>".to_string()));
    }
    tags.into_iter()
        .map(|(repo, tag)| {
            object([
                ("Repository", Value::String(repo)),
                ("Tag", Value::String(tag)),
                ("ID", Value::String(id.clone())),
                ("Digest", Value::String(digest.clone())),
                ("CreatedSince", Value::String(output::ago(img.created, now))),
                (
                    "CreatedAt",
                    Value::String(output::go_time_string(img.created)),
                ),
                ("Size", Value::String(output::human_size(img.size as f64))),
                ("Containers", Value::String(img.containers.to_string())),
            ])
        })
        .collect()
}

pub async fn images(c: &Client, a: &ImagesArgs) -> anyhow::Result<i32> {
    let mut filters = parse_filters(&a.filter)?;
    if let Some(r) = &a.reference {
        filters
            .entry("reference".to_string())
            .or_default()
            .push(r.clone());
    }
    let list = c
        .docker
        .list_images(Some(ListImagesOptions {
            all: a.all,
            filters: (!filters.is_empty()).then_some(filters),
            ..Default::default()
        }))
        .await?;
    let now = output::now_unix();
    let rows: Vec<Value> = list
        .iter()
        .flat_map(|i| image_rows(i, !a.no_trunc, now))
        .collect();
    let format = if a.quiet {
        Format::Raw("{{.ID}}".to_string())
    } else {
        Format::from_user(a.format.as_deref(), IMAGES_TABLE)
    };
    out(&output::render_list(&format, &images_header(), &rows)?);
    Ok(0)
}

pub async fn rmi(c: &Client, a: &RmiArgs) -> anyhow::Result<i32> {
    let mut failed = false;
    for name in &a.images {
        let opts = RemoveImageOptions {
            force: a.force,
            noprune: a.no_prune,
            ..Default::default()
        };
        match c.docker.remove_image(name, Some(opts), None).await {
            Ok(items) => {
                let mut s = String::new();
                for item in items {
                    if let Some(u) = item.untagged {
                        s.push_str(&format!("Untagged: {u}\n"));
                    }
                    if let Some(d) = item.deleted {
                        s.push_str(&format!("Deleted: {d}\n"));
                    }
                }
                out(&s);
            }
            Err(e) => report(&mut failed, &e),
        }
    }
    Ok(status(failed))
}

/// The Dockerfile instructions `import --change` accepts.
const CHANGE_COMMANDS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

pub fn validate_change(change: &str) -> Result<(), String> {
    let word = change.split_whitespace().next().unwrap_or("");
    if CHANGE_COMMANDS.contains(&word.to_uppercase().as_str()) {
        Ok(())
    } else {
        Err(format!("{word} is not a valid change command"))
    }
}

/// Builds the `POST /images/create` query for `import`: `fromSrc`, `repo`,
/// `tag`, `message`, `platform` and one `changes` per `--change`.
pub fn import_query(a: &ImportArgs) -> Result<Vec<(&'static str, String)>, String> {
    for ch in &a.change {
        validate_change(ch)?;
    }
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    let mut q = vec![(
        "fromSrc",
        if is_url {
            a.source.clone()
        } else {
            "-".to_string()
        },
    )];
    if let Some(r) = &a.reference {
        validate_reference(r)?;
        let (repo, tag) = split_reference(r);
        q.push(("repo", repo.to_string()));
        if let Some(t) = tag {
            q.push(("tag", t.to_string()));
        }
    }
    if let Some(m) = &a.message {
        q.push(("message", m.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    for ch in &a.change {
        q.push(("changes", ch.clone()));
    }
    Ok(q)
}

/// The lines Docker prints for a JSON message stream; an `error` ends it.
pub fn progress_lines(body: &[u8]) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for msg in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
        let msg = msg.map_err(|e| format!("unexpected response from daemon: {e}"))?;
        let err = msg
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .or_else(|| msg.get("error"))
            .and_then(Value::as_str);
        if let Some(e) = err {
            return Err(e.to_string());
        }
        let status = msg.get("status").and_then(Value::as_str);
        let id = msg.get("id").and_then(Value::as_str).unwrap_or("");
        match status {
            Some(st) if !id.is_empty() => lines.push(format!("{id}: {st}")),
            Some(st) => lines.push(st.to_string()),
            None => {}
        }
    }
    Ok(lines)
}

fn read_chunks(
    reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(reader, |mut r| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    })
}

pub async fn import(c: &Client, a: &ImportArgs) -> anyhow::Result<i32> {
    let query = import_query(a).map_err(|e| StatusError::new(1, e))?;
    let from_stdin_or_file = query.first().is_some_and(|(_, v)| v == "-");
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = if !from_stdin_or_file {
        Box::new(tokio::io::empty())
    } else if a.source == "-" {
        Box::new(tokio::io::stdin())
    } else {
        let f = tokio::fs::File::open(&a.source)
            .await
            .map_err(|e| StatusError::new(1, format!("open {}: {e}", a.source)))?;
        Box::new(f)
    };
    let path = format!("/images/create?{}", query_string(&query));
    let body = c.post_stream(&path, read_chunks(reader)).await?;
    let lines = progress_lines(&body).map_err(|e| StatusError::new(1, e))?;
    for l in lines {
        outln(&l);
    }
    Ok(0)
}

// ---- Registries and archives ------------------------------------------------------------

/// Docker Hub's key in `config.json`, as Docker writes it.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Where `login` keeps credentials: `$BERTH_CONFIG`, else `$DOCKER_CONFIG`, else `~/.berth`
/// (a `config.json` in Docker's format: `{"auths":{"host":{"auth":"base64(user:pass)"}}}`).
pub fn config_dir() -> std::path::PathBuf {
    for var in ["BERTH_CONFIG", "DOCKER_CONFIG"] {
        if let Some(d) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            return d.into();
        }
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    std::path::Path::new(&home).join(".berth")
}

fn config_file() -> std::path::PathBuf {
    config_dir().join("config.json")
}

fn read_config() -> Value {
    std::fs::read(config_file())
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}))
}

fn write_config(v: &Value) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = config_dir();
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!("config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    std::io::Write::write_all(&mut f, serde_json::to_string_pretty(v)?.as_bytes())?;
    std::fs::rename(&tmp, config_file())?;
    Ok(())
}

/// The registry an image name lives on (`docker.io` for unqualified names).
pub fn registry_of(name: &str) -> String {
    match name.split_once('/') {
        Some((first, _))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// The `config.json` key for a registry host or login server argument.
pub fn registry_key(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        h => h.to_string(),
    }
}

/// Stored credentials for the registry of `image`, as bollard sends them (X-Registry-Auth).
pub fn credentials_for(image: &str) -> Option<bollard::auth::DockerCredentials> {
    use base64::Engine as _;
    let key = registry_key(&registry_of(image));
    let cfg = read_config();
    let auths = cfg.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find(|(k, _)| registry_key(k) == key)
        .map(|(_, v)| v)?;
    let auth = entry.get("auth").and_then(Value::as_str)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some(bollard::auth::DockerCredentials {
        username: Some(user.to_string()),
        password: Some(pass.to_string()),
        serveraddress: Some(key),
        ..Default::default()
    })
}

/// One message of Docker's JSON stream, as the renderer needs it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreamMsg {
    pub id: String,
    pub status: String,
    /// `progressDetail` was present.
    pub has_progress: bool,
    pub current: i64,
    pub total: i64,
    pub stream: String,
}

impl StreamMsg {
    pub fn from_value(v: &Value) -> StreamMsg {
        let pd = v.get("progressDetail");
        StreamMsg {
            id: v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            status: v
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            has_progress: pd.is_some_and(|p| !p.is_null()),
            current: pd
                .and_then(|p| p.get("current"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
            total: pd
                .and_then(|p| p.get("total"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
            stream: v
                .get("stream")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }
    }

    /// Docker's `JSONProgress.String()`: a bar, or empty when there is nothing to show.
    pub fn bar(&self) -> String {
        if self.current <= 0 && self.total <= 0 {
            return String::new();
        }
        let cur = human4(self.current);
        if self.total <= 0 {
            return format!("{cur:>8}");
        }
        let width = 50i64;
        let filled = (self.current.min(self.total) * width / self.total).clamp(0, width);
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
        format!("{b} {cur:>8}/{}", human4(self.total))
    }
}

/// Sizes as Docker's progress shows them: decimal units, four significant digits.
fn human4(n: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n.max(0) as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let int_digits = (v.max(1.0).log10().floor() as usize) + 1;
    let prec = 4usize.saturating_sub(int_digits);
    let mut t = format!("{v:.prec$}");
    if t.contains('.') {
        t = t.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{t}{}", units[i])
}

/// Draws a JSON message stream like the docker CLI: on a terminal one line per layer,
/// updated in place; otherwise one line per status change, progress updates skipped.
pub struct ProgressView<W: std::io::Write> {
    out: W,
    tty: bool,
    ids: Vec<String>,
}

impl<W: std::io::Write> ProgressView<W> {
    pub fn new(out: W, tty: bool) -> Self {
        ProgressView {
            out,
            tty,
            ids: Vec::new(),
        }
    }

    pub fn show(&mut self, m: &StreamMsg) {
        let mut diff = 0;
        if !m.id.is_empty() && m.has_progress {
            let line = match self.ids.iter().position(|i| i == &m.id) {
                Some(l) => l,
                None => {
                    self.ids.push(m.id.clone());
                    if self.tty {
                        let _ = writeln!(self.out);
                    }
                    self.ids.len() - 1
                }
            };
            diff = self.ids.len() - line;
            if self.tty {
                let _ = write!(self.out, "\x1b[{diff}A");
            }
        } else {
            self.ids.clear();
        }
        let _ = self.out.write_all(self.render(m).as_bytes());
        if !m.id.is_empty() && self.tty && diff > 0 {
            let _ = write!(self.out, "\x1b[{diff}B");
        }
        let _ = self.out.flush();
    }

    fn render(&self, m: &StreamMsg) -> String {
        let mut s = String::new();
        let bar = m.bar();
        let mut endl = "";
        if m.has_progress && self.tty && m.stream.is_empty() {
            s.push_str("\x1b[2K\r");
            endl = "\r";
        } else if m.has_progress && !bar.is_empty() {
            return s; // progress updates only make sense on a terminal
        }
        if !m.id.is_empty() {
            s.push_str(&format!("{}: ", m.id));
        }
        if m.has_progress && self.tty {
            s.push_str(&format!("{} {bar}{endl}", m.status));
        } else if !m.stream.is_empty() {
            s.push_str(&format!("{}{endl}", m.stream));
        } else {
            s.push_str(&format!("{}{endl}\n", m.status));
        }
        s
    }
}

fn stream_msg_of(info: &bollard::models::CreateImageInfo) -> StreamMsg {
    StreamMsg {
        id: info.id.clone().unwrap_or_default(),
        status: info.status.clone().unwrap_or_default(),
        has_progress: info.progress_detail.is_some(),
        current: info
            .progress_detail
            .as_ref()
            .and_then(|p| p.current)
            .unwrap_or(0),
        total: info
            .progress_detail
            .as_ref()
            .and_then(|p| p.total)
            .unwrap_or(0),
        stream: String::new(),
    }
}

/// `fromImage` and `tag` for `POST /images/create`, as the docker CLI sends them.
pub fn pull_params(name: &str) -> (String, String) {
    if let Some((repo, digest)) = name.split_once('@') {
        let (repo, _) = split_reference(repo);
        return (repo.to_string(), digest.to_string());
    }
    let (repo, tag) = split_reference(name);
    (repo.to_string(), tag.unwrap_or("latest").to_string())
}

/// The fully qualified name the docker CLI prints after a pull.
pub fn qualified(name: &str) -> String {
    let name = if name.contains('@') || split_reference(name).1.is_some() {
        name.to_string()
    } else {
        format!("{name}:latest")
    };
    if registry_of(&name) != "docker.io" {
        return name;
    }
    let rest = name.strip_prefix("docker.io/").unwrap_or(&name);
    let repo_end = rest.find(['@', ':']).unwrap_or(rest.len());
    if rest[..repo_end].contains('/') {
        format!("docker.io/{rest}")
    } else {
        format!("docker.io/library/{rest}")
    }
}

/// Pulls `name`, drawing progress on stdout (or stderr, for `run`/`create`).
pub async fn pull_image(
    c: &Client,
    name: &str,
    platform: Option<&str>,
    quiet: bool,
    to_stderr: bool,
) -> Result<(), bollard::errors::Error> {
    use bollard::query_parameters::CreateImageOptions;
    use futures_util::StreamExt;
    use std::io::IsTerminal;
    let (from_image, tag) = pull_params(name);
    let opts = CreateImageOptions {
        from_image: Some(from_image),
        tag: Some(tag),
        platform: platform.unwrap_or_default().to_string(),
        ..Default::default()
    };
    let mut stream = c
        .docker
        .create_image(Some(opts), None, credentials_for(name));
    let (tty, out): (bool, Box<dyn std::io::Write>) = if to_stderr {
        (std::io::stderr().is_terminal(), Box::new(std::io::stderr()))
    } else {
        (std::io::stdout().is_terminal(), Box::new(std::io::stdout()))
    };
    let mut view = ProgressView::new(out, tty);
    while let Some(item) = stream.next().await {
        let info = item?;
        if !quiet {
            view.show(&stream_msg_of(&info));
        }
    }
    Ok(())
}

pub async fn pull(c: &Client, a: &PullArgs) -> anyhow::Result<i32> {
    if a.all_tags {
        return Err(StatusError::new(1, "berth: pull --all-tags is not supported").into());
    }
    validate_reference(&a.name).map_err(|e| StatusError::new(1, e))?;
    if let Err(e) = pull_image(c, &a.name, a.platform.as_deref(), a.quiet, false).await {
        return Err(StatusError::new(1, crate::error::describe_api_error(&e)).into());
    }
    outln(&qualified(&a.name));
    Ok(0)
}

pub async fn push(c: &Client, a: &PushArgs) -> anyhow::Result<i32> {
    use bollard::query_parameters::PushImageOptions;
    use futures_util::StreamExt;
    use std::io::IsTerminal;
    if a.all_tags {
        return Err(StatusError::new(1, "berth: push --all-tags is not supported").into());
    }
    validate_reference(&a.name).map_err(|e| StatusError::new(1, e))?;
    let (repo, tag) = split_reference(&a.name);
    let opts = PushImageOptions {
        tag: Some(tag.unwrap_or("latest").to_string()),
        ..Default::default()
    };
    let creds = credentials_for(&a.name).unwrap_or_default();
    let mut stream = c.docker.push_image(repo, Some(opts), Some(creds));
    let mut view = ProgressView::new(std::io::stdout(), std::io::stdout().is_terminal());
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if !a.quiet {
                    // Push messages carry no layer id in bollard's model: show statuses only.
                    if info
                        .progress_detail
                        .as_ref()
                        .is_some_and(|p| p.current.is_some())
                    {
                        continue;
                    }
                    let status = info.status.clone().unwrap_or_default();
                    if !status.is_empty() {
                        view.show(&StreamMsg {
                            status,
                            ..Default::default()
                        });
                    }
                }
            }
            Err(e) => return Err(StatusError::new(1, crate::error::describe_api_error(&e)).into()),
        }
    }
    if a.quiet {
        outln(&qualified(&a.name));
    }
    Ok(0)
}

pub async fn save(c: &Client, a: &SaveArgs) -> anyhow::Result<i32> {
    use futures_util::StreamExt;
    use std::io::{IsTerminal, Write};
    for i in &a.images {
        validate_reference(i).map_err(|e| StatusError::new(1, e))?;
    }
    let mut out: Box<dyn Write> = match a.output.as_deref() {
        Some(path) if path != "-" => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| StatusError::new(1, format!("failed to save image: {path}: {e}")))?,
        )),
        _ => {
            if std::io::stdout().is_terminal() {
                return Err(StatusError::new(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                )
                .into());
            }
            Box::new(std::io::stdout())
        }
    };
    let names: Vec<&str> = a.images.iter().map(String::as_str).collect();
    let mut stream = c.docker.export_images(&names);
    let mut wrote = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                wrote = true;
                out.write_all(&b)
                    .map_err(|e| StatusError::new(1, format!("failed to save image: {e}")))?;
            }
            Err(e) => {
                drop(out);
                if let (Some(p), false) = (a.output.as_deref(), wrote) {
                    let _ = std::fs::remove_file(p);
                }
                return Err(StatusError::new(1, crate::error::describe_api_error(&e)).into());
            }
        }
    }
    out.flush()
        .map_err(|e| StatusError::new(1, format!("failed to save image: {e}")))?;
    Ok(0)
}

pub async fn load(c: &Client, a: &LoadArgs) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match a.input.as_deref() {
        Some(path) if path != "-" => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| StatusError::new(1, format!("open {path}: {e}")))?,
        ),
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(
                    StatusError::new(1, "requested load from stdin, but stdin is empty").into(),
                );
            }
            Box::new(tokio::io::stdin())
        }
    };
    let path = format!("/images/load?quiet={}", if a.quiet { 1 } else { 0 });
    let body = c.post_stream(&path, read_chunks(reader)).await?;
    let mut view = ProgressView::new(std::io::stdout(), std::io::stdout().is_terminal());
    for msg in serde_json::Deserializer::from_slice(&body).into_iter::<Value>() {
        let msg =
            msg.map_err(|e| StatusError::new(1, format!("unexpected response from daemon: {e}")))?;
        if let Some(e) = msg
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .or_else(|| msg.get("error"))
            .and_then(Value::as_str)
        {
            return Err(StatusError::new(1, e.to_string()).into());
        }
        view.show(&StreamMsg::from_value(&msg));
    }
    Ok(0)
}

pub async fn tag(c: &Client, a: &TagArgs) -> anyhow::Result<i32> {
    use bollard::query_parameters::TagImageOptions;
    validate_reference(&a.target).map_err(|e| StatusError::new(1, e))?;
    if a.target.contains('@') {
        return Err(StatusError::new(1, "refusing to create a tag with a digest reference").into());
    }
    let (repo, tag) = split_reference(&a.target);
    let opts = TagImageOptions {
        repo: Some(repo.to_string()),
        tag: Some(tag.unwrap_or("latest").to_string()),
    };
    if let Err(e) = c.docker.tag_image(&a.source, Some(opts)).await {
        return Err(StatusError::new(1, crate::error::describe_api_error(&e)).into());
    }
    Ok(0)
}

pub async fn prune(c: &Client, a: &ImagePruneArgs) -> anyhow::Result<i32> {
    use bollard::query_parameters::PruneImagesOptions;
    if !a.force {
        let prompt = if a.all {
            "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
        } else {
            "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
        };
        if !super::confirm(prompt) {
            return Ok(0);
        }
    }
    let mut filters = parse_filters(&a.filter)?;
    if a.all {
        filters.insert("dangling".to_string(), vec!["false".to_string()]);
    }
    let r = c
        .docker
        .prune_images(Some(PruneImagesOptions {
            filters: (!filters.is_empty()).then_some(filters),
        }))
        .await?;
    let mut s = String::new();
    let deleted = r.images_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str("Deleted Images:\n");
        for d in deleted {
            if let Some(u) = d.untagged {
                s.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(d) = d.deleted {
                s.push_str(&format!("deleted: {d}\n"));
            }
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        output::human_size(r.space_reclaimed.unwrap_or(0) as f64)
    ));
    out(&s);
    Ok(0)
}

pub async fn login(c: &Client, a: &LoginArgs) -> anyhow::Result<i32> {
    use base64::Engine as _;
    use std::io::BufRead;
    let server = a
        .server
        .clone()
        .unwrap_or_else(|| DOCKER_HUB_KEY.to_string());
    let key = registry_key(&server);
    if a.password.is_some() && a.password_stdin {
        return Err(
            StatusError::new(1, "--password and --password-stdin are mutually exclusive").into(),
        );
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None => {
            if a.password_stdin {
                return Err(
                    StatusError::new(1, "Must provide --username with --password-stdin").into(),
                );
            }
            out("Username: ");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_string()
        }
    };
    let password = match &a.password {
        Some(p) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        None => {
            if !a.password_stdin {
                out("Password: ");
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    if username.is_empty() || password.is_empty() {
        return Err(StatusError::new(
            1,
            "Error: Cannot perform an interactive login from a non TTY device",
        )
        .into());
    }
    let body = serde_json::json!({
        "username": username, "password": password, "serveraddress": key,
    });
    let chunk = futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(Bytes::from(body.to_string()))
    });
    if let Err(e) = c.post_stream("/auth", chunk).await {
        return Err(StatusError::new(1, crate::error::describe_api_error(&e)).into());
    }
    let mut cfg = read_config();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    cfg["auths"][&key] = serde_json::json!({ "auth": auth });
    write_config(&cfg)?;
    outln("Login Succeeded");
    Ok(0)
}

pub async fn logout(a: &LogoutArgs) -> anyhow::Result<i32> {
    let key = registry_key(a.server.as_deref().unwrap_or(DOCKER_HUB_KEY));
    let mut cfg = read_config();
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|m| {
            let before = m.len();
            m.retain(|k, _| registry_key(k) != key);
            before != m.len()
        })
        .unwrap_or(false);
    if removed {
        outln(&format!("Removing login credentials for {key}"));
        write_config(&cfg)?;
    } else {
        outln(&format!("Not logged in to {key}"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(tags: &[&str]) -> ImageSummary {
        ImageSummary {
            id: "sha256:0123456789abcdef0123456789abcdef".to_string(),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            created: 100,
            size: 4_200_000,
            ..Default::default()
        }
    }

    #[test]
    fn rows_per_tag() {
        let rows = image_rows(&summary(&["bb:latest", "localhost:5000/bb:v1"]), true, 160);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Repository"], "bb");
        assert_eq!(rows[0]["Tag"], "latest");
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["CreatedSince"], "About a minute ago");
        assert_eq!(rows[0]["Size"], "4.2MB");
        assert_eq!(rows[1]["Repository"], "localhost:5000/bb");
        assert_eq!(rows[1]["Tag"], "v1");
        let rows = image_rows(&summary(&[]), true, 160);
        assert_eq!(rows[0]["Repository"], "<none>");
        assert_eq!(rows[0]["Tag"], "<none>");
    }

    #[test]
    fn images_table_layout() {
        let rows = image_rows(&summary(&["bb:latest"]), true, 110);
        let f = Format::from_user(None, IMAGES_TABLE);
        let text = output::render_list(&f, &images_header(), &rows).unwrap();
        assert_eq!(
            text,
            "REPOSITORY   TAG       IMAGE ID       CREATED          SIZE\n\
             bb           latest    0123456789ab   10 seconds ago   4.2MB\n"
        );
    }

    #[test]
    fn import_query_params() {
        let a = ImportArgs {
            change: vec!["ENV PATH=/bin".into(), "CMD [\"sh\"]".into()],
            message: None,
            platform: None,
            source: "rootfs.tar".into(),
            reference: Some("bb:latest".into()),
        };
        let q = import_query(&a).unwrap();
        assert_eq!(
            q,
            vec![
                ("fromSrc", "-".to_string()),
                ("repo", "bb".to_string()),
                ("tag", "latest".to_string()),
                ("changes", "ENV PATH=/bin".to_string()),
                ("changes", "CMD [\"sh\"]".to_string()),
            ]
        );

        let bad = ImportArgs {
            change: vec!["FOO bar".into()],
            ..a.clone()
        };
        assert_eq!(
            import_query(&bad).unwrap_err(),
            "FOO is not a valid change command"
        );
        let url = ImportArgs {
            source: "https://example.com/x.tar".into(),
            reference: None,
            change: vec![],
            ..a
        };
        assert_eq!(
            import_query(&url).unwrap(),
            vec![("fromSrc", "https://example.com/x.tar".to_string())]
        );
    }

    #[test]
    fn progress_sizes() {
        assert_eq!(human4(171), "171B");
        assert_eq!(human4(1_036_000), "1.036MB");
        assert_eq!(human4(7_792), "7.792kB");
        assert_eq!(human4(532_500), "532.5kB");
    }

    #[test]
    fn registry_names() {
        assert_eq!(registry_of("bb"), "docker.io");
        assert_eq!(registry_of("user/app"), "docker.io");
        assert_eq!(registry_of("10.0.0.2:5000/bb:1"), "10.0.0.2:5000");
        assert_eq!(registry_key("https://index.docker.io/v1/"), DOCKER_HUB_KEY);
        assert_eq!(registry_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(registry_key("http://r:5000/"), "r:5000");
        assert_eq!(pull_params("bb"), ("bb".into(), "latest".into()));
        assert_eq!(pull_params("r:5000/bb:1"), ("r:5000/bb".into(), "1".into()));
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(pull_params(&format!("bb:1@{d}")), ("bb".into(), d.clone()));
        assert_eq!(qualified("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(qualified("user/app:2"), "docker.io/user/app:2");
        assert_eq!(qualified("r:5000/bb:1"), "r:5000/bb:1");
    }

    #[test]
    fn progress_view_lines() {
        let msgs = [
            r#"{"status":"Pulling from bb","id":"1"}"#,
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#,
            r#"{"status":"Downloading","progressDetail":{"current":5,"total":10},"id":"abc"}"#,
            r#"{"status":"Pull complete","progressDetail":{},"id":"abc"}"#,
            r#"{"status":"Digest: sha256:x"}"#,
        ];
        let mut buf = Vec::new();
        {
            let mut v = ProgressView::new(&mut buf, false);
            for m in msgs {
                v.show(&StreamMsg::from_value(&serde_json::from_str(m).unwrap()));
            }
        }
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "1: Pulling from bb\nabc: Pulling fs layer\nabc: Pull complete\nDigest: sha256:x\n"
        );
        let mut buf = Vec::new();
        {
            let mut v = ProgressView::new(&mut buf, true);
            for m in msgs {
                v.show(&StreamMsg::from_value(&serde_json::from_str(m).unwrap()));
            }
        }
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.contains("abc: Downloading [=========================>"),
            "{text:?}"
        );
        assert!(text.contains("\x1b[1A"), "{text:?}");
    }

    #[test]
    fn progress_messages() {
        let body = br#"{"status":"sha256:abc"}
{"id":"x","status":"Done"}"#;
        assert_eq!(
            progress_lines(body).unwrap(),
            vec!["sha256:abc".to_string(), "x: Done".to_string()]
        );
        let err = br#"{"errorDetail":{"message":"bad tar"},"error":"bad tar"}"#;
        assert_eq!(progress_lines(err).unwrap_err(), "bad tar");
    }
}
