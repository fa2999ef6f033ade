//! Pods on simulated nodes: one watch of all pods, a pool of workers that report pods
//! bound here as Running and delete those being deleted.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use api::model::Pod;
use serde_json::{json, Value};

use super::node::SimNode;
use super::{ApiClient, SimError};

enum Job {
    /// Created or changed pod bound to node `usize`.
    Apply(usize, Box<Pod>),
    /// Deleted pod that was bound to node `usize`.
    Gone(usize, String),
}

use api::time::now_rfc3339;

/// Starts the watcher thread and `workers` worker threads; they stop with `stop`.
pub fn start(api: ApiClient, nodes: Arc<Vec<SimNode>>, workers: usize, stop: Arc<AtomicBool>) -> Result<(), SimError> {
    let mut senders = Vec::with_capacity(workers);
    for i in 0..workers {
        let (tx, rx) = mpsc::channel::<Job>();
        senders.push(tx);
        let (api, nodes) = (api.clone(), nodes.clone());
        let name = format!("sim-pods-{i}");
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || Worker { api, nodes, running: HashSet::new(), deleting: HashSet::new() }.run(rx))
            .map_err(|source| SimError::Spawn { name, source })?;
    }
    let name = "sim-pod-watch".to_string();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || watch_loop(api, nodes, senders, stop))
        .map_err(|source| SimError::Spawn { name, source })?;
    Ok(())
}

