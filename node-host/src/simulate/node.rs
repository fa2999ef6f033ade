//! One simulated node: its registration, status heartbeat, Lease, and pod IP pool.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use api::model::{now_micro_time, Lease, NODE_LEASE_NAMESPACE};
use serde_json::{json, Value};

use super::{ApiClient, SimError, SimOptions};

use api::time::now_rfc3339;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn check(what: &str, (status, body): (u16, Value), ok: &[u16]) -> Result<Value, SimError> {
    if ok.contains(&status) {
        Ok(body)
    } else {
        Err(SimError::Status { what: what.to_string(), status, body: body["message"].as_str().unwrap_or_default().to_string() })
    }
}

/// Pod IPs of one node: `10.244.{index}.1` … `.254` (the index spills into the second
/// octet beyond 255 nodes), each held by one pod uid.
#[derive(Debug, Default)]
pub struct IpPool {
    prefix: [u8; 3],
    by_pod: HashMap<String, Ipv4Addr>,
    used: BTreeSet<u8>,
}

impl IpPool {
    pub fn new(index: u32) -> Self {
        let second = 244u32 + index / 256;
        IpPool { prefix: [10, second.min(255) as u8, (index % 256) as u8], ..Default::default() }
    }

    /// The pod's address, allocating the lowest free one; None when all are taken.
    pub fn assign(&mut self, uid: &str) -> Option<Ipv4Addr> {
        if let Some(ip) = self.by_pod.get(uid) {
            return Some(*ip);
        }
        let last = (1..=254u8).find(|o| !self.used.contains(o))?;
        self.used.insert(last);
        let ip = Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], last);
        self.by_pod.insert(uid.to_string(), ip);
        Some(ip)
    }

    /// Records an address a pod already reports (e.g. after a restart of the simulator).
    pub fn reserve(&mut self, uid: &str, ip: Ipv4Addr) {
        let o = ip.octets();
        if [o[0], o[1], o[2]] == self.prefix && !self.by_pod.contains_key(uid) {
            self.used.insert(o[3]);
            self.by_pod.insert(uid.to_string(), ip);
        }
    }

    pub fn release(&mut self, uid: &str) {
        if let Some(ip) = self.by_pod.remove(uid) {
            self.used.remove(&ip.octets()[3]);
        }
    }

    /// Forgets every pod not in `live` (pods deleted while the watch was down).
    pub fn retain(&mut self, live: &HashSet<String>) {
        let gone: Vec<String> = self.by_pod.keys().filter(|k| !live.contains(*k)).cloned().collect();
        for uid in gone {
            self.release(&uid);
        }
    }
}

pub struct SimNode {
    pub name: String,
    pub ip: Ipv4Addr,
    started: String,
    uid: Mutex<String>,
    lease: Mutex<Option<Lease>>,
    pub pool: Mutex<IpPool>,
}

impl SimNode {
    pub fn new(name: &str, index: u32, opts: &SimOptions) -> Self {
        SimNode {
            name: name.to_string(),
            ip: Ipv4Addr::from(u32::from(opts.node_ip_base).wrapping_add(index)),
            started: now_rfc3339(),
            uid: Mutex::new(String::new()),
            lease: Mutex::new(None),
            pool: Mutex::new(IpPool::new(index)),
        }
    }

    fn path(&self) -> String {
        format!("/api/v1/nodes/{}", self.name)
    }

    fn lease_path(&self) -> String {
        format!("/apis/coordination.k8s.io/v1/namespaces/{NODE_LEASE_NAMESPACE}/leases/{}", self.name)
    }

    fn labels(&self, opts: &SimOptions) -> Value {
        let mut labels = serde_json::Map::new();
        labels.insert("kubernetes.io/hostname".into(), json!(self.name));
        labels.insert("kubernetes.io/os".into(), json!("linux"));
        labels.insert("kubernetes.io/arch".into(), json!("amd64"));
        labels.insert("type".into(), json!("simulated"));
        for (k, v) in &opts.labels {
            labels.insert(k.clone(), json!(v));
        }
        Value::Object(labels)
    }

