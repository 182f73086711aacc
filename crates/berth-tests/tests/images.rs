//! Images from registries and archives: `pull` (progress, multi-platform indexes, layer
//! digests, whiteouts), `run` pulling missing images, `save`/`load`, `tag`, `image prune`,
//! `push`, `login`, and the docker CLI doing the same against berthd.
//!
//! A real registry (Debian's `docker-registry`, the CNCF distribution server) runs inside the
//! topology's outside namespace on `<outside ip>:5000`, storing under the topology's directory;
//! berthd reaches it over the veth with `--insecure-registry`. The test seeds it itself with a
//! tiny distribution-API client (blob upload, manifest PUT), from a thread that `setns`es into
//! the outside namespace. No traffic leaves the test's namespaces.

use berth_tests::{
    busybox_tar, docker_available, docker_ok, fails, import_busybox, ok, privileged, Daemon,
    Topology,
};
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(data)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Whether the registry tests can run (root, ip/nsenter, docker-registry installed).
fn registry_available(test: &str) -> bool {
    if !privileged(test) {
        return false;
    }
    if Path::new(REGISTRY_BIN).is_file() {
        return true;
    }
    if std::env::var("BERTH_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1") {
        panic!("{REGISTRY_BIN} is missing: run scripts/install-test-deps.sh");
    }
    println!("skipped: {test} needs {REGISTRY_BIN} (apt-get install docker-registry)");
    false
}

/// Runs `f` on a thread inside network namespace `ns` (a path under /var/run/netns).
fn in_netns<T: Send + 'static>(ns: PathBuf, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let file = File::open(&ns).unwrap_or_else(|e| panic!("open {}: {e}", ns.display()));
        // SAFETY: setns on a valid fd; it changes only this fresh thread's namespace.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            panic!(
                "setns {}: {}",
                ns.display(),
                std::io::Error::last_os_error()
            );
        }
        f()
    })
    .join()
    .expect("thread in the outside namespace panicked")
}

/// One HTTP/1.1 request (`Connection: close`); returns status, headers, body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> berth_tests::http::Response {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    berth_tests::http::parse_response(&raw, method == "HEAD").unwrap()
}

/// A distribution registry in the topology's outside namespace.
struct Registry {
    child: Child,
    /// `<outside ip>:5000`
    addr: String,
    storage: PathBuf,
    ns: PathBuf,
    log: PathBuf,
}

