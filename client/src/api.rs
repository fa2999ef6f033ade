//! `Api<T>`: the verbs of one kind in one namespace (or all, or cluster-scoped), with paths
//! from its `KindInfo`. `T` is the typed object, or `serde_json::Value` for a kind known
//! only at run time (the CLI's manifests).

use std::marker::PhantomData;
use std::time::Duration;

use api::model::{KindInfo, ListMeta, ObjectMeta, Resource};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::http::{Client, Request};
use crate::path::{collection_path, item_path, subresource_path, with_query, DeleteParams, ListParams, Patch, PatchParams};
use crate::status::Status;
use crate::watch::WatchStream;

/// How long a watch may stay silent before it counts as dead (the server sends bookmarks
/// far more often).
pub const WATCH_IDLE: Duration = Duration::from_secs(60);

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectList<T> {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

/// The `/scale` subresource (autoscaling/v1 Scale).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Scale {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: ScaleSpec,
    pub status: ScaleStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleStatus {
    pub replicas: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// What a delete answered: the object, still there until its finalizers or grace period
/// are done, or the Status of a finished delete.
#[derive(Debug, Clone)]
pub enum Deleted<T> {
    Pending(T),
    Done(Status),
}

/// The verbs of one kind.
pub struct Api<T> {
    client: Client,
    info: &'static KindInfo,
    namespace: Option<String>,
    _kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Api<T> {
    fn clone(&self) -> Self {
        Api { client: self.client.clone(), info: self.info, namespace: self.namespace.clone(), _kind: PhantomData }
    }
}

impl Client {
    /// The typed API of kind `T` in namespace `ns` (all namespaces, or a cluster-scoped
    /// kind, with None).
    pub fn api<T: Resource>(&self, ns: Option<&str>) -> Api<T> {
        Api { client: self.clone(), info: T::INFO, namespace: ns.map(str::to_string), _kind: PhantomData }
    }

    /// The API of a kind known at run time, with objects as JSON.
    pub fn dynamic(&self, info: &'static KindInfo, ns: Option<&str>) -> Api<Value> {
        Api { client: self.clone(), info, namespace: ns.map(str::to_string), _kind: PhantomData }
    }
}

/// Bodies of writes: `T` as JSON.
const JSON: &str = "application/json";

impl<T: Serialize + DeserializeOwned> Api<T> {
    pub fn info(&self) -> &'static KindInfo {
        self.info
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn collection_path(&self) -> String {
        collection_path(self.info, self.namespace.as_deref())
    }

    pub fn item_path(&self, name: &str) -> String {
        item_path(self.info, self.namespace.as_deref(), name)
    }

    fn sub_path(&self, name: &str, sub: &str) -> String {
        subresource_path(self.info, self.namespace.as_deref(), name, sub)
    }

    pub async fn get(&self, name: &str) -> Result<T, Error> {
        self.client.json::<(), T>("GET", &self.item_path(name), JSON, None).await
    }

    /// Like `get`, with a missing object as None.
    pub async fn get_opt(&self, name: &str) -> Result<Option<T>, Error> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page (all of it without a `limit`).
    pub async fn list(&self, lp: &ListParams) -> Result<ObjectList<T>, Error> {
        let path = with_query(&self.collection_path(), &lp.list_query());
        self.client.json::<(), ObjectList<T>>("GET", &path, JSON, None).await
    }

    /// Every page, following `continue` tokens; the list's resourceVersion is the first
    /// page's (the snapshot every page comes from).
    pub async fn list_all(&self, lp: &ListParams) -> Result<ObjectList<T>, Error> {
        let mut page = self.list(lp).await?;
        let mut all = std::mem::take(&mut page.items);
        while let Some(token) = page.metadata.continue_token.take().filter(|t| !t.is_empty()) {
            let next = ListParams { continue_token: Some(token), ..lp.clone() };
            let mut more = self.list(&next).await?;
            all.append(&mut more.items);
            page.metadata.continue_token = more.metadata.continue_token;
        }
        page.items = all;
        page.metadata.remaining_item_count = None;
        Ok(page)
    }

    pub async fn create(&self, obj: &T) -> Result<T, Error> {
        self.client.json("POST", &self.collection_path(), JSON, Some(obj)).await
    }

    /// PUT: replaces the object; a stale resourceVersion is a 409.
    pub async fn replace(&self, name: &str, obj: &T) -> Result<T, Error> {
        self.client.json("PUT", &self.item_path(name), JSON, Some(obj)).await
    }

    pub async fn patch<P: Serialize>(&self, name: &str, pp: &PatchParams, patch: &Patch<P>) -> Result<T, Error> {
        self.patch_at(&self.item_path(name), pp, patch).await
    }

    async fn patch_at<P: Serialize, R: DeserializeOwned>(&self, path: &str, pp: &PatchParams, patch: &Patch<P>) -> Result<R, Error> {
        let path = with_query(path, &pp.query());
        self.client.json("PATCH", &path, patch.content_type(), Some(patch.body())).await
    }

    pub async fn delete(&self, name: &str, dp: &DeleteParams) -> Result<Deleted<T>, Error> {
        let path = self.item_path(name);
        let v: Value = self.client.json("DELETE", &path, JSON, Some(&dp.to_body())).await?;
        let decode = |source| Error::Decode { method: "DELETE", path: path.clone(), source };
        if v["kind"] == "Status" {
            Ok(Deleted::Done(serde_json::from_value(v).map_err(decode)?))
        } else {
            Ok(Deleted::Pending(serde_json::from_value(v).map_err(decode)?))
        }
    }

    pub async fn get_status(&self, name: &str) -> Result<T, Error> {
        self.client.json::<(), T>("GET", &self.sub_path(name, "status"), JSON, None).await
    }

    pub async fn replace_status(&self, name: &str, obj: &T) -> Result<T, Error> {
        self.client.json("PUT", &self.sub_path(name, "status"), JSON, Some(obj)).await
    }

    pub async fn patch_status<P: Serialize>(&self, name: &str, pp: &PatchParams, patch: &Patch<P>) -> Result<T, Error> {
        self.patch_at(&self.sub_path(name, "status"), pp, patch).await
    }

    pub async fn get_scale(&self, name: &str) -> Result<Scale, Error> {
        self.client.json::<(), Scale>("GET", &self.sub_path(name, "scale"), JSON, None).await
    }

    pub async fn replace_scale(&self, name: &str, scale: &Scale) -> Result<Scale, Error> {
        self.client.json("PUT", &self.sub_path(name, "scale"), JSON, Some(scale)).await
    }

    pub async fn patch_scale<P: Serialize>(&self, name: &str, pp: &PatchParams, patch: &Patch<P>) -> Result<Scale, Error> {
        self.patch_at(&self.sub_path(name, "scale"), pp, patch).await
    }

    /// Watches from `resource_version` (with bookmarks), with `lp`'s selectors.
    pub async fn watch(&self, lp: &ListParams, resource_version: &str) -> Result<WatchStream<T>, Error> {
        let path = with_query(&self.collection_path(), &lp.watch_query(resource_version));
        let req = Request::get(path).header("Accept", "application/json");
        Ok(WatchStream::new(self.client.lines(req, WATCH_IDLE).await?))
    }
}
