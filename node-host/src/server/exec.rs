//! `/exec/{ns}/{pod}/{container}` and `/attach/{ns}/{pod}/{container}` over the WebSocket
//! channel protocols (`channel`): the process's (or container's) stdout and stderr go out
//! on their channels, stdin and terminal resizes come in, and at the end one Status on
//! the error channel says how it ended; then the socket is closed normally.
//!
//! Exec gets pipes, or with `tty=true` a pty pair (the slave as the process's 0, 1, 2,
//! the master here; resizes are `TIOCSWINSZ` on it). As the kubelet does, an empty
//! message on the lowest output channel tells the client the streams are ready.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::channel::{self, Incoming, Version};
use super::fdio::FdIo;
use super::streams::{ContainerRef, Streams};
use crate::logs::LogStream;
use crate::runtime::ExecRequest;

/// The query of an exec or attach request (kubelet's `remotecommand.Options`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "TRUE" | "t" | "T")
}

impl StreamOptions {
    /// Parses `command=…&command=…&stdin=1&stdout=1&stderr=1&tty=1`.
    pub fn parse(query: &str, need_command: bool) -> Result<StreamOptions, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|e| e.to_string())?;
        let mut o = StreamOptions::default();
        for (k, v) in pairs {
            match k.as_str() {
                "command" => o.command.push(v),
                "input" | "stdin" => o.stdin = truthy(&v),
                "output" | "stdout" => o.stdout = truthy(&v),
                "error" | "stderr" => o.stderr = truthy(&v),
                "tty" => o.tty = truthy(&v),
                _ => {}
            }
        }
        if o.tty {
            // A terminal has one output stream.
            o.stderr = false;
        }
        if !o.stdin && !o.stdout && !o.stderr {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        if need_command && o.command.is_empty() {
            return Err("you must specify a command".into());
        }
        Ok(o)
    }
}

/// Grace for output still buffered after the process exited (a background child that
/// keeps the pipe open does not hold the session forever).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// The session's outgoing side: one writer task owns the socket's sink.
struct Out(mpsc::Sender<Message>);

impl Out {
    async fn send(&self, ch: u8, data: &[u8]) -> bool {
        self.0.send(Message::Binary(Bytes::from(channel::frame(ch, data)))).await.is_ok()
    }
}

/// What comes in from the client goes where.
struct Inbound {
    stdin: Option<Arc<FdIo>>,
    /// The pty master, for resizes.
    pty: Option<Arc<FdIo>>,
}

