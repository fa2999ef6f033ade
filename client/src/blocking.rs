//! A blocking facade over the async client, for synchronous callers (the CLI, tests): the
//! same verbs, each run to completion on a small runtime of the client's own. Do not call
//! it from inside an async task.

use std::future::Future;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use api::model::{KindInfo, Resource};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::api::{Deleted, ObjectList, Scale};
use crate::error::Error;
use crate::http::{Request, Response};
use crate::path::{DeleteParams, ListParams, Patch, PatchParams};

/// A blocking client of one API server. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: crate::Client,
    rt: Arc<tokio::runtime::Runtime>,
}

impl Client {
    pub fn new(base: &str) -> Result<Self, Error> {
        // One worker drives the connections, so that several threads can block at once.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shoal-client")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let inner = {
            let _guard = rt.enter();
            crate::Client::new(base)?
        };
        Ok(Client { inner, rt: Arc::new(rt) })
    }

    /// The async client underneath.
    pub fn inner(&self) -> &crate::Client {
        &self.inner
    }

    pub fn base(&self) -> &str {
        self.inner.base()
    }

    /// Runs any future of the async client to completion.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Sends a request and returns the whole answer, whatever its code.
    pub fn raw(&self, req: Request) -> Result<Response, Error> {
        self.block_on(self.inner.raw(req))
    }

    /// Sends a request; a non-2xx answer is an [`Error::Api`].
    pub fn send(&self, req: Request) -> Result<Bytes, Error> {
        self.block_on(self.inner.send(req))
    }

    pub fn api<T: Resource>(&self, ns: Option<&str>) -> Api<T> {
        Api { inner: self.inner.api(ns), rt: self.rt.clone() }
    }

    pub fn dynamic(&self, info: &'static KindInfo, ns: Option<&str>) -> Api<Value> {
        Api { inner: self.inner.dynamic(info, ns), rt: self.rt.clone() }
    }

    /// Opens a stream (a watch) and returns its lines as they arrive; a non-2xx answer is
    /// an [`Error::Api`].
    pub fn lines(&self, req: Request, idle: Duration) -> Result<Lines, Error> {
        let mut stream = self.block_on(self.inner.lines(req, idle))?;
        let (tx, rx) = mpsc::channel();
        self.rt.spawn(async move {
            while let Some(line) = stream.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Lines { rx })
    }
}

/// The lines of an open stream.
pub struct Lines {
    rx: mpsc::Receiver<Result<Bytes, Error>>,
}

impl Lines {
    /// The next line, waiting at most `deadline`; None when it passes or the stream ends.
    pub fn next_within(&self, deadline: Duration) -> Option<Result<Bytes, Error>> {
        self.rx.recv_timeout(deadline).ok()
    }
}

impl Iterator for Lines {
    type Item = Result<Bytes, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv().ok()
    }
}

/// The blocking verbs of one kind; see [`crate::Api`].
#[derive(Clone)]
pub struct Api<T> {
    inner: crate::Api<T>,
    rt: Arc<tokio::runtime::Runtime>,
}

impl<T: Serialize + DeserializeOwned> Api<T> {
    pub fn inner(&self) -> &crate::Api<T> {
        &self.inner
    }

    pub fn item_path(&self, name: &str) -> String {
        self.inner.item_path(name)
    }

    pub fn collection_path(&self) -> String {
        self.inner.collection_path()
    }

    pub fn get(&self, name: &str) -> Result<T, Error> {
        self.rt.block_on(self.inner.get(name))
    }

    pub fn get_opt(&self, name: &str) -> Result<Option<T>, Error> {
        self.rt.block_on(self.inner.get_opt(name))
    }

    pub fn list(&self, lp: &ListParams) -> Result<ObjectList<T>, Error> {
        self.rt.block_on(self.inner.list(lp))
    }

    pub fn list_all(&self, lp: &ListParams) -> Result<ObjectList<T>, Error> {
        self.rt.block_on(self.inner.list_all(lp))
    }

    pub fn create(&self, obj: &T) -> Result<T, Error> {
        self.rt.block_on(self.inner.create(obj))
    }

    pub fn replace(&self, name: &str, obj: &T) -> Result<T, Error> {
        self.rt.block_on(self.inner.replace(name, obj))
    }

    pub fn patch<P: Serialize>(&self, name: &str, pp: &PatchParams, patch: &Patch<P>) -> Result<T, Error> {
        self.rt.block_on(self.inner.patch(name, pp, patch))
    }

    pub fn delete(&self, name: &str, dp: &DeleteParams) -> Result<Deleted<T>, Error> {
        self.rt.block_on(self.inner.delete(name, dp))
    }

    pub fn get_status(&self, name: &str) -> Result<T, Error> {
        self.rt.block_on(self.inner.get_status(name))
    }

    pub fn replace_status(&self, name: &str, obj: &T) -> Result<T, Error> {
        self.rt.block_on(self.inner.replace_status(name, obj))
    }

    pub fn patch_status<P: Serialize>(&self, name: &str, pp: &PatchParams, patch: &Patch<P>) -> Result<T, Error> {
        self.rt.block_on(self.inner.patch_status(name, pp, patch))
    }

    pub fn get_scale(&self, name: &str) -> Result<Scale, Error> {
        self.rt.block_on(self.inner.get_scale(name))
    }

    pub fn replace_scale(&self, name: &str, scale: &Scale) -> Result<Scale, Error> {
        self.rt.block_on(self.inner.replace_scale(name, scale))
    }

    pub fn patch_scale<P: Serialize>(&self, name: &str, pp: &PatchParams, patch: &Patch<P>) -> Result<Scale, Error> {
        self.rt.block_on(self.inner.patch_scale(name, pp, patch))
    }
}