    /// The status a healthy simulated node reports.
    pub fn status(&self, opts: &SimOptions) -> Value {
        let now = now_rfc3339();
        let cond = |t: &str, s: &str, reason: &str, msg: &str| {
            json!({"type": t, "status": s, "reason": reason, "message": msg,
                   "lastHeartbeatTime": now, "lastTransitionTime": self.started})
        };
        json!({
            "capacity": opts.capacity,
            "allocatable": opts.capacity,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": self.ip.to_string()}, {"type": "Hostname", "address": self.name}],
            "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "simulated",
                         "osImage": "shoal simulated node", "containerRuntimeVersion": "simulated://0",
                         "kubeletVersion": concat!("shoal-", env!("CARGO_PKG_VERSION")), "kubeProxyVersion": "",
                         "operatingSystem": "linux", "architecture": "amd64"}
        })
    }

    /// Creates the Node, or updates its labels when it exists, then posts its status.
    pub fn register(&self, api: &ApiClient, opts: &SimOptions) -> Result<(), SimError> {
        let body = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": self.labels(opts), "annotations": {"shoal.io/simulated": "true"}},
            "status": self.status(opts),
        });
        let (status, created) = api.post("/api/v1/nodes", &body)?;
        let node = match status {
            201 | 200 => created,
            409 => {
                let patch = json!({"metadata": {"labels": self.labels(opts), "annotations": {"shoal.io/simulated": "true"}}});
                check(&format!("updating node {}", self.name), api.merge_patch(&self.path(), &patch)?, &[200])?
            }
            _ => return Err(SimError::Status { what: format!("creating node {}", self.name), status, body: created.to_string() }),
        };
        *lock(&self.uid) = node["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        self.post_status(api, opts)?;
        self.renew_lease(api, opts)
    }

    pub fn post_status(&self, api: &ApiClient, opts: &SimOptions) -> Result<(), SimError> {
        let patch = json!({"status": self.status(opts)});
        check(&format!("posting status of node {}", self.name), api.merge_patch(&format!("{}/status", self.path()), &patch)?, &[200])?;
        Ok(())
    }

    fn fresh_lease(&self, opts: &SimOptions) -> Lease {
        let uid = lock(&self.uid).clone();
        let mut l: Lease = serde_json::from_value(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": self.name, "namespace": NODE_LEASE_NAMESPACE},
        }))
        .unwrap_or_default();
        if !uid.is_empty() {
            l.metadata.owner_references = vec![api::model::OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: self.name.clone(),
                uid,
                ..Default::default()
            }];
        }
        l.spec.holder_identity = Some(self.name.clone());
        l.spec.lease_duration_seconds = Some(opts.lease_seconds.min(i32::MAX as u64) as i32);
        l
    }

    /// Renews `kube-node-lease/{name}` (creating it when missing), as kubelet does.
    pub fn renew_lease(&self, api: &ApiClient, opts: &SimOptions) -> Result<(), SimError> {
        let mut held = lock(&self.lease);
        for _ in 0..3 {
            let now = now_micro_time();
            let Some(mut lease) = held.take() else {
                // Unknown: read it, or create it.
                let (status, body) = api.get(&self.lease_path())?;
                match status {
                    200 => *held = serde_json::from_value(body).ok(),
                    404 => {
                        let mut l = self.fresh_lease(opts);
                        l.spec.acquire_time = Some(now.clone());
                        l.spec.renew_time = Some(now);
                        let body = serde_json::to_value(&l).unwrap_or_default();
                        let (status, created) = api.post(&format!("/apis/coordination.k8s.io/v1/namespaces/{NODE_LEASE_NAMESPACE}/leases"), &body)?;
                        match status {
                            201 | 200 => {
                                *held = serde_json::from_value(created).ok();
                                return Ok(());
                            }
                            409 => continue,
                            _ => return Err(SimError::Status { what: format!("creating lease {}", self.name), status, body: created.to_string() }),
                        }
                    }
                    _ => return Err(SimError::Status { what: format!("reading lease {}", self.name), status, body: body.to_string() }),
                }
                continue;
            };
            if lease.spec.holder_identity.as_deref() != Some(self.name.as_str()) {
                lease.spec.holder_identity = Some(self.name.clone());
                lease.spec.acquire_time = Some(now.clone());
                lease.spec.lease_transitions = Some(lease.spec.lease_transitions.unwrap_or(0) + 1);
            }
            lease.spec.lease_duration_seconds = Some(opts.lease_seconds.min(i32::MAX as u64) as i32);
            lease.spec.renew_time = Some(now);
            let body = serde_json::to_value(&lease).unwrap_or_default();
            let (status, updated) = api.put(&self.lease_path(), &body)?;
            match status {
                200 => {
                    *held = serde_json::from_value(updated).ok();
                    return Ok(());
                }
                // Changed or deleted by someone else: read again (held stays None).
                409 | 404 => continue,
                _ => return Err(SimError::Status { what: format!("renewing lease {}", self.name), status, body: updated.to_string() }),
            }
        }
        Err(SimError::Status { what: format!("renewing lease {}", self.name), status: 409, body: "kept conflicting".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_pool_hands_out_lowest_free_address_per_pod() {
        let mut p = IpPool::new(3);
        assert_eq!(p.assign("a"), Some(Ipv4Addr::new(10, 244, 3, 1)));
        assert_eq!(p.assign("b"), Some(Ipv4Addr::new(10, 244, 3, 2)));
        assert_eq!(p.assign("a"), Some(Ipv4Addr::new(10, 244, 3, 1)), "stable per pod");
        p.release("a");
        assert_eq!(p.assign("c"), Some(Ipv4Addr::new(10, 244, 3, 1)));
        p.reserve("d", Ipv4Addr::new(10, 244, 3, 3));
        assert_eq!(p.assign("e"), Some(Ipv4Addr::new(10, 244, 3, 4)));
        p.retain(&HashSet::from(["e".to_string()]));
        assert_eq!(p.assign("f"), Some(Ipv4Addr::new(10, 244, 3, 1)));
        assert_eq!(IpPool::new(300).assign("x"), Some(Ipv4Addr::new(10, 245, 44, 1)));
        let mut full = IpPool::new(0);
        for i in 0..254 {
            assert!(full.assign(&i.to_string()).is_some());
        }
        assert_eq!(full.assign("one-too-many"), None);
    }
}
