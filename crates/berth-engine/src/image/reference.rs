//! Image references the way Docker reads them: `[DOMAIN[:PORT]/]PATH[:TAG][@DIGEST]`.
//!
//! The first path component is a registry domain when it contains `.` or `:` or is
//! `localhost`; otherwise the image lives on Docker Hub (`docker.io`, reached at
//! `registry-1.docker.io`) and a one-component path gets the `library/` prefix.
//! Locally, images are tagged with the familiar form (`bb:latest`,
//! `localhost:5000/bb:1`), which is what [`super::normalize`] produces.

use crate::error::{EngineError, Result};

pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API is served from.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry domain (with port), `docker.io` for Docker Hub.
    pub domain: String,
    /// Repository path inside the registry (`library/busybox`, `bb`).
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

fn invalid(r: &str, why: &str) -> EngineError {
    EngineError::Invalid(format!("invalid reference format: {r:?}: {why}"))
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
    if c.is_empty() {
        return false;
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && (t.as_bytes()[0].is_ascii_alphanumeric() || t.starts_with('_'))
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Checks `sha256:<64 hex>` (the only algorithm berth stores).
pub fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl ImageRef {
    /// Parses a reference; no default tag is filled in.
    pub fn parse(r: &str) -> Result<ImageRef> {
        if r.is_empty() {
            return Err(invalid(r, "empty"));
        }
        let (name, digest) = match r.split_once('@') {
            Some((n, d)) => {
                if !valid_digest(d) {
                    return Err(invalid(r, "the digest must be sha256:<64 hex digits>"));
                }
                (n, Some(d.to_string()))
            }
            None => (r, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let t = &name[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(invalid(r, "bad tag"));
                }
                (&name[..last_slash + i], Some(t.to_string()))
            }
            None => (name, None),
        };
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            domain
        };
        let valid_domain = domain.split(':').next().is_some_and(|h| {
            !h.is_empty()
                && h.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                })
        }) && domain
            .split_once(':')
            .is_none_or(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !valid_domain {
            return Err(invalid(r, "bad registry host"));
        }
        if !path.split('/').all(valid_component) {
            return Err(invalid(r, "repository name must be lowercase"));
        }
        let path = if domain == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(ImageRef {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// Parses Docker's pull parameters: `fromImage` plus `tag` (a tag or a digest; empty
    /// means `latest` unless `fromImage` carries one).
    pub fn from_pull(from_image: &str, tag: &str) -> Result<ImageRef> {
        let mut r = ImageRef::parse(from_image)?;
        if !tag.is_empty() {
            if tag.contains(':') {
                if !valid_digest(tag) {
                    return Err(invalid(tag, "the digest must be sha256:<64 hex digits>"));
                }
                r.digest = Some(tag.to_string());
            } else {
                if !valid_tag(tag) {
                    return Err(invalid(tag, "bad tag"));
                }
                r.tag = Some(tag.to_string());
            }
        }
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".into());
        }
        Ok(r)
    }

    /// The repository in familiar form: `busybox`, `user/app`, `localhost:5000/bb`.
    pub fn familiar_repo(&self) -> String {
        if self.domain == DOCKER_HUB {
            self.path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The fully qualified repository: `docker.io/library/busybox`.
    pub fn full_repo(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The local tag (`repo:tag`) this reference gets, if it has a tag.
    pub fn local_tag(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}:{t}", self.familiar_repo()))
    }

    /// The familiar string: `busybox:latest`, `bb@sha256:...`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repo();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The host the registry API is reached at.
    pub fn registry_host(&self) -> &str {
        if self.domain == DOCKER_HUB {
            DOCKER_HUB_REGISTRY
        } else {
            &self.domain
        }
    }

    /// What the registry calls the manifest: the digest if any, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

/// Whether registry `host` (`host[:port]`) is reached over plain HTTP: loopback hosts and
/// those given with `--insecure-registry` (as `HOST[:PORT]`, or a CIDR for IPs).
pub fn is_insecure(host: &str, insecure: &[String]) -> bool {
    let bare = host
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    if bare == "localhost" || bare.starts_with("127.") || bare == "[::1]" {
        return true;
    }
    insecure.iter().any(|i| {
        let i = i
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if i == host || i == bare {
            return true;
        }
        match (i.parse::<ipnet::IpNet>(), bare.parse::<std::net::IpAddr>()) {
            (Ok(net), Ok(ip)) => net.contains(&ip),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_defaults() {
        let r = ImageRef::from_pull("busybox", "").unwrap();
        assert_eq!(r.domain, "docker.io");
        assert_eq!(r.path, "library/busybox");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.registry_host(), "registry-1.docker.io");
        assert_eq!(r.local_tag().unwrap(), "busybox:latest");
        let r = ImageRef::parse("docker.io/user/app:2").unwrap();
        assert_eq!(r.local_tag().unwrap(), "user/app:2");
        assert_eq!(r.full_repo(), "docker.io/user/app");
    }

    #[test]
    fn private_registries() {
        let r = ImageRef::from_pull("10.1.2.2:5000/bb", "1").unwrap();
        assert_eq!(r.domain, "10.1.2.2:5000");
        assert_eq!(r.path, "bb");
        assert_eq!(r.local_tag().unwrap(), "10.1.2.2:5000/bb:1");
        let r = ImageRef::parse("localhost/x/y:z").unwrap();
        assert_eq!((r.domain.as_str(), r.path.as_str()), ("localhost", "x/y"));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::from_pull("localhost:5000/bb", &d).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_ref(), d);
        assert_eq!(r.familiar(), format!("localhost:5000/bb@{d}"));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "UPPER",
            "a//b",
            "a:b:c",
            "x@sha256:abc",
            "-a",
            "a:",
            "host:port/x",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn insecure_hosts() {
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(!is_insecure("10.1.1.2:5000", &[]));
        assert!(is_insecure("10.1.1.2:5000", &["10.1.1.2:5000".into()]));
        assert!(is_insecure("10.1.1.2:5000", &["10.1.0.0/16".into()]));
        assert!(!is_insecure("10.1.1.2:5001", &["10.1.1.2:5000".into()]));
    }
}
