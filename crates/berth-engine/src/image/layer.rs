//! Layer tars in and out of the layer store.
//!
//! Layers are unpacked into `DATA/layers/<diff_id hex>` and stacked as overlayfs lower
//! directories, so OCI whiteouts are converted on the way in the way containerd's and moby's
//! overlay snapshotters do: `.wh.NAME` becomes a character device 0/0 named `NAME` (overlay's
//! whiteout) and `.wh..wh..opq` in a directory becomes the `trusted.overlay.opaque=y` xattr on
//! it. Other `.wh..wh.*` entries (AUFS metadata) are dropped. [`write_tar`] does the reverse for
//! `save` and `push`.
//!
//! Every path is resolved below the layer directory without following symlinks, so a layer
//! cannot write outside it (tar-rs's `unpack_in` guards regular entries, [`safe_dir`] guards
//! whiteouts).

use crate::error::{EngineError, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const CAPABILITY_XATTR: &str = "security.capability";

/// A reader that hashes (sha256) and counts what passes through it.
pub struct Hashing<R> {
    pub inner: R,
    pub hash: Sha256,
    pub len: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }
    /// `sha256:<hex>` of everything read so far.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hash.clone().finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// How a blob is compressed, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wraps `r` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> Result<Box<dyn Read + 'a>> {
    let mut r = std::io::BufReader::new(r);
    let head = std::io::BufRead::fill_buf(&mut r)
        .map_err(crate::error::io("read layer"))?
        .to_vec();
    Ok(match Compression::sniff(&head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(r)
                .map_err(|e| EngineError::Invalid(format!("bad zstd layer: {e}")))?,
        ),
        Compression::None => Box::new(r),
    })
}

fn cstr(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
}

fn lsetxattr(p: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let path = cstr(p)?;
    let name = CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let r = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let path = cstr(p).ok()?;
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// The relative path of a tar entry, or `None` if it tries to leave the root.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `root/rel` as a directory, created as needed, refusing to pass through symlinks.
fn safe_dir(root: &Path, rel: &Path) -> std::io::Result<PathBuf> {
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        let Component::Normal(n) = c else { continue };
        cur.push(n);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a directory",
                    cur.display()
                )))
            }
            Err(_) => std::fs::create_dir(&cur)?,
        }
    }
    Ok(cur)
}

/// True when no existing directory on the way to `root/rel` is a symlink.
fn no_symlink_above(root: &Path, rel: &Path) -> bool {
    let mut cur = root.to_path_buf();
    let Some(parent) = rel.parent() else {
        return true;
    };
    for c in parent.components() {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => return false,
            Ok(_) => {}
            Err(_) => return true,
        }
    }
    true
}

fn remove_any(p: &Path) {
    if let Ok(m) = std::fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = std::fs::remove_dir_all(p);
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Unpacks one uncompressed layer tar into `dir` (converting whiteouts); returns the tar's
/// digest (`sha256:<hex>`, the layer's diff_id) and size.
pub fn unpack(tar: impl Read, dir: &Path) -> Result<(String, u64)> {
    let bad = |e: std::io::Error| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        EngineError::Invalid(format!("invalid layer tar: {msg}"))
    };
    let mut hashing = Hashing::new(tar);
    {
        let mut archive = tar::Archive::new(&mut hashing);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_preserve_mtime(true);
        archive.set_unpack_xattrs(false);
        archive.set_overwrite(true);
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let Some(rel) = clean(&entry.path().map_err(bad)?) else {
                continue;
            };
            let Some(name) = rel.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
                if hidden.is_empty() || hidden == "." || hidden == ".." {
                    continue;
                }
                let Ok(parent) = safe_dir(dir, rel.parent().unwrap_or(Path::new(""))) else {
                    tracing::warn!(
                        "layer whiteout {} ignored: not below a directory",
                        rel.display()
                    );
                    continue;
                };
                if name == OPAQUE_WHITEOUT {
                    lsetxattr(&parent, OPAQUE_XATTR, b"y").map_err(|e| {
                        EngineError::Internal(format!(
                            "set {OPAQUE_XATTR} on {}: {e}",
                            parent.display()
                        ))
                    })?;
                } else if !hidden.starts_with(WHITEOUT_PREFIX) {
                    let target = parent.join(hidden);
                    remove_any(&target);
                    nix::sys::stat::mknod(
                        &target,
                        nix::sys::stat::SFlag::S_IFCHR,
                        nix::sys::stat::Mode::empty(),
                        nix::sys::stat::makedev(0, 0),
                    )
                    .map_err(|e| {
                        EngineError::Internal(format!("whiteout {}: {e}", target.display()))
                    })?;
                }
                continue;
            }
            let target = dir.join(&rel);
            let is_dir = entry.header().entry_type() == tar::EntryType::Directory;
            // Replace what this layer put there before (type changes, whiteouts). Below a
            // symlink, leave it to tar-rs, which only unpacks inside `dir`.
            if no_symlink_above(dir, &rel) {
                if let Ok(m) = std::fs::symlink_metadata(&target) {
                    if !(m.is_dir() && is_dir) {
                        remove_any(&target);
                    }
                }
            }
            let caps = entry.pax_extensions().ok().flatten().and_then(|exts| {
                exts.filter_map(|e| e.ok())
                    .find(|e| e.key().ok() == Some("SCHILY.xattr.security.capability"))
                    .map(|e| e.value_bytes().to_vec())
            });
            if !entry.unpack_in(dir).map_err(bad)? {
                continue;
            }
            if let Some(caps) = caps {
                if entry.header().entry_type().is_file() {
                    let _ = lsetxattr(&target, CAPABILITY_XATTR, &caps);
                }
            }
        }
    }
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(bad)?;
    Ok((hashing.digest(), hashing.len))
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "<len> <key>=<value>\n" where len counts the whole record, itself included.
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// Writes the layer directory `dir` as a layer tar (overlay whiteouts back to `.wh.` files),
/// in a stable order.
pub fn write_tar(dir: &Path, out: impl Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(&mut b, dir, Path::new(""), &mut links)?;
    b.into_inner()?.flush()
}

