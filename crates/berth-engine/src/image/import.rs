//! `import`: a root filesystem tarball (plain or gzip) becomes a one-layer image.

use super::{changes, normalize, Image, Images};
use crate::error::{io, EngineError, Result};
use crate::store::Store;
use bollard_stubs::models::ImageConfig;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    len: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Imports the tarball at `file` as `reference` (may be empty: an untagged image).
pub fn import(
    images: &Images,
    store: &Store,
    file: &Path,
    reference: &str,
    change_list: &[String],
) -> Result<Image> {
    let mut config = ImageConfig::default();
    for c in change_list.iter().filter(|c| !c.trim().is_empty()) {
        changes::apply(&mut config, c)?;
    }
    let tag = if reference.is_empty() {
        None
    } else {
        Some(normalize(reference))
    };
    if let Some(t) = &tag {
        validate_reference(t)?;
    }
    let tmp = images
        .root
        .join("layers")
        .join(format!("tmp-{}", crate::ids::new_id()));
    std::fs::create_dir_all(&tmp).map_err(io("create layer directory"))?;
    let unpacked = unpack(file, &tmp);
    let (digest, size) = match unpacked {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let layer = format!("sha256:{digest}");
    let dir = images.layer_dir(&layer);
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        std::fs::rename(&tmp, &dir).map_err(io("store layer"))?;
    }
    let created = crate::ids::now();
    let oci_config = serde_json::json!({
        "architecture": std::env::consts::ARCH, "os": "linux", "created": created,
        "config": config, "rootfs": {"type": "layers", "diff_ids": [layer]},
    });
    let id = format!("sha256:{}", sha256_hex(oci_config.to_string().as_bytes()));
    let image = Image {
        id,
        repo_tags: tag.into_iter().collect(),
        created,
        config,
        layers: vec![layer],
        size: size as i64,
        comment: "Imported from -".into(),
    };
    images.add(store, image.clone())?;
    Ok(image)
}

fn validate_reference(tag: &str) -> Result<()> {
    let ok = tag
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:@".contains(c))
        && !tag.starts_with(['.', '-', '/', ':']);
    if ok {
        Ok(())
    } else {
        Err(EngineError::Invalid(format!(
            "invalid reference format: repository name ({tag}) must be lowercase"
        )))
    }
}

/// Unpacks a tar (optionally gzip-compressed) into `dir`; returns the uncompressed digest and size.
fn unpack(file: &Path, dir: &Path) -> Result<(String, u64)> {
    let mut f = BufReader::new(File::open(file).map_err(io("open upload"))?);
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(io("read upload"))?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let raw: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(head.chain(f)))
    } else {
        Box::new(head.chain(f))
    };
    let mut hashing = Hashing {
        inner: raw,
        hash: Sha256::new(),
        len: 0,
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_unpack_xattrs(false);
        archive.set_overwrite(true);
        archive.unpack(dir).map_err(|e| {
            EngineError::Invalid(format!("the uploaded file is not a valid tar archive: {e}"))
        })?;
    }
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io("read upload"))?;
    if hashing.len == 0 {
        return Err(EngineError::Invalid("the uploaded archive is empty".into()));
    }
    Ok((hex::encode(hashing.hash.finalize()), hashing.len))
}
