//! What berth keeps beside the unpacked layers so images can leave again (`save`, `push`)
//! exactly as they came:
//!
//! - `DATA/blobs/sha256/<hex>`: content-addressed blobs: image configs (the blob whose digest is
//!   the image id) and the layer blobs as pulled or loaded (usually gzip).
//! - `DATA/layerdb/<diff_id hex>.json`: per layer, its uncompressed size and the blob it came
//!   from ([`LayerInfo`]); decompressing that blob gives back the exact tar of the diff_id.
//! - `DATA/imagedb/<id hex>.json`: per image, what the image record does not hold
//!   ([`ImageMeta`]: repository digests).
//!
//! Layers unpacked by `import` have no blob: `save` writes them from their directory, which
//! gives a different tar, so such images get a new id when loaded elsewhere.

use super::{Image, Images};
use crate::error::{io, EngineError, Result};
use crate::store::Store;
use bollard_stubs::models::ImageConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LayerInfo {
    /// Size of the uncompressed layer tar.
    pub size: u64,
    /// `sha256:<hex>` of the blob in `DATA/blobs` the layer was unpacked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub blob_size: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageMeta {
    /// `repo@sha256:<manifest digest>`, as Docker's `RepoDigests`.
    #[serde(default)]
    pub repo_digests: Vec<String>,
}

/// The parts of an OCI/Docker image config berth reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ImageConfig>,
    #[serde(default)]
    pub comment: Option<String>,
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub typ: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ConfigFile {
    pub fn parse(bytes: &[u8]) -> Result<ConfigFile> {
        let c: ConfigFile = serde_json::from_slice(bytes)
            .map_err(|e| EngineError::Invalid(format!("invalid image config: {e}")))?;
        if !c.rootfs.typ.is_empty() && c.rootfs.typ != "layers" {
            return Err(EngineError::Invalid(format!(
                "unsupported image config: rootfs type {:?}",
                c.rootfs.typ
            )));
        }
        if let Some(bad) = c
            .rootfs
            .diff_ids
            .iter()
            .find(|d| !super::reference::valid_digest(d))
        {
            return Err(EngineError::Invalid(format!(
                "unsupported image config: layer digest {bad:?} (only sha256 is supported)"
            )));
        }
        Ok(c)
    }
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Writes `data` to `path` atomically (temporary file + rename).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", crate::ids::new_id()));
    std::fs::write(&tmp, data).map_err(io(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        EngineError::Internal(format!("write {}: {e}", path.display()))
    })
}

impl Images {
    /// Where blob `digest` is kept.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs").join("sha256").join(hex_of(digest))
    }

    /// A fresh temporary path below the data root (same filesystem as the stores).
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{what}-{}", crate::ids::new_id()))
    }

    fn layer_info_path(&self, diff_id: &str) -> PathBuf {
        self.root
            .join("layerdb")
            .join(format!("{}.json", hex_of(diff_id)))
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.root
            .join("imagedb")
            .join(format!("{}.json", hex_of(id)))
    }

    pub fn layer_info(&self, diff_id: &str) -> Option<LayerInfo> {
        let data = std::fs::read(self.layer_info_path(diff_id)).ok()?;
        serde_json::from_slice(&data).ok()
    }

    pub fn set_layer_info(&self, diff_id: &str, info: &LayerInfo) -> Result<()> {
        let data = serde_json::to_vec(info).map_err(|e| EngineError::Internal(e.to_string()))?;
        write_atomic(&self.layer_info_path(diff_id), &data)
    }

    pub fn image_meta(&self, id: &str) -> ImageMeta {
        std::fs::read(self.meta_path(id))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default()
    }

    pub fn set_image_meta(&self, id: &str, meta: &ImageMeta) -> Result<()> {
        let data = serde_json::to_vec(meta).map_err(|e| EngineError::Internal(e.to_string()))?;
        write_atomic(&self.meta_path(id), &data)
    }

    /// `RepoDigests` of an image.
    pub fn repo_digests(&self, id: &str) -> Vec<String> {
        self.image_meta(id).repo_digests
    }

    /// Finds an image by `repo@sha256:...` among the recorded repository digests.
    pub fn by_repo_digest(&self, reference: &str) -> Option<Image> {
        let r = super::reference::ImageRef::parse(reference).ok()?;
        let digest = r.digest.as_ref()?;
        let want = format!("{}@{digest}", r.familiar_repo());
        self.list()
            .into_iter()
            .find(|i| self.repo_digests(&i.id).contains(&want))
    }

    /// Drops what is kept for image `id` (its config blob and meta).
    pub(crate) fn forget_image(&self, id: &str) {
        let _ = std::fs::remove_file(self.meta_path(id));
        let _ = std::fs::remove_file(self.blob_path(id));
    }

    /// Drops what is kept for layer `diff_id` (its blob and info).
    pub(crate) fn forget_layer(&self, diff_id: &str) {
        if let Some(blob) = self.layer_info(diff_id).and_then(|i| i.blob) {
            let _ = std::fs::remove_file(self.blob_path(&blob));
        }
        let _ = std::fs::remove_file(self.layer_info_path(diff_id));
    }

    /// The image's config blob: the stored one, or (for imported images) the config `import`
    /// derived its id from, rebuilt.
    pub fn config_blob(&self, image: &Image) -> Vec<u8> {
        if let Ok(data) = std::fs::read(self.blob_path(&image.id)) {
            if format!("sha256:{}", super::import::sha256_hex(&data)) == image.id {
                return data;
            }
        }
        let v = serde_json::json!({
            "architecture": std::env::consts::ARCH, "os": "linux", "created": image.created,
            "config": image.config, "rootfs": {"type": "layers", "diff_ids": image.layers},
        });
        v.to_string().into_bytes()
    }

    /// Records an image whose layers are all in the store: its config blob becomes its id.
    pub fn register(
        &self,
        store: &Store,
        config_blob: &[u8],
        repo_tags: Vec<String>,
        repo_digest: Option<String>,
    ) -> Result<Image> {
        let cfg = ConfigFile::parse(config_blob)?;
        for l in &cfg.rootfs.diff_ids {
            if !self.layer_dir(l).is_dir() {
                return Err(EngineError::Internal(format!("layer {l} is missing")));
            }
        }
        let id = format!("sha256:{}", super::import::sha256_hex(config_blob));
        write_atomic(&self.blob_path(&id), config_blob)?;
        let size: u64 = cfg
            .rootfs
            .diff_ids
            .iter()
            .map(|l| self.layer_info(l).map_or(0, |i| i.size))
            .sum();
        let image = Image {
            id: id.clone(),
            repo_tags,
            created: cfg
                .created
                .clone()
                .unwrap_or_else(|| "1970-01-01T00:00:00Z".into()),
            config: cfg.config.clone().unwrap_or_default(),
            layers: cfg.rootfs.diff_ids.clone(),
            size: size as i64,
            comment: cfg.comment.clone().unwrap_or_default(),
        };
        self.add(store, image.clone())?;
        if let Some(d) = repo_digest {
            let mut meta = self.image_meta(&id);
            if !meta.repo_digests.contains(&d) {
                meta.repo_digests.push(d);
                self.set_image_meta(&id, &meta)?;
            }
        }
        Ok(self.resolve(&id).unwrap_or(image))
    }
}

