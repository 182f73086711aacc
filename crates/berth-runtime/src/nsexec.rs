//! `berthd nsexec SPEC_JSON`: runs a command inside a live container's namespaces.
//!
//! Opens all namespace files of the container's init first (the host's /proc is unreachable once
//! the mount namespace is joined), joins them, forks (a PID namespace applies to children only),
//! and the child execs. The parent waits and exits with the child's status, so berthd sees the
//! command's exit code as this process's.

use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::fd::AsFd;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecSpec {
    /// The container init's pid as the host sees it.
    pub pid: i32,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    #[serde(default)]
    pub user: Option<(u32, u32)>,
}

/// Entry point; returns the exit code (the command's, or 126/127 like a shell).
pub fn main(spec_json: &str) -> i32 {
    let spec: ExecSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth exec: bad spec: {e}");
            return 126;
        }
    };
    if let Err(e) = join(spec.pid) {
        eprintln!("berth exec: {e}");
        return 126;
    }
    // SAFETY: nsexec is single-threaded; the child only execs or exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let msg = exec(&spec);
            eprintln!("{msg}");
            // SAFETY: _exit never returns.
            unsafe { libc::_exit(if msg.contains("not found") { 127 } else { 126 }) }
        }
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return code,
                Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(_) => return 255,
            }
        },
        Err(e) => {
            eprintln!("berth exec: fork: {e}");
            126
        }
    }
}

fn join(pid: i32) -> Result<(), String> {
    let kinds = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let files: Vec<(File, CloneFlags, &str)> = kinds
        .iter()
        .map(|(k, f)| {
            File::open(format!("/proc/{pid}/ns/{k}"))
                .map(|file| (file, *f, *k))
                .map_err(|e| format!("container process {pid} is gone ({k}: {e})"))
        })
        .collect::<Result<_, _>>()?;
    for (file, flag, kind) in &files {
        setns(file.as_fd(), *flag).map_err(|e| format!("join {kind} namespace: {e}"))?;
    }
    Ok(())
}

fn exec(spec: &ExecSpec) -> String {
    let cwd = if spec.cwd.is_empty() { "/" } else { &spec.cwd };
    if let Err(e) = nix::unistd::chdir(cwd) {
        return format!("chdir to {cwd}: {e}");
    }
    if let Some((uid, gid)) = spec.user {
        let _ = nix::unistd::setgroups(&[]);
        if nix::unistd::setgid(gid.into())
            .and(nix::unistd::setuid(uid.into()))
            .is_err()
        {
            return format!("cannot switch to user {uid}:{gid}");
        }
    }
    let spec_like = crate::spec::Spec {
        id: String::new(),
        rootfs: crate::spec::RootFs::Host,
        args: spec.args.clone(),
        env: spec.env.clone(),
        cwd: cwd.to_string(),
        hostname: String::new(),
        net: crate::spec::NetMode::Host,
        files: vec![],
        log_path: Default::default(),
        exit_path: Default::default(),
        user: None,
        mnt_template: None,
    };
    crate::init::exec_only(&spec_like)
}
