//! `save` and `load`: image archives.
//!
//! `save` writes what Docker 25+ writes, which both kinds of loader read: an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/...` with uncompressed layer tars, configs and
//! OCI manifests) plus Docker's `manifest.json` (`[{"Config","RepoTags","Layers"}]`) pointing
//! into the same blobs.
//!
//! `load` reads `docker save` archives (with `manifest.json`, old `<id>/layer.tar` style or
//! new) and OCI image layout archives (`index.json`, images named by the
//! `io.containerd.image.name` or `org.opencontainers.image.ref.name` annotation), plain or
//! compressed. Every blob named by digest is checked, every layer tar is checked against the
//! config's diff_id, and nothing is stored unless the whole archive is good.

use super::content::{prepare_layer, ConfigFile, PreparedLayer};
use super::layer::{decompress, Compression, Hashing};
use super::progress;
use super::reference::ImageRef;
use super::registry::{choose, sha256, Descriptor, Platform, OCI_INDEX, OCI_MANIFEST};
use super::{normalize, Image, Images};
use crate::error::{io, EngineError, Result};
use crate::store::Store;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

#[derive(Debug, Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct OciManifestDoc {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// One image found in an archive.
struct Found {
    config: Vec<u8>,
    tags: Vec<String>,
    /// Layer files, lowest first, with the blob digest when the archive names it.
    layers: Vec<(PathBuf, Option<String>)>,
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::Invalid(msg.into())
}

/// A path inside the unpacked archive, refusing to leave it.
fn inside(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(invalid(format!("invalid path {rel:?} in archive")));
    }
    let full = root.join(p);
    let canon = full
        .canonicalize()
        .map_err(|_| invalid(format!("the archive has no {rel}")))?;
    let root = root
        .canonicalize()
        .map_err(io("resolve archive directory"))?;
    if !canon.starts_with(&root) {
        return Err(invalid(format!("invalid path {rel:?} in archive")));
    }
    Ok(canon)
}

fn blob_file(root: &Path, digest: &str) -> Result<PathBuf> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| invalid(format!("invalid digest {digest:?}")))?;
    if alg != "sha256" || !super::reference::valid_digest(digest) {
        return Err(invalid(format!("unsupported digest {digest:?}")));
    }
    inside(root, &format!("blobs/{alg}/{hex}"))
}

fn file_digest(p: &Path) -> Result<String> {
    let mut h = Hashing::new(std::fs::File::open(p).map_err(io(format!("open {}", p.display())))?);
    std::io::copy(&mut h, &mut std::io::sink()).map_err(io("read archive"))?;
    Ok(h.digest())
}

fn read_blob(root: &Path, d: &Descriptor) -> Result<Vec<u8>> {
    let data = std::fs::read(blob_file(root, &d.digest)?).map_err(io("read archive blob"))?;
    if sha256(&data) != d.digest {
        return Err(invalid(format!(
            "blob {} in the archive does not match its digest",
            d.digest
        )));
    }
    Ok(data)
}

fn docker_images(root: &Path) -> Result<Vec<Found>> {
    let data = std::fs::read(root.join("manifest.json")).map_err(io("read manifest.json"))?;
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&data)
        .map_err(|e| invalid(format!("invalid manifest.json: {e}")))?;
    let mut out = Vec::new();
    for e in entries {
        let config_path = inside(root, &e.config)?;
        let config = std::fs::read(&config_path).map_err(io("read image config"))?;
        if let Some(d) = digest_in_path(&e.config) {
            if sha256(&config) != d {
                return Err(invalid(format!(
                    "config {} in the archive does not match its digest",
                    e.config
                )));
            }
        }
        let mut layers = Vec::new();
        for l in &e.layers {
            layers.push((inside(root, l)?, digest_in_path(l)));
        }
        out.push(Found {
            config,
            tags: e.repo_tags.unwrap_or_default(),
            layers,
        });
    }
    Ok(out)
}

/// `blobs/sha256/<hex>` → `sha256:<hex>`.
fn digest_in_path(p: &str) -> Option<String> {
    let hex = p.strip_prefix("blobs/sha256/")?;
    let d = format!("sha256:{hex}");
    super::reference::valid_digest(&d).then_some(d)
}

