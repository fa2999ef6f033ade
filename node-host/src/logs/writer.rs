//! Writes a container's output to its CRI log file: splits it into lines (a line longer
//! than `max_line` becomes `P` entries), appends, and rotates as the kubelet's container
//! log manager does — when the file would pass `max_size` it is renamed
//! `<attempt>.log.<YYYYMMDD-HHMMSS>`, rotated files but the newest are gzipped
//! (`….gz`), and only `max_files` files (the live one included) are kept.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::cri::{self, LogStream, Tag};

/// Sizes of a node's container logs (kubelet's `containerLogMaxSize`, `containerLogMaxFiles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    pub max_size: u64,
    /// At least 2 (kubelet refuses fewer).
    pub max_files: usize,
    /// The longest entry's content; longer lines are split into `P` entries (containerd's
    /// `max_container_log_line_size`, 16 KiB).
    pub max_line: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { max_size: 10 * 1024 * 1024, max_files: 5, max_line: 16 * 1024 }
    }
}

/// Kubelet's rotated-file timestamp format.
const ROTATED_FORMAT: &str = "%Y%m%d-%H%M%S";

/// One container attempt's log file, appended to (also across agent restarts).
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    opts: LogOptions,
    /// Bytes of an unfinished line, per stream (stdout, stderr).
    pending: [Vec<u8>; 2],
    /// Where the clock comes from (tests pin it).
    clock: fn() -> DateTime<Utc>,
}

fn idx(s: LogStream) -> usize {
    match s {
        LogStream::Stdout => 0,
        LogStream::Stderr => 1,
    }
}

impl Writer {
    pub fn open(path: &Path, opts: LogOptions) -> io::Result<Self> {
        Self::with_clock(path, opts, Utc::now)
    }

    pub fn with_clock(path: &Path, opts: LogOptions, clock: fn() -> DateTime<Utc>) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        let opts = LogOptions { max_files: opts.max_files.max(2), max_line: opts.max_line.max(1), ..opts };
        Ok(Writer { path: path.to_path_buf(), file, size, opts, pending: [Vec::new(), Vec::new()], clock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes output as read from one stream: complete lines become `F` entries, an
    /// unfinished one waits for its end (or becomes `P` entries once it passes `max_line`).
    pub fn write(&mut self, stream: LogStream, mut data: &[u8]) -> io::Result<()> {
        let ts = cri::format_timestamp((self.clock)());
        let max = self.opts.max_line;
        let mut out = Vec::new();
        let mut pending = std::mem::take(&mut self.pending[idx(stream)]);
        while !data.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(i) if pending.len() + i <= max => {
                    pending.extend_from_slice(&data[..i]);
                    cri::encode(&mut out, &ts, stream, Tag::Full, &pending);
                    pending.clear();
                    data = &data[i + 1..];
                }
                _ => {
                    let room = max - pending.len();
                    let take = room.min(data.len());
                    pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if pending.len() == max && !data.is_empty() && data[0] != b'\n' {
                        cri::encode(&mut out, &ts, stream, Tag::Partial, &pending);
                        pending.clear();
                    } else if pending.len() == max && data.first() == Some(&b'\n') {
                        cri::encode(&mut out, &ts, stream, Tag::Full, &pending);
                        pending.clear();
                        data = &data[1..];
                    }
                }
            }
        }
        self.pending[idx(stream)] = pending;
        self.append(&out)
    }

