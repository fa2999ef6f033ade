//! Events as kubelet records them: core/v1 Events about a pod (or one of its containers,
//! `involvedObject.fieldPath: spec.containers{name}`), `source.component: kubelet`,
//! `source.host: <node>`, upstream's reasons and messages. A repeat of the same event
//! bumps the count and lastTimestamp of the one already written (kubelet's correlator,
//! simplified).

use std::collections::HashMap;
use std::sync::Mutex;

use api::model::{Event, EventSource, ObjectMeta, ObjectReference, Pod, Resource};
use client::{Patch, PatchParams};
use serde_json::json;

pub const NORMAL: &str = "Normal";
pub const WARNING: &str = "Warning";

/// (pod uid, fieldPath, reason, message).
type EventKey = (String, String, String, String);

pub struct Recorder {
    api: client::Client,
    node: String,
    /// (pod uid, fieldPath, reason, message) → (namespace, event name, count).
    seen: Mutex<HashMap<EventKey, (String, String, i32)>>,
}

/// `spec.containers{name}` or `spec.initContainers{name}`.
pub fn field_path(pod: &Pod, container: &str) -> String {
    if pod.spec.init_containers.iter().any(|c| c.name == container) {
        format!("spec.initContainers{{{container}}}")
    } else {
        format!("spec.containers{{{container}}}")
    }
}

impl Recorder {
    pub fn new(api: client::Client, node: &str) -> Self {
        Recorder { api, node: node.to_string(), seen: Mutex::new(HashMap::new()) }
    }

    /// Records an event about `pod` (or its container `container`). Failures are logged:
    /// events are best effort, as upstream's.
    pub async fn record(&self, pod: &Pod, container: Option<&str>, type_: &str, reason: &str, message: &str) {
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let path = container.map(|c| field_path(pod, c)).unwrap_or_default();
        let key = (pod.metadata.uid.clone(), path.clone(), reason.to_string(), message.to_string());
        let now = api::time::now_rfc3339();
        let repeat = self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        let events = self.api.api::<Event>(Some(&ns));
        if let Some((ns, name, count)) = repeat {
            let patch = json!({"count": count + 1, "lastTimestamp": now});
            match events.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
                Ok(_) => {
                    self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (ns, name, count + 1));
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "bumping an event failed; writing a new one"),
            }
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let name = format!("{}.{:x}", pod.metadata.name, nanos);
        let mut ev = Event {
            metadata: ObjectMeta { name: name.clone(), namespace: Some(ns.clone()), ..Default::default() },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                namespace: Some(ns.clone()),
                name: Some(pod.metadata.name.clone()),
                uid: Some(pod.metadata.uid.clone()),
                field_path: (!path.is_empty()).then_some(path),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            source: Some(EventSource { component: Some("kubelet".into()), host: Some(self.node.clone()) }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            type_: Some(type_.into()),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some(self.node.clone()),
            ..Default::default()
        };
        ev.set_type_meta();
        match events.create(&ev).await {
            Ok(_) => {
                self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (ns, name, 1));
            }
            Err(e) => tracing::warn!(pod = %pod.metadata.name, reason, error = %e, "recording an event failed"),
        }
    }

    /// Forgets a removed pod's events.
    pub fn forget(&self, pod_uid: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).retain(|k, _| k.0 != pod_uid);
    }
}