pub async fn run_exec(socket: WebSocket, version: Version, streams: Arc<dyn Streams>, target: ContainerRef, opts: StreamOptions) {
    let (sink, source) = socket.split();
    let (tx, rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(write_loop(sink, rx));
    let out = Out(tx);
    let status = match exec_session(&out, source, version, streams, target, &opts).await {
        Ok(code) => channel::exit_status(&opts.command, code),
        Err(e) => channel::internal_error(&e),
    };
    finish(out, status).await;
    let _ = writer.await;
}

async fn finish(out: Out, status: Value) {
    let _ = out.send(channel::ERROR, status.to_string().as_bytes()).await;
    let _ = out.0.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
}

async fn write_loop(mut sink: futures::stream::SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(m) = rx.recv().await {
        let close = matches!(m, Message::Close(_));
        if sink.send(m).await.is_err() || close {
            break;
        }
    }
    let _ = sink.flush().await;
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd, String> {
    fd.try_clone().map_err(|e| format!("dup: {e}"))
}

async fn exec_session(
    out: &Out,
    source: futures::stream::SplitStream<WebSocket>,
    version: Version,
    streams: Arc<dyn Streams>,
    target: ContainerRef,
    opts: &StreamOptions,
) -> Result<i32, String> {
    let mut req = ExecRequest { argv: opts.command.clone(), env: Vec::new(), stdin: None, stdout: None, stderr: None, tty: opts.tty };
    let mut readers: Vec<(u8, Arc<FdIo>)> = Vec::new();
    let mut inbound = Inbound { stdin: None, pty: None };
    if opts.tty {
        let pty = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
        let master = Arc::new(FdIo::new(pty.master).map_err(|e| e.to_string())?);
        req.stdin = opts.stdin.then(|| dup(&pty.slave)).transpose()?;
        req.stdout = Some(dup(&pty.slave)?);
        req.stderr = Some(pty.slave);
        readers.push((channel::STDOUT, master.clone()));
        if opts.stdin {
            inbound.stdin = Some(master.clone());
        }
        inbound.pty = Some(master);
    } else {
        if opts.stdin {
            let (r, w) = pipe()?;
            req.stdin = Some(r);
            inbound.stdin = Some(Arc::new(FdIo::new(w).map_err(|e| e.to_string())?));
        }
        for (wanted, ch) in [(opts.stdout, channel::STDOUT), (opts.stderr, channel::STDERR)] {
            if wanted {
                let (r, w) = pipe()?;
                if ch == channel::STDOUT {
                    req.stdout = Some(w);
                } else {
                    req.stderr = Some(w);
                }
                readers.push((ch, Arc::new(FdIo::new(r).map_err(|e| e.to_string())?)));
            }
        }
    }
    ready(out, opts).await;
    let exec = {
        let streams = streams.clone();
        tokio::spawn(async move { streams.exec(&target, req).await })
    };
    let pumps: Vec<_> = readers
        .into_iter()
        .map(|(ch, fd)| {
            let tx = Out(out.0.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                while let Ok(n) = fd.read(&mut buf).await {
                    if n == 0 || !tx.send(ch, &buf[..n]).await {
                        break;
                    }
                }
            })
        })
        .collect();
    let input = tokio::spawn(read_loop(source, version, inbound));
    let code = match exec.await {
        Ok(Ok(code)) => Ok(code),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let _ = tokio::time::timeout(DRAIN_GRACE, futures::future::join_all(pumps)).await;
    input.abort();
    code
}

/// The empty message on the lowest output channel that says the streams are there.
async fn ready(out: &Out, opts: &StreamOptions) {
    let ch = if opts.stdout {
        channel::STDOUT
    } else if opts.stderr {
        channel::STDERR
    } else {
        channel::ERROR
    };
    out.send(ch, b"").await;
}

async fn read_loop(mut source: futures::stream::SplitStream<WebSocket>, version: Version, mut inbound: Inbound) {
    while let Some(Ok(msg)) = source.next().await {
        let data = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        match channel::parse(version, &data) {
            Incoming::Stdin(bytes) => {
                if let Some(stdin) = &inbound.stdin {
                    if !bytes.is_empty() && stdin.write_all(bytes).await.is_err() {
                        inbound.stdin = None;
                    }
                }
            }
            Incoming::Close(channel::STDIN) => {
                // With a pty the master stays for output; a pipe's end is closed (EOF).
                if inbound.pty.is_none() {
                    inbound.stdin = None;
                }
            }
            Incoming::Resize(size) => {
                if let Some(pty) = &inbound.pty {
                    let ws = nix::pty::Winsize { ws_row: size.height, ws_col: size.width, ws_xpixel: 0, ws_ypixel: 0 };
                    // SAFETY: TIOCSWINSZ reads one Winsize from the pointer, which lives across the call.
                    unsafe { nix::libc::ioctl(pty.fd().as_raw_fd(), nix::libc::TIOCSWINSZ, &ws) };
                }
            }
            _ => {}
        }
    }
}

pub async fn run_attach(socket: WebSocket, version: Version, streams: Arc<dyn Streams>, target: ContainerRef, opts: StreamOptions) {
    let (sink, source) = socket.split();
    let (tx, rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(write_loop(sink, rx));
    let out = Out(tx);
    let status = match streams.attach(&target).await {
        Err(e) => channel::internal_error(&e.to_string()),
        Ok(mut attach) => {
            ready(&out, &opts).await;
            let stdin = match attach.stdin.take().filter(|_| opts.stdin) {
                Some(fd) => FdIo::new(fd).ok().map(Arc::new),
                None => None,
            };
            let input = tokio::spawn(read_loop(source, version, Inbound { stdin, pty: None }));
            loop {
                match attach.output.recv().await {
                    Ok(chunk) => {
                        let ch = match chunk.stream {
                            LogStream::Stderr if !attach.tty => channel::STDERR,
                            _ => channel::STDOUT,
                        };
                        let wanted = if ch == channel::STDOUT { opts.stdout } else { opts.stderr };
                        if wanted && !out.send(ch, &chunk.data).await {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
            input.abort();
            channel::exit_status(&[], 0)
        }
    };
    finish(out, status).await;
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = StreamOptions::parse("command=sh&command=-c&command=echo%20hi&stdout=1&stderr=true", true).unwrap();
        assert_eq!(o.command, ["sh", "-c", "echo hi"]);
        assert!(o.stdout && o.stderr && !o.stdin && !o.tty);
        let o = StreamOptions::parse("command=sh&stdin=1&stdout=1&stderr=1&tty=1", true).unwrap();
        assert!(o.tty && o.stdin && !o.stderr);
        assert_eq!(
            StreamOptions::parse("command=sh", true).unwrap_err(),
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        assert_eq!(StreamOptions::parse("stdout=1", true).unwrap_err(), "you must specify a command");
        assert!(StreamOptions::parse("stdout=1", false).is_ok());
    }
}
