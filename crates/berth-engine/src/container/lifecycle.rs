//! Start, stop, kill, remove, wait, and the exit watcher that survives berthd restarts.

use super::record::{Container, Status};
use crate::error::{io, EngineError, Result};
use crate::store::Kind;
use crate::Engine;
use berth_runtime::{spec::BindFile, ExitRecord, NetMode, RootFs, Spec};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// Which change `wait` waits for (Docker's `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl Engine {
    /// Resolves a container by full id, name (with or without `/`) or unique id prefix.
    pub fn find(&self, r: &str) -> Result<Container> {
        let map = self.lock();
        let name = r.trim_start_matches('/');
        if let Some(e) = map
            .get(r)
            .or_else(|| map.values().find(|e| e.rec.name == name))
        {
            return Ok(e.rec.clone());
        }
        let found: Vec<_> = map
            .values()
            .filter(|e| !r.is_empty() && e.rec.id.starts_with(r))
            .collect();
        match found.as_slice() {
            [one] => Ok(one.rec.clone()),
            [] => Err(EngineError::NotFound(format!("No such container: {r}"))),
            _ => Err(EngineError::NotFound(format!(
                "No such container: {r} (multiple containers match this prefix)"
            ))),
        }
    }

    /// Every container record, in no particular order (callers on hot paths need no sort).
    pub fn containers(&self) -> Vec<Container> {
        self.lock().values().map(|e| e.rec.clone()).collect()
    }

    fn op_lock(&self, id: &str) -> Result<Arc<tokio::sync::Mutex<()>>> {
        self.lock()
            .get(id)
            .map(|e| e.op.clone())
            .ok_or_else(|| EngineError::NotFound(format!("No such container: {id}")))
    }

    /// Applies `f` to the record, persists it and wakes waiters.
    pub(crate) fn update(&self, id: &str, f: impl FnOnce(&mut Container)) -> Result<Container> {
        let mut map = self.lock();
        let e = map
            .get_mut(id)
            .ok_or_else(|| EngineError::NotFound(format!("No such container: {id}")))?;
        f(&mut e.rec);
        self.store.put(Kind::Containers, id, &e.rec)?;
        e.changed.send_modify(|n| *n += 1);
        Ok(e.rec.clone())
    }

    /// `docker rename`: gives container `r` the name `new` (404 unknown container, 409 name in
    /// use, 400 invalid or unchanged name). Its DNS records change at once; legacy links that
    /// name it follow it (their `/etc/hosts` and private DNS alias included).
    pub fn rename(&self, r: &str, new: &str) -> Result<()> {
        let new = new.trim_start_matches('/');
        if new.is_empty() {
            return Err(EngineError::Invalid(
                "Neither old nor new names may be empty".into(),
            ));
        }
        if !crate::ids::valid_name(new) {
            return Err(EngineError::Invalid(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let c = self.find(r)?;
        let old = c.name.clone();
        if old == new {
            return Err(EngineError::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        let mut linkers = Vec::new();
        {
            let mut map = self.lock();
            if let Some(other) = map.values().find(|e| e.rec.name == new) {
                return Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.rec.id
                )));
            }
            let e = map
                .get_mut(&c.id)
                .ok_or_else(|| EngineError::NotFound(format!("No such container: {r}")))?;
            e.rec.name = new.to_string();
            self.store.put(Kind::Containers, &c.id, &e.rec)?;
            e.changed.send_modify(|n| *n += 1);
            // Links are kept by name: the containers linking to the old name now name the new.
            for (id, e) in map.iter_mut() {
                let Some(links) = e.rec.host_config.links.as_mut() else {
                    continue;
                };
                let mut changed = false;
                for l in links.iter_mut() {
                    let (target, alias) = super::etc::parse_link(l);
                    if target == old {
                        *l = format!("{new}:{alias}");
                        changed = true;
                    }
                }
                if changed {
                    self.store.put(Kind::Containers, id, &e.rec)?;
                    linkers.push(id.clone());
                }
            }
        }
        tracing::info!(id = %c.id, %old, %new, "container renamed");
        self.dns_update(&c.id);
        for id in linkers {
            self.dns_update(&id);
            if self.find(&id).is_ok_and(|l| l.is_running()) {
                self.refresh_hosts(&id);
            }
        }
        Ok(())
    }

    /// Starts a created or exited container. Returns false if it was already running.
    pub async fn start(self: &Arc<Self>, r: &str) -> Result<bool> {
        let c = self.find(r)?;
        let op = self.op_lock(&c.id)?;
        let _guard = op.lock().await;
        let c = self.find(&c.id)?;
        match c.state.status {
            Status::Running => return Ok(false),
            Status::Removing | Status::Dead => {
                return Err(EngineError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    c.id
                )))
            }
            _ => {}
        }
        let image = self.images.resolve(&c.image_id)?;
        let dir = self.container_dir(&c.id);
        // Before the launch: a quick container may write its exit record at once.
        let _ = std::fs::remove_file(dir.join("exit.json"));
        let netns = self.cfg.exec_root.join("netns").join(&c.id);
        let (net, own_ns) = self.sandbox_for(&c)?;
        let mut phases = crate::timing::Phases::new("start");
        if own_ns {
            let p = netns.clone();
            tokio::task::spawn_blocking(move || berth_kernel::netns::create(&p))
                .await
                .map_err(|e| EngineError::Internal(e.to_string()))??;
            phases.mark("netns");
            crate::crash::point("start");
            let attached = match self.attach_all(&c, &netns).await {
                Ok(eps) => {
                    crate::crash::point("start");
                    self.publish(&c, &eps)
                        .and_then(|_| self.links_allow(&c))
                        .map(|_| crate::crash::point("start"))
                }
                Err(e) => Err(e),
            };
            if let Err(e) = attached {
                self.unpublish(&c.id);
                self.detach_container(&c.id).await;
                let _ = berth_kernel::netns::remove(&netns);
                return Err(e);
            }
            phases.mark("network");
        }
        let started = match self.launch(&c, &image, net.clone(), &dir).await {
            Ok(s) => {
                crate::crash::point("start");
                phases.mark("launch");
                s
            }
            Err(e) => {
                if own_ns {
                    self.unpublish(&c.id);
                    self.links_revoke(&c.id);
                    self.detach_container(&c.id).await;
                    let _ = berth_kernel::netns::remove(&netns);
                }
                let msg = e.to_string();
                let _ = self.update(&c.id, |rec| {
                    rec.state.error = msg.clone();
                    rec.state.exit_code = if msg.contains("not found") { 127 } else { 126 };
                });
                return Err(e);
            }
        };
        let sandbox = match &net {
            NetMode::Host => String::new(),
            NetMode::Join(p) => p.display().to_string(),
        };
        self.update(&c.id, |rec| {
            rec.state.status = Status::Running;
            rec.state.pid = started.pid;
            rec.state.pid_start = started.pid_start;
            rec.state.shim_pid = started.shim_pid;
            rec.state.shim_start = started.shim_start;
            rec.state.exit_code = 0;
            rec.state.error.clear();
            rec.state.started_at = crate::ids::now();
            rec.state.finished_at.clear();
            rec.sandbox_key = sandbox;
        })?;
        phases.mark("record");
        if let Ok(now) = self.find(&c.id) {
            self.dns_serve(&now).await;
        }
        watch_exit(
            self.clone(),
            c.id.clone(),
            started.shim_pid,
            started.shim_start,
        );
        phases.mark("dns");
        phases.done(&c.id);
        Ok(true)
    }

    /// Where the container's network lives: the host's, another container's, or its own new
    /// namespace (`true`: berth creates and wires it).
    fn sandbox_for(&self, c: &Container) -> Result<(NetMode, bool)> {
        let mode = c.network_mode();
        if mode == "host" {
            return Ok((NetMode::Host, false));
        }
        if let Some(target) = mode.strip_prefix("container:") {
            let t = self.find(target)?;
            if !t.is_running() {
                return Err(EngineError::Conflict(format!(
                    "cannot join network namespace of a non running container: {}",
                    t.name
                )));
            }
            return Ok(if t.sandbox_key.is_empty() {
                (NetMode::Host, false)
            } else {
                (NetMode::Join(PathBuf::from(&t.sandbox_key)), false)
            });
        }
        Ok((
            NetMode::Join(self.cfg.exec_root.join("netns").join(&c.id)),
            true,
        ))
    }

    async fn launch(
        &self,
        c: &Container,
        image: &crate::image::Image,
        net: NetMode,
        dir: &std::path::Path,
    ) -> Result<berth_runtime::Started> {
        let mut phases = crate::timing::Phases::new("launch");
        self.write_files(c)?;
        phases.mark("files");
        let rootfs = if image.is_host() {
            RootFs::Host
        } else {
            let (upper, work, target) = (dir.join("diff"), dir.join("work"), dir.join("merged"));
            for d in [&upper, &work, &target] {
                std::fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
            }
            let lower: Vec<PathBuf> = image
                .layers
                .iter()
                .rev()
                .map(|l| self.images.layer_dir(l))
                .collect();
            RootFs::Overlay {
                lower,
                upper,
                work,
                target,
            }
        };
        let spec = Spec {
            id: c.id.clone(),
            rootfs,
            args: c.argv(),
            env: {
                // Docker's order: link variables first, the container's own env overrides.
                let mut env = self.link_env(c);
                for e in c.config.env.clone().unwrap_or_default() {
                    let k = e.split('=').next().unwrap_or_default().to_string();
                    env.retain(|x| x.split('=').next() != Some(k.as_str()));
                    env.push(e);
                }
                env
            },
            cwd: c.config.working_dir.clone().unwrap_or_default(),
            hostname: c.config.hostname.clone().unwrap_or_default(),
            net,
            files: super::files::FILES
                .iter()
                .map(|(f, t)| BindFile {
                    source: dir.join(f),
                    target: t.to_string(),
                })
                .collect(),
            log_path: self.log_path(&c.id),
            exit_path: dir.join("exit.json"),
            user: parse_user(c.config.user.as_deref())?,
            mnt_template: self.mnt_template.clone(),
        };
        let exe = self.cfg.runtime_exe.clone();
        let bundle = self.cfg.exec_root.join("containers").join(&c.id);
        phases.mark("spec");
        let started =
            tokio::task::spawn_blocking(move || berth_runtime::start(&exe, &bundle, &spec)).await;
        phases.mark("runtime");
        phases.done(&c.id);
        started
            .map_err(|e| EngineError::Internal(e.to_string()))?
            .map_err(|e| match e {
                berth_runtime::RuntimeError::Start(m) => {
                    EngineError::Invalid(format!("failed to create task for container: {m}"))
                }
                other => other.into(),
            })
    }

    pub(crate) fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// Sends a signal (default SIGKILL) to a running container.
    pub fn kill(&self, r: &str, signal: Option<&str>) -> Result<()> {
        let c = self.find(r)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            None => Signal::SIGKILL,
            Some(s) => berth_kernel::proc::parse_signal(s)
                .ok_or_else(|| EngineError::Invalid(format!("Invalid signal: {s}")))?,
        };
        if !c.is_running() {
            return Err(EngineError::Conflict(format!(
                "cannot kill container: {}: container {} is not running",
                r, c.id
            )));
        }
        // Docker's event carries the signal's number (`docker stop`: kill 15, die, stop).
        self.container_event(&c, "kill", &[("signal", (sig as i32).to_string())]);
        if berth_kernel::proc::is_same_process(c.state.pid, c.state.pid_start) {
            berth_kernel::proc::signal(c.state.pid, sig)?;
        }
        Ok(())
    }

    /// Stops a container: its stop signal, then SIGKILL after `timeout` seconds (default 10).
    pub async fn stop(self: &Arc<Self>, r: &str, timeout: Option<i64>) -> Result<bool> {
        let c = self.find(r)?;
        if !c.is_running() {
            return Ok(false);
        }
        let secs = timeout.or(c.config.stop_timeout).unwrap_or(10);
        let sig = c
            .config
            .stop_signal
            .clone()
            .unwrap_or_else(|| "SIGTERM".into());
        let mut rx = self.subscribe(&c.id)?;
        if secs != 0 {
            let _ = self.kill(&c.id, Some(&sig));
            if secs > 0
                && self
                    .wait_until(&c.id, &mut rx, Duration::from_secs(secs as u64), |c| {
                        !c.is_running()
                    })
                    .await
            {
                return Ok(true);
            }
        }
        let _ = self.kill(&c.id, Some("SIGKILL"));
        self.wait_until(&c.id, &mut rx, Duration::from_secs(30), |c| !c.is_running())
            .await;
        Ok(true)
    }

    pub(crate) fn subscribe(&self, id: &str) -> Result<tokio::sync::watch::Receiver<u64>> {
        self.lock()
            .get(id)
            .map(|e| e.changed.subscribe())
            .ok_or_else(|| EngineError::NotFound(format!("No such container: {id}")))
    }

    /// Waits until `pred` holds for the container (or it is gone) or `limit` passes.
    async fn wait_until(
        &self,
        id: &str,
        rx: &mut tokio::sync::watch::Receiver<u64>,
        limit: Duration,
        pred: impl Fn(&Container) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match self.find(id) {
                Ok(c) if !pred(&c) => {}
                _ => return true,
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .map(|r| r.is_err())
                .unwrap_or(true)
            {
                return self.find(id).map(|c| pred(&c)).unwrap_or(true);
            }
        }
    }

    /// Docker's `wait`: returns the exit code once `cond` is met.
    pub async fn wait(&self, r: &str, cond: WaitCondition) -> Result<i64> {
        let c = self.find(r)?;
        let mut rx = self.subscribe(&c.id)?;
        let restarts = c.state.started_at.clone();
        let mut last = c.state.exit_code;
        loop {
            match self.find(&c.id) {
                Err(_) => return Ok(self.tombstone(&c.id).unwrap_or(last)),
                Ok(now) => {
                    last = now.state.exit_code;
                    let done = match cond {
                        WaitCondition::NotRunning => !now.is_running(),
                        WaitCondition::NextExit => {
                            !now.is_running()
                                && (c.is_running() || now.state.started_at != restarts)
                        }
                        WaitCondition::Removed => false,
                    };
                    if done {
                        return Ok(now.state.exit_code);
                    }
                }
            }
            if rx.changed().await.is_err() {
                return Ok(last);
            }
        }
    }

    /// Removes a container; a running one only with `force` (it is killed first).
    pub async fn remove(self: &Arc<Self>, r: &str, force: bool) -> Result<()> {
        let c = self.find(r)?;
        if c.is_running() && !force {
            return Err(EngineError::Conflict(format!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                c.name
            )));
        }
        let alive =
            c.state.pid > 0 && berth_kernel::proc::is_same_process(c.state.pid, c.state.pid_start);
        if c.is_running() || alive {
            let mut rx = self.subscribe(&c.id)?;
            let _ = berth_kernel::proc::signal(c.state.pid, Signal::SIGKILL);
            let (pid, start) = (c.state.pid, c.state.pid_start);
            self.wait_until(&c.id, &mut rx, Duration::from_secs(30), move |c| {
                !c.is_running() && !berth_kernel::proc::is_same_process(pid, start)
            })
            .await;
        }
        let op = self.op_lock(&c.id)?;
        let _guard = op.lock().await;
        self.update(&c.id, |rec| rec.state.status = Status::Removing)?;
        crate::crash::point("rm");
        let mut errors = self.detach_container(&c.id).await;
        if let Err(e) = berth_kernel::netns::remove(&self.cfg.exec_root.join("netns").join(&c.id)) {
            errors.push(e.to_string());
        }
        let _ = std::fs::remove_dir_all(self.cfg.exec_root.join("containers").join(&c.id));
        if let Err(e) = std::fs::remove_dir_all(self.container_dir(&c.id)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                errors.push(format!("remove container directory: {e}"));
            }
        }
        crate::crash::point("rm");
        self.store.delete(Kind::Containers, &c.id)?;
        let removed = self.lock().remove(&c.id);
        self.container_event(&c, "destroy", &[]);
        if let Some(e) = removed {
            self.remember_exit(&c.id, e.rec.state.exit_code);
            e.changed.send_modify(|n| *n += 1);
        }
        if !errors.is_empty() {
            tracing::warn!(id = %c.id, "container removed with cleanup errors: {}", errors.join("; "));
        }
        crate::memory::trim_memory_soon();
        Ok(())
    }

    /// Records the exit of a container's init, cleans up its sandbox, applies AutoRemove.
    async fn on_exit(self: &Arc<Self>, id: &str) {
        let exit_file = self.container_dir(id).join("exit.json");
        let rec: Option<ExitRecord> = std::fs::read(&exit_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        self.dns_stop(id);
        self.unpublish(id);
        self.links_revoke(id);
        self.detach_container(id).await;
        let _ = berth_kernel::netns::remove(&self.cfg.exec_root.join("netns").join(id));
        let updated = self.update(id, |c| {
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.shim_pid = 0;
            match &rec {
                Some(r) => {
                    c.state.exit_code = r.exit_code as i64;
                    c.state.finished_at = r.finished_at.clone();
                }
                None => {
                    c.state.exit_code = 255;
                    c.state.finished_at = crate::ids::now();
                }
            }
            c.sandbox_key.clear();
            // Before waiters wake (a `stop` emits its event after this `die`, as Docker).
            self.container_event(c, "die", &[("exitCode", c.state.exit_code.to_string())]);
        });
        if let Ok(c) = updated {
            if c.host_config.auto_remove == Some(true) {
                let _ = self.remove(id, true).await;
            }
        }
    }
}

