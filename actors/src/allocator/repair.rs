//! The allocation repair pass and the singleton that runs it: releases allocations no
//! stored Service holds, restores those a stored Service holds but the store lacks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use api::codec;
use api::model::Service;

use super::{held_keys, take, Allocation, Took, IP_PREFIX, PORT_PREFIX};
use crate::controller::{Action, Cx, ReconcileError, Singleton};
use crate::registry::{Registry, RegistryError};

/// What one repair pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    pub released: Vec<String>,
    pub restored: Vec<String>,
}

/// One repair pass: releases leaked allocations older than the grace period, restores
/// allocations stored Services hold but the store lacks.
pub async fn repair(reg: &Registry) -> Result<RepairReport, RegistryError> {
    let cfg = reg.allocator();
    let store = reg.store().as_ref();
    let (services, _) = reg.list::<Service>(None).await?;
    let by_name: BTreeMap<(String, String), &Service> = services
        .iter()
        .map(|s| ((s.metadata.namespace.clone().unwrap_or_default(), s.metadata.name.clone()), s))
        .collect();
    let now = chrono::Utc::now().timestamp();
    let mut report = RepairReport::default();
    let mut present = BTreeSet::new();
    for prefix in [IP_PREFIX, PORT_PREFIX] {
        for kv in store.list(prefix).await?.kvs {
            present.insert(kv.key.clone());
            let alloc = codec::decode::<Allocation>(&kv.value).ok();
            let valid = alloc.as_ref().is_some_and(|a| {
                by_name.get(&(a.namespace.clone(), a.name.clone())).is_some_and(|s| {
                    s.metadata.uid == a.uid && held_keys(cfg, s).contains(&kv.key)
                })
            });
            let old_enough = alloc.as_ref().is_none_or(|a| now - a.allocated_at >= cfg.repair_grace.as_secs() as i64);
            if !valid && old_enough && store.delete(&kv.key, Some(kv.mod_revision)).await.is_ok() {
                tracing::info!(key = %kv.key, "released a leaked allocation");
                report.released.push(kv.key);
            }
        }
    }
    for s in &services {
        for key in held_keys(cfg, s) {
            if present.contains(&key) {
                continue;
            }
            let owner = Allocation::of(s);
            match take(store, &key, &owner, false).await {
                Ok(Took::Now) => {
                    tracing::info!(key = %key, service = %s.metadata.name, "restored a missing allocation");
                    report.restored.push(key);
                }
                Ok(Took::Other) => tracing::warn!(key = %key, service = %s.metadata.name, "allocation held by another service"),
                _ => {}
            }
        }
    }
    Ok(report)
}

/// The repair loop as a control-plane singleton (every 30 s at most).
#[derive(Default)]
pub struct AllocationRepair {
    last: Mutex<Option<Instant>>,
}

const REPAIR_PERIOD: Duration = Duration::from_secs(30);

#[async_trait]
impl Singleton for AllocationRepair {
    const NAME: &'static str = "allocation-repair";

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = *last {
                if t.elapsed() < REPAIR_PERIOD {
                    return Ok(Action::requeue(REPAIR_PERIOD - t.elapsed()));
                }
            }
            *last = Some(Instant::now());
        }
        repair(cx.registry()).await?;
        Ok(Action::requeue(REPAIR_PERIOD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::{ip_key, AllocatorConfig};

    fn svc(name: &str, spec: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap()
    }

    async fn registry() -> (Registry, tempfile::TempDir) {
        let cfg = AllocatorConfig { repair_grace: Duration::ZERO, ..Default::default() };
        crate::admission::testing::registry(cfg).await
    }

    #[tokio::test]
    async fn repair_releases_leaks_and_restores_missing_allocations() {
        let (r, _d) = registry().await;
        let s = r.create(svc("a", serde_json::json!({"clusterIP": "10.96.0.50", "ports": [{"port": 80}]}))).await.unwrap();
        // A leak: an allocation whose Service never got written (a crash in between).
        let leak = Allocation { namespace: "default".into(), name: "ghost".into(), uid: "u".into(), allocated_at: 0 };
        r.store().create(&ip_key("10.96.0.77".parse().unwrap()), codec::encode(&leak).unwrap(), None).await.unwrap();
        // A missing allocation: the Service's key was lost.
        r.store().delete(&ip_key("10.96.0.50".parse().unwrap()), None).await.unwrap();
        let report = repair(&r).await.unwrap();
        assert_eq!(report.released, vec![ip_key("10.96.0.77".parse().unwrap())]);
        assert_eq!(report.restored, vec![ip_key("10.96.0.50".parse().unwrap())]);
        let kv = r.store().get(&ip_key("10.96.0.50".parse().unwrap())).await.unwrap().unwrap();
        assert_eq!(codec::decode::<Allocation>(&kv.value).unwrap().uid, s.metadata.uid);
        assert_eq!(repair(&r).await.unwrap(), RepairReport::default(), "idempotent");
    }
}
