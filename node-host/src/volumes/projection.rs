//! The payloads of the volumes that project API data into files — `configMap`, `secret`,
//! `downwardAPI` and `projected` — as upstream's `MakePayload` / `CollectData` build them:
//! every key, or only the listed items (key → path, per-item mode), `defaultMode`, and
//! `optional` (a missing object or key is an error unless optional).

use std::collections::BTreeMap;

use api::model::{ConfigMap, DownwardApiVolumeFile, KeyToPath, Pod, ProjectedVolumeSource, Secret};

use super::atomic_writer::{FileProjection, Payload};
use super::downward::{field_value, named_container, resource_value};
use super::{NodeFacts, ObjectLookup};

/// Upstream's default for `defaultMode` of every projecting volume (0644).
pub const DEFAULT_MODE: i32 = 0o644;

fn mode(m: Option<i32>, default: i32) -> u32 {
    (m.unwrap_or(default) & 0o7777) as u32
}

/// Key → bytes of a ConfigMap (`data` and `binaryData`) or a Secret.
fn items_payload(
    data: &BTreeMap<String, Vec<u8>>,
    items: &[KeyToPath],
    default_mode: i32,
    optional: bool,
    missing_key: impl Fn(&str) -> String,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    if items.is_empty() {
        for (k, v) in data {
            out.insert(k.clone(), FileProjection { data: v.clone(), mode: mode(None, default_mode) });
        }
        return Ok(out);
    }
    for it in items {
        let Some(v) = data.get(&it.key) else {
            if optional {
                continue;
            }
            return Err(missing_key(&it.key));
        };
        out.insert(it.path.clone(), FileProjection { data: v.clone(), mode: mode(it.mode, default_mode) });
    }
    Ok(out)
}

fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut m: BTreeMap<String, Vec<u8>> = cm.data.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect();
    for (k, v) in &cm.binary_data {
        m.entry(k.clone()).or_insert_with(|| v.0.clone());
    }
    m
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut m: BTreeMap<String, Vec<u8>> = s.data.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    // stringData is merged by defaulting; a Secret built by hand may still carry it.
    for (k, v) in &s.string_data {
        m.insert(k.clone(), v.as_bytes().to_vec());
    }
    m
}

/// The ConfigMap, or None when it is missing and optional; the error as upstream words it.
async fn get_config_map(lookup: &dyn ObjectLookup, ns: &str, name: &str, optional: bool) -> Result<Option<ConfigMap>, String> {
    match lookup.config_map(ns, name).await {
        Ok(Some(cm)) => Ok(Some(cm)),
        Ok(None) if optional => Ok(None),
        Ok(None) => Err(format!("configmap \"{name}\" not found")),
        Err(e) => Err(format!("couldn't get configMap {ns}/{name}: {e}")),
    }
}

async fn get_secret(lookup: &dyn ObjectLookup, ns: &str, name: &str, optional: bool) -> Result<Option<Secret>, String> {
    match lookup.secret(ns, name).await {
        Ok(Some(s)) => Ok(Some(s)),
        Ok(None) if optional => Ok(None),
        Ok(None) => Err(format!("secret \"{name}\" not found")),
        Err(e) => Err(format!("couldn't get secret {ns}/{name}: {e}")),
    }
}

pub async fn config_map(
    pod: &Pod,
    name: &str,
    items: &[KeyToPath],
    default_mode: i32,
    optional: bool,
    lookup: &dyn ObjectLookup,
) -> Result<Payload, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let data = get_config_map(lookup, ns, name, optional).await?.map(|c| config_map_data(&c)).unwrap_or_default();
    items_payload(&data, items, default_mode, optional, |k| format!("configmap references non-existent config key: {k}"))
}

pub async fn secret(
    pod: &Pod,
    name: &str,
    items: &[KeyToPath],
    default_mode: i32,
    optional: bool,
    lookup: &dyn ObjectLookup,
) -> Result<Payload, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let data = get_secret(lookup, ns, name, optional).await?.map(|s| secret_data(&s)).unwrap_or_default();
    items_payload(&data, items, default_mode, optional, |k| format!("references non-existent secret key: {k}"))
}

/// Upstream's `downwardapi.CollectData`: every error is collected, not just the first.
pub fn downward_api(pod: &Pod, items: &[DownwardApiVolumeFile], default_mode: i32, facts: &NodeFacts) -> Result<Payload, String> {
    let mut out = Payload::new();
    let mut errs = Vec::new();
    for it in items {
        let path = clean(&it.path);
        let value = if let Some(f) = &it.field_ref {
            field_value(f, pod, facts)
        } else if let Some(r) = &it.resource_field_ref {
            let cname = r.container_name.as_deref().unwrap_or("");
            match named_container(pod, cname) {
                Some(c) => resource_value(r, c, facts),
                None => Err(format!("container {cname} not found")),
            }
        } else {
            Ok(String::new())
        };
        match value {
            Ok(v) => {
                out.insert(path, FileProjection { data: v.into_bytes(), mode: mode(it.mode, default_mode) });
            }
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(aggregate(errs))
    }
}

/// Go's `filepath.Clean` for a relative path (enough for item paths: `a//b/./c` → `a/b/c`).
fn clean(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// `utilerrors.NewAggregate`'s message.
fn aggregate(errs: Vec<String>) -> String {
    if errs.len() == 1 {
        errs.into_iter().next().unwrap_or_default()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// Upstream's projected `collectData`: each source's payload merged, errors aggregated.
pub async fn projected(pod: &Pod, src: &ProjectedVolumeSource, facts: &NodeFacts, lookup: &dyn ObjectLookup) -> Result<Payload, String> {
    let default_mode = src.default_mode.unwrap_or(DEFAULT_MODE);
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = Payload::new();
    let mut errs = Vec::new();
    for s in &src.sources {
        let part = if let Some(c) = &s.config_map {
            let optional = c.optional.unwrap_or(false);
            match get_config_map(lookup, ns, &c.name, optional).await {
                Ok(cm) => {
                    let data = cm.map(|c| config_map_data(&c)).unwrap_or_default();
                    items_payload(&data, &c.items, default_mode, optional, |k| format!("configmap references non-existent config key: {k}"))
                }
                Err(e) => Err(e),
            }
        } else if let Some(c) = &s.secret {
            let optional = c.optional.unwrap_or(false);
            match get_secret(lookup, ns, &c.name, optional).await {
                Ok(sec) => {
                    let data = sec.map(|s| secret_data(&s)).unwrap_or_default();
                    items_payload(&data, &c.items, default_mode, optional, |k| format!("references non-existent secret key: {k}"))
                }
                Err(e) => Err(e),
            }
        } else if let Some(d) = &s.downward_api {
            downward_api(pod, &d.items, default_mode, facts)
        } else if s.service_account_token.is_some() {
            Err("serviceAccountToken projections are not supported by this node yet".into())
        } else if s.cluster_trust_bundle.is_some() {
            Err("clusterTrustBundle projections are not supported by this node yet".into())
        } else if s.pod_certificate.is_some() {
            Err("podCertificate projections are not supported by this node yet".into())
        } else {
            Ok(Payload::new())
        };
        match part {
            Ok(p) => out.extend(p),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(aggregate(errs))
    }
}