/// The name an OCI layout gives a manifest, as a local tag.
fn oci_name(d: &Descriptor) -> Option<String> {
    let a = d.annotations.as_ref()?;
    if let Some(full) = a.get("io.containerd.image.name") {
        return ImageRef::parse(full).ok().and_then(|r| r.local_tag());
    }
    let name = a.get("org.opencontainers.image.ref.name")?;
    // Either a full reference or (per the OCI spec) just a tag.
    match ImageRef::parse(name) {
        Ok(r) if r.tag.is_some() => r.local_tag(),
        _ => None,
    }
}

fn oci_images(root: &Path) -> Result<Vec<Found>> {
    let data = std::fs::read(root.join("index.json")).map_err(io("read index.json"))?;
    let index: OciIndex =
        serde_json::from_slice(&data).map_err(|e| invalid(format!("invalid index.json: {e}")))?;
    let mut by_config: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Found> = Vec::new();
    let host = Platform::host();
    for top in &index.manifests {
        let tag = oci_name(top);
        let mut desc = top.clone();
        let mut doc: OciManifestDoc;
        // Follow nested indexes down to this platform's manifest.
        let mut depth = 0;
        loop {
            let bytes = read_blob(root, &desc)?;
            doc = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("invalid manifest {}: {e}", desc.digest)))?;
            let is_index = doc.media_type == OCI_INDEX
                || doc.media_type == super::registry::DOCKER_LIST
                || (doc.config.is_none() && !doc.manifests.is_empty());
            if !is_index {
                break;
            }
            depth += 1;
            desc = choose(&doc.manifests, &host)
                .or_else(|| (doc.manifests.len() == 1).then(|| doc.manifests[0].clone()))
                .ok_or_else(|| {
                    invalid(format!(
                        "no manifest for {host} in the archive's index {}",
                        desc.digest
                    ))
                })?;
            if depth > 4 {
                return Err(invalid("the archive's indexes nest too deeply"));
            }
        }
        let cfg_desc = doc
            .config
            .ok_or_else(|| invalid(format!("manifest {} has no config", desc.digest)))?;
        let config = read_blob(root, &cfg_desc)?;
        if let Some(&i) = by_config.get(&cfg_desc.digest) {
            out[i].tags.extend(tag);
            continue;
        }
        let mut layers = Vec::new();
        for l in &doc.layers {
            layers.push((blob_file(root, &l.digest)?, Some(l.digest.clone())));
        }
        by_config.insert(cfg_desc.digest.clone(), out.len());
        out.push(Found {
            config,
            tags: tag.into_iter().collect(),
            layers,
        });
    }
    Ok(out)
}

fn media_type_of(file: &Path) -> String {
    let mut head = [0u8; 4];
    let n = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    match Compression::sniff(&head[..n]) {
        Compression::Gzip => format!("{OCI_LAYER}+gzip"),
        Compression::Zstd => format!("{OCI_LAYER}+zstd"),
        Compression::None => OCI_LAYER.to_string(),
    }
}