/// A layer unpacked into a temporary directory, verified, not yet in the store. Dropping it
/// without [`PreparedLayer::commit`] removes what it holds.
pub struct PreparedLayer {
    pub diff_id: String,
    pub size: u64,
    dir: Option<PathBuf>,
    /// A temporary file with the blob, its digest and media type.
    blob: Option<(PathBuf, String, String, u64)>,
}

impl Drop for PreparedLayer {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some((f, ..)) = self.blob.take() {
            let _ = std::fs::remove_file(f);
        }
    }
}

impl PreparedLayer {
    /// Moves the layer (and its blob) into the store. A layer that appeared meanwhile wins.
    pub fn commit(mut self, images: &Images) -> Result<()> {
        let Some(tmp) = self.dir.take() else {
            return Ok(());
        };
        let target = images.layer_dir(&self.diff_id);
        let mut info = LayerInfo {
            size: self.size,
            ..Default::default()
        };
        if let Some((file, digest, media_type, blob_size)) = self.blob.take() {
            let dest = images.blob_path(&digest);
            if let Some(d) = dest.parent() {
                std::fs::create_dir_all(d).map_err(io("create blob store"))?;
            }
            match std::fs::rename(&file, &dest) {
                Ok(()) => {
                    info.blob = Some(digest);
                    info.media_type = Some(media_type);
                    info.blob_size = blob_size;
                }
                Err(_) => {
                    let _ = std::fs::remove_file(&file);
                }
            }
        }
        if target.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        } else if let Err(e) = std::fs::rename(&tmp, &target) {
            let _ = std::fs::remove_dir_all(&tmp);
            if !target.exists() {
                return Err(EngineError::Internal(format!("store layer: {e}")));
            }
        }
        if images
            .layer_info(&self.diff_id)
            .is_none_or(|i| i.blob.is_none())
        {
            images.set_layer_info(&self.diff_id, &info)?;
        }
        Ok(())
    }
}

/// Unpacks the (possibly compressed) layer blob in `file` into a temporary directory and
/// checks it against `diff_id`. `blob` names the file's digest and media type, to keep it as
/// the layer's source; `progress` is called with the compressed bytes read so far.
pub fn prepare_layer(
    images: &Images,
    file: &Path,
    diff_id: &str,
    blob: Option<(String, String)>,
    progress: &mut dyn FnMut(u64),
) -> Result<PreparedLayer> {
    let tmp = images
        .root
        .join("layers")
        .join(format!("tmp-{}", crate::ids::new_id()));
    std::fs::create_dir_all(&tmp).map_err(io("create layer directory"))?;
    let blob_size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let mut prepared = PreparedLayer {
        diff_id: diff_id.to_string(),
        size: 0,
        dir: Some(tmp.clone()),
        blob: None,
    };
    let f = std::fs::File::open(file).map_err(io(format!("open {}", file.display())))?;
    let counting = Counting {
        inner: f,
        n: 0,
        last: 0,
        progress,
    };
    let (digest, size) = super::layer::unpack(super::layer::decompress(counting)?, &tmp)?;
    if digest != diff_id {
        return Err(EngineError::Invalid(format!(
            "failed to register layer: the layer's content has digest {digest}, but the image config says {diff_id}"
        )));
    }
    prepared.size = size;
    if let Some((d, mt)) = blob {
        prepared.blob = Some((file.to_path_buf(), d, mt, blob_size));
    }
    Ok(prepared)
}

struct Counting<'a, R> {
    inner: R,
    n: u64,
    last: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        if self.n - self.last >= 512 * 1024 || (n == 0 && self.n != self.last) {
            self.last = self.n;
            (self.progress)(self.n);
        }
        Ok(n)
    }
}