    /// Writes what is left of unfinished lines as full entries (the stream ended).
    pub fn flush_pending(&mut self) -> io::Result<()> {
        let ts = cri::format_timestamp((self.clock)());
        let mut out = Vec::new();
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let p = std::mem::take(&mut self.pending[idx(stream)]);
            if !p.is_empty() {
                cri::encode(&mut out, &ts, stream, Tag::Full, &p);
            }
        }
        self.append(&out)
    }

    /// Appends whole entries, rotating first when they would pass `max_size`.
    fn append(&mut self, out: &[u8]) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        if self.size > 0 && self.size + out.len() as u64 > self.opts.max_size {
            self.rotate()?;
        }
        self.file.write_all(out)?;
        self.size += out.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut when = (self.clock)();
        let rotated = loop {
            let name = format!("{}.{}", self.path.display(), when.format(ROTATED_FORMAT));
            let candidate = PathBuf::from(name);
            let gz = PathBuf::from(format!("{}.gz", candidate.display()));
            if !candidate.exists() && !gz.exists() {
                break candidate;
            }
            when += chrono::Duration::seconds(1);
        };
        std::fs::rename(&self.path, &rotated)?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        self.clean_rotated()
    }

    /// Gzips every rotated file but the newest and removes the oldest beyond `max_files`.
    fn clean_rotated(&self) -> io::Result<()> {
        let mut rotated = rotated_files(&self.path)?;
        rotated.sort();
        let keep = self.opts.max_files - 1;
        while rotated.len() > keep {
            std::fs::remove_file(rotated.remove(0))?;
        }
        if let Some((_, older)) = rotated.split_last() {
            for f in older.iter().filter(|f| f.extension().is_none_or(|e| e != "gz")) {
                gzip(f)?;
            }
        }
        Ok(())
    }
}

/// The rotated siblings of `path` (`<name>.<stamp>` and `<name>.<stamp>.gz`).
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}.");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if let Some(n) = e.file_name().to_str() {
            if n.starts_with(&prefix) && n[prefix.len()..].starts_with(|c: char| c.is_ascii_digit()) {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

fn gzip(path: &Path) -> io::Result<()> {
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let tmp = PathBuf::from(format!("{}.tmp", gz.display()));
    {
        let mut input = File::open(path)?;
        let mut enc = flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::default());
        io::copy(&mut input, &mut enc)?;
        enc.finish()?.sync_all()?;
    }
    std::fs::rename(&tmp, &gz)?;
    std::fs::remove_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fixed() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    fn writer(dir: &Path, opts: LogOptions) -> Writer {
        Writer::with_clock(&dir.join("0.log"), opts, fixed).unwrap()
    }

    #[test]
    fn lines_partials_and_pending() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path(), LogOptions { max_line: 4, ..Default::default() });
        w.write(LogStream::Stdout, b"ab\ncdefgh").unwrap();
        w.write(LogStream::Stderr, b"err\n").unwrap();
        w.write(LogStream::Stdout, b"ij\nxy").unwrap();
        w.write(LogStream::Stdout, b"zw\n").unwrap();
        w.write(LogStream::Stdout, b"tail").unwrap();
        w.flush_pending().unwrap();
        let got = std::fs::read_to_string(dir.path().join("0.log")).unwrap();
        let t = "2026-01-02T03:04:05Z";
        let want = [
            format!("{t} stdout F ab"),
            format!("{t} stdout P cdef"),
            format!("{t} stderr F err"),
            format!("{t} stdout F ghij"),
            format!("{t} stdout F xyzw"),
            format!("{t} stdout F tail"),
        ];
        assert_eq!(got.lines().collect::<Vec<_>>(), want);
    }

    #[test]
    fn appends_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        writer(dir.path(), LogOptions::default()).write(LogStream::Stdout, b"one\n").unwrap();
        writer(dir.path(), LogOptions::default()).write(LogStream::Stdout, b"two\n").unwrap();
        let got = std::fs::read_to_string(dir.path().join("0.log")).unwrap();
        assert_eq!(got.lines().count(), 2);
    }

    #[test]
    fn rotates_compresses_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let entry = "2026-01-02T03:04:05Z stdout F 0123456789\n".len() as u64;
        let mut w = writer(dir.path(), LogOptions { max_size: entry * 2, max_files: 3, max_line: 1024 });
        for _ in 0..10 {
            w.write(LogStream::Stdout, b"0123456789\n").unwrap();
        }
        let live = std::fs::read_to_string(dir.path().join("0.log")).unwrap();
        assert_eq!(live.lines().count(), 2);
        let mut names: Vec<String> = rotated_files(&dir.path().join("0.log"))
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].starts_with("0.log.2026010") && names[0].ends_with(".gz"), "{names:?}");
        assert!(names[1].starts_with("0.log.2026010") && !names[1].ends_with(".gz"), "{names:?}");
        // The compressed one holds whole entries.
        let mut s = String::new();
        let f = File::open(dir.path().join(&names[0])).unwrap();
        io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut s).unwrap();
        assert_eq!(s.lines().count(), 2);
    }
}
