//! Pods on simulated nodes: one watcher per node (`fieldSelector=spec.nodeName=<node>`)
//! feeding a cache, and a pool of workers that report the node's pods Running and finish
//! the deletion of those being deleted (a DELETE with grace 0 and the pod's uid as
//! precondition, as a kubelet sends once the containers have stopped). Pods that run to
//! completion (restartPolicy Never/OnFailure) then end as `completion` says.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use api::model::{
    Condition, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Pod, PodIp, PodStatus,
};
use client::{Cache, Change, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::completion::{self, Completion, RunEnd};
use super::node::{SimNode, StatusPatch};

use api::time::now_rfc3339;

enum Job {
    /// Created or changed pod bound to node `usize`.
    Apply(usize, Arc<Pod>),
    /// Deleted pod that was bound to node `usize`.
    Gone(usize, String),
}

/// Changes one node's cache may hold for its dispatcher before it resynchronises.
const CHANGES_PER_NODE: usize = 1024;

/// Starts a watcher and a dispatcher per node and `workers` workers on the current
/// runtime; abort the handles to stop them.
/// Also returns each node's pod cache (the usage reports read it).
pub fn start(api: &client::Client, nodes: Arc<Vec<SimNode>>, workers: usize) -> (Vec<JoinHandle<()>>, Arc<Vec<Cache<Pod>>>) {
    let mut tasks = Vec::new();
    let mut caches = Vec::with_capacity(nodes.len());
    for n in nodes.iter() {
        let lp = ListParams::default().fields(&format!("spec.nodeName={}", n.name));
        let (cache, watcher) = client::watcher::start(api.api::<Pod>(None), lp, CHANGES_PER_NODE);
        tasks.push(watcher);
        caches.push(cache);
    }
    let caches = Arc::new(caches);
    let mut senders = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        senders.push(tx);
        let worker = Worker {
            api: api.clone(),
            nodes: nodes.clone(),
            caches: caches.clone(),
            running: Default::default(),
            deleting: Default::default(),
            runs: tokio::task::JoinSet::new(),
        };
        tasks.push(tokio::spawn(worker.run(rx)));
    }
    let senders = Arc::new(senders);
    for (i, cache) in caches.iter().enumerate() {
        tasks.push(tokio::spawn(dispatch(i, cache.clone(), nodes.clone(), senders.clone())));
    }
    (tasks, caches)
}

/// The worker of a pod: one per uid, so that one pod's jobs stay in order.
fn route(uid: &str, workers: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    uid.hash(&mut h);
    (h.finish() % workers as u64) as usize
}

