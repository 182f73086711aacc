//! `pull`: an image from a registry into the image store.
//!
//! 1. Resolve the reference (manifest, the host platform's manifest of an index, the config).
//!    Errors here (unknown repository or tag, denied, unreachable registry) are the request's
//!    error, as Docker answers them before any progress.
//! 2. Download the missing layer blobs, three at a time, into temporary files, streaming
//!    `Downloading` progress and checking each against its digest.
//! 3. Unpack them (whiteouts converted for overlayfs) into temporary directories, checking each
//!    tar against the config's diff_id.
//! 4. Only when every layer is verified: move them into the layer store, keep their blobs, and
//!    record the image. A failure in 2 or 3 leaves the store as it was.

use super::content::{prepare_layer, ConfigFile, PreparedLayer};
use super::progress::{self, Sender};
use super::reference::ImageRef;
use super::registry::{AuthConfig, Descriptor, Platform, Registry, Resolved};
use crate::error::{io, EngineError, Result};
use crate::Engine;
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// What `POST /images/create?fromImage=` asks for.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub from_image: String,
    /// Tag or digest (may be empty).
    pub tag: String,
    /// `os/arch[/variant]`; empty for the host's.
    pub platform: String,
    pub auth: AuthConfig,
}

const PARALLEL_DOWNLOADS: usize = 3;

/// A temporary file removed on drop unless kept.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &std::path::Path {
        self.0.as_deref().unwrap_or(std::path::Path::new(""))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn send(tx: &Sender, v: serde_json::Value) {
    let _ = tx.send(v).await;
}