/// Loads the archive in `file`; returns Docker's `{"stream":"Loaded image: ..."}` messages.
pub fn load(images: &Images, store: &Store, file: &Path) -> Result<Vec<serde_json::Value>> {
    let dir = images.tmp_path("load");
    std::fs::create_dir_all(&dir).map_err(io("create temporary directory"))?;
    let r = load_in(images, store, file, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn load_in(
    images: &Images,
    store: &Store,
    file: &Path,
    dir: &Path,
) -> Result<Vec<serde_json::Value>> {
    let f = std::fs::File::open(file).map_err(io("open upload"))?;
    {
        let mut ar = tar::Archive::new(decompress(f)?);
        ar.set_preserve_permissions(false);
        ar.set_unpack_xattrs(false);
        ar.unpack(dir).map_err(|e| {
            invalid(format!(
                "the uploaded file is not a valid image archive: {e}"
            ))
        })?;
    }
    let found = if dir.join("manifest.json").is_file() {
        docker_images(dir)?
    } else if dir.join("index.json").is_file() {
        oci_images(dir)?
    } else {
        return Err(invalid(
            "the uploaded file is not an image archive: it has neither manifest.json nor index.json",
        ));
    };
    if found.is_empty() {
        return Err(invalid("the archive holds no images"));
    }
    // Verify and unpack every missing layer before storing anything.
    let mut prepared: Vec<PreparedLayer> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for img in &found {
        let cfg = ConfigFile::parse(&img.config)?;
        if cfg.rootfs.diff_ids.len() != img.layers.len() {
            return Err(invalid(format!(
                "the archive lists {} layers for an image whose config has {}",
                img.layers.len(),
                cfg.rootfs.diff_ids.len()
            )));
        }
        for ((path, named), diff_id) in img.layers.iter().zip(&cfg.rootfs.diff_ids) {
            if images.layer_dir(diff_id).is_dir() || !seen.insert(diff_id.clone()) {
                continue;
            }
            let digest = file_digest(path)?;
            if let Some(n) = named {
                if n != &digest {
                    return Err(invalid(format!(
                        "layer {n} in the archive does not match its digest (content has {digest})"
                    )));
                }
            }
            // Keep a private copy as the layer's blob (the archive directory goes away).
            let copy = images.tmp_path("blob");
            std::fs::copy(path, &copy).map_err(io("copy layer"))?;
            let p = prepare_layer(
                images,
                &copy,
                diff_id,
                Some((digest, media_type_of(&copy))),
                &mut |_| {},
            );
            if p.is_err() {
                let _ = std::fs::remove_file(&copy);
            }
            prepared.push(p?);
        }
    }
    for p in prepared {
        p.commit(images)?;
    }
    let mut out = Vec::new();
    for img in found {
        let mut tags = Vec::new();
        for t in &img.tags {
            let r = ImageRef::parse(t)
                .map_err(|_| invalid(format!("invalid tag {t:?} in the archive")))?;
            let local = r
                .local_tag()
                .unwrap_or_else(|| normalize(&r.familiar_repo()));
            if !tags.contains(&local) {
                tags.push(local);
            }
        }
        let image = images.register(store, &img.config, tags.clone(), None)?;
        if tags.is_empty() {
            out.push(progress::stream(format!("Loaded image ID: {}\n", image.id)));
        }
        for t in tags {
            out.push(progress::stream(format!("Loaded image: {t}\n")));
        }
    }
    Ok(out)
}

/// A `Write` that hands 64 KiB chunks to an async receiver (used from a blocking task).
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<bytes::Bytes>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(64 * 1024),
        }
    }
    fn push(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::take(&mut self.buf));
        self.buf.reserve(64 * 1024);
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.push()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.push()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.push();
    }
}

fn entry_header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_bytes(b: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = entry_header(data.len() as u64, 0o644);
    b.append_data(&mut h, path, data)
}

fn append_dir(b: &mut tar::Builder<impl Write>, path: &str) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    b.append_data(&mut h, path, std::io::empty())
}

/// Resolves what `save` should write (errors here are the request's error).
pub fn resolve_for_save(images: &Images, names: &[String]) -> Result<Vec<(Image, Vec<String>)>> {
    if names.is_empty() {
        return Err(invalid("no image names given to save"));
    }
    let mut out: Vec<(Image, Vec<String>)> = Vec::new();
    for n in names {
        let img = images
            .resolve(n)
            .or_else(|e| images.by_repo_digest(n).ok_or(e))?;
        if img.is_host() {
            return Err(invalid("the reserved image host cannot be saved"));
        }
        // A name that is a tag of the image selects that tag; an id selects all its tags.
        let tag = normalize(n);
        let tags: Vec<String> = if img.repo_tags.contains(&tag) {
            vec![tag]
        } else {
            img.repo_tags.clone()
        };
        match out.iter_mut().find(|(i, _)| i.id == img.id) {
            Some((_, t)) => {
                for x in tags {
                    if !t.contains(&x) {
                        t.push(x);
                    }
                }
            }
            None => out.push((img, tags)),
        }
    }
    Ok(out)
}

