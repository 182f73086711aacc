//! Netlink sockets bound to a given network namespace.
//!
//! A socket belongs to the namespace of the thread that created it. Spawning a thread per socket
//! costs milliseconds on a busy machine, so one dedicated worker thread makes them all: it
//! enters the target namespace, creates the socket, and returns to its home namespace. The
//! worker runs nothing else, so its namespace switches affect no other code. If it cannot return
//! home it exits, and the next request starts a fresh worker.

use crate::{KernelError, Result};
use nix::sched::{setns, CloneFlags};
use rtnetlink::proto::sys::{protocols::NETLINK_ROUTE, AsyncSocket, TokioSocket};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;

struct Job {
    ns: File,
    shown: String,
    rt: tokio::runtime::Handle,
    reply: tokio::sync::oneshot::Sender<Result<TokioSocket>>,
}

static WORKER: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);

/// Creates a netlink route socket inside the namespace pinned at `path`, registered with the
/// current tokio runtime.
pub(super) async fn open_in(path: &Path) -> Result<TokioSocket> {
    let shown = path.display().to_string();
    let ns = File::open(path).map_err(|e| KernelError::io(format!("open netns {shown}"), e))?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        ns,
        shown: shown.clone(),
        rt: tokio::runtime::Handle::current(),
        reply,
    };
    submit(job)?;
    answer.await.map_err(|_| KernelError::Netlink {
        op: format!("open netlink socket in {shown}"),
        message: "the socket worker ended without an answer".into(),
    })?
}

fn submit(mut job: Job) -> Result<()> {
    let mut worker = WORKER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(tx) = worker.as_ref() {
        match tx.send(job) {
            Ok(()) => return Ok(()),
            // The worker has exited: start another one below.
            Err(mpsc::SendError(j)) => job = j,
        }
    }
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("berth-netlink-ns".into())
        .spawn(move || work(rx))
        .map_err(|e| KernelError::io("start netlink socket worker", e))?;
    // The receiver lives until the worker exits, so this send cannot fail; if it somehow does,
    // the job (and with it the reply channel) is dropped and the caller sees "no answer".
    let _ = tx.send(job);
    *worker = Some(tx);
    Ok(())
}

fn work(rx: mpsc::Receiver<Job>) {
    // The worker's home is the namespace it was started in.
    let home = match File::open("/proc/thread-self/ns/net") {
        Ok(f) => f,
        Err(e) => {
            // Without a way home, refuse every queued job; the next request starts a new worker.
            let msg = e.to_string();
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(KernelError::Netlink {
                    op: format!("open netlink socket in {}", job.shown),
                    message: format!("open /proc/thread-self/ns/net: {msg}"),
                }));
            }
            return;
        }
    };
    while let Ok(job) = rx.recv() {
        let Job {
            ns,
            shown,
            rt,
            reply,
        } = job;
        let entered = setns(ns.as_fd(), CloneFlags::CLONE_NEWNET);
        let res = match entered {
            Err(e) => Err(KernelError::sys(format!("setns {shown}"), e)),
            Ok(()) => {
                // Register the socket with the caller's runtime so it can be polled there.
                let _guard = rt.enter();
                TokioSocket::new(NETLINK_ROUTE)
                    .map_err(|e| KernelError::io(format!("open netlink socket in {shown}"), e))
            }
        };
        let back = match entered {
            Ok(()) => setns(home.as_fd(), CloneFlags::CLONE_NEWNET),
            Err(_) => Ok(()),
        };
        match back {
            Ok(()) => {
                let _ = reply.send(res);
            }
            Err(e) => {
                // The socket itself is fine (it was made in the target namespace), but this
                // thread is stranded: hand the socket over and retire.
                let _ = reply.send(res);
                tracing::warn!("netlink socket worker could not return to its namespace: {e}");
                return;
            }
        }
    }
}
