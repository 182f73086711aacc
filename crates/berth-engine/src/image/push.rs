//! `push`: a local image to a registry, as an OCI manifest with gzip layers.
//!
//! Layers are pushed from the blobs they were pulled or loaded from (gzip as is, others
//! compressed on the way); layers without a blob (from `import`) are rebuilt from their
//! directories, which changes their diff_id, so the pushed config is rewritten to match.

use super::layer::{decompress, Compression};
use super::progress::{self, Sender};
use super::reference::ImageRef;
use super::registry::{sha256, AuthConfig, Registry, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use crate::error::{EngineError, Result};
use crate::Engine;
use oci_client::RegistryOperation;
use std::io::{Read, Write};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A layer ready to upload: gzip bytes, their digest, and the diff_id they unpack to.
struct Upload {
    data: Vec<u8>,
    digest: String,
    diff_id: String,
}

fn gzip(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::copy(&mut r, &mut enc)?;
    enc.flush()?;
    enc.finish()
}

fn prepare(images: &super::Images, diff_id: &str) -> Result<Upload> {
    let fail = |e: std::io::Error| EngineError::Internal(format!("prepare layer {diff_id}: {e}"));
    if let Some(info) = images.layer_info(diff_id) {
        if let Some(blob) = &info.blob {
            if let Ok(data) = std::fs::read(images.blob_path(blob)) {
                if Compression::sniff(&data) == Compression::Gzip {
                    return Ok(Upload {
                        digest: blob.clone(),
                        data,
                        diff_id: diff_id.to_string(),
                    });
                }
                let data = gzip(decompress(data.as_slice())?).map_err(fail)?;
                return Ok(Upload {
                    digest: sha256(&data),
                    data,
                    diff_id: diff_id.to_string(),
                });
            }
        }
    }
    let mut tar = Vec::new();
    super::layer::write_tar(&images.layer_dir(diff_id), &mut tar).map_err(fail)?;
    let new_diff_id = sha256(&tar);
    let data = gzip(tar.as_slice()).map_err(fail)?;
    Ok(Upload {
        digest: sha256(&data),
        data,
        diff_id: new_diff_id,
    })
}

impl Engine {
    /// Pushes `name` (with `tag`, if given separately) to its registry.
    pub async fn image_push(
        self: &Arc<Self>,
        name: &str,
        tag: &str,
        auth: AuthConfig,
    ) -> Result<progress::Receiver> {
        let local = if tag.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{tag}")
        };
        let mut target = ImageRef::parse(&local)?;
        if target.digest.is_some() {
            return Err(EngineError::Invalid(format!(
                "cannot push a digest reference: {local}"
            )));
        }
        if target.tag.is_none() {
            target.tag = Some("latest".into());
        }
        let image = self.images.resolve(&target.familiar()).map_err(|_| {
            EngineError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                target.familiar_repo()
            ))
        })?;
        if image.is_host() {
            return Err(EngineError::Invalid(
                "the reserved image host cannot be pushed".into(),
            ));
        }
        let reg = Registry::new(&target, &self.cfg.insecure_registries, &auth);
        reg.login(RegistryOperation::Push).await?;
        let (tx, rx) = mpsc::channel(256);
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.push_layers(&target, &image, &reg, &tx).await {
                tracing::warn!("push {}: {e}", target.familiar());
                let _ = tx.send(progress::error(&e.to_string())).await;
            }
        });
        Ok(rx)
    }

    async fn push_layers(
        self: &Arc<Self>,
        target: &ImageRef,
        image: &super::Image,
        reg: &Registry,
        tx: &Sender,
    ) -> Result<()> {
        let send = |v| async move {
            let _ = tx.send(v).await;
        };
        send(progress::status(format!(
            "The push refers to repository [{}]",
            if target.domain == super::reference::DOCKER_HUB {
                target.full_repo()
            } else {
                target.familiar_repo()
            }
        )))
        .await;
        let mut uploads = Vec::new();
        for diff_id in &image.layers {
            send(progress::with_id(&progress::short(diff_id), "Preparing")).await;
        }
        for diff_id in &image.layers {
            let this = self.clone();
            let d = diff_id.clone();
            let up = tokio::task::spawn_blocking(move || prepare(&this.images, &d))
                .await
                .map_err(|e| EngineError::Internal(format!("prepare layer: {e}")))??;
            uploads.push(up);
        }
        for (up, diff_id) in uploads.iter().zip(&image.layers) {
            let id = progress::short(diff_id);
            if reg.has_blob(&up.digest).await {
                send(progress::with_id(&id, "Layer already exists")).await;
                continue;
            }
            let n = up.data.len() as u64;
            send(progress::bytes(&id, "Pushing", 0, n)).await;
            reg.push_blob(up.data.clone(), &up.digest).await?;
            send(progress::bytes(&id, "Pushing", n, n)).await;
            send(progress::with_id(&id, "Pushed")).await;
        }
        let mut config = self.images.config_blob(image);
        let diff_ids: Vec<&str> = uploads.iter().map(|u| u.diff_id.as_str()).collect();
        if diff_ids.iter().zip(&image.layers).any(|(a, b)| a != b) {
            let mut v: serde_json::Value = serde_json::from_slice(&config)
                .map_err(|e| EngineError::Internal(format!("image config: {e}")))?;
            v["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": diff_ids});
            config = v.to_string().into_bytes();
        }
        let config_digest = sha256(&config);
        if !reg.has_blob(&config_digest).await {
            reg.push_blob(config.clone(), &config_digest).await?;
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": uploads.iter().map(|u| serde_json::json!({
                "mediaType": OCI_LAYER_GZIP, "digest": u.digest, "size": u.data.len(),
            })).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes();
        let digest = sha256(&manifest);
        let size = manifest.len();
        reg.push_manifest(manifest, OCI_MANIFEST).await?;
        let tag = target.tag.clone().unwrap_or_default();
        let repo_digest = format!("{}@{digest}", target.familiar_repo());
        let mut meta = self.images.image_meta(&image.id);
        if config_digest == image.id && !meta.repo_digests.contains(&repo_digest) {
            meta.repo_digests.push(repo_digest);
            let _ = self.images.set_image_meta(&image.id, &meta);
        }
        send(progress::status(format!(
            "{tag}: digest: {digest} size: {size}"
        )))
        .await;
        send(serde_json::json!({
            "progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size},
        }))
        .await;
        Ok(())
    }
}
