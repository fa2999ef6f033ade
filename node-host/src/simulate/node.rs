//! One simulated node: its registration, status heartbeat, Lease, and pod IP pool.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use api::model::{
    now_micro_time, Condition, Lease, Node, NodeAddress, NodeStatus, NodeSystemInfo, OwnerReference, Quantity, Resource,
    NODE_LEASE_NAMESPACE,
};
use client::{Patch, PatchParams};
use serde::Serialize;

use super::{SimError, SimOptions};

use api::time::now_rfc3339;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The body of a merge patch of the status subresource.
#[derive(Serialize)]
pub struct StatusPatch<'a, S> {
    pub status: &'a S,
}

/// The body of a merge patch of an object's labels and annotations.
#[derive(Serialize)]
struct LabelsPatch {
    metadata: LabelsAndAnnotations,
}

#[derive(Serialize)]
struct LabelsAndAnnotations {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
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
    /// The Lease as last written (None: unknown, read it first).
    lease: tokio::sync::Mutex<Option<Lease>>,
    pub pool: Mutex<IpPool>,
}

impl SimNode {
    pub fn new(name: &str, index: u32, opts: &SimOptions) -> Self {
        SimNode {
            name: name.to_string(),
            ip: Ipv4Addr::from(u32::from(opts.node_ip_base).wrapping_add(index)),
            started: now_rfc3339(),
            uid: Mutex::new(String::new()),
            lease: tokio::sync::Mutex::new(None),
            pool: Mutex::new(IpPool::new(index)),
        }
    }

    fn labels(&self, opts: &SimOptions) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), self.name.clone()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/arch".to_string(), "amd64".to_string()),
            ("type".to_string(), "simulated".to_string()),
        ]);
        labels.extend(opts.labels.clone());
        labels
    }

    fn annotations() -> BTreeMap<String, String> {
        BTreeMap::from([("shoal.io/simulated".to_string(), "true".to_string())])
    }

    /// The status a healthy simulated node reports.
    pub fn status(&self, opts: &SimOptions) -> NodeStatus {
        let now = now_rfc3339();
        let cond = |t: &str, s: &str, reason: &str, msg: &str| Condition {
            type_: t.into(),
            status: s.into(),
            reason: Some(reason.into()),
            message: Some(msg.into()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(self.started.clone()),
            ..Default::default()
        };
        let capacity: BTreeMap<String, Quantity> = opts.capacity.iter().map(|(k, v)| (k.clone(), Quantity::new(v.as_str()))).collect();
        let address = |t: &str, a: String| NodeAddress { type_: t.into(), address: a };
        NodeStatus {
            allocatable: capacity.clone(),
            capacity,
            conditions: vec![
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            addresses: vec![address("InternalIP", self.ip.to_string()), address("Hostname", self.name.clone())],
            node_info: Some(NodeSystemInfo {
                kernel_version: "simulated".into(),
                os_image: "shoal simulated node".into(),
                container_runtime_version: "simulated://0".into(),
                kubelet_version: concat!("shoal-", env!("CARGO_PKG_VERSION")).into(),
                operating_system: "linux".into(),
                architecture: "amd64".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Creates the Node, or updates its labels when it exists, then posts its status.
    pub async fn register(&self, api: &client::Client, opts: &SimOptions) -> Result<(), SimError> {
        let nodes = api.api::<Node>(None);
        let err = |source| SimError::Register { node: self.name.clone(), source };
        let mut node = Node::default();
        node.set_type_meta();
        node.metadata.name = self.name.clone();
        node.metadata.labels = self.labels(opts);
        node.metadata.annotations = Self::annotations();
        node.status = Some(self.status(opts));
        let node = match nodes.create(&node).await {
            Ok(n) => n,
            Err(e) if e.is_conflict() => {
                let patch = LabelsPatch { metadata: LabelsAndAnnotations { labels: self.labels(opts), annotations: Self::annotations() } };
                nodes.patch(&self.name, &PatchParams::default(), &Patch::Merge(patch)).await.map_err(err)?
            }
            Err(e) => return Err(err(e)),
        };
        *lock(&self.uid) = node.metadata.uid.clone();
        self.post_status(api, opts).await?;
        self.renew_lease(api, opts).await
    }

    pub async fn post_status(&self, api: &client::Client, opts: &SimOptions) -> Result<(), SimError> {
        let status = self.status(opts);
        api.api::<Node>(None)
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(StatusPatch { status: &status }))
            .await
            .map_err(|source| SimError::NodeStatus { node: self.name.clone(), source })?;
        Ok(())
    }

    fn fresh_lease(&self, opts: &SimOptions) -> Lease {
        let uid = lock(&self.uid).clone();
        let mut l = Lease::default();
        l.set_type_meta();
        l.metadata.name = self.name.clone();
        l.metadata.namespace = Some(NODE_LEASE_NAMESPACE.to_string());
        if !uid.is_empty() {
            l.metadata.owner_references = vec![OwnerReference {
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
    pub async fn renew_lease(&self, api: &client::Client, opts: &SimOptions) -> Result<(), SimError> {
        let leases = api.api::<Lease>(Some(NODE_LEASE_NAMESPACE));
        let err = |source| SimError::Lease { node: self.name.clone(), source };
        let mut held = self.lease.lock().await;
        for _ in 0..3 {
            let now = now_micro_time();
            let Some(mut lease) = held.take() else {
                // Unknown: read it, or create it.
                match leases.get_opt(&self.name).await.map_err(err)? {
                    Some(l) => *held = Some(l),
                    None => {
                        let mut l = self.fresh_lease(opts);
                        l.spec.acquire_time = Some(now.clone());
                        l.spec.renew_time = Some(now);
                        match leases.create(&l).await {
                            Ok(created) => {
                                *held = Some(created);
                                return Ok(());
                            }
                            Err(e) if e.is_conflict() => continue,
                            Err(e) => return Err(err(e)),
                        }
                    }
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
            match leases.replace(&self.name, &lease).await {
                Ok(updated) => {
                    *held = Some(updated);
                    return Ok(());
                }
                // Changed or deleted by someone else: read again (held stays None).
                Err(e) if e.is_conflict() || e.is_not_found() => continue,
                Err(e) => return Err(err(e)),
            }
        }
        Err(SimError::LeaseConflict { node: self.name.clone() })
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
