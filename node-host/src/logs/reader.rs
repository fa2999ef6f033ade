//! Reads a container's CRI log file for `kubectl logs`, as the kubelet's `ReadLogs`:
//! `tailLines` (the last N entries), `sinceSeconds`/`sinceTime` (entries not older),
//! `timestamps` (each entry prefixed with its time), `limitBytes` (output cut there),
//! `stream` (only stdout or stderr), and `follow` (wait for more, across rotation, until
//! the container is no longer running). Only the live file is read, never rotated ones.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::cri::{self, LogStream, Tag};

/// Upstream's `stream` query parameter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StreamFilter {
    #[default]
    All,
    Stdout,
    Stderr,
}

impl StreamFilter {
    fn admits(self, s: LogStream) -> bool {
        matches!((self, s), (StreamFilter::All, _) | (StreamFilter::Stdout, LogStream::Stdout) | (StreamFilter::Stderr, LogStream::Stderr))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub timestamps: bool,
    pub limit_bytes: Option<u64>,
    pub follow: bool,
    pub stream: StreamFilter,
}

/// Turns entries into output, keeping count for `limitBytes`.
struct Render<'a> {
    opts: &'a ReadOptions,
    written: u64,
}

impl Render<'_> {
    /// Appends the entry's output; false once `limitBytes` is reached (stop reading).
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) -> bool {
        let Ok(e) = cri::parse(line) else {
            // Kubelet skips lines it cannot parse.
            return true;
        };
        if !self.opts.stream.admits(e.stream) || self.opts.since.is_some_and(|s| e.timestamp < s) {
            return true;
        }
        let start = out.len();
        if self.opts.timestamps {
            out.extend_from_slice(cri::format_timestamp(e.timestamp).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(e.content);
        if e.tag == Tag::Full {
            out.push(b'\n');
        }
        let n = (out.len() - start) as u64;
        if let Some(limit) = self.opts.limit_bytes {
            if self.written + n >= limit {
                out.truncate(start + (limit - self.written) as usize);
                self.written = limit;
                return false;
            }
        }
        self.written += n;
        true
    }
}

/// Whether this line counts for `tailLines` (kubelet counts entries of the chosen streams).
fn counts(line: &[u8], filter: StreamFilter) -> bool {
    cri::parse(line).is_ok_and(|e| filter.admits(e.stream))
}

/// Reads complete lines from a file, keeping an unfinished last one for later.
struct Lines {
    file: File,
    /// Bytes read but not yet returned (an unfinished line at the end).
    rest: Vec<u8>,
    offset: u64,
}

impl Lines {
    fn new(file: File) -> Self {
        Lines { file, rest: Vec::new(), offset: 0 }
    }

    fn seek(&mut self, offset: u64) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(offset))?;
        self.rest.clear();
        self.offset = offset;
        Ok(())
    }

    /// Every complete line now in the file; `f` returns false to stop.
    fn each(&mut self, mut f: impl FnMut(u64, &[u8]) -> bool) -> io::Result<bool> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                return Ok(true);
            }
            self.rest.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(i) = self.rest[start..].iter().position(|b| *b == b'\n') {
                let line_start = self.offset;
                let end = start + i + 1;
                self.offset += (end - start) as u64;
                if !f(line_start, &self.rest[start..end]) {
                    return Ok(false);
                }
                start = end;
            }
            self.rest.drain(..start);
        }
    }
}

/// Where the last `n` counted entries start.
fn tail_offset(path: &Path, n: usize, filter: StreamFilter) -> io::Result<u64> {
    let mut lines = Lines::new(File::open(path)?);
    let mut starts = VecDeque::with_capacity(n.min(4096) + 1);
    lines.each(|off, line| {
        if counts(line, filter) {
            starts.push_back(off);
            if starts.len() > n {
                starts.pop_front();
            }
        }
        true
    })?;
    Ok(if n == 0 { lines.offset } else { starts.front().copied().unwrap_or(lines.offset) })
}

/// The whole answer of a request without `follow`.
pub fn read_logs(path: &Path, opts: &ReadOptions) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut lines = open_at_start(path, opts)?;
    let mut render = Render { opts, written: 0 };
    lines.each(|_, line| render.line(line, &mut out))?;
    Ok(out)
}

fn open_at_start(path: &Path, opts: &ReadOptions) -> io::Result<Lines> {
    let mut lines = Lines::new(File::open(path)?);
    if let Some(n) = opts.tail {
        lines.seek(tail_offset(path, n, opts.stream)?)?;
    }
    Ok(lines)
}

