//! REST paths derived from `KindInfo`, and the query parameters of lists, watches,
//! patches and deletes.

use api::model::KindInfo;
use serde::Serialize;

/// `/api/v1/namespaces/{ns}/pods`, or `/apis/apps/v1/deployments` for all namespaces and
/// for cluster-scoped kinds (whose namespace is ignored).
pub fn collection_path(info: &KindInfo, ns: Option<&str>) -> String {
    match (info.namespaced, ns) {
        (true, Some(ns)) => format!("{}/namespaces/{}/{}", info.group_version_path(), ns, info.plural),
        _ => format!("{}/{}", info.group_version_path(), info.plural),
    }
}

/// The path of one object.
pub fn item_path(info: &KindInfo, ns: Option<&str>, name: &str) -> String {
    format!("{}/{}", collection_path(info, ns), name)
}

/// The path of a subresource of one object (`status`, `scale`, `log`, `eviction`).
pub fn subresource_path(info: &KindInfo, ns: Option<&str>, name: &str, sub: &str) -> String {
    format!("{}/{}", item_path(info, ns, name), sub)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `path?k=v&…` with every value encoded; `path` alone when there is no pair.
pub fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{}", q.join("&"))
}

/// What a list (or the list and watch of a watcher) selects, and how it pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// Page size; the server answers a `continue` token when more remain.
    pub limit: Option<u32>,
    pub continue_token: Option<String>,
    /// `0`: any version the server has; unset: the latest.
    pub resource_version: Option<String>,
}

impl ListParams {
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_string());
        self
    }

    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_string());
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    fn selectors(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = &self.label_selector {
            q.push(("labelSelector", s.clone()));
        }
        if let Some(s) = &self.field_selector {
            q.push(("fieldSelector", s.clone()));
        }
        q
    }

    /// The query of one list page.
    pub fn list_query(&self) -> Vec<(&'static str, String)> {
        let mut q = self.selectors();
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = &self.continue_token {
            q.push(("continue", c.clone()));
        }
        if let Some(rv) = &self.resource_version {
            q.push(("resourceVersion", rv.clone()));
        }
        q
    }

    /// The query of a watch from `resource_version` (with bookmarks).
    pub fn watch_query(&self, resource_version: &str) -> Vec<(&'static str, String)> {
        let mut q = vec![("watch", "true".to_string())];
        q.extend(self.selectors());
        q.push(("allowWatchBookmarks", "true".into()));
        q.push(("resourceVersion", resource_version.to_string()));
        q
    }
}

/// How a patch body is to be read by the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch<P> {
    /// JSON merge patch (RFC 7386).
    Merge(P),
    /// Kubernetes' strategic merge patch.
    Strategic(P),
    /// JSON patch (RFC 6902): a list of operations.
    Json(P),
    /// Server-side apply of a (partial) object; needs a field manager.
    Apply(P),
}

impl<P: Serialize> Patch<P> {
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
            // JSON is YAML, so the apply body is sent as JSON.
            Patch::Apply(_) => "application/apply-patch+yaml",
        }
    }

    pub fn body(&self) -> &P {
        match self {
            Patch::Merge(p) | Patch::Strategic(p) | Patch::Json(p) | Patch::Apply(p) => p,
        }
    }
}

/// Query parameters of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchParams {
    pub field_manager: Option<String>,
    /// Server-side apply: take over fields other managers own.
    pub force: bool,
    pub dry_run: bool,
}

impl PatchParams {
    /// Server-side apply as `manager`.
    pub fn apply(manager: &str) -> Self {
        PatchParams { field_manager: Some(manager.to_string()), ..Default::default() }
    }

    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(m) = &self.field_manager {
            q.push(("fieldManager", m.clone()));
        }
        if self.force {
            q.push(("force", "true".into()));
        }
        if self.dry_run {
            q.push(("dryRun", "All".into()));
        }
        q
    }
}

/// What happens to the dependents of a deleted object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PropagationPolicy {
    Orphan,
    Background,
    Foreground,
}

/// Only delete the object if it still has this uid / resourceVersion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// The `DeleteOptions` body of a delete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_policy: Option<PropagationPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Preconditions>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<String>,
}

impl DeleteParams {
    /// Deletes at once, without a grace period (what a node does once a pod has stopped).
    pub fn now() -> Self {
        DeleteParams { grace_period_seconds: Some(0), ..Default::default() }
    }

    pub fn propagation(policy: PropagationPolicy) -> Self {
        DeleteParams { propagation_policy: Some(policy), ..Default::default() }
    }

    /// The body as JSON, with its `kind` and `apiVersion`.
    pub fn to_body(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["kind"] = "DeleteOptions".into();
        v["apiVersion"] = "v1".into();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Deployment, Node, Pod, Resource};

    #[test]
    fn paths_of_a_namespaced_core_kind() {
        let i = Pod::INFO;
        assert_eq!(collection_path(i, Some("default")), "/api/v1/namespaces/default/pods");
        assert_eq!(collection_path(i, None), "/api/v1/pods");
        assert_eq!(item_path(i, Some("ns1"), "web-0"), "/api/v1/namespaces/ns1/pods/web-0");
        assert_eq!(subresource_path(i, Some("ns1"), "web-0", "status"), "/api/v1/namespaces/ns1/pods/web-0/status");
    }

    #[test]
    fn paths_of_a_grouped_kind_and_its_scale() {
        let i = Deployment::INFO;
        assert_eq!(item_path(i, Some("default"), "web"), "/apis/apps/v1/namespaces/default/deployments/web");
        assert_eq!(subresource_path(i, Some("default"), "web", "scale"), "/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!(collection_path(i, None), "/apis/apps/v1/deployments");
    }

    #[test]
    fn cluster_scoped_paths_ignore_the_namespace() {
        let i = Node::INFO;
        assert_eq!(item_path(i, Some("default"), "n1"), "/api/v1/nodes/n1");
        assert_eq!(subresource_path(i, None, "n1", "status"), "/api/v1/nodes/n1/status");
    }

    #[test]
    fn queries_encode_selectors_and_pages() {
        let lp = ListParams::default().fields("spec.nodeName=sim-0").labels("app in (a,b)").limit(500);
        assert_eq!(
            with_query("/api/v1/pods", &lp.list_query()),
            "/api/v1/pods?labelSelector=app%20in%20%28a%2Cb%29&fieldSelector=spec.nodeName%3Dsim-0&limit=500"
        );
        assert_eq!(
            with_query("/api/v1/pods", &lp.watch_query("42")),
            "/api/v1/pods?watch=true&labelSelector=app%20in%20%28a%2Cb%29&fieldSelector=spec.nodeName%3Dsim-0&allowWatchBookmarks=true&resourceVersion=42"
        );
        assert_eq!(urlencode("app=web,tier in (a,b)"), "app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
        assert_eq!(with_query("/x", &[]), "/x");
        assert_eq!(with_query("/x?a=1", &[("b", "2".into())]), "/x?a=1&b=2");
    }

    #[test]
    fn delete_options_body() {
        let mut d = DeleteParams::propagation(PropagationPolicy::Foreground);
        d.preconditions = Some(Preconditions { uid: Some("u1".into()), resource_version: None });
        let v = d.to_body();
        assert_eq!(v["kind"], "DeleteOptions");
        assert_eq!(v["propagationPolicy"], "Foreground");
        assert_eq!(v["preconditions"]["uid"], "u1");
        assert!(v.get("gracePeriodSeconds").is_none());
        assert_eq!(DeleteParams::now().to_body()["gracePeriodSeconds"], 0);
    }
}
