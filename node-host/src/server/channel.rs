//! The WebSocket channel protocols of exec and attach (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`): every binary message starts with its channel's byte — 0 stdin,
//! 1 stdout, 2 stderr, 3 error (one Status JSON at the end), 4 resize (`{"Width","Height"}`).
//! v5 adds 255: `[255, channel]` closes that channel (the client's end of stdin).

use serde::Deserialize;
use serde_json::{json, Value};

pub const V4: &str = "v4.channel.k8s.io";
pub const V5: &str = "v5.channel.k8s.io";
/// What the server offers, most preferred first.
pub const PROTOCOLS: [&str; 2] = [V5, V4];

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V4,
    V5,
}

impl Version {
    pub fn of(protocol: &str) -> Option<Version> {
        match protocol {
            V5 => Some(Version::V5),
            V4 => Some(Version::V4),
            _ => None,
        }
    }
}

/// A message on `channel`.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(data.len() + 1);
    m.push(channel);
    m.extend_from_slice(data);
    m
}

/// What a client's binary message means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    Stdin(&'a [u8]),
    Resize(TerminalSize),
    /// The client closed its end of a channel (v5).
    Close(u8),
    /// Empty, a channel the server does not read, or a resize it cannot parse.
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

pub fn parse(version: Version, msg: &[u8]) -> Incoming<'_> {
    match msg.split_first() {
        Some((&STDIN, data)) => Incoming::Stdin(data),
        Some((&RESIZE, data)) => serde_json::from_slice(data).map(Incoming::Resize).unwrap_or(Incoming::Ignored),
        Some((&CLOSE, [ch, ..])) if version == Version::V5 => Incoming::Close(*ch),
        _ => Incoming::Ignored,
    }
}

/// The Status written on the error channel when the command ended (upstream's).
pub fn exit_status(argv: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: command '{}' exited with {code}", argv.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The Status of a failure to run the command at all (upstream's `NewInternalError`).
pub fn internal_error(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        let cases: [(Version, &[u8], Incoming); 7] = [
            (Version::V5, b"\x00hi", Incoming::Stdin(b"hi")),
            (Version::V5, b"\x04{\"Width\":80,\"Height\":24}", Incoming::Resize(TerminalSize { width: 80, height: 24 })),
            (Version::V5, b"\x04nonsense", Incoming::Ignored),
            (Version::V5, b"\xff\x00", Incoming::Close(0)),
            (Version::V4, b"\xff\x00", Incoming::Ignored),
            (Version::V5, b"", Incoming::Ignored),
            (Version::V5, b"\x01out", Incoming::Ignored),
        ];
        for (v, msg, want) in cases {
            assert_eq!(parse(v, msg), want, "{msg:?}");
        }
    }

    #[test]
    fn frames_and_statuses() {
        assert_eq!(frame(STDOUT, b"x"), b"\x01x");
        assert_eq!(exit_status(&["true".into()], 0)["status"], "Success");
        let s = exit_status(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
        assert_eq!(internal_error("boom")["reason"], "InternalError");
        assert_eq!(Version::of(V5), Some(Version::V5));
        assert_eq!(Version::of("channel.k8s.io"), None);
    }
}
