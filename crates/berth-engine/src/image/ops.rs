//! The engine's image operations beyond `import`/`pull`/`push`: tag, prune, load, save,
//! registry login.

use super::progress;
use super::registry::AuthConfig;
use crate::error::{EngineError, Result};
use crate::Engine;
use bollard_stubs::models::{ImageDeleteResponseItem, ImagePruneResponse};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

impl Engine {
    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn image_tag(&self, name: &str, repo: &str, tag: &str) -> Result<String> {
        if repo.is_empty() {
            return Err(EngineError::Invalid("repository name is required".into()));
        }
        let target = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        self.images.tag(&self.store, name, &target)
    }

    /// `POST /images/prune`: unused dangling images, or with `all` every unused image.
    pub fn image_prune(&self, all: bool) -> Result<ImagePruneResponse> {
        let used: Vec<String> = self
            .containers()
            .iter()
            .map(|c| c.image_id.clone())
            .collect();
        let mut deleted = Vec::new();
        let mut reclaimed: i64 = 0;
        for img in self.images.list() {
            if used.contains(&img.id) || (!all && !img.repo_tags.is_empty()) {
                continue;
            }
            let before: Vec<String> = self
                .images
                .list()
                .iter()
                .flat_map(|i| i.layers.clone())
                .collect();
            let items = match self.images.remove(&self.store, &img.id, |_| None) {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!("prune {}: {e}", img.id);
                    continue;
                }
            };
            let after: Vec<String> = self
                .images
                .list()
                .iter()
                .flat_map(|i| i.layers.clone())
                .collect();
            for l in img
                .layers
                .iter()
                .filter(|l| before.contains(l) && !after.contains(l))
            {
                reclaimed += self.images.layer_info(l).map_or(0, |i| i.size as i64);
            }
            for (k, v) in items {
                deleted.push(if k == "Untagged" {
                    ImageDeleteResponseItem {
                        untagged: Some(v),
                        deleted: None,
                    }
                } else {
                    ImageDeleteResponseItem {
                        untagged: None,
                        deleted: Some(v),
                    }
                });
            }
        }
        Ok(ImagePruneResponse {
            images_deleted: Some(deleted),
            space_reclaimed: Some(reclaimed),
        })
    }

    /// `POST /images/load`: the archive in `file` (removed afterwards).
    pub async fn image_load(self: &Arc<Self>, file: &Path) -> Result<progress::Receiver> {
        let this = self.clone();
        let f = file.to_path_buf();
        let r = tokio::task::spawn_blocking(move || {
            super::archive::load(&this.images, &this.store, &f)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("load: {e}")));
        let _ = std::fs::remove_file(file);
        let messages = r??;
        let (tx, rx) = mpsc::channel(messages.len() + 1);
        for m in messages {
            let _ = tx.try_send(m);
        }
        Ok(rx)
    }

    /// `GET /images/get?names=`: the archive, streamed.
    pub fn image_save(self: &Arc<Self>, names: &[String]) -> Result<mpsc::Receiver<bytes::Bytes>> {
        let list = super::archive::resolve_for_save(&self.images, names)?;
        let (tx, rx) = mpsc::channel(16);
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let w = super::archive::ChannelWriter::new(tx);
            if let Err(e) = super::archive::save(&this.images, &list, w) {
                tracing::warn!("save: {e}");
            }
        });
        Ok(rx)
    }

    /// `POST /auth`: checks credentials against the registry.
    pub async fn registry_login(&self, auth: AuthConfig) -> Result<serde_json::Value> {
        super::registry::check_login(&auth.server_address, &self.cfg.insecure_registries, &auth)
            .await?;
        Ok(serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}))
    }
}
