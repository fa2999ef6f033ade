//! The node itself: registration (the Node with kubelet's labels), the Lease in
//! `kube-node-lease` renewed every quarter of its duration, the Node status (capacity
//! and allocatable from the machine, nodeInfo, conditions with upstream's reasons,
//! addresses, images, the node server's port), and the loop reading per-container usage
//! for the node server's metrics and the usage report posted to the control plane
//! (`usage.rs`).

pub mod machine;
pub mod usage;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The Node annotation naming the node's local-path directory (read by the control
/// plane's local-path provisioner).
pub const LOCAL_PATH_BASE_ANNOTATION: &str = "local-path.shoal.io/base-dir";

use api::model::{
    now_micro_time, Condition, ContainerImage, DaemonEndpoint, Lease, Node, NodeAddress, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
    OwnerReference, Quantity, Resource, NODE_LEASE_NAMESPACE,
};
use async_trait::async_trait;
use client::{Patch, PatchParams};
use futures::stream::BoxStream;
use serde_json::json;
use supervision::{Action, Loop};

use crate::agent::{lock, Agent, AgentOptions};
use crate::image::ImageService;
use crate::world::{NodeWorld, PodCx};
use machine::Machine;

/// The node's registration, lease and status.
pub struct NodeAgent {
    opts: AgentOptions,
    started: String,
    uid: Mutex<String>,
    lease: tokio::sync::Mutex<Option<Lease>>,
    images: Arc<dyn ImageService>,
}

/// capacity − reserved, never below zero; quantities that do not parse are kept as given.
pub fn allocatable(capacity: &BTreeMap<String, Quantity>, reserved: &BTreeMap<String, String>) -> BTreeMap<String, Quantity> {
    capacity
        .iter()
        .map(|(k, cap)| {
            let Some(r) = reserved.get(k) else { return (k.clone(), cap.clone()) };
            let (Ok(c), Ok(r)) = (cap.parsed(), Quantity::parse(r)) else { return (k.clone(), cap.clone()) };
            let left = (c.milli_value() - r.milli_value()).max(0);
            let q = if k == "cpu" && left % 1000 != 0 { format!("{left}m") } else { (left / 1000).to_string() };
            (k.clone(), Quantity::new(q))
        })
        .collect()
}

/// Capacity as kubelet reports it.
pub fn capacity(m: &Machine, max_pods: u32) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity::new(m.cores.to_string())),
        ("memory".to_string(), Quantity::new(format!("{}Ki", m.memory_bytes / 1024))),
        ("pods".to_string(), Quantity::new(max_pods.to_string())),
        ("ephemeral-storage".to_string(), Quantity::new(format!("{}Ki", m.disk_bytes / 1024))),
    ])
}

fn pressure(available: u64, total: u64, fraction: f64) -> bool {
    total > 0 && (available as f64) < total as f64 * fraction
}

impl NodeAgent {
    pub fn new(opts: &AgentOptions, images: Arc<dyn ImageService>) -> Self {
        NodeAgent {
            opts: opts.clone(),
            started: api::time::now_rfc3339(),
            uid: Mutex::new(String::new()),
            lease: tokio::sync::Mutex::new(None),
            images,
        }
    }