/// Writes the archive of `list` (from [`resolve_for_save`]) to `out`.
pub fn save(images: &Images, list: &[(Image, Vec<String>)], out: impl Write) -> Result<()> {
    let fail = |e: std::io::Error| EngineError::Internal(format!("writing the archive: {e}"));
    let mut b = tar::Builder::new(out);
    append_dir(&mut b, "blobs/").map_err(fail)?;
    append_dir(&mut b, "blobs/sha256/").map_err(fail)?;
    let mut written: HashSet<String> = HashSet::new();
    let mut docker_manifest = Vec::new();
    let mut index = Vec::new();
    for (image, tags) in list {
        let mut config_blob = images.config_blob(image);
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        let mut changed = false;
        for diff_id in &image.layers {
            let (digest, size) = write_layer(images, &mut b, diff_id, &mut written)?;
            if &digest != diff_id {
                changed = true;
            }
            layer_descs.push(serde_json::json!({
                "mediaType": OCI_LAYER, "digest": digest, "size": size,
            }));
            diff_ids.push(digest);
        }
        if changed {
            // Layers rebuilt from their directories: the config must name the new tars.
            let mut v: serde_json::Value = serde_json::from_slice(&config_blob)
                .map_err(|e| EngineError::Internal(format!("image config: {e}")))?;
            v["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": diff_ids});
            config_blob = v.to_string().into_bytes();
        }
        let config_digest = sha256(&config_blob);
        if written.insert(config_digest.clone()) {
            append_bytes(&mut b, &blob_name(&config_digest), &config_blob).map_err(fail)?;
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": super::registry::OCI_CONFIG, "digest": config_digest, "size": config_blob.len()},
            "layers": layer_descs,
        })
        .to_string()
        .into_bytes();
        let manifest_digest = sha256(&manifest);
        if written.insert(manifest_digest.clone()) {
            append_bytes(&mut b, &blob_name(&manifest_digest), &manifest).map_err(fail)?;
        }
        let desc = |annotations: Option<serde_json::Value>| {
            let mut d = serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if tags.is_empty() {
            index.push(desc(None));
        }
        for t in tags {
            let r = ImageRef::parse(t).ok();
            let full = r
                .as_ref()
                .map(|r| format!("{}:{}", r.full_repo(), r.tag.clone().unwrap_or_default()))
                .unwrap_or_else(|| t.clone());
            let short_tag = r.and_then(|r| r.tag).unwrap_or_default();
            index.push(desc(Some(serde_json::json!({
                "io.containerd.image.name": full,
                "org.opencontainers.image.ref.name": short_tag,
            }))));
        }
        docker_manifest.push(serde_json::json!({
            "Config": blob_name(&config_digest),
            "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(tags) },
            "Layers": diff_ids.iter().map(|d| blob_name(d)).collect::<Vec<_>>(),
        }));
    }
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index,
    });
    append_bytes(&mut b, "index.json", index.to_string().as_bytes()).map_err(fail)?;
    append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(fail)?;
    append_bytes(
        &mut b,
        "manifest.json",
        serde_json::Value::from(docker_manifest)
            .to_string()
            .as_bytes(),
    )
    .map_err(fail)?;
    b.into_inner().map_err(fail)?.flush().map_err(fail)?;
    Ok(())
}

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// Writes layer `diff_id` as an uncompressed tar blob; returns its digest and size (the
/// diff_id itself unless the layer had to be rebuilt from its directory).
fn write_layer(
    images: &Images,
    b: &mut tar::Builder<impl Write>,
    diff_id: &str,
    written: &mut HashSet<String>,
) -> Result<(String, u64)> {
    let fail = |e: std::io::Error| EngineError::Internal(format!("writing layer {diff_id}: {e}"));
    if let Some(info) = images.layer_info(diff_id) {
        if let Some(blob) = &info.blob {
            let path = images.blob_path(blob);
            if path.is_file() {
                if written.insert(diff_id.to_string()) {
                    let f = std::fs::File::open(&path).map_err(fail)?;
                    let mut h = entry_header(info.size, 0o644);
                    let mut reader = decompress(f)?.take(info.size);
                    b.append_data(&mut h, blob_name(diff_id), &mut reader)
                        .map_err(fail)?;
                }
                return Ok((diff_id.to_string(), info.size));
            }
        }
    }
    // No blob: rebuild the tar from the directory.
    let tmp = images.tmp_path("layer");
    if let Some(d) = tmp.parent() {
        std::fs::create_dir_all(d).map_err(fail)?;
    }
    let result = (|| {
        let f = std::fs::File::create(&tmp).map_err(fail)?;
        let mut w = std::io::BufWriter::new(f);
        super::layer::write_tar(&images.layer_dir(diff_id), &mut w).map_err(fail)?;
        w.flush().map_err(fail)?;
        drop(w);
        let digest = file_digest(&tmp)?;
        let size = std::fs::metadata(&tmp).map_err(fail)?.len();
        if written.insert(digest.clone()) {
            let mut h = entry_header(size, 0o644);
            let f = std::fs::File::open(&tmp).map_err(fail)?;
            b.append_data(&mut h, blob_name(&digest), f).map_err(fail)?;
        }
        Ok((digest, size))
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = entry_header(data.len() as u64, 0o644);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn setup() -> (tempfile::TempDir, Store, Images) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.redb")).unwrap();
        let images = Images::load(dir.path(), &store).unwrap();
        (dir, store, images)
    }

    fn image_parts() -> (Vec<u8>, Vec<u8>, String) {
        let layer = tar_with(&[("hello", b"world")]);
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["cat", "/hello"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
        })
        .to_string()
        .into_bytes();
        let id = sha256(&config);
        (layer, config, id)
    }

    fn load_bytes(
        images: &Images,
        store: &Store,
        dir: &Path,
        archive: &[u8],
    ) -> Result<Vec<serde_json::Value>> {
        let f = dir.join("upload.tar");
        std::fs::write(&f, archive).unwrap();
        load(images, store, &f)
    }

    #[test]
    fn loads_oci_layouts_and_legacy_docker_archives() {
        if !nix::unistd::geteuid().is_root() {
            return; // unpacking preserves ownership
        }
        let (layer, config, id) = image_parts();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(&layer), "size": layer.len()}],
        })
        .to_string()
        .into_bytes();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(&manifest), "size": manifest.len(),
                           "annotations": {"org.opencontainers.image.ref.name": "example.com/app:3"}}],
        })
        .to_string()
        .into_bytes();
        let blob = |d: &[u8]| format!("blobs/sha256/{}", &sha256(d)[7..]);
        let oci = tar_with(&[
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json", &index),
            (&blob(&manifest), &manifest),
            (&blob(&config), &config),
            (&blob(&layer), &layer),
        ]);
        let (dir, store, images) = setup();
        let out = load_bytes(&images, &store, dir.path(), &oci).unwrap();
        assert_eq!(
            out,
            vec![progress::stream("Loaded image: example.com/app:3\n")]
        );
        let img = images.resolve("example.com/app:3").unwrap();
        assert_eq!(img.id, id);
        assert_eq!(img.config.cmd, Some(vec!["cat".into(), "/hello".into()]));
        let layer_dir = images.layer_dir(&sha256(&layer));
        assert_eq!(
            std::fs::read_to_string(layer_dir.join("hello")).unwrap(),
            "world"
        );
        assert_eq!(images.config_blob(&img), config);

        // The legacy `docker save` layout: <id>.json, <dir>/layer.tar, RepoTags.
        let legacy_manifest = serde_json::json!([{
            "Config": format!("{}.json", &id[7..]), "RepoTags": ["old:1"], "Layers": ["abc/layer.tar"],
        }])
        .to_string()
        .into_bytes();
        let legacy = tar_with(&[
            ("manifest.json", &legacy_manifest),
            (&format!("{}.json", &id[7..]), &config),
            ("abc/layer.tar", &layer),
        ]);
        let (dir, store, images) = setup();
        let out = load_bytes(&images, &store, dir.path(), &legacy).unwrap();
        assert_eq!(out, vec![progress::stream("Loaded image: old:1\n")]);
        assert_eq!(images.resolve("old:1").unwrap().id, id);

        // A layer whose content does not match the config: refused, nothing stored.
        let bad_layer = tar_with(&[("hello", b"WORLD")]);
        let bad = tar_with(&[
            ("manifest.json", &legacy_manifest),
            (&format!("{}.json", &id[7..]), &config),
            ("abc/layer.tar", &bad_layer),
        ]);
        let (dir, store, images) = setup();
        let e = load_bytes(&images, &store, dir.path(), &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&sha256(&layer)), "{e}");
        assert!(images.list().is_empty());
        assert!(!images.layer_dir(&sha256(&layer)).exists());
    }

    #[test]
    fn save_then_load_round_trips() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let (layer, config, id) = image_parts();
        let legacy_manifest = serde_json::json!([{
            "Config": "c.json", "RepoTags": ["rt:1"], "Layers": ["l/layer.tar"],
        }])
        .to_string()
        .into_bytes();
        let archive = tar_with(&[
            ("manifest.json", &legacy_manifest),
            ("c.json", &config),
            ("l/layer.tar", &layer),
        ]);
        let (dir, store, images) = setup();
        load_bytes(&images, &store, dir.path(), &archive).unwrap();
        let list = resolve_for_save(&images, &["rt:1".to_string()]).unwrap();
        let mut saved = Vec::new();
        save(&images, &list, &mut saved).unwrap();
        let (dir2, store2, images2) = setup();
        let out = load_bytes(&images2, &store2, dir2.path(), &saved).unwrap();
        assert_eq!(out, vec![progress::stream("Loaded image: rt:1\n")]);
        assert_eq!(images2.resolve("rt:1").unwrap().id, id);
        drop(dir);
    }
}