/// `uid[:gid]` with numbers only; names would need the image's /etc/passwd.
fn parse_user(user: Option<&str>) -> Result<Option<(u32, u32)>> {
    let Some(u) = user.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let (uid, gid) = u.split_once(':').unwrap_or((u, u));
    match (uid.parse(), gid.parse()) {
        (Ok(a), Ok(b)) => Ok(Some((a, b))),
        _ if u == "root" => Ok(None),
        _ => Err(EngineError::Invalid(format!(
            "unable to find user {u}: only numeric uid[:gid] is supported by berth"
        ))),
    }
}

/// Watches the shim with a pidfd; when it exits, the container has exited.
fn watch_exit(engine: Arc<Engine>, id: String, shim_pid: i32, shim_start: u64) {
    tokio::spawn(async move {
        if let Ok(Some(fd)) = berth_kernel::proc::pidfd_open(shim_pid) {
            if berth_kernel::proc::is_same_process(shim_pid, shim_start) {
                // SAFETY: the pidfd is an OwnedFd moved into the AsyncFd, which keeps it open
                // for as long as it is registered; nothing else closes or reuses it.
                if let Ok(afd) = unsafe { AsyncFd::register(fd) } {
                    let _ = afd.readable().await;
                }
            }
        }
        engine.on_exit(&id).await;
    });
}

