//! Watch streams: newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`,
//! `BOOKMARK`, `ERROR`), split into lines and decoded into typed events.

use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{Error, LineError};
use crate::status::Status;

/// One event of a watch.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<T> {
    Added(T),
    Modified(T),
    Deleted(T),
    /// Nothing changed, but everything up to `resource_version` has been sent.
    Bookmark { resource_version: String },
    /// The server ended the watch; code 410 means the start version is gone (relist).
    Error(Status),
}

impl<T> WatchEvent<T> {
    /// Whether this is the server's "your resourceVersion is too old" (410 Gone).
    pub fn is_gone(&self) -> bool {
        matches!(self, WatchEvent::Error(s) if s.code == 410)
    }
}

#[derive(serde::Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    type_: String,
    #[serde(default)]
    object: serde_json::Value,
}

/// Decodes one line of a watch stream; a blank line (a keep-alive) is None.
pub fn parse_line<T: DeserializeOwned>(line: &[u8]) -> Result<Option<WatchEvent<T>>, LineError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let raw: RawEvent = serde_json::from_slice(line).map_err(LineError::Json)?;
    let object = raw.object;
    let typed = |v: serde_json::Value| serde_json::from_value::<T>(v).map_err(LineError::Json);
    Ok(Some(match raw.type_.as_str() {
        "ADDED" => WatchEvent::Added(typed(object)?),
        "MODIFIED" => WatchEvent::Modified(typed(object)?),
        "DELETED" => WatchEvent::Deleted(typed(object)?),
        "BOOKMARK" => WatchEvent::Bookmark {
            resource_version: object["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string(),
        },
        "ERROR" => WatchEvent::Error(serde_json::from_value(object).map_err(LineError::Json)?),
        other => return Err(LineError::UnknownType(other.to_string())),
    }))
}

/// Collects chunks of a byte stream and hands out complete lines. Lines are cut from the
/// front of the buffer by an offset; the consumed part is dropped once per chunk, so a
/// chunk of many lines is copied once, not once per line.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
}

impl LineSplitter {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete line (without its newline), if one is buffered.
    pub fn next_line(&mut self) -> Option<Vec<u8>> {
        let len = self.buf[self.start..].iter().position(|b| *b == b'\n')?;
        let line = self.buf[self.start..self.start + len].to_vec();
        self.start += len + 1;
        Some(line)
    }

    /// What is left when the stream ends (a last line without a newline).
    pub fn rest(&mut self) -> Option<Vec<u8>> {
        let rest = self.buf.split_off(self.start);
        self.buf.clear();
        self.start = 0;
        (!rest.is_empty()).then_some(rest)
    }
}

/// The lines of an open stream, each read within an idle deadline.
pub struct LineStream {
    path: String,
    resp: reqwest::Response,
    split: LineSplitter,
    idle: Duration,
    done: bool,
}

impl LineStream {
    pub(crate) fn new(path: String, resp: reqwest::Response, idle: Duration) -> Self {
        LineStream { path, resp, split: LineSplitter::default(), idle, done: false }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next line; None when the server ended the stream.
    pub async fn next_line(&mut self) -> Option<Result<Bytes, Error>> {
        loop {
            if let Some(line) = self.split.next_line() {
                return Some(Ok(line.into()));
            }
            if self.done {
                return self.split.rest().map(|l| Ok(l.into()));
            }
            match tokio::time::timeout(self.idle, self.resp.chunk()).await {
                Err(_) => {
                    self.done = true;
                    return Some(Err(Error::WatchIdle { path: self.path.clone(), idle_secs: self.idle.as_secs() }));
                }
                Ok(Err(source)) => {
                    self.done = true;
                    return Some(Err(Error::Read { method: "GET", path: self.path.clone(), source }));
                }
                Ok(Ok(None)) => self.done = true,
                Ok(Ok(Some(chunk))) => self.split.push(&chunk),
            }
        }
    }
}

/// The typed events of an open watch.
pub struct WatchStream<T> {
    lines: LineStream,
    _kind: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> WatchStream<T> {
    pub(crate) fn new(lines: LineStream) -> Self {
        WatchStream { lines, _kind: std::marker::PhantomData }
    }

    /// The next event; None when the server ended the stream.
    pub async fn next(&mut self) -> Option<Result<WatchEvent<T>, Error>> {
        loop {
            let line = match self.lines.next_line().await? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            match parse_line(&line) {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) => continue,
                Err(source) => return Some(Err(Error::WatchEvent { path: self.lines.path.clone(), source })),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::Pod;

    #[test]
    fn parses_object_events() {
        let line = br#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","resourceVersion":"7"}}}"#;
        match parse_line::<Pod>(line).unwrap() {
            Some(WatchEvent::Added(p)) => assert_eq!((p.metadata.name.as_str(), p.metadata.resource_version.as_str()), ("p", "7")),
            other => panic!("{other:?}"),
        }
        let line = br#"{"type":"DELETED","object":{"metadata":{"name":"p"}}}"#;
        assert!(matches!(parse_line::<Pod>(line).unwrap(), Some(WatchEvent::Deleted(_))));
    }

    #[test]
    fn parses_bookmarks_and_gone_errors() {
        let line = br#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}}"#;
        assert_eq!(parse_line::<Pod>(line).unwrap(), Some(WatchEvent::Bookmark { resource_version: "12".into() }));
        let line = br#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 3 (9)","reason":"Expired","code":410}}"#;
        let ev = parse_line::<Pod>(line).unwrap().unwrap();
        assert!(ev.is_gone(), "{ev:?}");
        assert!(!WatchEvent::<Pod>::Error(Status { code: 500, ..Default::default() }).is_gone());
    }

    #[test]
    fn blank_lines_are_keepalives_and_junk_is_an_error() {
        assert_eq!(parse_line::<Pod>(b"  \r").unwrap(), None);
        assert!(matches!(parse_line::<Pod>(b"{\"type\":\"WHAT\"}"), Err(LineError::UnknownType(t)) if t == "WHAT"));
        assert!(matches!(parse_line::<Pod>(b"not json"), Err(LineError::Json(_))));
    }

    #[test]
    fn splitter_joins_chunks_into_lines() {
        let mut s = LineSplitter::default();
        s.push(b"{\"a\":1}\n{\"b\"");
        assert_eq!(s.next_line().as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(s.next_line(), None);
        s.push(b":2}\n{\"c\":3}");
        assert_eq!(s.next_line().as_deref(), Some(&b"{\"b\":2}"[..]));
        assert_eq!(s.next_line(), None);
        assert_eq!(s.rest().as_deref(), Some(&b"{\"c\":3}"[..]));
        assert_eq!(s.rest(), None);
    }

    #[test]
    fn splitter_hands_out_every_line_of_a_chunk_in_order() {
        let mut s = LineSplitter::default();
        let chunk: Vec<u8> = (0..100).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        s.push(&chunk);
        s.push(b"tail");
        let lines: Vec<String> = std::iter::from_fn(|| s.next_line()).map(|l| String::from_utf8(l).unwrap()).collect();
        assert_eq!(lines, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
        s.push(b" end\n");
        assert_eq!(s.next_line().as_deref(), Some(&b"tail end"[..]));
        assert_eq!(s.rest(), None);
    }
}