fn header_for(meta: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    h.set_entry_type(kind);
    h.set_size(0);
    h
}

fn walk(
    b: &mut tar::Builder<impl Write>,
    root: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        let r = rel.join(&name);
        let full = root.join(&r);
        let meta = std::fs::symlink_metadata(&full)?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            let mut h = header_for(&meta, tar::EntryType::Regular);
            h.set_mode(0o600);
            let wh = rel.join(format!("{WHITEOUT_PREFIX}{}", name.to_string_lossy()));
            b.append_data(&mut h, wh, std::io::empty())?;
        } else if ft.is_dir() {
            let mut h = header_for(&meta, tar::EntryType::Directory);
            b.append_data(&mut h, &r, std::io::empty())?;
            if lgetxattr(&full, OPAQUE_XATTR).as_deref() == Some(b"y") {
                let mut h = header_for(&meta, tar::EntryType::Regular);
                h.set_mode(0o600);
                b.append_data(&mut h, r.join(OPAQUE_WHITEOUT), std::io::empty())?;
            }
            walk(b, root, &r, links)?;
        } else if ft.is_symlink() {
            let mut h = header_for(&meta, tar::EntryType::Symlink);
            let target = std::fs::read_link(&full)?;
            b.append_link(&mut h, &r, target)?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    let mut h = header_for(&meta, tar::EntryType::Link);
                    b.append_link(&mut h, &r, first)?;
                    continue;
                }
                links.insert(key, r.clone());
            }
            if let Some(caps) = lgetxattr(&full, CAPABILITY_XATTR) {
                let data = pax_record("SCHILY.xattr.security.capability", &caps);
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::XHeader);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, "PaxHeader", data.as_slice())?;
            }
            let mut h = header_for(&meta, tar::EntryType::Regular);
            h.set_size(meta.len());
            b.append_data(&mut h, &r, std::fs::File::open(&full)?)?;
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else if ft.is_fifo() {
                tar::EntryType::Fifo
            } else {
                continue; // sockets are not archived
            };
            let mut h = header_for(&meta, kind);
            let dev = meta.rdev();
            h.set_device_major(nix::sys::stat::major(dev) as u32)?;
            h.set_device_minor(nix::sys::stat::minor(dev) as u32)?;
            b.append_data(&mut h, &r, std::io::empty())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            match content {
                Some(c) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(c.len() as u64);
                    b.append_data(&mut h, path, c.as_bytes()).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, path, std::io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn decompresses_gzip_and_zstd() {
        let data = tar_of(&[("f", Some("content"))]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = ruzstd::encoding::compress_to_vec(
            data.as_slice(),
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        for blob in [data.clone(), gz, zst] {
            let mut out = Vec::new();
            decompress(blob.as_slice())
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn pax_record_lengths() {
        assert_eq!(pax_record("a", b"b"), b"6 a=b\n");
        let r = pax_record("SCHILY.xattr.security.capability", &[0u8; 20]);
        let len: usize = std::str::from_utf8(&r[..r.iter().position(|&c| c == b' ').unwrap()])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, r.len());
    }

    #[test]
    fn digest_and_paths() {
        let mut data = tar_of(&[("a/", None), ("a/f", Some("hi")), ("xxxxxxx", Some("x"))]);
        // tar-rs refuses to build a `..` path: patch the third header's name.
        let pos = data.windows(7).position(|w| w == b"xxxxxxx").unwrap();
        data[pos..pos + 7].copy_from_slice(b"../evil");
        let mut h = tar::Header::from_byte_slice(&data[pos..pos + 512]).clone();
        h.set_cksum();
        data[pos..pos + 512].copy_from_slice(h.as_bytes());
        let tmp = tempfile::tempdir().unwrap();
        let (digest, size) = unpack(data.as_slice(), tmp.path()).unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(
            digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&data)))
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("a/f")).unwrap(),
            "hi"
        );
        assert!(!tmp.path().parent().unwrap().join("evil").exists());
    }

    #[test]
    fn hostile_whiteouts_stay_inside() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("layer");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(outer.path().join("victim"), "x").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        b.append_link(&mut h, "up", "..").unwrap();
        for p in ["up/.wh.victim", ".wh...", ".wh.."] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_size(0);
            b.append_data(&mut h, p, std::io::empty()).unwrap();
        }
        let data = b.into_inner().unwrap();
        unpack(data.as_slice(), &dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(outer.path().join("victim")).unwrap(),
            "x"
        );
        assert!(dir.is_dir());
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        // mknod and trusted.* xattrs need root.
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let data = tar_of(&[
            ("a/", None),
            ("a/.wh.gone", Some("")),
            ("d/", None),
            ("d/.wh..wh..opq", Some("")),
            ("d/kept", Some("k")),
        ]);
        let tmp = tempfile::tempdir().unwrap();
        unpack(data.as_slice(), tmp.path()).unwrap();
        let m = std::fs::symlink_metadata(tmp.path().join("a/gone")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), 0);
        assert!(!tmp.path().join("a/.wh.gone").exists());
        assert_eq!(
            lgetxattr(&tmp.path().join("d"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        // And back.
        let mut out = Vec::new();
        write_tar(tmp.path(), &mut out).unwrap();
        let mut names: Vec<String> = tar::Archive::new(out.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["a", "a/.wh.gone", "d", "d/.wh..wh..opq", "d/kept"]
        );
    }
}