/// After a berthd restart, step 1: load the records. Returns the containers whose shim must
/// be watched (the firewall is rebuilt from these records before any watcher may change them).
pub(crate) fn restore(engine: &Arc<Engine>) -> Result<Vec<(String, i32, u64)>> {
    let rows: Vec<(String, Container)> = engine.store.list(Kind::Containers)?;
    let mut running = Vec::new();
    for (id, mut rec) in rows {
        if !rec.is_running() {
            engine.reconcile_not_running(&mut rec);
        }
        if rec.is_running() || (rec.state.status == Status::Removing && rec.state.shim_pid > 0) {
            running.push((id.clone(), rec.state.shim_pid, rec.state.shim_start));
        }
        let (changed, _) = tokio::sync::watch::channel(0);
        engine.lock().insert(
            id,
            crate::Entry {
                rec,
                changed,
                op: Arc::new(tokio::sync::Mutex::new(())),
            },
        );
    }
    Ok(running)
}

impl Engine {
    /// A container not recorded as running after a restart: berthd may have died between
    /// launching it and recording that. If its shim lives (the shim leaves `running` in the
    /// bundle before berthd hears of it), adopt it; otherwise undo what the start had done.
    fn reconcile_not_running(&self, rec: &mut Container) {
        let bundle = self.cfg.exec_root.join("containers").join(&rec.id);
        let marker = std::fs::read_to_string(bundle.join("running")).unwrap_or_default();
        let mut it = marker.split_whitespace().map(|p| p.parse::<i32>().ok());
        if let (Some(Some(pid)), Some(Some(shim))) = (it.next(), it.next()) {
            let cmdline = std::fs::read(format!("/proc/{shim}/cmdline")).unwrap_or_default();
            let ours = String::from_utf8_lossy(&cmdline).contains(&*bundle.to_string_lossy());
            if ours {
                // A removal interrupted by the crash keeps its status and is finished later.
                if rec.state.status != Status::Removing {
                    rec.state.status = Status::Running;
                }
                rec.state.pid = pid;
                rec.state.pid_start = berth_kernel::proc::start_time(pid).unwrap_or(0);
                rec.state.shim_pid = shim;
                rec.state.shim_start = berth_kernel::proc::start_time(shim).unwrap_or(0);
                rec.state.started_at = crate::ids::now();
                let netns = self.cfg.exec_root.join("netns").join(&rec.id);
                if rec.network_mode() != "host" && netns.exists() {
                    rec.sandbox_key = netns.display().to_string();
                }
                let _ = self.store.put(Kind::Containers, &rec.id, &*rec);
                tracing::info!(id = %rec.id, "adopted a container started just before berthd stopped");
                return;
            }
        }
        let _ = std::fs::remove_file(bundle.join("running"));
        if !rec.published.is_empty() || !rec.sandbox_key.is_empty() {
            rec.published.clear();
            rec.link_passes.clear();
            rec.sandbox_key.clear();
            let _ = self.store.put(Kind::Containers, &rec.id, &*rec);
        }
        // A namespace pinned by a start that never completed.
        let _ = berth_kernel::netns::remove(&self.cfg.exec_root.join("netns").join(&rec.id));
    }
}

