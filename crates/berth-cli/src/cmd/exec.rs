//! `exec`: run a command in a running container, wiring up stdin/stdout/stderr.

use crate::args::ExecArgs;
use crate::client::Client;
use crate::error::StatusError;
use crate::opts::{self, OptError};
use crate::tty::{window_size, RawMode};
use bollard::exec::{ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Validates the flags and builds the exec request.
pub fn build_exec_config(
    a: &ExecArgs,
    lookup: &dyn Fn(&str) -> Option<String>,
    env_files: &[(String, String)],
    console: Option<(u16, u16)>,
) -> Result<(String, ExecConfig), OptError> {
    let (container, cmd) = match a.container_and_cmd.split_first() {
        Some((c, cmd)) if !cmd.is_empty() => (c.clone(), cmd.to_vec()),
        _ => {
            return Err(OptError::new(
                "exec",
                &a.container_and_cmd.join(" "),
                "requires at least 2 arguments",
            ))
        }
    };
    let mut env = Vec::new();
    for (path, content) in env_files {
        env.extend(
            opts::parse_env_file(content, lookup)
                .map_err(|e| OptError::new("--env-file", path, e))?,
        );
    }
    for e in &a.env {
        env.push(opts::parse_env(e, lookup).map_err(|r| OptError::new("-e, --env", e, r))?);
    }
    let attach = !a.detach;
    let config = ExecConfig {
        attach_stdin: Some(a.interactive && attach),
        attach_stdout: Some(attach),
        attach_stderr: Some(attach),
        tty: Some(a.tty),
        console_size: console
            .filter(|_| a.tty)
            .map(|(h, w)| vec![usize::from(h), usize::from(w)]),
        env: (!env.is_empty()).then_some(env),
        cmd: Some(cmd),
        privileged: a.privileged.then_some(true),
        user: a.user.clone(),
        working_dir: a.workdir.clone(),
        ..Default::default()
    };
    Ok((container, config))
}

/// Keeps the exec's TTY size in step with ours.
fn spawn_resizer(c: &Client, exec_id: &str) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut winch = signal(SignalKind::window_change()).ok()?;
    let docker = c.docker.clone();
    let id = exec_id.to_string();
    Some(tokio::spawn(async move {
        loop {
            if let Some((height, width)) = window_size() {
                let _ = docker
                    .resize_exec(&id, ResizeExecOptions { height, width })
                    .await;
            }
            if winch.recv().await.is_none() {
                break;
            }
        }
    }))
}

/// Everything `exec` checks before talking to the daemon.
pub fn prepare(a: &ExecArgs) -> Result<(String, ExecConfig), StatusError> {
    if a.container_and_cmd.len() < 2 {
        return Err(StatusError::new(
            1,
            "berth: 'berth exec' requires at least 2 arguments\n\n\
             Usage:  berth exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n\
             See 'berth exec --help' for more information",
        ));
    }
    let files: Vec<(String, String)> = a
        .env_file
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|s| (p.clone(), s))
                .map_err(|e| StatusError::new(1, format!("open {p}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let console = if a.tty { window_size() } else { None };
    build_exec_config(a, &|k| std::env::var(k).ok(), &files, console)
        .map_err(|e| StatusError::new(125, e.to_string()))
}

pub async fn exec(c: &Client, a: &ExecArgs) -> anyhow::Result<i32> {
    let (container, config) = prepare(a)?;
    let created = c.docker.create_exec(&container, config).await?;
    let id = created.id;

    if a.detach {
        c.docker
            .start_exec(
                &id,
                Some(StartExecOptions {
                    detach: true,
                    tty: a.tty,
                    output_capacity: None,
                }),
            )
            .await?;
        return Ok(0);
    }

    let started = c
        .docker
        .start_exec(
            &id,
            Some(StartExecOptions {
                detach: false,
                tty: a.tty,
                output_capacity: None,
            }),
        )
        .await?;
    let StartExecResults::Attached { mut output, input } = started else {
        return Ok(0);
    };

    let raw = if a.tty { RawMode::enable() } else { None };
    let resizer = if a.tty { spawn_resizer(c, &id) } else { None };

    let stdin_task = if a.interactive {
        let mut input = input;
        Some(tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let _ = tokio::io::copy(&mut stdin, &mut input).await;
            // EOF on our stdin: close the exec's stdin (half-close).
            let _ = input.shutdown().await;
        }))
    } else {
        drop(input);
        None
    };

    let mut stream_err = None;
    while let Some(item) = output.next().await {
        match item {
            Ok(chunk) => super::run::write_log_output(chunk),
            Err(e) => {
                stream_err = Some(e);
                break;
            }
        }
    }
    if let Some(t) = stdin_task {
        t.abort();
    }
    if let Some(r) = resizer {
        r.abort();
    }
    drop(raw);
    if let Some(e) = stream_err {
        return Err(e.into());
    }

    // The stream can end a moment before the daemon records the exit status.
    let mut code = None;
    for _ in 0..100 {
        let info = c.docker.inspect_exec(&id).await?;
        if info.running != Some(true) {
            code = info.exit_code;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(code.map_or(0, |c| i32::try_from(c).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn exec_args(args: &[&str]) -> ExecArgs {
        let mut v = vec!["berth", "exec"];
        v.extend_from_slice(args);
        match crate::args::Cli::try_parse_from(v).map(|c| c.command) {
            Ok(crate::args::Command::Exec(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exec_config_from_flags() {
        let a = exec_args(&[
            "-it", "-e", "A=1", "-w", "/tmp", "-u", "1000", "c1", "sh", "-c", "id",
        ]);
        let (c, cfg) = build_exec_config(&a, &|_| None, &[], Some((24, 80))).unwrap();
        assert_eq!(c, "c1");
        assert_eq!(cfg.cmd, Some(vec!["sh".into(), "-c".into(), "id".into()]));
        assert_eq!(cfg.attach_stdin, Some(true));
        assert_eq!(cfg.tty, Some(true));
        assert_eq!(cfg.console_size, Some(vec![24, 80]));
        assert_eq!(cfg.env, Some(vec!["A=1".into()]));
        assert_eq!(cfg.working_dir.as_deref(), Some("/tmp"));
        assert_eq!(cfg.user.as_deref(), Some("1000"));
    }

    #[test]
    fn detached_exec_attaches_nothing() {
        let a = exec_args(&["-d", "-i", "c1", "sleep", "5"]);
        let (_, cfg) = build_exec_config(&a, &|_| None, &[], None).unwrap();
        assert_eq!(cfg.attach_stdin, Some(false));
        assert_eq!(cfg.attach_stdout, Some(false));
        assert_eq!(cfg.console_size, None);
    }

    #[test]
    fn bad_env_is_named() {
        let a = exec_args(&["-e", "=oops", "c1", "true"]);
        let e = build_exec_config(&a, &|_| None, &[], None).unwrap_err();
        assert_eq!(e.value, "=oops");
    }
}
