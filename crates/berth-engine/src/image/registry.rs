//! Talking to OCI/Docker registries (the distribution API).
//!
//! The protocol is done by the `oci-client` crate (the ORAS project's maintained Rust client,
//! used by Krustlet/wasmCloud/Kubewarden): the `/v2/` probe, the `WWW-Authenticate: Bearer`
//! challenge and token exchange (anonymous or with Basic credentials), manifest GETs with
//! `Accept` negotiation, streamed blob GETs (following redirects to blob storage) and blob and
//! manifest uploads. It runs on reqwest + rustls; berth installs rustls's `ring` provider so no
//! C toolchain or OpenSSL is needed. berth keeps the parts that decide what ends up on disk:
//! which manifest of an index fits the host, digest checks on every manifest and blob,
//! progress reporting, and the error messages (worded like Docker's).
//!
//! The one request `oci-client` cannot make is a login check without a repository scope, so
//! [`check_login`] does that with reqwest directly.

use super::reference::{is_insecure, ImageRef};
use crate::error::{EngineError, Result};
use base64::Engine as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

const ACCEPT: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Credentials as the `X-Registry-Auth` header carries them (base64url JSON).
#[derive(Clone, Default, Deserialize)]
pub struct AuthConfig {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub auth: String,
    #[serde(default, rename = "serveraddress")]
    pub server_address: String,
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
    #[serde(default, rename = "registrytoken")]
    pub registry_token: String,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("server_address", &self.server_address)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` header; an empty or undecodable one means anonymous.
    pub fn from_header(h: &str) -> AuthConfig {
        let h = h.trim();
        if h.is_empty() {
            return AuthConfig::default();
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        engines
            .iter()
            .find_map(|e| e.decode(h).ok())
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or_default()
    }

    /// Fills username/password from the `auth` field (`base64(user:pass)`) when needed.
    pub fn normalized(mut self) -> AuthConfig {
        if self.username.is_empty() && !self.auth.is_empty() {
            if let Some((u, p)) = base64::engine::general_purpose::STANDARD
                .decode(self.auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
            {
                self.username = u;
                self.password = p;
            }
        }
        self
    }

    pub fn registry_auth(&self) -> RegistryAuth {
        let a = self.clone().normalized();
        if !a.registry_token.is_empty() {
            RegistryAuth::Bearer(a.registry_token)
        } else if !a.username.is_empty() {
            RegistryAuth::Basic(a.username, a.password)
        } else {
            RegistryAuth::Anonymous
        }
    }
}

/// A descriptor in a manifest or index.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::HashMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform in OCI terms (`linux/amd64`, `linux/arm64/v8`).
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "x86" => ("386", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform {
            architecture: architecture.into(),
            os: "linux".into(),
            variant: variant.map(String::from),
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => Err(EngineError::Invalid(format!(
                "invalid platform {s:?}: expected os/arch[/variant]"
            ))),
        }
    }

    fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || other.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Manifest {
    #[serde(rename = "schemaVersion", default)]
    schema_version: i64,
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// An image manifest resolved to this host's platform, with its config.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Digest of what the reference names (the index for multi-platform images).
    pub digest: String,
    pub config_digest: String,
    pub config: Vec<u8>,
    pub layers: Vec<Descriptor>,
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Chooses the manifest for `want` among an index's entries (attestations skipped).
pub fn choose(entries: &[Descriptor], want: &Platform) -> Option<Descriptor> {
    entries
        .iter()
        .filter(|d| {
            d.annotations
                .as_ref()
                .and_then(|a| a.get("vnd.docker.reference.type"))
                .is_none()
        })
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .cloned()
}

/// One registry session for one repository.
pub struct Registry {
    client: oci_client::Client,
    auth: RegistryAuth,
    reference: Reference,
    image: ImageRef,
}

impl Registry {
    pub fn new(image: &ImageRef, insecure: &[String], auth: &AuthConfig) -> Registry {
        install_crypto();
        let host = image.registry_host().to_string();
        let protocol = if is_insecure(&host, insecure) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let reference = match &image.digest {
            Some(d) => Reference::with_digest(host, image.path.clone(), d.clone()),
            None => Reference::with_tag(
                host,
                image.path.clone(),
                image.tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        };
        Registry {
            client: oci_client::Client::new(config),
            auth: auth.registry_auth(),
            reference,
            image: image.clone(),
        }
    }

    fn err(&self, e: OciDistributionError) -> EngineError {
        describe(&self.image, e)
    }

    /// Authenticates (token exchange when the registry asks for one).
    pub async fn login(&self, op: RegistryOperation) -> Result<()> {
        self.client
            .auth(&self.reference, &self.auth, op)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    async fn manifest(&self, reference: &Reference) -> Result<(Vec<u8>, String)> {
        let (body, _) = self
            .client
            .pull_manifest_raw(reference, &self.auth, ACCEPT)
            .await
            .map_err(|e| self.err(e))?;
        let digest = sha256(&body);
        if let Some(want) = reference.digest() {
            if want != digest {
                return Err(EngineError::Invalid(format!(
                    "manifest verification failed for digest {want}: the registry sent content with digest {digest}"
                )));
            }
        }
        Ok((body.to_vec(), digest))
    }

    /// Fetches the manifest, picks the platform's from an index, and fetches the config.
    pub async fn resolve(&self, platform: &Platform) -> Result<Resolved> {
        self.login(RegistryOperation::Pull).await?;
        let (body, digest) = self.manifest(&self.reference).await?;
        let mut m: Manifest = serde_json::from_slice(&body)
            .map_err(|e| EngineError::Invalid(format!("invalid manifest: {e}")))?;
        let is_index = matches!(m.media_type.as_str(), OCI_INDEX | DOCKER_LIST)
            || (m.media_type.is_empty() && !m.manifests.is_empty() && m.config.is_none());
        if is_index {
            let chosen = choose(&m.manifests, platform).ok_or_else(|| {
                EngineError::NotFound(format!(
                    "no matching manifest for {platform} in the manifest list entries"
                ))
            })?;
            let r = self.reference.clone_with_digest(chosen.digest.clone());
            let (body, _) = self.manifest(&r).await?;
            m = serde_json::from_slice(&body)
                .map_err(|e| EngineError::Invalid(format!("invalid manifest: {e}")))?;
        }
        if m.schema_version != 2 {
            return Err(EngineError::Invalid(format!(
                "unsupported manifest (schema version {}, media type {:?}): berth pulls schema 2 / OCI images",
                m.schema_version, m.media_type
            )));
        }
        let config = m
            .config
            .ok_or_else(|| EngineError::Invalid("invalid manifest: no config".into()))?;
        if !matches!(config.media_type.as_str(), OCI_CONFIG | DOCKER_CONFIG | "") {
            return Err(EngineError::Invalid(format!(
                "{} is not a container image (config media type {})",
                self.image.familiar(),
                config.media_type
            )));
        }
        let mut data = Vec::new();
        self.client
            .pull_blob(&self.reference, &oci_descriptor(&config), &mut data)
            .await
            .map_err(|e| self.err(e))?;
        if sha256(&data) != config.digest {
            return Err(EngineError::Invalid(format!(
                "failed to verify config {}: digest mismatch",
                config.digest
            )));
        }
        Ok(Resolved {
            digest,
            config_digest: config.digest,
            config: data,
            layers: m.layers,
        })
    }

    /// Streams blob `d`; returns its content length (if the registry says) and the stream.
    pub async fn blob(
        &self,
        d: &Descriptor,
    ) -> Result<(
        Option<u64>,
        futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
    )> {
        let s = self
            .client
            .pull_blob_stream(&self.reference, &oci_descriptor(d))
            .await
            .map_err(|e| self.err(e))?;
        Ok((s.content_length, s.stream))
    }

    /// Whether the repository already has blob `digest`.
    pub async fn has_blob(&self, digest: &str) -> bool {
        self.client
            .blob_exists(&self.reference, digest)
            .await
            .unwrap_or(false)
    }

    pub async fn push_blob(&self, data: Vec<u8>, digest: &str) -> Result<()> {
        self.client
            .push_blob(&self.reference, data, digest)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub async fn push_manifest(&self, body: Vec<u8>, media_type: &str) -> Result<()> {
        let ct = reqwest::header::HeaderValue::from_str(media_type)
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        self.client
            .push_manifest_raw(&self.reference, body, ct)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

fn oci_descriptor(d: &Descriptor) -> oci_client::manifest::OciDescriptor {
    oci_client::manifest::OciDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        urls: d.urls.clone(),
        annotations: None,
        artifact_type: None,
    }
}

/// Registry errors in Docker's words.
pub fn describe(image: &ImageRef, e: OciDistributionError) -> EngineError {
    let repo = image.familiar_repo();
    let denied = || {
        EngineError::NotFound(format!(
            "pull access denied for {repo}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        ))
    };
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => denied(),
        OciDistributionError::ImageManifestNotFoundError(_) => EngineError::NotFound(format!(
            "manifest for {} not found: manifest unknown: manifest unknown",
            image.familiar()
        )),
        OciDistributionError::RegistryError { envelope, .. } => {
            let first = envelope.errors.first();
            let msg = first.map(|e| e.message.clone()).unwrap_or_default();
            match first.map(|e| &e.code) {
                Some(OciErrorCode::ManifestUnknown) => EngineError::NotFound(format!(
                    "manifest for {} not found: manifest unknown: {msg}",
                    image.familiar()
                )),
                Some(OciErrorCode::NameUnknown) => EngineError::NotFound(format!(
                    "repository {} not found: name unknown: {msg}",
                    image.full_repo()
                )),
                Some(OciErrorCode::BlobUnknown) => {
                    EngineError::NotFound(format!("blob unknown to registry: {msg}"))
                }
                Some(OciErrorCode::Unauthorized) | Some(OciErrorCode::Denied) => denied(),
                Some(OciErrorCode::Toomanyrequests) => {
                    EngineError::Conflict(format!("toomanyrequests: {msg}"))
                }
                _ => EngineError::Internal(format!(
                    "error from registry {}: {msg}",
                    image.registry_host()
                )),
            }
        }
        OciDistributionError::ServerError { code, url, message } => EngineError::Internal(format!(
            "error from registry: {url} answered {code}: {}",
            message.trim()
        )),
        OciDistributionError::RequestError(r) => {
            let mut msg = r.to_string();
            let mut src = std::error::Error::source(&r);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            EngineError::Internal(format!(
                "error contacting registry {}: {msg}",
                image.registry_host()
            ))
        }
        OciDistributionError::DigestError(d) => {
            EngineError::Invalid(format!("digest verification failed: {d}"))
        }
        other => EngineError::Internal(format!("registry {}: {other}", image.registry_host())),
    }
}

/// Checks credentials against a registry the way `docker login` does: `GET /v2/`, and when
/// it asks for a token, a token request with the credentials.
///
/// Answers promptly: a request without credentials is refused before any network traffic,
/// and the registry must accept the connection within [`LOGIN_CONNECT_TIMEOUT`] and the whole
/// check finish within [`LOGIN_TIMEOUT`] (an unreachable or silent registry, or a resolver
/// that never answers, used to keep `POST /auth` waiting for a minute or more).
pub async fn check_login(server: &str, insecure: &[String], auth: &AuthConfig) -> Result<()> {
    let auth = auth.clone().normalized();
    let host = login_host(server);
    if auth.username.is_empty()
        && auth.password.is_empty()
        && auth.identity_token.is_empty()
        && auth.registry_token.is_empty()
    {
        return Err(EngineError::Invalid(format!(
            "login to {host}: no credentials given (a username and password, or an identity \
             token, are required)"
        )));
    }
    match tokio::time::timeout(LOGIN_TIMEOUT, check_login_inner(&host, insecure, &auth)).await {
        Ok(r) => r,
        Err(_) => Err(EngineError::Internal(format!(
            "error contacting registry {host}: no answer within {}s",
            LOGIN_TIMEOUT.as_secs()
        ))),
    }
}

/// How long the registry may take to accept a connection during a login check.
pub const LOGIN_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a whole login check (name resolution, `GET /v2/`, token request) may take.
pub const LOGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn check_login_inner(host: &str, insecure: &[String], auth: &AuthConfig) -> Result<()> {
    install_crypto();
    let host = host.to_string();
    let scheme = if is_insecure(&host, insecure) {
        "http"
    } else {
        "https"
    };
    let client = reqwest::Client::builder()
        .connect_timeout(LOGIN_CONNECT_TIMEOUT)
        .timeout(LOGIN_TIMEOUT)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| EngineError::Internal(format!("http client: {e}")))?;
    let fail =
        |e: reqwest::Error| EngineError::Internal(format!("error contacting registry {host}: {e}"));
    let unauthorized =
        || EngineError::Invalid("unauthorized: incorrect username or password".to_string());
    let url = format!("{scheme}://{host}/v2/");
    let res = client.get(&url).send().await.map_err(fail)?;
    if res.status().is_success() {
        return Ok(());
    }
    if res.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Err(EngineError::Internal(format!(
            "login to {host}: {url} answered {}",
            res.status()
        )));
    }
    let challenge = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (scheme_name, params) = challenge.split_once(' ').unwrap_or((&challenge, ""));
    if scheme_name.eq_ignore_ascii_case("basic") {
        let res = client
            .get(&url)
            .basic_auth(&auth.username, Some(&auth.password))
            .send()
            .await
            .map_err(fail)?;
        return if res.status().is_success() {
            Ok(())
        } else {
            Err(unauthorized())
        };
    }
    let params = challenge_params(params);
    let realm = params
        .iter()
        .find(|(k, _)| k == "realm")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            EngineError::Internal(format!("login to {host}: bad challenge {challenge:?}"))
        })?;
    let mut query: Vec<(String, String)> =
        params.into_iter().filter(|(k, _)| k == "service").collect();
    query.push(("account".into(), auth.username.clone()));
    query.push(("client_id".into(), "berth".into()));
    let res = client
        .get(&realm)
        .query(&query)
        .basic_auth(&auth.username, Some(&auth.password))
        .send()
        .await
        .map_err(fail)?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

/// `https://index.docker.io/v1/` → `registry-1.docker.io`; `host:port` stays.
pub fn login_host(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            super::reference::DOCKER_HUB_REGISTRY.to_string()
        }
        other => other.to_string(),
    }
}