/// Step 2: watch the shims (a dead one is noticed at once and its exit recorded), and release
/// endpoints left by a crash between attach and start or of containers gone meanwhile.
pub(crate) async fn adopt(engine: &Arc<Engine>, running: Vec<(String, i32, u64)>) {
    for (id, shim_pid, shim_start) in running {
        watch_exit(engine.clone(), id, shim_pid, shim_start);
    }
    let stale: Vec<_> = engine
        .networks
        .endpoints()
        .into_iter()
        .filter(|ep| {
            // Gone, stopped, or disconnected by a `network disconnect` that a crash cut short.
            engine
                .find(&ep.container_id)
                .map(|c| {
                    !c.is_running()
                        || engine
                            .networks
                            .resolve(&ep.network_id)
                            .is_ok_and(|n| !c.endpoints.contains_key(&n.name))
                })
                .unwrap_or(true)
        })
        .collect();
    engine.detach_endpoints(&stale).await;
    // Each running container's DNS again, many at once: replacing a namespace's redirect
    // table waits for an RCU grace period (~15 ms), which overlaps across namespaces.
    use futures_util::StreamExt;
    let running: Vec<_> = engine
        .containers()
        .into_iter()
        .filter(|c| c.is_running())
        .collect();
    futures_util::stream::iter(running.iter().map(|c| engine.dns_serve(c)))
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    // Removals interrupted by a crash are finished.
    for c in engine
        .containers()
        .into_iter()
        .filter(|c| c.state.status == Status::Removing)
    {
        let _ = engine.remove(&c.id, true).await;
    }
}
