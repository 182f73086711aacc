//! `exec`: extra processes inside a running container, run through `berthd nsexec`.

use crate::error::{EngineError, Result};
use crate::Engine;
use berth_runtime::nsexec::ExecSpec;
use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::process::{Child, Command};

#[derive(Debug, Clone)]
pub struct ExecRec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

#[derive(Default)]
pub struct Execs {
    inner: Mutex<HashMap<String, ExecRec>>,
}

impl Execs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecRec>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A started exec process; the API layer pumps its pipes.
pub struct ExecProcess {
    pub child: Child,
    pub tty: bool,
}

impl Engine {
    pub fn exec_create(&self, r: &str, config: ExecConfig) -> Result<String> {
        let c = self.find(r)?;
        if !c.is_running() {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::Invalid("No exec command specified".into()));
        }
        let id = crate::ids::new_id();
        let rec = ExecRec {
            id: id.clone(),
            container_id: c.id,
            config,
            running: false,
            exit_code: None,
            pid: 0,
        };
        self.execs.lock().insert(id.clone(), rec);
        Ok(id)
    }

    fn exec_get(&self, id: &str) -> Result<ExecRec> {
        self.execs
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    /// Starts the exec'd command with piped stdio (the API layer relays it).
    pub fn exec_start(self: &Arc<Self>, id: &str) -> Result<ExecProcess> {
        let rec = self.exec_get(id)?;
        if rec.running || rec.exit_code.is_some() {
            return Err(EngineError::Conflict(format!(
                "exec {id} has already been started"
            )));
        }
        let c = self.find(&rec.container_id)?;
        if !c.is_running() {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        // Like Docker: the link variables, then the container's env, then the exec's, each
        // overriding what came before (the same environment the container's process got).
        let mut env: Vec<String> = Vec::new();
        for e in self
            .link_env(&c)
            .into_iter()
            .chain(c.config.env.clone().unwrap_or_default())
            .chain(rec.config.env.clone().unwrap_or_default())
        {
            let k = e.split('=').next().unwrap_or_default().to_string();
            env.retain(|x| x.split('=').next() != Some(k.as_str()));
            env.push(e);
        }
        let user = rec
            .config
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .or(c.config.user.clone());
        let spec = ExecSpec {
            pid: c.state.pid,
            args: rec.config.cmd.clone().unwrap_or_default(),
            env,
            cwd: rec
                .config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .or(c.config.working_dir.clone())
                .unwrap_or_default(),
            user: user.and_then(|u| {
                let (a, b) = u.split_once(':').unwrap_or((&u, &u));
                Some((a.parse().ok()?, b.parse().ok()?))
            }),
        };
        let json =
            serde_json::to_string(&spec).map_err(|e| EngineError::Internal(e.to_string()))?;
        let stdin = if rec.config.attach_stdin == Some(true) {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let child = Command::new(&self.cfg.runtime_exe)
            .arg("nsexec")
            .arg(json)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| EngineError::Internal(format!("start exec: {e}")))?;
        let pid = child.id().unwrap_or(0) as i64;
        if let Some(r) = self.execs.lock().get_mut(id) {
            r.running = true;
            r.pid = pid;
        }
        Ok(ExecProcess {
            child,
            tty: rec.config.tty.unwrap_or(false),
        })
    }

    /// Records an exec's exit code once its process has ended.
    pub fn exec_finished(&self, id: &str, code: i64) {
        if let Some(r) = self.execs.lock().get_mut(id) {
            r.running = false;
            r.exit_code = Some(code);
        }
    }

    pub fn exec_inspect(&self, id: &str) -> Result<ExecInspectResponse> {
        let r = self.exec_get(id)?;
        let cmd = r.config.cmd.clone().unwrap_or_default();
        Ok(ExecInspectResponse {
            can_remove: Some(false),
            id: Some(r.id),
            running: Some(r.running),
            exit_code: r.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(false),
                user: r.config.user.clone(),
                tty: r.config.tty,
                entrypoint: cmd.first().cloned(),
                arguments: Some(cmd.iter().skip(1).cloned().collect()),
            }),
            open_stdin: r.config.attach_stdin,
            open_stderr: r.config.attach_stderr,
            open_stdout: r.config.attach_stdout,
            container_id: Some(r.container_id),
            pid: Some(r.pid),
            detach_keys: Some(String::new()),
        })
    }
}
