//! The task that drains a container's two FIFOs into its log [`Writer`] and hands the
//! same output to `kubectl attach` subscribers.
//!
//! The pump opens each FIFO read-write, so it never sees end-of-file while the container
//! is between writers (not started yet, or across an agent restart); the agent says when
//! the container has exited with [`Pump::finish`], and the pump then drains what is
//! still buffered in the pipes, writes unfinished lines, and ends. A new agent adopting
//! a running container calls [`Pump::spawn`] again on the same files: it appends.

use std::io;

use bytes::Bytes;
use tokio::net::unix::pipe;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use super::cri::LogStream;
use super::writer::{LogOptions, Writer};
use super::ContainerLogs;

/// A piece of a container's output, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub stream: LogStream,
    pub data: Bytes,
}

pub struct Pump {
    finish: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
    output: broadcast::Sender<Chunk>,
}

impl Pump {
    /// Opens both FIFOs and starts draining them into `logs.log_path` (needs a tokio runtime).
    pub fn spawn(logs: &ContainerLogs, opts: LogOptions) -> io::Result<Pump> {
        let open = |p| pipe::OpenOptions::new().read_write(true).open_receiver(p);
        let stdout = open(&logs.stdout_fifo)?;
        let stderr = open(&logs.stderr_fifo)?;
        let writer = Writer::open(&logs.log_path, opts)?;
        let (finish, finished) = oneshot::channel();
        let (output, _) = broadcast::channel(256);
        let task = tokio::spawn(run(stdout, stderr, writer, finished, output.clone()));
        Ok(Pump { finish: Some(finish), task, output })
    }

    /// The container's output from now on (for attach); ends when the pump does.
    pub fn subscribe(&self) -> broadcast::Receiver<Chunk> {
        self.output.subscribe()
    }

    /// The container exited: drain what is left, then stop.
    pub async fn finish(mut self) -> io::Result<()> {
        if let Some(f) = self.finish.take() {
            let _ = f.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

async fn run(
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    mut writer: Writer,
    mut finished: oneshot::Receiver<()>,
    output: broadcast::Sender<Chunk>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            r = stdout.readable() => { r?; drain(&stdout, LogStream::Stdout, &mut buf, &mut writer, &output)?; }
            r = stderr.readable() => { r?; drain(&stderr, LogStream::Stderr, &mut buf, &mut writer, &output)?; }
            _ = &mut finished => break,
        }
    }
    // Tokio only reads a pipe it has seen readable; the last drain reads the fds directly.
    drain_now(&stdout, LogStream::Stdout, &mut buf, &mut writer, &output)?;
    drain_now(&stderr, LogStream::Stderr, &mut buf, &mut writer, &output)?;
    writer.flush_pending()
}

/// Reads until the pipe is empty.
fn drain(
    rx: &pipe::Receiver,
    stream: LogStream,
    buf: &mut [u8],
    writer: &mut Writer,
    output: &broadcast::Sender<Chunk>,
) -> io::Result<()> {
    loop {
        match rx.try_read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                writer.write(stream, &buf[..n])?;
                let _ = output.send(Chunk { stream, data: Bytes::copy_from_slice(&buf[..n]) });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads the (non-blocking) fd until it is empty, whatever tokio thinks of its readiness.
fn drain_now(
    rx: &pipe::Receiver,
    stream: LogStream,
    buf: &mut [u8],
    writer: &mut Writer,
    output: &broadcast::Sender<Chunk>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        match nix::unistd::read(rx.as_raw_fd(), buf) {
            Ok(0) | Err(nix::errno::Errno::EAGAIN) => return Ok(()),
            Ok(n) => {
                writer.write(stream, &buf[..n])?;
                let _ = output.send(Chunk { stream, data: Bytes::copy_from_slice(&buf[..n]) });
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{cri, ContainerLogs, PodLogKey};
    use std::io::Write;

    fn open_rw(p: &std::path::Path) -> std::fs::File {
        std::fs::OpenOptions::new().read(true).write(true).open(p).unwrap()
    }

    #[tokio::test]
    async fn drains_both_streams_survives_restart_and_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let key = PodLogKey { namespace: "ns".into(), name: "p".into(), uid: "u".into() };
        let logs = ContainerLogs::create(dir.path(), &key, "c", 0).unwrap();
        // The "container": holds both FIFOs read-write as the runtime gives them.
        let mut out = open_rw(&logs.stdout_fifo);
        let mut err = open_rw(&logs.stderr_fifo);
        let pump = Pump::spawn(&logs, LogOptions::default()).unwrap();
        let mut sub = pump.subscribe();
        out.write_all(b"hello\n").unwrap();
        assert_eq!(sub.recv().await.unwrap().data, Bytes::from_static(b"hello\n"));
        err.write_all(b"oops\n").unwrap();
        assert_eq!(sub.recv().await.unwrap().stream, LogStream::Stderr);
        // The agent goes away (its pump with it), the container writes on, a new pump continues.
        pump.finish().await.unwrap();
        out.write_all(b"while away\nunfinished").unwrap();
        let pump = Pump::spawn(&logs, LogOptions::default()).unwrap();
        drop(out);
        drop(err);
        pump.finish().await.unwrap();
        let text = std::fs::read(&logs.log_path).unwrap();
        let lines: Vec<(LogStream, String)> = text
            .split_inclusive(|b| *b == b'\n')
            .map(|l| {
                let e = cri::parse(l).unwrap();
                (e.stream, String::from_utf8_lossy(e.content).into_owned())
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                (LogStream::Stdout, "hello".into()),
                (LogStream::Stderr, "oops".into()),
                (LogStream::Stdout, "while away".into()),
                (LogStream::Stdout, "unfinished".into()),
            ]
        );
    }
}