    fn labels(&self, m: &Machine) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), self.opts.node_name.clone()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/arch".to_string(), m.arch.clone()),
            ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
            ("beta.kubernetes.io/arch".to_string(), m.arch.clone()),
        ]);
        l.extend(self.opts.labels.clone());
        l
    }

    /// The Node status from the machine as it is now.
    pub fn status(&self, m: &Machine, old: &[Condition]) -> NodeStatus {
        let now = api::time::now_rfc3339();
        let cond = |t: &str, bad: bool, ok: (&str, &str), not_ok: (&str, &str)| {
            let status = if bad { "True" } else { "False" };
            let (reason, msg) = if bad { not_ok } else { ok };
            let since = old.iter().find(|c| c.type_ == t && c.status == status).and_then(|c| c.last_transition_time.clone());
            Condition {
                type_: t.into(),
                status: status.into(),
                reason: Some(reason.into()),
                message: Some(msg.into()),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: Some(since.unwrap_or_else(|| self.started.clone())),
                ..Default::default()
            }
        };
        let mem = pressure(m.memory_available, m.memory_bytes, 0.05);
        let disk = pressure(m.disk_available, m.disk_bytes, 0.10);
        let pid = m.pid_max > 0 && m.pids as f64 > m.pid_max as f64 * 0.9;
        let mut ready = cond("Ready", false, ("", ""), ("", ""));
        ready.status = "True".into();
        ready.reason = Some("KubeletReady".into());
        ready.message = Some("kubelet is posting ready status".into());
        ready.last_transition_time =
            old.iter().find(|c| c.type_ == "Ready" && c.status == "True").and_then(|c| c.last_transition_time.clone()).or(Some(self.started.clone()));
        let capacity = capacity(m, self.opts.max_pods);
        let mut images: Vec<ContainerImage> = self
            .images
            .list()
            .into_iter()
            .map(|i| {
                let mut names = vec![i.repo_digest.clone()];
                names.extend(i.names.iter().filter(|n| n.contains('/')).cloned());
                ContainerImage { names, size_bytes: Some(i.size_bytes.min(i64::MAX as u64) as i64) }
            })
            .collect();
        images.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
        images.truncate(50);
        NodeStatus {
            allocatable: allocatable(&capacity, &self.opts.reserved),
            capacity,
            conditions: vec![
                cond("MemoryPressure", mem, ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"), ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available")),
                cond("DiskPressure", disk, ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"), ("KubeletHasDiskPressure", "kubelet has disk pressure")),
                cond("PIDPressure", pid, ("KubeletHasSufficientPID", "kubelet has sufficient PID available"), ("KubeletHasInsufficientPID", "kubelet has insufficient PID available")),
                ready,
            ],
            addresses: vec![
                NodeAddress { type_: "InternalIP".into(), address: self.opts.node_ip.to_string() },
                NodeAddress { type_: "Hostname".into(), address: self.opts.node_name.clone() },
            ],
            daemon_endpoints: Some(NodeDaemonEndpoints { kubelet_endpoint: Some(DaemonEndpoint { port: self.opts.kubelet_port as i32 }) }),
            node_info: Some(NodeSystemInfo {
                machine_id: m.machine_id.clone(),
                boot_id: m.boot_id.clone(),
                kernel_version: m.kernel.clone(),
                os_image: m.os_image.clone(),
                container_runtime_version: concat!("shoal://", env!("CARGO_PKG_VERSION")).into(),
                kubelet_version: concat!("v1.37.0-shoal.", env!("CARGO_PKG_VERSION")).into(),
                operating_system: "linux".into(),
                architecture: m.arch.clone(),
                ..Default::default()
            }),
            images,
            ..Default::default()
        }
    }

    /// Creates the Node (or updates its labels and annotations), posts its status and takes its Lease.
    pub async fn register(&self, api: &client::Client) -> Result<(), client::Error> {
        let m = machine::read_machine(&self.opts.root_dir);
        let nodes = api.api::<Node>(None);
        let mut node = Node::default();
        node.set_type_meta();
        node.metadata.name = self.opts.node_name.clone();
        node.metadata.labels = self.labels(&m);
        node.metadata.annotations = BTreeMap::from([("volumes.kubernetes.io/controller-managed-attach-detach".to_string(), "true".to_string())]);
        // Where the control plane's local-path provisioner puts this node's volumes.
        let local_path = self.opts.local_path_base.as_ref().map(|b| b.display().to_string());
        if let Some(b) = &local_path {
            node.metadata.annotations.insert(LOCAL_PATH_BASE_ANNOTATION.into(), b.clone());
        }
        if let Some(c) = &self.opts.pod_cidr {
            node.spec.pod_cidr = Some(c.clone());
            node.spec.pod_cidrs = vec![c.clone()];
        }
        let node = match nodes.create(&node).await {
            Ok(n) => n,
            Err(e) if e.is_conflict() => {
                let patch = match &local_path {
                    Some(b) => json!({"metadata": {"labels": self.labels(&m), "annotations": {LOCAL_PATH_BASE_ANNOTATION: b}}}),
                    None => json!({"metadata": {"labels": self.labels(&m)}}),
                };
                nodes.patch(&self.opts.node_name, &PatchParams::default(), &Patch::Merge(patch)).await?
            }
            Err(e) => return Err(e),
        };
        *lock(&self.uid) = node.metadata.uid.clone();
        self.post_status(api).await?;
        self.renew_lease(api).await
    }

    /// Waits until the control plane gave the Node a pod CIDR.
    pub async fn wait_pod_cidr(&self, api: &client::Client) -> String {
        let mut logged = false;
        loop {
            match api.api::<Node>(None).get(&self.opts.node_name).await {
                Ok(n) => {
                    if let Some(c) = n.spec.pod_cidr.filter(|c| !c.is_empty()).or_else(|| n.spec.pod_cidrs.first().cloned()) {
                        return c;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading the Node for its pod CIDR"),
            }
            if !logged {
                tracing::info!(node = %self.opts.node_name, "waiting for the control plane to allocate the node's pod CIDR");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn post_status(&self, api: &client::Client) -> Result<(), client::Error> {
        let m = machine::read_machine(&self.opts.root_dir);
        let nodes = api.api::<Node>(None);
        let old = nodes.get_opt(&self.opts.node_name).await?.and_then(|n| n.status).map(|s| s.conditions).unwrap_or_default();
        let status = self.status(&m, &old);
        nodes.patch_status(&self.opts.node_name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
        Ok(())
    }

    fn fresh_lease(&self) -> Lease {
        let uid = lock(&self.uid).clone();
        let mut l = Lease::default();
        l.set_type_meta();
        l.metadata.name = self.opts.node_name.clone();
        l.metadata.namespace = Some(NODE_LEASE_NAMESPACE.to_string());
        if !uid.is_empty() {
            l.metadata.owner_references =
                vec![OwnerReference { api_version: "v1".into(), kind: "Node".into(), name: self.opts.node_name.clone(), uid, ..Default::default() }];
        }
        l.spec.holder_identity = Some(self.opts.node_name.clone());
        l.spec.lease_duration_seconds = Some(self.opts.lease_seconds.min(i32::MAX as u64) as i32);
        l
    }

    /// Renews `kube-node-lease/<node>`, creating it when missing, as kubelet does.
    pub async fn renew_lease(&self, api: &client::Client) -> Result<(), client::Error> {
        let leases = api.api::<Lease>(Some(NODE_LEASE_NAMESPACE));
        let name = self.opts.node_name.clone();
        let mut held = self.lease.lock().await;
        let mut last = None;
        for _ in 0..3 {
            let now = now_micro_time();
            let Some(mut lease) = held.take() else {
                match leases.get_opt(&name).await? {
                    Some(l) => *held = Some(l),
                    None => {
                        let mut l = self.fresh_lease();
                        l.spec.acquire_time = Some(now.clone());
                        l.spec.renew_time = Some(now);
                        match leases.create(&l).await {
                            Ok(c) => {
                                *held = Some(c);
                                return Ok(());
                            }
                            Err(e) if e.is_conflict() => last = Some(e),
                            Err(e) => return Err(e),
                        }
                    }
                }
                continue;
            };
            if lease.spec.holder_identity.as_deref() != Some(name.as_str()) {
                lease.spec.holder_identity = Some(name.clone());
                lease.spec.acquire_time = Some(now.clone());
                lease.spec.lease_transitions = Some(lease.spec.lease_transitions.unwrap_or(0) + 1);
            }
            lease.spec.lease_duration_seconds = Some(self.opts.lease_seconds.min(i32::MAX as u64) as i32);
            lease.spec.renew_time = Some(now);
            match leases.replace(&name, &lease).await {
                Ok(u) => {
                    *held = Some(u);
                    return Ok(());
                }
                Err(e) if e.is_conflict() || e.is_not_found() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        match last {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Renews the Lease every quarter of its duration (a supervised singleton).
pub struct LeaseLoop(pub Arc<NodeAgent>, pub client::Client);

#[async_trait]
impl Loop for LeaseLoop {
    type World = NodeWorld;
    type Error = String;
    const NAME: &'static str = "node-lease";
    const MIN_INTERVAL: Duration = Duration::from_millis(200);
    fn wakers(_: &NodeWorld) -> BoxStream<'static, ()> {
        Box::pin(futures::stream::pending())
    }
    async fn run_once(&self, cx: &PodCx) -> Result<Action, String> {
        if cx.agent.is_stopped() {
            return Ok(Action::await_change());
        }
        self.0.renew_lease(&self.1).await.map_err(|e| format!("renewing the lease: {e}"))?;
        Ok(Action::requeue(self.0.opts.renew_interval()))
    }
}

/// Posts the Node status every `status_interval` (a supervised singleton).
pub struct StatusLoop(pub Arc<NodeAgent>, pub client::Client);

#[async_trait]
impl Loop for StatusLoop {
    type World = NodeWorld;
    type Error = String;
    const NAME: &'static str = "node-status";
    const MIN_INTERVAL: Duration = Duration::from_millis(200);
    fn wakers(_: &NodeWorld) -> BoxStream<'static, ()> {
        Box::pin(futures::stream::pending())
    }
    async fn run_once(&self, cx: &PodCx) -> Result<Action, String> {
        if cx.agent.is_stopped() {
            return Ok(Action::await_change());
        }
        self.0.post_status(&self.1).await.map_err(|e| format!("posting the node status: {e}"))?;
        Ok(Action::requeue(self.0.opts.status_interval))
    }
}

/// Reads every running container's usage into the node's stats, every `usage_interval`,
/// and posts the node's usage report (rates over the interval) to the control plane.
pub async fn usage_loop(agent: Arc<Agent>) {
    let mut rates = usage::Rates::default();
    let window_ms = agent.opts.usage_interval.as_millis().min(u128::from(u64::MAX)) as u64;
    loop {
        for p in agent.stats.pods() {
            let key = format!("{}/{}", p.namespace, p.name);
            for c in p.containers.iter().filter(|c| c.running) {
                if let Ok(u) = agent.runtime.usage(&c.id).await {
                    agent.stats.set_usage(&key, &c.id, u, SystemTime::now());
                }
            }
        }
        let busy = std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(usage::parse_proc_stat).map(|(busy, _)| busy);
        let (total, available) = std::fs::read_to_string("/proc/meminfo").map(|t| machine::parse_meminfo(&t)).unwrap_or((0, 0));
        let report = rates.report(&agent.opts.node_name, &agent.stats.pods(), busy, total.saturating_sub(available), std::time::Instant::now(), window_ms);
        if let Err(e) = agent.api.report_usage(&report).await {
            tracing::debug!(error = %e, "posting the node's usage failed");
        }
        tokio::time::sleep(agent.opts.usage_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocatable_is_capacity_minus_reservations() {
        let cap = BTreeMap::from([
            ("cpu".to_string(), Quantity::new("4")),
            ("memory".to_string(), Quantity::new("8Gi")),
            ("pods".to_string(), Quantity::new("110")),
        ]);
        let reserved = BTreeMap::from([("cpu".to_string(), "500m".to_string()), ("memory".to_string(), "1Gi".to_string()), ("pods".to_string(), "200".to_string())]);
        let a = allocatable(&cap, &reserved);
        assert_eq!(a["cpu"].as_str(), "3500m");
        assert_eq!(a["memory"].as_str(), (7u64 * 1024 * 1024 * 1024).to_string());
        assert_eq!(a["pods"].as_str(), "0");
        assert_eq!(allocatable(&cap, &BTreeMap::new()), cap);
    }
}