impl Engine {
    /// Pulls an image; the receiver yields Docker's progress messages, ending with an
    /// `error` message if the pull failed after it started.
    pub async fn image_pull(self: &Arc<Self>, opts: PullOptions) -> Result<progress::Receiver> {
        let image = ImageRef::from_pull(&opts.from_image, &opts.tag)?;
        let platform = if opts.platform.trim().is_empty() {
            Platform::host()
        } else {
            Platform::parse(opts.platform.trim())?
        };
        let reg = Registry::new(&image, &self.cfg.insecure_registries, &opts.auth);
        let resolved = reg.resolve(&platform).await?;
        let (tx, rx) = mpsc::channel(256);
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.pull_layers(&image, &reg, resolved, &tx).await {
                tracing::warn!("pull {}: {e}", image.familiar());
                send(&tx, progress::error(&e.to_string())).await;
            }
        });
        Ok(rx)
    }

    async fn pull_layers(
        self: &Arc<Self>,
        image: &ImageRef,
        reg: &Registry,
        resolved: Resolved,
        tx: &Sender,
    ) -> Result<()> {
        let cfg = ConfigFile::parse(&resolved.config)?;
        let diff_ids = cfg.rootfs.diff_ids.clone();
        if diff_ids.len() != resolved.layers.len() {
            return Err(EngineError::Invalid(format!(
                "invalid image {}: the manifest lists {} layers but the config {}",
                image.familiar(),
                resolved.layers.len(),
                diff_ids.len()
            )));
        }
        let shown = image
            .digest
            .clone()
            .or(image.tag.clone())
            .unwrap_or_default();
        send(
            tx,
            serde_json::json!({"status": format!("Pulling from {}", image.path), "id": shown}),
        )
        .await;
        let id = format!("sha256:{}", hex::encode(Sha256::digest(&resolved.config)));
        let tags: Vec<String> = image.local_tag().into_iter().collect();
        let repo_digest = Some(format!("{}@{}", image.familiar_repo(), resolved.digest));
        let have_all = diff_ids.iter().all(|d| self.images.layer_dir(d).is_dir());
        if have_all && self.images.resolve(&id).is_ok() {
            self.images
                .register(&self.store, &resolved.config, tags, repo_digest)?;
            send(tx, progress::status(format!("Digest: {}", resolved.digest))).await;
            send(
                tx,
                progress::status(format!(
                    "Status: Image is up to date for {}",
                    image.familiar()
                )),
            )
            .await;
            return Ok(());
        }
        // Which blobs to fetch: one per missing diff_id.
        let mut needed: Vec<(Descriptor, String)> = Vec::new();
        for (d, diff_id) in resolved.layers.iter().zip(&diff_ids) {
            let short = progress::short(&d.digest);
            if self.images.layer_dir(diff_id).is_dir() {
                send(tx, progress::with_id(&short, "Already exists")).await;
            } else if !needed.iter().any(|(_, x)| x == diff_id) {
                send(tx, progress::with_id(&short, "Pulling fs layer")).await;
                needed.push((d.clone(), diff_id.clone()));
            }
        }
        type Download<'a> = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(usize, TempFile)>> + Send + 'a>,
        >;
        let downloads: Vec<Download<'_>> = needed
            .iter()
            .enumerate()
            .map(|(i, (d, _))| -> Download<'_> {
                Box::pin(async move { self.download(reg, d, tx).await.map(|f| (i, f)) })
            })
            .collect();
        let files: Vec<(usize, TempFile)> = futures_util::stream::iter(downloads)
            .buffer_unordered(PARALLEL_DOWNLOADS)
            .try_collect()
            .await?;
        let mut files: Vec<Option<TempFile>> = {
            let mut v: Vec<Option<TempFile>> = (0..needed.len()).map(|_| None).collect();
            for (i, f) in files {
                v[i] = Some(f);
            }
            v
        };
        let mut prepared: Vec<PreparedLayer> = Vec::new();
        for (i, (d, diff_id)) in needed.iter().enumerate() {
            let file = files[i].take().ok_or_else(|| {
                EngineError::Internal(format!("layer {} was not downloaded", d.digest))
            })?;
            prepared.push(self.extract(d, diff_id, file, tx).await?);
        }
        for p in prepared {
            p.commit(&self.images)?;
        }
        for (d, _) in &needed {
            send(
                tx,
                progress::with_id(&progress::short(&d.digest), "Pull complete"),
            )
            .await;
        }
        self.images
            .register(&self.store, &resolved.config, tags, repo_digest)?;
        send(tx, progress::status(format!("Digest: {}", resolved.digest))).await;
        send(
            tx,
            progress::status(format!(
                "Status: Downloaded newer image for {}",
                image.familiar()
            )),
        )
        .await;
        Ok(())
    }

    /// Downloads blob `d` into a temporary file, verifying its digest.
    async fn download(&self, reg: &Registry, d: &Descriptor, tx: &Sender) -> Result<TempFile> {
        let short = progress::short(&d.digest);
        let path = self.images.tmp_path("blob");
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io("create temporary directory"))?;
        }
        let tmp = TempFile(Some(path.clone()));
        let mut f = tokio::fs::File::create(&path)
            .await
            .map_err(io("create temporary file"))?;
        let (len, mut stream) = reg.blob(d).await?;
        let total = if d.size > 0 {
            d.size as u64
        } else {
            len.unwrap_or(0)
        };
        let mut hash = Sha256::new();
        let mut n: u64 = 0;
        let mut last = Instant::now() - Duration::from_secs(1);
        let mismatch = |got: String| {
            EngineError::Invalid(format!(
                "failed to verify layer {}: filesystem layer verification failed for digest {} (the registry sent content with digest {got}); nothing was stored",
                d.digest, d.digest
            ))
        };
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => {
                    hash.update(&b);
                    n += b.len() as u64;
                    f.write_all(&b).await.map_err(io("write layer"))?;
                    if last.elapsed() >= Duration::from_millis(100) {
                        last = Instant::now();
                        send(tx, progress::bytes(&short, "Downloading", n, total)).await;
                    }
                }
                Err(e) => {
                    let got = format!("sha256:{}", hex::encode(hash.clone().finalize()));
                    if got != d.digest && (total == 0 || n >= total) {
                        return Err(mismatch(got));
                    }
                    return Err(EngineError::Internal(format!(
                        "downloading layer {}: {e}",
                        d.digest
                    )));
                }
            }
        }
        f.flush().await.map_err(io("write layer"))?;
        drop(f);
        send(tx, progress::bytes(&short, "Downloading", n, total)).await;
        send(tx, progress::with_id(&short, "Verifying Checksum")).await;
        let got = format!("sha256:{}", hex::encode(hash.finalize()));
        if got != d.digest {
            return Err(mismatch(got));
        }
        send(tx, progress::with_id(&short, "Download complete")).await;
        Ok(tmp)
    }

    /// Unpacks a downloaded layer into a temporary directory (blocking work on a worker).
    async fn extract(
        self: &Arc<Self>,
        d: &Descriptor,
        diff_id: &str,
        mut file: TempFile,
        tx: &Sender,
    ) -> Result<PreparedLayer> {
        let short = progress::short(&d.digest);
        let total = std::fs::metadata(file.path()).map(|m| m.len()).unwrap_or(0);
        let this = self.clone();
        let (diff_id, digest, media_type) =
            (diff_id.to_string(), d.digest.clone(), d.media_type.clone());
        let tx2 = tx.clone();
        let path = file.0.take().unwrap_or_default();
        let result = tokio::task::spawn_blocking(move || {
            let mut report = |n: u64| {
                let _ = tx2.blocking_send(progress::bytes(&short, "Extracting", n, total));
            };
            let p = prepare_layer(
                &this.images,
                &path,
                &diff_id,
                Some((digest, media_type)),
                &mut report,
            );
            // On success the blob belongs to the prepared layer (kept on commit, removed on drop).
            if p.is_err() {
                let _ = std::fs::remove_file(&path);
            }
            p
        })
        .await
        .map_err(|e| EngineError::Internal(format!("extract layer: {e}")))?;
        result.map_err(|e| match e {
            EngineError::Invalid(m) => EngineError::Invalid(format!("layer {}: {m}", d.digest)),
            other => other,
        })
    }
}
