//! Recording Events (`cx.event(&obj, "Normal", "ScalingReplicaSet", "Scaled up …")`) with
//! Kubernetes' aggregation: the same object, component, type, reason and message within
//! [`AGGREGATION_WINDOW`] bump `count` and `lastTimestamp` of the existing Event instead of
//! creating another. Names are `{object}.{hex unix nanos}`, as upstream's recorder makes them.
//! Recording never blocks or fails a reconcile: the write runs in the background and its
//! errors are only logged. [`EventTtl`] deletes Events older than [`EVENT_TTL`] (Kubernetes
//! gives them a one-hour etcd lease).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::controller::{Action, Cx, ReconcileError, Singleton};
use api::model::{Event, EventSource, ObjectReference, Resource};
use crate::registry::{now_rfc3339, Preconditions, Registry, RegistryError, UpdateScope};

/// Identical events within this window are aggregated into one.
pub const AGGREGATION_WINDOW: Duration = Duration::from_secs(600);
/// Events older than this (by lastTimestamp) are deleted.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);
const MAX_REMEMBERED: usize = 4096;

/// The component upstream reports for each reason shoal's controllers record.
pub fn component_for(kind: &str, reason: &str) -> &'static str {
    match (kind, reason) {
        (_, "ScalingReplicaSet") | (_, "DeploymentRollback") => "deployment-controller",
        ("ReplicationController", "SuccessfulCreate" | "SuccessfulDelete" | "FailedCreate") => "replication-controller",
        (_, "SuccessfulCreate" | "SuccessfulDelete" | "FailedCreate") => "replicaset-controller",
        (_, "Scheduled" | "FailedScheduling") => "default-scheduler",
        (_, "TaintManagerEviction") => "taint-eviction-controller",
        (_, "NodeNotReady" | "NodeReady") => "node-controller",
        _ => "shoal-controller-manager",
    }
}

struct Seen {
    namespace: String,
    name: String,
    at: Instant,
}

/// Remembers recent events so that repeats aggregate (process-wide, like upstream's
/// per-broadcaster cache).
#[derive(Default)]
pub struct EventRecorder {
    seen: Mutex<HashMap<String, Seen>>,
}

fn recorder() -> &'static EventRecorder {
    static R: OnceLock<EventRecorder> = OnceLock::new();
    R.get_or_init(EventRecorder::default)
}

/// The reference an Event carries to the object it is about.
pub fn reference_of<T: Resource>(obj: &T) -> ObjectReference {
    let m = obj.meta();
    ObjectReference {
        api_version: Some(T::INFO.api_version()),
        kind: Some(T::INFO.kind.to_string()),
        namespace: m.namespace.clone().filter(|n| !n.is_empty()),
        name: Some(m.name.clone()),
        uid: Some(m.uid.clone()).filter(|u| !u.is_empty()),
        resource_version: Some(m.resource_version.clone()).filter(|r| !r.is_empty()),
        field_path: None,
    }
}

/// A new Event about `obj` (not yet stored).
pub fn new_event<T: Resource>(obj: &T, component: &str, type_: &str, reason: &str, message: &str) -> Event {
    let now = chrono::Utc::now();
    let ts = now_rfc3339();
    let namespace = obj.meta().namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    let mut e = Event {
        involved_object: reference_of(obj),
        reason: Some(reason.into()),
        message: Some(message.into()),
        source: Some(EventSource { component: Some(component.into()), host: None }),
        first_timestamp: Some(ts.clone()),
        last_timestamp: Some(ts),
        count: Some(1),
        type_: Some(type_.into()),
        reporting_component: Some(component.into()),
        reporting_instance: Some(format!("{component}-shoal")),
        ..Default::default()
    };
    e.metadata.name = format!("{}.{:x}", obj.meta().name, nanos);
    e.metadata.namespace = Some(namespace);
    e
}

impl EventRecorder {
    /// Records (creates or aggregates) one event; returns the stored Event.
    pub async fn record(&self, reg: &Registry, event: Event) -> Result<Event, RegistryError> {
        let r = &event.involved_object;
        let key = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            event.source.as_ref().and_then(|s| s.component.as_deref()),
            r.kind,
            r.namespace,
            r.name,
            r.uid,
            event.type_,
            event.reason,
            event.message
        );
        let existing = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() > MAX_REMEMBERED {
                seen.retain(|_, s| s.at.elapsed() < AGGREGATION_WINDOW);
                // Still full of recent events: forget them all rather than scan the map on
                // every record (aggregation restarts; events are a best-effort record).
                if seen.len() > MAX_REMEMBERED / 2 {
                    seen.clear();
                }
            }
            match seen.get_mut(&key) {
                Some(s) if s.at.elapsed() < AGGREGATION_WINDOW => {
                    s.at = Instant::now();
                    Some((s.namespace.clone(), s.name.clone()))
                }
                _ => {
                    seen.insert(
                        key.clone(),
                        Seen {
                            namespace: event.metadata.namespace.clone().unwrap_or_default(),
                            name: event.metadata.name.clone(),
                            at: Instant::now(),
                        },
                    );
                    None
                }
            }
        };
        if let Some((ns, name)) = existing {
            let now = now_rfc3339();
            let res = reg
                .modify::<Event>(Some(&ns), &name, UpdateScope::Main, |e| {
                    e.count = Some(e.count.unwrap_or(1) + 1);
                    e.last_timestamp = Some(now.clone());
                    true
                })
                .await;
            match res {
                Err(RegistryError::NotFound { .. }) => {}
                other => return other,
            }
            // Expired or deleted: start a new one under the remembered name.
            let mut fresh = event.clone();
            fresh.metadata.name = name;
            fresh.metadata.namespace = Some(ns);
            return match reg.create(fresh).await {
                Err(RegistryError::AlreadyExists { .. }) => Box::pin(self.record(reg, event)).await,
                other => other,
            };
        }
        reg.create(event).await
    }
}

