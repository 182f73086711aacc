//! Images: a record per image (config + layer list) in the store, layers unpacked once under
//! `DATA/layers/<digest>` and shared between images. Designed so registry pulls and
//! `docker save`/OCI archives can add layers the same way `import` does.

pub mod archive;
pub mod changes;
pub mod content;
mod import;
pub mod layer;
pub mod ops;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;

use crate::error::{EngineError, Result};
use crate::store::{Kind, Store};
use bollard_stubs::models::ImageConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The reserved image that runs the host's own programs with only namespaces isolated.
pub const HOST_IMAGE: &str = "host:latest";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Image {
    /// `sha256:<hex>` of the image config.
    pub id: String,
    pub repo_tags: Vec<String>,
    pub created: String,
    pub config: ImageConfig,
    /// Layer digests (`sha256:<hex>` of the uncompressed tar), lowest first.
    pub layers: Vec<String>,
    pub size: i64,
    pub comment: String,
}

impl Image {
    pub fn is_host(&self) -> bool {
        self.repo_tags.iter().any(|t| t == HOST_IMAGE) && self.layers.is_empty()
    }
}

pub struct Images {
    root: PathBuf,
    inner: Mutex<Vec<Image>>,
}

/// Normalises a reference the way Docker does for local lookups: `bb` → `bb:latest`,
/// `docker.io/library/bb` → `bb:latest`.
pub fn normalize(reference: &str) -> String {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    let r = r.strip_prefix("library/").unwrap_or(r);
    let last = r.rsplit('/').next().unwrap_or(r);
    if last.contains(':') || r.contains('@') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

impl Images {
    pub fn load(root: &Path, store: &Store) -> Result<Self> {
        let mut list: Vec<Image> = store
            .list(Kind::Images)?
            .into_iter()
            .map(|(_, i)| i)
            .collect();
        list.retain(|i| !i.is_host());
        list.push(host_image());
        Ok(Images {
            root: root.to_path_buf(),
            inner: Mutex::new(list),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Image>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn layer_dir(&self, digest: &str) -> PathBuf {
        self.root
            .join("layers")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Finds an image by tag, full id, or unique id prefix.
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let images = self.lock();
        let tag = normalize(reference);
        if let Some(i) = images.iter().find(|i| i.repo_tags.contains(&tag)) {
            return Ok(i.clone());
        }
        let hexpart = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hexpart.len() >= 4 && hexpart.chars().all(|c| c.is_ascii_hexdigit()) {
            let found: Vec<&Image> = images
                .iter()
                .filter(|i| i.id[7..].starts_with(hexpart))
                .collect();
            if found.len() == 1 {
                return Ok(found[0].clone());
            }
        }
        if reference.contains('@') {
            drop(images);
            if let Some(i) = self.by_repo_digest(reference) {
                return Ok(i);
            }
        }
        Err(EngineError::NotFound(format!("No such image: {tag}")))
    }

    /// All images users can see (the reserved `host` image is not listed).
    pub fn list(&self) -> Vec<Image> {
        self.lock()
            .iter()
            .filter(|i| !i.is_host())
            .cloned()
            .collect()
    }

    /// Adds or replaces an image, moving its tags off older images.
    pub fn add(&self, store: &Store, image: Image) -> Result<()> {
        let mut images = self.lock();
        for other in images.iter_mut().filter(|o| o.id != image.id) {
            let before = other.repo_tags.len();
            other.repo_tags.retain(|t| !image.repo_tags.contains(t));
            if other.repo_tags.len() != before {
                store.put(Kind::Images, &other.id, other)?;
            }
        }
        let mut image = image;
        if let Some(old) = images.iter().find(|o| o.id == image.id) {
            for t in &old.repo_tags {
                if !image.repo_tags.contains(t) {
                    image.repo_tags.push(t.clone());
                }
            }
        }
        store.put(Kind::Images, &image.id, &image)?;
        images.retain(|o| o.id != image.id);
        images.push(image);
        Ok(())
    }

    /// Removes an image reference. Returns Docker's `Untagged`/`Deleted` items.
    pub fn remove(
        &self,
        store: &Store,
        reference: &str,
        in_use: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<(String, String)>> {
        let image = self.resolve(reference)?;
        if image.is_host() {
            return Err(EngineError::Conflict(
                "the reserved image host cannot be removed".into(),
            ));
        }
        let tag = normalize(reference);
        let mut out = Vec::new();
        let mut images = self.lock();
        let Some(pos) = images.iter().position(|i| i.id == image.id) else {
            return Err(EngineError::NotFound(format!("No such image: {tag}")));
        };
        if images[pos].repo_tags.contains(&tag) && images[pos].repo_tags.len() > 1 {
            images[pos].repo_tags.retain(|t| t != &tag);
            store.put(Kind::Images, &image.id, &images[pos])?;
            return Ok(vec![("Untagged".into(), tag)]);
        }
        if let Some(container) = in_use(&image.id) {
            return Err(EngineError::Conflict(format!(
                "conflict: unable to remove repository reference \"{reference}\" (must force) - container {} is using its referenced image {}",
                crate::ids::short(&container),
                crate::ids::short(&image.id[7..])
            )));
        }
        store.delete(Kind::Images, &image.id)?;
        images.remove(pos);
        for t in &image.repo_tags {
            out.push(("Untagged".into(), t.clone()));
        }
        out.push(("Deleted".into(), image.id.clone()));
        let still_used: Vec<String> = images.iter().flat_map(|i| i.layers.clone()).collect();
        drop(images);
        for layer in image.layers.iter().filter(|l| !still_used.contains(l)) {
            let _ = std::fs::remove_dir_all(self.layer_dir(layer));
            self.forget_layer(layer);
        }
        self.forget_image(&image.id);
        Ok(out)
    }
}

impl Images {
    /// `docker tag SOURCE TARGET`: adds tag `target` (moved off any other image).
    pub fn tag(&self, store: &Store, source: &str, target: &str) -> Result<String> {
        let r = reference::ImageRef::parse(target)?;
        if r.digest.is_some() {
            return Err(EngineError::Invalid(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        let tag = r
            .local_tag()
            .unwrap_or_else(|| format!("{}:latest", r.familiar_repo()));
        let mut image = self
            .resolve(source)
            .or_else(|e| self.by_repo_digest(source).ok_or(e))?;
        if image.is_host() {
            return Err(EngineError::Invalid(
                "the reserved image host cannot be tagged".into(),
            ));
        }
        if !image.repo_tags.contains(&tag) {
            image.repo_tags.push(tag.clone());
        }
        self.add(store, image)?;
        Ok(tag)
    }
}

fn host_image() -> Image {
    Image {
        id: format!(
            "sha256:{}",
            crate::image::import::sha256_hex(b"berth reserved host image")
        ),
        repo_tags: vec![HOST_IMAGE.to_string()],
        created: "1970-01-01T00:00:00Z".into(),
        config: ImageConfig {
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]),
            ..Default::default()
        },
        layers: vec![],
        size: 0,
        comment: "berth: the host's own filesystem".into(),
    }
}

pub use import::import;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_refs() {
        assert_eq!(normalize("bb"), "bb:latest");
        assert_eq!(normalize("bb:1"), "bb:1");
        assert_eq!(normalize("docker.io/library/nginx"), "nginx:latest");
        assert_eq!(normalize("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(normalize("localhost:5000/x:2"), "localhost:5000/x:2");
    }
}