impl Registry {
    fn start(topo: &Topology) -> Registry {
        let dir = topo.dir().join("registry");
        std::fs::create_dir_all(&dir).unwrap();
        let storage = dir.join("storage");
        let addr = format!("{}:5000", topo.outside_ip());
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: berth-tests\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = dir.join("registry.log");
        let logf = File::create(&log).unwrap();
        let child = berth_tests::ns_command(topo.outside_ns(), REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("start docker-registry");
        let r = Registry {
            child,
            addr,
            storage,
            ns: topo.outside_ns_path(),
            log,
        };
        let a = r.addr.clone();
        let up = r.run(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(mut s) = TcpStream::connect(&a) {
                    let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                    let mut b = Vec::new();
                    let _ = s.read_to_end(&mut b);
                    if b.starts_with(b"HTTP/1.0 200") || b.starts_with(b"HTTP/1.1 200") {
                        return true;
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        });
        assert!(up, "docker-registry did not come up:\n{}", r.log());
        r
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `f` in the registry's namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(self.ns.clone(), f)
    }

    /// Uploads a blob (POST + monolithic PUT); returns its digest.
    fn push_blob(&self, repo: &str, data: Vec<u8>) -> String {
        let digest = sha256(&data);
        let (addr, repo, d) = (self.addr.clone(), repo.to_string(), digest.clone());
        self.run(move || {
            let r = http(
                &addr,
                "POST",
                &format!("/v2/{repo}/blobs/uploads/"),
                &[],
                b"",
            );
            assert_eq!(r.status, 202, "start upload: {}", r.text());
            let loc = r.header("location").expect("upload location").to_string();
            let path = loc
                .strip_prefix(&format!("http://{addr}"))
                .unwrap_or(&loc)
                .to_string();
            let sep = if path.contains('?') { '&' } else { '?' };
            let r = http(
                &addr,
                "PUT",
                &format!("{path}{sep}digest={d}"),
                &[("Content-Type", "application/octet-stream".into())],
                &data,
            );
            assert_eq!(r.status, 201, "finish upload: {}", r.text());
        });
        digest
    }

    /// PUTs a manifest under `reference`; returns its digest.
    fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Vec<u8>,
    ) -> String {
        let digest = sha256(&body);
        let (addr, path) = (
            self.addr.clone(),
            format!("/v2/{repo}/manifests/{reference}"),
        );
        let mt = media_type.to_string();
        self.run(move || {
            let r = http(&addr, "PUT", &path, &[("Content-Type", mt)], &body);
            assert_eq!(r.status, 201, "put manifest {path}: {}", r.text());
        });
        digest
    }

    /// The file the registry serves blob `digest` from.
    fn blob_data(&self, digest: &str) -> PathBuf {
        let h = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&h[..2])
            .join(h)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Our own child, by pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tar built from (path, content) entries: `None` content makes a directory.
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

/// A test image: busybox, a layer adding files, a layer deleting/hiding some (whiteouts).
struct TestImage {
    layers: Vec<(String, String, usize)>, // (blob digest, diff_id, size)
    diff_ids: Vec<String>,
}

fn seed_layers(reg: &Registry, repo: &str) -> TestImage {
    let base = std::fs::read(busybox_tar()).unwrap();
    let add = tar_of(&[
        ("data/", None),
        ("data/a", Some("a")),
        ("data/b", Some("b")),
        ("tmp/", None),
        ("tmp/gone", Some("soon gone")),
    ]);
    let hide = tar_of(&[
        ("data/", None),
        ("data/.wh..wh..opq", Some("")),
        ("data/c", Some("c")),
        ("tmp/", None),
        ("tmp/.wh.gone", Some("")),
        ("etc/", None),
        ("etc/motd", Some("hello from a registry\n")),
    ]);
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for tar in [base, add, hide] {
        let gz = gzip(&tar);
        let size = gz.len();
        let digest = reg.push_blob(repo, gz);
        diff_ids.push(sha256(&tar));
        layers.push((digest, sha256(&tar), size));
    }
    TestImage { layers, diff_ids }
}

fn config_blob(img: &TestImage, arch: &str, cmd: &[&str]) -> Vec<u8> {
    serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {
            "Env": ["PATH=/bin", "FROM_IMAGE=yes"],
            "Cmd": cmd,
            "WorkingDir": "/data",
            "ExposedPorts": {"80/tcp": {}},
            "Labels": {"org.example": "berth"},
        },
        "rootfs": {"type": "layers", "diff_ids": img.diff_ids},
    })
    .to_string()
    .into_bytes()
}