/// Records an event about `obj` in the background (errors are logged, never returned).
pub fn emit<T: Resource>(reg: &Registry, component: Option<&str>, obj: &T, type_: &str, reason: &str, message: &str) {
    let component = component.unwrap_or_else(|| component_for(T::INFO.kind, reason));
    let event = new_event(obj, component, type_, reason, message);
    let reg = reg.clone();
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    rt.spawn(async move {
        if let Err(e) = recorder().record(&reg, event).await {
            tracing::debug!(error = %e, "recording an event");
        }
    });
}

impl Cx {
    /// Records an Event about `obj` (`type_`: `Normal` or `Warning`), aggregated like
    /// upstream's recorder; the reporting component follows from the reason.
    pub fn event<T: Resource>(&self, obj: &T, type_: &str, reason: &str, message: impl AsRef<str>) {
        emit(self.registry(), None, obj, type_, reason, message.as_ref());
    }

    /// As [`Cx::event`], naming the reporting component.
    pub fn event_from<T: Resource>(&self, component: &str, obj: &T, type_: &str, reason: &str, message: impl AsRef<str>) {
        emit(self.registry(), Some(component), obj, type_, reason, message.as_ref());
    }
}

/// Deletes events whose lastTimestamp is older than [`EVENT_TTL`] (checked once a minute).
#[derive(Default)]
pub struct EventTtl {
    last: Mutex<Option<Instant>>,
}

const TTL_PERIOD: Duration = Duration::from_secs(60);

/// Deletes the expired events; returns how many.
pub async fn expire(reg: &Registry, ttl: Duration, now: chrono::DateTime<chrono::Utc>) -> Result<usize, RegistryError> {
    let (events, _) = reg.list::<Event>(None).await?;
    let mut n = 0;
    for e in events {
        let ts = e.last_timestamp.as_deref().or(e.first_timestamp.as_deref()).or(e.metadata.creation_timestamp.as_deref());
        let Some(t) = crate::controllers::parse_time(ts) else { continue };
        if now - t < chrono::Duration::from_std(ttl).unwrap_or_default() {
            continue;
        }
        let pre = Preconditions { uid: Some(e.metadata.uid.clone()), resource_version: Some(e.metadata.resource_version.clone()) };
        if reg.delete::<Event>(e.metadata.namespace.as_deref(), &e.metadata.name, &pre).await.is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

#[async_trait]
impl Singleton for EventTtl {
    const NAME: &'static str = "event-ttl";

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = *last {
                if t.elapsed() < TTL_PERIOD {
                    return Ok(Action::requeue(TTL_PERIOD - t.elapsed()));
                }
            }
            *last = Some(Instant::now());
        }
        expire(cx.registry(), EVENT_TTL, chrono::Utc::now()).await?;
        Ok(Action::requeue(TTL_PERIOD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::Deployment;

    #[tokio::test]
    async fn repeats_aggregate_and_old_events_expire() {
        let (reg, _dir) = crate::admission::testing::registry(Default::default()).await;
        let mut d = Deployment::default();
        d.metadata.name = "web".into();
        d.metadata.namespace = Some("default".into());
        d.metadata.uid = "u-1".into();
        let rec = EventRecorder::default();
        let msg = "Scaled up replica set web-abc to 3";
        let first = rec.record(&reg, new_event(&d, "deployment-controller", "Normal", "ScalingReplicaSet", msg)).await.unwrap();
        assert!(first.metadata.name.starts_with("web."), "{}", first.metadata.name);
        let again = rec.record(&reg, new_event(&d, "deployment-controller", "Normal", "ScalingReplicaSet", msg)).await.unwrap();
        assert_eq!(again.metadata.name, first.metadata.name);
        assert_eq!(again.count, Some(2));
        rec.record(&reg, new_event(&d, "deployment-controller", "Normal", "ScalingReplicaSet", "Scaled down")).await.unwrap();
        let (all, _) = reg.list::<Event>(Some("default")).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all.iter().find(|e| e.metadata.name == first.metadata.name).unwrap().involved_object.uid.as_deref(), Some("u-1"));
        assert_eq!(expire(&reg, EVENT_TTL, chrono::Utc::now()).await.unwrap(), 0);
        let later = chrono::Utc::now() + chrono::Duration::seconds(3601);
        assert_eq!(expire(&reg, EVENT_TTL, later).await.unwrap(), 2);
        assert!(reg.list::<Event>(Some("default")).await.unwrap().0.is_empty());
    }
}