/// Hands node `node`'s pod changes to the workers; after a relist (or falling behind) it
/// hands over every cached pod and frees the IPs of pods that vanished.
async fn dispatch(node: usize, cache: Cache<Pod>, nodes: Arc<Vec<SimNode>>, workers: Arc<Vec<mpsc::UnboundedSender<Job>>>) {
    let send = |uid: &str, job: Job| {
        let _ = workers[route(uid, workers.len())].send(job);
    };
    let resync = || {
        let pods = cache.list(None);
        let live = pods.iter().map(|p| p.metadata.uid.clone()).collect();
        nodes[node].pool.lock().unwrap_or_else(|p| p.into_inner()).retain(&live);
        for p in pods {
            send(&p.metadata.uid.clone(), Job::Apply(node, p));
        }
    };
    let mut changes = cache.subscribe();
    // The watcher may have listed before this subscription.
    resync();
    loop {
        match changes.recv().await {
            Ok(Change::Applied { new, .. }) => send(&new.metadata.uid.clone(), Job::Apply(node, new)),
            Ok(Change::Deleted(old)) => send(&old.metadata.uid, Job::Gone(node, old.metadata.uid.clone())),
            Ok(Change::Resynced) | Err(broadcast::error::RecvError::Lagged(_)) => resync(),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

struct Worker {
    api: client::Client,
    nodes: Arc<Vec<SimNode>>,
    /// Uids this worker has reported Running.
    running: std::collections::HashSet<String>,
    /// Uids this worker has sent a DELETE for.
    deleting: std::collections::HashSet<String>,
    /// Each node's pod cache (a run reads the pod's latest annotations when it ends).
    caches: Arc<Vec<Cache<Pod>>>,
    /// The runs of pods that run to completion (aborted with the worker).
    runs: tokio::task::JoinSet<()>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = rx.recv().await {
            while self.runs.try_join_next().is_some() {}
            match job {
                Job::Apply(node, pod) => self.apply(node, &pod).await,
                Job::Gone(node, uid) => {
                    self.running.remove(&uid);
                    self.deleting.remove(&uid);
                    self.nodes[node].pool.lock().unwrap_or_else(|p| p.into_inner()).release(&uid);
                }
            }
        }
    }

    fn pods(&self, pod: &Pod) -> client::Api<Pod> {
        self.api.api::<Pod>(Some(pod.metadata.namespace.as_deref().unwrap_or("default")))
    }

    async fn apply(&mut self, node: usize, pod: &Pod) {
        let uid = pod.metadata.uid.clone();
        let n = &self.nodes[node];
        let name = &pod.metadata.name;
        if pod.metadata.is_deleting() {
            if self.deleting.insert(uid.clone()) {
                n.pool.lock().unwrap_or_else(|p| p.into_inner()).release(&uid);
                // Finalizers keep the pod after the DELETE: report how its containers
                // ended first, as a kubelet does before it lets go of a pod.
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                if !pod.metadata.finalizers.is_empty() && !matches!(phase, Some("Succeeded" | "Failed")) {
                    let st = completion::killed(pod, &now_rfc3339());
                    if let Err(e) = self.pods(pod).patch_status(name, &PatchParams::default(), &Patch::Merge(StatusPatch { status: &st })).await {
                        if !e.is_not_found() {
                            self.deleting.remove(&uid);
                            tracing::warn!(pod = %name, error = %e, "reporting a deleted pod failed");
                            return;
                        }
                    }
                }
                // A simulated node has nothing to stop: it ends the grace at once, for this
                // pod only (a new pod of the same name is not ours to delete).
                let pre = Preconditions { uid: Some(uid.clone()), resource_version: None };
                let dp = DeleteParams { preconditions: Some(pre), ..DeleteParams::now() };
                match self.pods(pod).delete(name, &dp).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => {
                        // Tried again on the pod's next change (or resync).
                        self.deleting.remove(&uid);
                        tracing::warn!(pod = %name, error = %e, "deleting pod failed");
                    }
                }
            }
            return;
        }
        let st = pod.status.as_ref();
        let phase = st.and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) || self.running.contains(&uid) {
            return;
        }
        if phase == Some("Running") {
            if let Some(ip) = st.and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse().ok()) {
                // Already running (reported before this simulator started): keep its IP.
                n.pool.lock().unwrap_or_else(|p| p.into_inner()).reserve(&uid, ip);
                self.running.insert(uid);
                self.start_run(node, pod);
                return;
            }
        }
        let pod_ip = if pod.spec.host_network == Some(true) {
            Some(n.ip)
        } else {
            n.pool.lock().unwrap_or_else(|p| p.into_inner()).assign(&uid)
        };
        let Some(pod_ip) = pod_ip else {
            tracing::warn!(node = %n.name, pod = %name, "no free pod IP on the simulated node");
            return;
        };
        let status = running_status(pod, &n.ip.to_string(), &pod_ip.to_string(), &now_rfc3339());
        let patch = Patch::Merge(StatusPatch { status: &status });
        let pods = self.pods(pod);
        for attempt in 0..3 {
            match pods.patch_status(name, &PatchParams::default(), &patch).await {
                Ok(_) => {
                    self.running.insert(uid);
                    self.start_run(node, pod);
                    return;
                }
                Err(e) if e.is_not_found() => return,
                Err(e) => tracing::warn!(pod = %name, error = %e, attempt, "reporting pod running failed"),
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
    }
}

impl Worker {
    /// Starts the run of a pod that runs to completion (none for `Always` pods).
    fn start_run(&mut self, node: usize, pod: &Pod) {
        let Some(how) = completion::completion_of(pod) else { return };
        let run = Run {
            api: self.pods(pod),
            cache: self.caches[node].clone(),
            ns: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            how,
        };
        self.runs.spawn(run.go(completion::run_time(pod)));
    }
}

/// One pod's runs until it ends (or goes away).
struct Run {
    api: client::Api<Pod>,
    cache: Cache<Pod>,
    ns: Option<String>,
    name: String,
    uid: String,
    how: Completion,
}

impl Run {
    async fn go(self, mut wait: Duration) {
        loop {
            tokio::time::sleep(wait).await;
            let Some(pod) = self.cache.get(self.ns.as_deref(), &self.name).filter(|p| p.metadata.uid == self.uid) else { return };
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if pod.metadata.is_deleting() || matches!(phase, Some("Succeeded" | "Failed")) {
                return;
            }
            match completion::end_of_run(&pod, self.how, &now_rfc3339()) {
                RunEnd::Finished(st) => {
                    self.report(&st).await;
                    return;
                }
                RunEnd::Restart(delay, st) => {
                    tokio::time::sleep(delay).await;
                    if !self.report(&completion::restarted(st, &now_rfc3339())).await {
                        return;
                    }
                    wait = completion::run_time(&pod);
                }
            }
        }
    }

    /// Writes the status (a few attempts); false when the pod is gone.
    async fn report(&self, st: &PodStatus) -> bool {
        for attempt in 0..5u32 {
            match self.api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(StatusPatch { status: st })).await {
                Ok(_) => return true,
                Err(e) if e.is_not_found() => return false,
                Err(e) => tracing::warn!(pod = %self.name, error = %e, attempt, "reporting the end of a run failed"),
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        false
    }
}

/// Kubernetes' QoS class from the containers' requests and limits.
pub fn qos_class(pod: &Pod) -> &'static str {
    let all: Vec<_> = pod.spec.all_containers().collect();
    let res = |c: &api::model::Container| c.resources.clone().unwrap_or_default();
    if all.iter().all(|c| {
        let r = res(c);
        r.requests.is_empty() && r.limits.is_empty()
    }) {
        return "BestEffort";
    }
    let guaranteed = all.iter().all(|c| {
        let r = res(c);
        ["cpu", "memory"].iter().all(|k| {
            let limit = r.limits.get(*k).and_then(|q| q.parsed().ok());
            let request = r.requests.get(*k).and_then(|q| q.parsed().ok()).or(limit);
            limit.is_some() && request == limit
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The status that reports a pod as started and ready on this node.
pub fn running_status(pod: &Pod, host_ip: &str, pod_ip: &str, now: &str) -> PodStatus {
    let uid = &pod.metadata.uid;
    let cond = |t: &str| Condition {
        type_: t.into(),
        status: "True".into(),
        last_transition_time: Some(now.into()),
        ..Default::default()
    };
    let container = |c: &api::model::Container, state: ContainerState, started: bool| {
        let image = c.image.clone().unwrap_or_default();
        ContainerStatus {
            name: c.name.clone(),
            state: Some(state),
            ready: true,
            started: Some(started),
            restart_count: 0,
            image_id: format!("sim://{image}"),
            image,
            container_id: Some(format!("sim://{uid}/{}", c.name)),
            ..Default::default()
        }
    };
    let init = pod
        .spec
        .init_containers
        .iter()
        .map(|c| {
            let done = ContainerStateTerminated {
                exit_code: 0,
                reason: Some("Completed".into()),
                started_at: Some(now.into()),
                finished_at: Some(now.into()),
                container_id: Some(format!("sim://{uid}/{}", c.name)),
                ..Default::default()
            };
            container(c, ContainerState { terminated: Some(done), ..Default::default() }, false)
        })
        .collect();
    let containers = pod
        .spec
        .containers
        .iter()
        .map(|c| {
            let running = ContainerStateRunning { started_at: Some(now.into()) };
            container(c, ContainerState { running: Some(running), ..Default::default() }, true)
        })
        .collect();
    PodStatus {
        phase: Some("Running".into()),
        conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].map(cond).into(),
        host_ip: Some(host_ip.into()),
        pod_ip: Some(pod_ip.into()),
        pod_ips: vec![PodIp { ip: pod_ip.into() }],
        start_time: Some(now.into()),
        init_container_statuses: init,
        container_statuses: containers,
        qos_class: Some(qos_class(pod).into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn running_status_reports_every_container_ready() {
        let p = pod(json!({"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
                           "spec": {"initContainers": [{"name": "init", "image": "busybox"}],
                                    "containers": [{"name": "web", "image": "hello:v1"}]}}));
        let status = running_status(&p, "127.0.0.1", "10.244.0.5", "2026-01-01T00:00:00Z");
        let s = serde_json::to_value(StatusPatch { status: &status }).unwrap();
        let st = &s["status"];
        assert_eq!(st["phase"], "Running");
        assert_eq!(st["podIP"], "10.244.0.5");
        assert_eq!(st["hostIP"], "127.0.0.1");
        assert_eq!(st["containerStatuses"][0]["state"]["running"]["startedAt"], "2026-01-01T00:00:00Z");
        assert_eq!(st["containerStatuses"][0]["ready"], true);
        assert_eq!(st["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
        let types: Vec<_> = st["conditions"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
        for t in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert!(types.contains(&t), "{t}");
        }
        assert_eq!(status.container_statuses[0].started, Some(true));
        assert_eq!(status.init_container_statuses[0].started, Some(false));
    }

    #[test]
    fn qos_classes() {
        let with = |res: Value| pod(json!({"spec": {"containers": [{"name": "c", "resources": res}]}}));
        assert_eq!(qos_class(&with(json!({}))), "BestEffort");
        assert_eq!(qos_class(&with(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))), "Guaranteed");
        assert_eq!(qos_class(&with(json!({"requests": {"cpu": "1000m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}))), "Guaranteed");
        assert_eq!(qos_class(&with(json!({"requests": {"cpu": "500m"}}))), "Burstable");
    }
}
