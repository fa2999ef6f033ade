//! The CRI log line: `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n`, as
//! containerd writes it and the kubelet parses it (`P`: a piece of a longer line whose
//! rest follows in the next entries; `F`: the piece that ends a line).

use chrono::{DateTime, Datelike, Timelike, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// The entry ends a line.
    Full,
    /// More of the same line follows.
    Partial,
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub timestamp: DateTime<Utc>,
    /// The timestamp as written (kept to print it back with `timestamps=true`).
    pub timestamp_text: &'a str,
    pub stream: LogStream,
    pub tag: Tag,
    /// Without the trailing newline.
    pub content: &'a [u8],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("timestamp is not found")]
    NoTimestamp,
    #[error("unexpected timestamp format {0:?}")]
    Timestamp(String),
    #[error("stream type is not found")]
    NoStream,
    #[error("unexpected stream type {0:?}")]
    Stream(String),
    #[error("log tag is not found")]
    NoTag,
}

/// Go's `time.RFC3339Nano` in UTC: fractional seconds with trailing zeros removed.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Appends one entry (with its newline) to `out`.
pub fn encode(out: &mut Vec<u8>, timestamp: &str, stream: LogStream, tag: Tag, content: &[u8]) {
    out.extend_from_slice(timestamp.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if tag == Tag::Full { b" F " } else { b" P " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Parses one line (with or without its newline), as the kubelet's `parseCRILog`.
pub fn parse(line: &[u8]) -> Result<Entry<'_>, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (ts, rest) = split_space(line).ok_or(ParseError::NoTimestamp)?;
    let ts = std::str::from_utf8(ts).map_err(|_| ParseError::Timestamp(String::from_utf8_lossy(ts).into()))?;
    let timestamp = DateTime::parse_from_rfc3339(ts)
        .map_err(|_| ParseError::Timestamp(ts.to_string()))?
        .with_timezone(&Utc);
    let (stream, rest) = split_space(rest).ok_or(ParseError::NoStream)?;
    let stream = match stream {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        other => return Err(ParseError::Stream(String::from_utf8_lossy(other).into())),
    };
    // The tag may be followed by nothing at all (an empty line written without its space).
    let (tag, content) = match split_space(rest) {
        Some((tag, content)) => (tag, content),
        None if !rest.is_empty() => (rest, &b""[..]),
        None => return Err(ParseError::NoTag),
    };
    // Tags are `:`-separated; the first is the partial/full one.
    let tag = if tag.split(|b| *b == b':').next() == Some(b"P") { Tag::Partial } else { Tag::Full };
    Ok(Entry { timestamp, timestamp_text: ts, stream, tag, content })
}

fn split_space(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|c| *c == b' ')?;
    Some((&b[..i], &b[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_as_go_formats_them() {
        let cases = [
            (0, "2026-12-01T20:46:20Z"),
            (500_000_000, "2026-12-01T20:46:20.5Z"),
            (123_456_789, "2026-12-01T20:46:20.123456789Z"),
            (1_000, "2026-12-01T20:46:20.000001Z"),
        ];
        for (nanos, want) in cases {
            let t = Utc.with_ymd_and_hms(2026, 12, 1, 20, 46, 20).unwrap() + chrono::Duration::nanoseconds(nanos);
            assert_eq!(format_timestamp(t), want);
        }
    }

    #[test]
    fn encode_then_parse() {
        let mut out = Vec::new();
        encode(&mut out, "2026-12-01T20:46:20.5Z", LogStream::Stderr, Tag::Partial, b"half a line");
        assert_eq!(out, b"2026-12-01T20:46:20.5Z stderr P half a line\n");
        let e = parse(&out).unwrap();
        assert_eq!((e.stream, e.tag, e.content), (LogStream::Stderr, Tag::Partial, &b"half a line"[..]));
        assert_eq!(e.timestamp_text, "2026-12-01T20:46:20.5Z");
    }

    #[test]
    fn parse_cases() {
        let cases: [(&[u8], Result<(&str, &[u8]), ParseError>); 6] = [
            (b"2026-01-01T00:00:00Z stdout F hello world", Ok(("F", b"hello world"))),
            (b"2026-01-01T00:00:00Z stdout F ", Ok(("F", b""))),
            (b"2026-01-01T00:00:00+01:00 stdout F x", Ok(("F", b"x"))),
            (b"nonsense", Err(ParseError::NoTimestamp)),
            (b"yesterday stdout F x", Err(ParseError::Timestamp("yesterday".into()))),
            (b"2026-01-01T00:00:00Z stdin F x", Err(ParseError::Stream("stdin".into()))),
        ];
        for (line, want) in cases {
            let got = parse(line).map(|e| (if e.tag == Tag::Full { "F" } else { "P" }, e.content));
            assert_eq!(got, want, "{}", String::from_utf8_lossy(line));
        }
    }
}