/// `realm="https://x",service="y"` → pairs.
fn challenge_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(i) => (&q[..i], &q[i + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            }
        };
        out.push((k, v.to_string()));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_header_forms() {
        let raw = r#"{"username":"u","password":"p","serveraddress":"r:5000"}"#;
        let h = base64::engine::general_purpose::URL_SAFE.encode(raw);
        let a = AuthConfig::from_header(&h);
        assert_eq!(a.server_address, "r:5000");
        assert!(matches!(a.registry_auth(), RegistryAuth::Basic(u, p) if u == "u" && p == "p"));
        let raw = r#"{"auth":"dTpw"}"#; // u:p
        let h = base64::engine::general_purpose::STANDARD.encode(raw);
        assert!(matches!(
            AuthConfig::from_header(&h).registry_auth(),
            RegistryAuth::Basic(..)
        ));
        assert!(matches!(
            AuthConfig::from_header("e30=").registry_auth(),
            RegistryAuth::Anonymous
        ));
        assert!(matches!(
            AuthConfig::from_header("%%%").registry_auth(),
            RegistryAuth::Anonymous
        ));
    }

    #[test]
    fn platform_choice() {
        let entries: Vec<Descriptor> = serde_json::from_str(
            r#"[
            {"mediaType":"m","digest":"sha256:arm","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"m","digest":"sha256:att","size":1,"platform":{"architecture":"unknown","os":"unknown"},
             "annotations":{"vnd.docker.reference.type":"attestation-manifest"}},
            {"mediaType":"m","digest":"sha256:amd","size":1,"platform":{"architecture":"amd64","os":"linux"}}
        ]"#,
        )
        .unwrap();
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(choose(&entries, &amd).unwrap().digest, "sha256:amd");
        let arm = Platform::parse("linux/arm64").unwrap();
        assert_eq!(choose(&entries, &arm).unwrap().digest, "sha256:arm");
        assert!(choose(&entries, &Platform::parse("linux/s390x").unwrap()).is_none());
        assert!(Platform::parse("linux").is_err());
    }

    /// A registry on loopback that wants a Bearer token, issued for Basic credentials u:p.
    fn token_registry(blobs: Vec<(String, Vec<u8>, &'static str)>) -> u16 {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in l.incoming().take(64) {
                let Ok(mut c) = conn else { break };
                let mut buf = Vec::new();
                let mut b = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&b[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let auth = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .map(|l| l[14..].trim().to_string())
                    .unwrap_or_default();
                let bearer = auth == "Bearer tok";
                let (status, ctype, body, extra): (&str, &str, Vec<u8>, String) = if path
                    .starts_with("/token")
                {
                    if auth == "Basic dTpw" {
                        (
                            "200 OK",
                            "application/json",
                            br#"{"token":"tok"}"#.to_vec(),
                            String::new(),
                        )
                    } else {
                        (
                            "401 Unauthorized",
                            "application/json",
                            b"{}".to_vec(),
                            String::new(),
                        )
                    }
                } else if !bearer {
                    let challenge = format!(
                            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"\r\n"
                        );
                    let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
                    (
                        "401 Unauthorized",
                        "application/json",
                        body.to_vec(),
                        challenge,
                    )
                } else if path == "/v2/" {
                    ("200 OK", "application/json", b"{}".to_vec(), String::new())
                } else if let Some((_, data, mt)) = blobs.iter().find(|(p, _, _)| *p == path) {
                    ("200 OK", *mt, data.clone(), String::new())
                } else {
                    let body =
                        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
                    (
                        "404 Not Found",
                        "application/json",
                        body.to_vec(),
                        String::new(),
                    )
                };
                let _ = write!(
                    c,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(&body);
            }
        });
        port
    }

    #[tokio::test]
    async fn bearer_token_pull_and_login() {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
                .to_vec();
        let layer = b"layer bytes".to_vec();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(&layer), "size": layer.len()}],
        })
        .to_string()
        .into_bytes();
        let port = token_registry(vec![
            (
                "/v2/repo/manifests/1".into(),
                manifest.clone(),
                OCI_MANIFEST,
            ),
            (
                format!("/v2/repo/blobs/{}", sha256(&config)),
                config.clone(),
                "application/octet-stream",
            ),
            (
                format!("/v2/repo/blobs/{}", sha256(&layer)),
                layer.clone(),
                "application/octet-stream",
            ),
        ]);
        let image = ImageRef::parse(&format!("127.0.0.1:{port}/repo:1")).unwrap();
        let creds = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        };
        let reg = Registry::new(&image, &[], &creds);
        let r = reg
            .resolve(&Platform::parse("linux/amd64").unwrap())
            .await
            .unwrap();
        assert_eq!(r.config, config);
        assert_eq!(r.digest, sha256(&manifest));
        let (_, mut stream) = reg.blob(&r.layers[0]).await.unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, layer);
        // Without credentials the token endpoint refuses: Docker's "pull access denied".
        let anon = Registry::new(&image, &[], &AuthConfig::default());
        let e = anon
            .resolve(&Platform::host())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("pull access denied for 127.0.0.1"), "{e}");
        // A tag the registry does not know.
        let missing = ImageRef::parse(&format!("127.0.0.1:{port}/repo:2")).unwrap();
        let e = Registry::new(&missing, &[], &creds)
            .resolve(&Platform::host())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("manifest for 127.0.0.1"), "{e}");
        // `docker login`'s check: the token endpoint with the credentials.
        let server = format!("127.0.0.1:{port}");
        check_login(&server, &[], &creds).await.unwrap();
        let wrong = AuthConfig {
            username: "u".into(),
            password: "nope".into(),
            ..Default::default()
        };
        let e = check_login(&server, &[], &wrong)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("incorrect username or password"), "{e}");
    }

    #[test]
    fn challenges_and_hosts() {
        let p = challenge_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="a:b:pull""#,
        );
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[1], ("service".into(), "registry.docker.io".into()));
        assert_eq!(p.len(), 3);
        assert_eq!(
            login_host("https://index.docker.io/v1/"),
            "registry-1.docker.io"
        );
        assert_eq!(login_host("10.0.0.2:5000"), "10.0.0.2:5000");
    }
}
