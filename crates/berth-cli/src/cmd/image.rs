//! Image commands: `images`, `rmi`, `import`.

use super::{report, status};
use crate::args::{ImagesArgs, ImportArgs, RmiArgs};
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
