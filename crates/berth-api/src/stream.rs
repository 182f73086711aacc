//! Streams: container logs and hijacked exec connections, in Docker's stream format
//! (8-byte header `[stream, 0, 0, 0, size_be32]` per frame unless a TTY is in use).

use crate::body::ApiBody;
use crate::respond::{with_headers, Resp};
use berth_engine::container::exec::ExecProcess;
use berth_engine::Engine;
use berth_runtime::logfile::LogLine;
use bytes::Bytes;
use hyper::Response;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// One multiplexed frame.
pub fn frame(stream: u8, payload: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + payload.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    Bytes::from(v)
}

fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

fn log_chunk(tty: bool, l: LogLine) -> Bytes {
    if tty {
        Bytes::from(l.log.into_bytes())
    } else {
        frame(
            if l.stream == "stderr" { STDERR } else { STDOUT },
            l.log.as_bytes(),
        )
    }
}

pub fn logs(tty: bool, mut lines: mpsc::Receiver<LogLine>) -> Resp {
    let (tx, body) = ApiBody::channel();
    tokio::spawn(async move {
        while let Some(l) = lines.recv().await {
            if tx.send(log_chunk(tty, l)).await.is_err() {
                return;
            }
        }
    });
    with_headers(
        Response::builder().header("Content-Type", content_type(tty)),
        body,
    )
}

/// Writes log lines to a hijacked connection until they end; input is read and dropped.
pub async fn pump_logs<IO>(tty: bool, mut lines: mpsc::Receiver<LogLine>, io: IO)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let drain = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut rd, &mut tokio::io::sink()).await;
    });
    while let Some(l) = lines.recv().await {
        if wr.write_all(&log_chunk(tty, l)).await.is_err() {
            break;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    drain.abort();
}

/// Relays an exec process over a (hijacked) connection until it exits, then records its code.
pub async fn pump_exec<IO>(engine: Arc<Engine>, exec_id: String, mut p: ExecProcess, io: IO)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(io);
    let tty = p.tty;
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let out = p.child.stdout.take();
    let err = p.child.stderr.take();
    let copy = |r: Option<Box<dyn AsyncRead + Send + Unpin>>, id: u8, tx: mpsc::Sender<Bytes>| {
        tokio::spawn(async move {
            let Some(mut r) = r else { return };
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let chunk = if tty {
                    Bytes::copy_from_slice(&buf[..n])
                } else {
                    frame(id, &buf[..n])
                };
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        })
    };
    let t1 = copy(out.map(|o| Box::new(o) as _), STDOUT, tx.clone());
    let t2 = copy(err.map(|e| Box::new(e) as _), STDERR, tx.clone());
    // Held until the exit code is recorded: clients inspect the exec as soon as the stream ends.
    let hold_open = tx;
    let writer = tokio::spawn(async move {
        let mut wr = wr;
        while let Some(c) = rx.recv().await {
            if wr.write_all(&c).await.is_err() {
                break;
            }
        }
        let _ = wr.flush().await;
        let _ = wr.shutdown().await;
    });
    if let Some(mut stdin) = p.child.stdin.take() {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut rd, &mut stdin).await;
            let _ = stdin.shutdown().await;
        });
    } else {
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut rd, &mut sink).await;
        });
    }
    let status = p.child.wait().await;
    let _ = t1.await;
    let _ = t2.await;
    let code = status.ok().and_then(|s| s.code()).unwrap_or(255) as i64;
    engine.exec_finished(&exec_id, code);
    drop(hold_open);
    let _ = writer.await;
}

/// Hands a connection's upgraded stream to `pump_exec`.
pub fn exec_content_type(tty: bool) -> &'static str {
    content_type(tty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header() {
        let f = frame(STDERR, b"hi");
        assert_eq!(&f[..], &[2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }
}
