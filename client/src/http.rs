//! The HTTP side: one connection-pooling client for a server, raw requests (any code,
//! headers and body kept, for tests), and JSON requests whose non-2xx answers become
//! [`Error::Api`] with the server's Status.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde::{de::DeserializeOwned, Serialize};

use crate::error::Error;
use crate::status::Status;
use crate::watch::LineStream;

/// A request's overall deadline, unless it says otherwise (watches have none).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The client of one API server. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    base: Arc<str>,
    http: reqwest::Client,
}

/// One HTTP request, as raw as a test needs it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    /// Path and query, e.g. `/api/v1/pods?limit=5`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Overall deadline; None for none.
    pub timeout: Option<Duration>,
}

impl Request {
    pub fn new(method: &'static str, path: impl Into<String>) -> Self {
        Request { method, path: path.into(), headers: Vec::new(), body: None, timeout: Some(REQUEST_TIMEOUT) }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// A body with its content type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.header("Content-Type", content_type)
    }

    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A whole answer, whatever its code.
#[derive(Debug, Clone)]
pub struct Response {
    pub code: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Every value of header `name` (e.g. the `Warning`s).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The server's Status of a failed answer.
    pub fn status(&self) -> Status {
        Status::from_response(self.code, &self.body)
    }
}

impl Client {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:6443`).
    pub fn new(base: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()
            .map_err(Error::Build)?;
        Ok(Client { base: base.trim_end_matches('/').into(), http })
    }

    /// The server's URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn build(&self, req: &Request) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut b = self.http.request(method, format!("{}{}", self.base, req.path));
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(body) = &req.body {
            b = b.body(body.clone());
        }
        if let Some(t) = req.timeout {
            b = b.timeout(t);
        }
        b
    }

    /// Sends a request and returns the whole answer, whatever its code.
    pub async fn raw(&self, req: Request) -> Result<Response, Error> {
        let resp = self
            .build(&req)
            .send()
            .await
            .map_err(|source| Error::Send { method: req.method, path: req.path.clone(), source })?;
        let code = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|source| Error::Read { method: req.method, path: req.path, source })?;
        Ok(Response { code, headers, body })
    }

    /// Sends a request and returns the body of a 2xx answer; any other answer is an
    /// [`Error::Api`] carrying the server's Status.
    pub async fn send(&self, req: Request) -> Result<Bytes, Error> {
        let (method, path) = (req.method, req.path.clone());
        let resp = self.raw(req).await?;
        if resp.is_success() {
            Ok(resp.body)
        } else {
            Err(Error::Api { method, path, status: Box::new(resp.status()) })
        }
    }

    /// Sends `body` as JSON (when given) and decodes a 2xx JSON answer.
    pub async fn json<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        content_type: &str,
        body: Option<&B>,
    ) -> Result<R, Error> {
        let mut req = Request::new(method, path).header("Accept", "application/json");
        if let Some(b) = body {
            let bytes = serde_json::to_vec(b).map_err(|source| Error::Encode { method, path: path.to_string(), source })?;
            req = req.body(content_type, bytes);
        }
        let bytes = self.send(req).await?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode { method, path: path.to_string(), source })
    }

    /// Sends a request with no overall deadline and hands back a 2xx answer unread (a
    /// download); any other answer is an [`Error::Api`].
    pub async fn raw_stream(&self, req: Request) -> Result<reqwest::Response, Error> {
        let req = req.timeout(None);
        let (method, path) = (req.method, req.path.clone());
        let resp = self.build(&req).send().await.map_err(|source| Error::Send { method, path: path.clone(), source })?;
        let code = resp.status().as_u16();
        if !(200..300).contains(&code) {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(Error::Api { method, path, status: Box::new(Status::from_response(code, &body)) });
        }
        Ok(resp)
    }

    /// Opens a stream (a watch): a non-2xx answer is an [`Error::Api`]; the lines of a
    /// 2xx answer are read one at a time, each within `idle`. The request has no overall
    /// deadline.
    pub async fn lines(&self, req: Request, idle: Duration) -> Result<LineStream, Error> {
        let req = req.timeout(None);
        let (method, path) = (req.method, req.path.clone());
        let resp = self.build(&req).send().await.map_err(|source| Error::Send { method, path: path.clone(), source })?;
        let code = resp.status().as_u16();
        if !(200..300).contains(&code) {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(Error::Api { method, path, status: Box::new(Status::from_response(code, &body)) });
        }
        Ok(LineStream::new(path, resp, idle))
    }
}
