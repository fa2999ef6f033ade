//! The client's one error type: each variant names the operation, and a failed request
//! carries the server's decoded [`Status`].

use crate::status::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the HTTP client")]
    Build(#[source] reqwest::Error),
    #[error("starting the client's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot reach the shoal API server for {method} {path}")]
    Send {
        method: &'static str,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("reading the answer to {method} {path}")]
    Read {
        method: &'static str,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a non-2xx code. Displayed as kubectl shows it.
    #[error("Error from server ({}): {}", status.reason, status.message)]
    Api { method: &'static str, path: String, status: Box<Status> },
    #[error("encoding the body of {method} {path}")]
    Encode {
        method: &'static str,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("decoding the answer to {method} {path}")]
    Decode {
        method: &'static str,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading watch {path}: no data for {idle_secs} s")]
    WatchIdle { path: String, idle_secs: u64 },
    #[error("decoding an event of watch {path}")]
    WatchEvent {
        path: String,
        #[source]
        source: LineError,
    },
}

impl Error {
    /// The server's Status, when the server answered.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The HTTP code of the server's answer, when it answered.
    pub fn code(&self) -> Option<u16> {
        self.status().map(|s| s.code)
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// 409: a stale resourceVersion (Conflict) or a name taken (AlreadyExists).
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }

    pub fn is_already_exists(&self) -> bool {
        self.status().is_some_and(|s| s.reason == "AlreadyExists")
    }

    /// 410 Gone: a resourceVersion or continue token older than the server keeps.
    pub fn is_gone(&self) -> bool {
        self.code() == Some(410)
    }
}

/// Why a watch line could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not a watch event")]
    Json(#[source] serde_json::Error),
    #[error("unknown watch event type {0:?}")]
    UnknownType(String),
}