/// How often a follower looks for more output and asks whether the container still runs.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Streams the log to `tx`, and with `opts.follow` keeps streaming what is appended
/// (reopening the file when it is rotated) until `running()` says the container stopped
/// and everything it wrote was sent, `limitBytes` is reached, or the receiver is gone.
pub async fn stream_logs<F, Fut>(path: &Path, opts: &ReadOptions, mut running: F, tx: mpsc::Sender<Bytes>) -> io::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut lines = open_at_start(path, opts)?;
    let mut render = Render { opts, written: 0 };
    loop {
        let mut out = Vec::new();
        let more = lines.each(|_, line| render.line(line, &mut out))?;
        if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
            return Ok(());
        }
        if !more || !opts.follow {
            return Ok(());
        }
        // Rotated: the name now points at a new file; what the old one held is read.
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.ino() != lines.file.metadata()?.ino() {
                lines = Lines::new(File::open(path)?);
                continue;
            }
        }
        let still = running().await;
        if !still {
            // One last look: output written just before the exit.
            let mut out = Vec::new();
            lines.each(|_, line| render.line(line, &mut out))?;
            if !out.is_empty() {
                let _ = tx.send(Bytes::from(out)).await;
            }
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::io::Write;

    fn sample(dir: &Path) -> std::path::PathBuf {
        let p = dir.join("0.log");
        std::fs::write(
            &p,
            "2026-01-01T00:00:01Z stdout F one\n\
             2026-01-01T00:00:02.5Z stderr F two\n\
             garbage line\n\
             2026-01-01T00:00:03Z stdout P thr\n\
             2026-01-01T00:00:03Z stdout F ee\n\
             2026-01-01T00:00:04Z stdout F four\n",
        )
        .unwrap();
        p
    }

    #[test]
    fn options_table() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample(dir.path());
        let at = |s| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s).unwrap();
        let cases: Vec<(ReadOptions, &str)> = vec![
            (ReadOptions::default(), "one\ntwo\nthree\nfour\n"),
            (ReadOptions { tail: Some(2), ..Default::default() }, "ee\nfour\n"),
            (ReadOptions { tail: Some(0), ..Default::default() }, ""),
            (ReadOptions { tail: Some(100), ..Default::default() }, "one\ntwo\nthree\nfour\n"),
            (ReadOptions { since: Some(at(3)), ..Default::default() }, "three\nfour\n"),
            (ReadOptions { limit_bytes: Some(6), ..Default::default() }, "one\ntw"),
            (ReadOptions { limit_bytes: Some(4), ..Default::default() }, "one\n"),
            (ReadOptions { stream: StreamFilter::Stderr, ..Default::default() }, "two\n"),
            (ReadOptions { stream: StreamFilter::Stdout, tail: Some(3), ..Default::default() }, "three\nfour\n"),
            (
                ReadOptions { timestamps: true, tail: Some(1), ..Default::default() },
                "2026-01-01T00:00:04Z four\n",
            ),
            (
                ReadOptions { timestamps: true, stream: StreamFilter::Stderr, ..Default::default() },
                "2026-01-01T00:00:02.5Z two\n",
            ),
        ];
        for (opts, want) in cases {
            let got = read_logs(&p, &opts).unwrap();
            assert_eq!(String::from_utf8_lossy(&got), want, "{opts:?}");
        }
    }

    #[tokio::test]
    async fn follow_sees_appends_and_rotation_and_ends_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.log");
        std::fs::write(&p, "2026-01-01T00:00:01Z stdout F first\n").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let r = running.clone();
        let path = p.clone();
        let task = tokio::spawn(async move {
            let opts = ReadOptions { follow: true, ..Default::default() };
            stream_logs(&path, &opts, || { let r = r.clone(); async move { r.load(std::sync::atomic::Ordering::SeqCst) } }, tx).await
        });
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"first\n"));
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"2026-01-01T00:00:02Z stdout F sec").unwrap();
        f.write_all(b"ond\n").unwrap();
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"second\n"));
        // Rotation: the old file keeps a last line, the new one starts over.
        f.write_all(b"2026-01-01T00:00:03Z stdout F third\n").unwrap();
        std::fs::rename(&p, dir.path().join("0.log.20260101-000003")).unwrap();
        std::fs::write(&p, "2026-01-01T00:00:04Z stdout F fourth\n").unwrap();
        let mut seen = String::new();
        while !seen.contains("fourth") {
            seen.push_str(&String::from_utf8_lossy(&rx.recv().await.unwrap()));
        }
        assert_eq!(seen, "third\nfourth\n");
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        task.await.unwrap().unwrap();
        assert!(rx.recv().await.is_none());
    }
}