/// List, then watch from the list's revision; resume after a dropped stream, relist
/// after an ERROR event (410 past compaction) or a failure to resume.
fn watch_loop(api: ApiClient, nodes: Arc<Vec<SimNode>>, workers: Vec<mpsc::Sender<Job>>, stop: Arc<AtomicBool>) {
    let index: HashMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
    let route = |pod: &Pod| -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        pod.metadata.uid.hash(&mut h);
        (h.finish() % workers.len() as u64) as usize
    };
    let dispatch = |ty: &str, pod: Pod| {
        let Some(&node) = pod.spec.node_name.as_ref().and_then(|n| index.get(n)) else { return };
        let w = route(&pod);
        let job = if ty == "DELETED" { Job::Gone(node, pod.metadata.uid.clone()) } else { Job::Apply(node, Box::new(pod)) };
        let _ = workers[w].send(job);
    };
    let mut rv: Option<String> = None;
    let mut backoff = Duration::from_millis(200);
    while !stop.load(Ordering::Relaxed) {
        let from = match rv.clone() {
            Some(rv) => rv,
            None => match relist(&api, &nodes, &dispatch) {
                Ok(rv) => rv,
                Err(e) => {
                    tracing::warn!(error = %e, "listing pods failed");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        rv = Some(from.clone());
        let path = format!("/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion={from}");
        let mut expired = false;
        let res = api.watch(&path, |ev| {
            let ty = ev["type"].as_str().unwrap_or_default().to_string();
            if ty == "ERROR" {
                expired = true;
                return false;
            }
            if let Some(v) = ev["object"]["metadata"]["resourceVersion"].as_str() {
                rv = Some(v.to_string());
            }
            if ty != "BOOKMARK" {
                if let Ok(pod) = serde_json::from_value::<Pod>(ev["object"].clone()) {
                    dispatch(&ty, pod);
                }
            }
            !stop.load(Ordering::Relaxed)
        });
        match res {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => {
                tracing::warn!(error = %e, "pod watch failed; resuming");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                // A resume that cannot even start is retried from a fresh list.
                if matches!(e, SimError::Status { .. }) {
                    expired = true;
                }
            }
        }
        if expired {
            rv = None;
        }
    }
}

/// Lists every pod, hands ours to the workers, frees IPs of pods that vanished, and
/// returns the list's resourceVersion.
fn relist(api: &ApiClient, nodes: &[SimNode], dispatch: &impl Fn(&str, Pod)) -> Result<String, SimError> {
    let (status, list) = api.get("/api/v1/pods")?;
    if status != 200 {
        return Err(SimError::Status { what: "listing pods".into(), status, body: list.to_string() });
    }
    let items: Vec<Pod> = list["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect())
        .unwrap_or_default();
    let live: HashSet<String> = items.iter().map(|p| p.metadata.uid.clone()).collect();
    for n in nodes {
        n.pool.lock().unwrap_or_else(|p| p.into_inner()).retain(&live);
    }
    for p in items {
        dispatch("ADDED", p);
    }
    Ok(list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string())
}

struct Worker {
    api: ApiClient,
    nodes: Arc<Vec<SimNode>>,
    /// Uids this worker has reported Running.
    running: HashSet<String>,
    /// Uids this worker has sent a DELETE for.
    deleting: HashSet<String>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(job) = rx.recv() {
            match job {
                Job::Apply(node, pod) => self.apply(node, &pod),
                Job::Gone(node, uid) => {
                    self.running.remove(&uid);
                    self.deleting.remove(&uid);
                    self.nodes[node].pool.lock().unwrap_or_else(|p| p.into_inner()).release(&uid);
                }
            }
        }
    }

    fn pod_path(pod: &Pod) -> String {
        format!("/api/v1/namespaces/{}/pods/{}", pod.metadata.namespace.as_deref().unwrap_or("default"), pod.metadata.name)
    }

    fn apply(&mut self, node: usize, pod: &Pod) {
        let uid = pod.metadata.uid.clone();
        let n = &self.nodes[node];
        if pod.metadata.is_deleting() {
            if self.deleting.insert(uid.clone()) {
                n.pool.lock().unwrap_or_else(|p| p.into_inner()).release(&uid);
                let path = format!("{}?gracePeriodSeconds=0", Self::pod_path(pod));
                match self.api.delete(&path) {
                    Ok((200 | 202 | 404, _)) => {}
                    Ok((status, body)) => tracing::warn!(pod = %path, status, %body, "deleting pod failed"),
                    Err(e) => tracing::warn!(pod = %path, error = %e, "deleting pod failed"),
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
                return;
            }
        }
        let pod_ip = if pod.spec.host_network == Some(true) {
            Some(n.ip)
        } else {
            n.pool.lock().unwrap_or_else(|p| p.into_inner()).assign(&uid)
        };
        let Some(pod_ip) = pod_ip else {
            tracing::warn!(node = %n.name, pod = %Self::pod_path(pod), "no free pod IP on the simulated node");
            return;
        };
        let patch = running_status(pod, &n.ip.to_string(), &pod_ip.to_string(), &now_rfc3339());
        let path = format!("{}/status", Self::pod_path(pod));
        for attempt in 0..3 {
            match self.api.merge_patch(&path, &patch) {
                Ok((200, _)) => {
                    self.running.insert(uid);
                    return;
                }
                Ok((404, _)) => return,
                Ok((status, body)) => tracing::warn!(pod = %path, status, %body, attempt, "reporting pod running failed"),
                Err(e) => tracing::warn!(pod = %path, error = %e, attempt, "reporting pod running failed"),
            }
            std::thread::sleep(Duration::from_millis(100 << attempt));
        }
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

/// The merge patch that reports a pod as started and ready on this node.
pub fn running_status(pod: &Pod, host_ip: &str, pod_ip: &str, now: &str) -> Value {
    let uid = &pod.metadata.uid;
    let cond = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
    let image = |c: &api::model::Container| c.image.clone().unwrap_or_default();
    let init: Vec<Value> = pod
        .spec
        .init_containers
        .iter()
        .map(|c| {
            json!({"name": c.name, "ready": true, "started": false, "restartCount": 0, "image": image(c),
                   "imageID": format!("sim://{}", image(c)), "containerID": format!("sim://{uid}/{}", c.name),
                   "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now,
                                            "containerID": format!("sim://{uid}/{}", c.name)}}})
        })
        .collect();
    let containers: Vec<Value> = pod
        .spec
        .containers
        .iter()
        .map(|c| {
            json!({"name": c.name, "ready": true, "started": true, "restartCount": 0, "image": image(c),
                   "imageID": format!("sim://{}", image(c)), "containerID": format!("sim://{uid}/{}", c.name),
                   "state": {"running": {"startedAt": now}}})
        })
        .collect();
    let mut status = json!({
        "phase": "Running",
        "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
        "hostIP": host_ip,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "containerStatuses": containers,
        "qosClass": qos_class(pod),
    });
    if !init.is_empty() {
        status["initContainerStatuses"] = Value::Array(init);
    }
    json!({"status": status})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn running_status_reports_every_container_ready() {
        let p = pod(json!({"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
                           "spec": {"initContainers": [{"name": "init", "image": "busybox"}],
                                    "containers": [{"name": "web", "image": "hello:v1"}]}}));
        let s = running_status(&p, "127.0.0.1", "10.244.0.5", "2026-01-01T00:00:00Z");
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
        // The patch decodes as a pod status.
        let back: api::model::PodStatus = serde_json::from_value(st.clone()).unwrap();
        assert_eq!(back.container_statuses[0].started, Some(true));
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