/// Pushes a manifest for `config` (`media_type` for it and its layers); returns (manifest
/// digest, manifest size, config digest).
fn push_image(
    reg: &Registry,
    repo: &str,
    reference: &str,
    img: &TestImage,
    config: Vec<u8>,
    oci: bool,
) -> (String, usize, String) {
    let config_size = config.len();
    let config_digest = reg.push_blob(repo, config);
    let (mt, cfg_mt, layer_mt) = if oci {
        (
            OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    } else {
        (
            DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cfg_mt, "digest": config_digest, "size": config_size},
        "layers": img.layers.iter().map(|(d, _, s)| serde_json::json!({
            "mediaType": layer_mt, "digest": d, "size": s,
        })).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    let size = manifest.len();
    let digest = reg.push_manifest(repo, reference, mt, manifest);
    (digest, size, config_digest)
}

/// A multi-platform index `repo:tag` (arm64 listed first, then amd64); returns (index digest,
/// amd64 config digest).
fn push_index(reg: &Registry, repo: &str, tag: &str, img: &TestImage) -> (String, String) {
    let arm_cfg = config_blob(img, "arm64", &["echo", "wrong platform"]);
    let amd_cfg = config_blob(img, "amd64", &["cat", "/etc/motd"]);
    let (arm, arm_size, _) = push_image(reg, repo, "arm64", img, arm_cfg, true);
    let (amd, amd_size, amd_config) = push_image(reg, repo, "amd64", img, amd_cfg, true);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": arm, "size": arm_size,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": OCI_MANIFEST, "digest": amd, "size": amd_size,
             "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    })
    .to_string()
    .into_bytes();
    let digest = reg.push_manifest(repo, tag, OCI_INDEX, index);
    (digest, amd_config)
}

struct Env {
    // Drop order: daemon, registry, topology.
    daemon: Daemon,
    reg: Registry,
    topo: Topology,
}

fn env(name: &str) -> Option<Env> {
    if !registry_available(name) {
        return None;
    }
    let topo = Topology::new(name);
    let reg = Registry::start(&topo);
    let daemon = Daemon::start_with_args(&topo, &["--insecure-registry", &reg.addr]);
    Some(Env { daemon, reg, topo })
}

fn layer_dirs(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.data_root().join("layers"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn image_ids(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = ok(d, &["images", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn pull_run_whiteouts_save_load() {
    let Some(Env {
        daemon: d,
        reg,
        topo,
    }) = env("img-pull")
    else {
        return;
    };
    let img = seed_layers(&reg, "bb");
    let (index_digest, amd_config) = push_index(&reg, "bb", "1", &img);
    let single_cfg = config_blob(&img, "amd64", &["echo", "single"]);
    let (single_digest, _, single_config) =
        push_image(&reg, "bb", "single", &img, single_cfg, false);
    let name = format!("{}/bb:1", reg.addr);

    // Pull: progress per layer, the index resolved to linux/amd64.
    let o = d.berth(&["pull", &name]);
    assert!(o.success(), "{o}\n{}", d.log_tail(60));
    let out = o.out();
    for (digest, _, _) in &img.layers {
        let short = &digest[7..19];
        assert!(out.contains(&format!("{short}: Pull complete")), "{out}");
    }
    assert!(out.contains("1: Pulling from bb"), "{out}");
    assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some(name.as_str()));
    let v = d.inspect(&name);
    assert_eq!(
        v["Id"], amd_config,
        "the amd64 manifest's config is the image id"
    );
    assert_eq!(
        v["RepoDigests"][0],
        format!("{}/bb@{index_digest}", reg.addr)
    );
    assert_eq!(v["Config"]["WorkingDir"], "/data");
    assert_eq!(v["RootFS"]["Layers"], serde_json::json!(img.diff_ids));
    for l in &img.diff_ids {
        assert!(
            d.data_root().join("layers").join(&l[7..]).is_dir(),
            "layer {l} stored under its diff_id"
        );
    }

    // The image's config is honoured; whiteouts hide lower files.
    assert_eq!(ok(&d, &["run", "--rm", &name]), "hello from a registry");
    assert_eq!(ok(&d, &["run", "--rm", &name, "pwd"]), "/data");
    assert_eq!(ok(&d, &["run", "--rm", &name, "ls", "/data"]), "c");
    assert_eq!(
        ok(
            &d,
            &[
                "run",
                "--rm",
                &name,
                "sh",
                "-c",
                "echo $FROM_IMAGE; ls -a /tmp | grep -c gone; true"
            ]
        ),
        "yes\n0"
    );
    let o = d.berth(&["run", "--rm", &name, "cat", "/tmp/gone"]);
    assert!(!o.success(), "a whited-out file must be gone: {o}");
    // By digest, as Docker resolves repository digests.
    let by_digest = format!("{}/bb@{index_digest}", reg.addr);
    assert_eq!(ok(&d, &["run", "--rm", &by_digest, "cat", "/data/c"]), "c");

    // Pulling again: nothing to download.
    let out = ok(&d, &["pull", &name]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );

    // Another image with the same layers: they are stored once.
    let before = layer_dirs(&d);
    let single = format!("{}/bb:single", reg.addr);
    let out = ok(&d, &["pull", &single]);
    assert!(out.contains("Already exists"), "{out}");
    assert!(!out.contains("Pull complete"), "{out}");
    assert_eq!(layer_dirs(&d), before, "shared layers are not stored twice");
    let v = d.inspect(&single);
    assert_eq!(v["Id"], single_config);
    assert_eq!(
        v["RepoDigests"][0],
        format!("{}/bb@{single_digest}", reg.addr)
    );
    assert_eq!(ok(&d, &["run", "--rm", &single]), "single");

    // save, rmi, load: the same image comes back and runs.
    let archive = topo.dir().join("bb.tar");
    let archive_s = archive.to_string_lossy().to_string();
    ok(&d, &["save", "-o", &archive_s, &name]);
    let names = tar_names(&archive);
    assert!(names.iter().any(|n| n == "manifest.json"), "{names:?}");
    assert!(names.iter().any(|n| n == "index.json"), "{names:?}");
    assert!(names.iter().any(|n| n == "oci-layout"), "{names:?}");
    let out = ok(&d, &["rmi", &name]);
    assert!(out.contains(&format!("Deleted: {amd_config}")), "{out}");
    assert!(d.berth(&["inspect", &name]).code() != Some(0));
    // The other image still has its layers.
    assert_eq!(
        ok(&d, &["run", "--rm", &single, "cat", "/etc/motd"]),
        "hello from a registry"
    );
    let out = ok(&d, &["load", "-i", &archive_s]);
    assert_eq!(out, format!("Loaded image: {name}"));
    assert_eq!(
        d.inspect(&name)["Id"],
        amd_config,
        "load gives back the same image id"
    );
    assert_eq!(ok(&d, &["run", "--rm", &name, "ls", "/data"]), "c");

    // Removing both leaves no layers behind; load from stdin restores them.
    ok(&d, &["rmi", &name, &single]);
    assert!(layer_dirs(&d)
        .iter()
        .all(|l| !img.diff_ids.iter().any(|x| x[7..] == **l)));
    let data = std::fs::read(&archive).unwrap();
    let o = berth_tests::berth_input(&d, &["load"], &data);
    assert!(o.success(), "{o}");
    assert_eq!(ok(&d, &["run", "--rm", &name]), "hello from a registry");

    // A loaded archive must be well formed: a corrupt layer is refused, nothing changes.
    let ids = image_ids(&d);
    let bad = topo.dir().join("bad.tar");
    corrupt_archive(&archive, &bad);
    ok(&d, &["rmi", &name]);
    let ids = ids
        .into_iter()
        .filter(|i| i != &amd_config)
        .collect::<Vec<_>>();
    let layers_before = layer_dirs(&d);
    let o = fails(&d, &["load", "-i", &bad.to_string_lossy()]);
    assert!(o.err().contains("sha256:"), "{o}");
    assert_eq!(image_ids(&d), ids);
    assert_eq!(layer_dirs(&d), layers_before);
}

/// The entry names of a tar file.
fn tar_names(p: &Path) -> Vec<String> {
    let mut a = tar::Archive::new(File::open(p).unwrap());
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Copies archive `src` to `dst` with one byte of the last layer blob changed.
fn corrupt_archive(src: &Path, dst: &Path) {
    let manifest: serde_json::Value = {
        let mut a = tar::Archive::new(File::open(src).unwrap());
        let mut m = None;
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy() == "manifest.json" {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                m = Some(serde_json::from_str(&s).unwrap());
            }
        }
        m.expect("manifest.json")
    };
    let last = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let mut a = tar::Archive::new(File::open(src).unwrap());
    let mut b = tar::Builder::new(File::create(dst).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let mut h = e.header().clone();
        if path == last {
            // Change a byte of the motd's content: still a valid tar, wrong digest.
            let pos = data
                .windows(5)
                .position(|w| w == b"hello")
                .expect("motd content in the last layer");
            data[pos] = b'j';
        }
        b.append_data(&mut h, &path, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn corrupted_blob_is_refused() {
    let Some(Env {
        daemon: d,
        reg,
        topo: _topo,
    }) = env("img-corrupt")
    else {
        return;
    };
    import_busybox(&d, "bb:latest");
    let img = seed_layers(&reg, "bad");
    let cfg = config_blob(&img, "amd64", &["cat", "/etc/motd"]);
    push_image(&reg, "bad", "1", &img, cfg, false);
    // Flip one byte of the last layer's gzip data in the registry's storage (same size).
    let (digest, _, _) = img.layers.last().unwrap().clone();
    let path = reg.blob_data(&digest);
    let mut data = std::fs::read(&path).unwrap();
    let n = data.len();
    data[n / 2] ^= 0xff;
    std::fs::write(&path, &data).unwrap();

    let images_before = image_ids(&d);
    let layers_before = layer_dirs(&d);
    let name = format!("{}/bad:1", reg.addr);
    let o = d.berth(&["pull", &name]);
    assert!(!o.success(), "a corrupted layer must be refused: {o}");
    assert!(o.err().contains(&digest), "the error names the digest: {o}");
    assert!(o.err().contains("verification failed"), "{o}");
    assert_eq!(image_ids(&d), images_before, "no image was added");
    assert_eq!(layer_dirs(&d), layers_before, "no layer was stored");
    let tmp: Vec<_> = std::fs::read_dir(d.data_root().join("tmp"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
    // The same through `run`: refused too, no container.
    let o = d.berth(&["run", "--rm", &name]);
    assert!(!o.success(), "{o}");
    assert!(o.err().contains(&digest), "{o}");
    assert_eq!(ok(&d, &["ps", "-aq"]), "");
}

#[test]
fn run_pulls_missing_images_push_and_login() {
    let Some(Env {
        daemon: d,
        reg,
        topo: _topo,
    }) = env("img-run")
    else {
        return;
    };
    // push: an imported image (its layer has no blob: rebuilt from the directory), then
    // removed entirely and pulled back.
    import_busybox(&d, "bb:latest");
    let pushed = format!("{}/mine/bb:2", reg.addr);
    ok(&d, &["tag", "bb:latest", &pushed]);
    let out = ok(&d, &["push", &pushed]);
    assert!(out.contains("digest: sha256:"), "{out}");
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/mine/bb]",
            reg.addr
        )),
        "{out}"
    );
    ok(&d, &["rmi", &pushed, "bb:latest"]);
    assert!(image_ids(&d).is_empty());
    let out = ok(&d, &["pull", &pushed]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(
        ok(&d, &["run", "--rm", &pushed, "echo", "round trip"]),
        "round trip"
    );
    ok(&d, &["rmi", &pushed]);

    let img = seed_layers(&reg, "app");
    let cfg = config_blob(&img, "amd64", &["cat", "/etc/motd"]);
    push_image(&reg, "app", "1", &img, cfg, true);
    let name = format!("{}/app:1", reg.addr);

    // --pull never: refused without pulling.
    let o = d.berth(&["run", "--rm", "--pull", "never", &name]);
    assert!(!o.success(), "{o}");
    assert!(
        o.err()
            .contains(&format!("Unable to find image '{name}' locally")),
        "{o}"
    );
    assert!(o.err().contains("No such image"), "{o}");
    // missing (the default): pulled, progress on stderr, then run.
    let o = d.berth(&["run", "--rm", &name]);
    assert!(o.success(), "{o}");
    assert_eq!(o.out(), "hello from a registry");
    assert!(
        o.err()
            .contains(&format!("Unable to find image '{name}' locally")),
        "{o}"
    );
    assert!(o.err().contains("Pull complete"), "{o}");
    // --pull always on create: pulls (up to date) and creates.
    let o = d.berth(&["create", "--pull", "always", "--name", "c1", &name]);
    assert!(o.success(), "{o}");
    assert!(o.err().contains("Image is up to date"), "{o}");
    // In use: rmi refuses.
    let o = fails(&d, &["rmi", &name]);
    assert!(o.err().contains("is using its referenced image"), "{o}");
    ok(&d, &["rm", "c1"]);

    // login checks the registry and stores credentials client-side; logout removes them.
    let o = berth_tests::berth_input(
        &d,
        &["login", "-u", "someone", "--password-stdin", &reg.addr],
        b"secret\n",
    );
    assert!(o.success(), "{o}");
    assert!(o.out().contains("Login Succeeded"), "{o}");
    let cfg = std::fs::read_to_string(d.dir().join("cli-config/config.json")).unwrap();
    assert!(cfg.contains(&reg.addr), "{cfg}");
    // Pulls now send the credentials (the registry ignores them).
    ok(&d, &["pull", &name]);
    let out = ok(&d, &["logout", &reg.addr]);
    assert!(out.contains("Removing login credentials"), "{out}");
}

#[test]
fn tag_prune_and_errors() {
    if !privileged("img-tag") {
        return;
    }
    let topo = Topology::new("img-tag");
    let d = Daemon::start(&topo);
    let id = import_busybox(&d, "bb:latest");
    ok(&d, &["tag", "bb", "other/name:v2"]);
    assert_eq!(d.inspect("other/name:v2")["Id"], id);
    let tags = d.inspect("bb")["RepoTags"].clone();
    assert_eq!(tags, serde_json::json!(["bb:latest", "other/name:v2"]));
    let o = fails(&d, &["tag", "nope", "x:1"]);
    assert!(o.err().contains("No such image"), "{o}");

    // A dangling (untagged) image is pruned; tagged ones only with -a, used ones never.
    let tar = busybox_tar();
    let out = ok(
        &d,
        &[
            "import",
            "--change",
            "CMD [\"true\"]",
            &tar.to_string_lossy(),
        ],
    );
    let dangling = out.lines().last().unwrap().to_string();
    assert_ne!(dangling, id);
    ok(&d, &["create", "--name", "keep", "bb", "true"]);
    let out = ok(&d, &["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(image_ids(&d), vec![id.clone()]);
    let out = ok(&d, &["image", "prune", "-af"]);
    assert!(!out.contains(&id), "an image in use is kept: {out}");
    ok(&d, &["rm", "keep"]);
    let out = ok(&d, &["image", "prune", "-af"]);
    assert!(out.contains(&format!("deleted: {id}")), "{out}");
    assert!(image_ids(&d).is_empty());

    // Pull errors are the daemon's, before any progress.
    let o = fails(&d, &["pull", "127.0.0.1:1/nothing:1"]);
    assert!(o.err().contains("Error response from daemon"), "{o}");
    let o = fails(&d, &["load", "-i", &tar.to_string_lossy()]);
    assert!(
        o.err().contains("neither manifest.json nor index.json"),
        "{o}"
    );
    drop(d);
}

#[test]
fn docker_cli_pull_save_load() {
    if !docker_available() {
        println!("skipped: docker CLI not installed");
        return;
    }
    let Some(Env {
        daemon: d,
        reg,
        topo,
    }) = env("img-docker")
    else {
        return;
    };
    let img = seed_layers(&reg, "bb");
    let (_, amd_config) = push_index(&reg, "bb", "1", &img);
    let name = format!("{}/bb:1", reg.addr);
    let out = docker_ok(&d, &["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.ends_with(&name), "{out}");
    let out = docker_ok(
        &d,
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    );
    assert!(
        out.contains(&format!("{name} {}", &amd_config[7..19])),
        "{out}"
    );
    assert_eq!(
        docker_ok(
            &d,
            &["run", "--rm", "--network", "none", &name, "ls", "/data"]
        ),
        "c",
        "whiteouts honoured"
    );
    let archive = topo.dir().join("docker.tar").to_string_lossy().to_string();
    docker_ok(&d, &["save", "-o", &archive, &name]);
    docker_ok(&d, &["rmi", &name]);
    let out = docker_ok(&d, &["load", "-i", &archive]);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
    assert_eq!(
        docker_ok(&d, &["run", "--rm", "--network", "none", &name]),
        "hello from a registry"
    );
    docker_ok(&d, &["tag", &name, "copy:1"]);
    assert_eq!(
        docker_ok(&d, &["image", "inspect", "-f", "{{.Id}}", "copy:1"]),
        amd_config
    );
}
