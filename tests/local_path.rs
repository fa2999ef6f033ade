//! The local-path provisioner end to end, on simulated nodes: the control plane keeps a
//! default `local-path` StorageClass (WaitForFirstConsumer, Delete); a pod with a claim of
//! it is scheduled, the claim gets the pod's node as `selected-node`, a volume is
//! provisioned there and bound; the node side (`node_host::volumes`, against the live API)
//! makes the volume's directory below the node's base and the data outlives the pod;
//! deleting the claim deletes the volume, and the node's sweep removes the directory.

mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{wait_for, Api, Cluster};
use serde_json::{json, Value};

const PVS: &str = "/api/v1/persistentvolumes";
const PVCS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
const PODS: &str = "/api/v1/namespaces/default/pods";
const CLASSES: &str = "/apis/storage.k8s.io/v1/storageclasses";

fn get(api: &Api, path: &str) -> Value {
    match api.get(path) {
        Ok((200, v)) => v,
        other => panic!("GET {path}: {other:?}"),
    }
}

fn create(api: &Api, path: &str, body: &Value) -> Value {
    match api.post(path, body) {
        Ok((201, v)) => v,
        other => panic!("POST {path}: {other:?}"),
    }
}

fn wait_phase(api: &Api, path: &str, phase: &str) -> Value {
    wait_for(&format!("{path} to be {phase}"), Duration::from_secs(30), || {
        let (code, v) = api.get(path)?;
        match v["status"]["phase"].as_str() {
            Some(p) if code == 200 && p == phase => Ok(v),
            _ => Err(format!("{code}: {}", v["status"])),
        }
    })
}

fn events_about(api: &Api, name: &str) -> Vec<(String, String)> {
    let (_, list) = api.get("/api/v1/events").unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["involvedObject"]["name"] == name)
        .map(|e| (e["reason"].as_str().unwrap_or("").to_string(), e["message"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn wait_event(api: &Api, name: &str, reason: &str) -> String {
    wait_for(&format!("a {reason} event about {name}"), Duration::from_secs(30), || {
        let evs = events_about(api, name);
        evs.iter().find(|(r, _)| r == reason).map(|(_, m)| m.clone()).ok_or_else(|| format!("{evs:?}"))
    })
}

/// What a node reads volumes through: the typed client against the live API.
struct Live(client::Client);

fn opt<T>(r: Result<T, client::Error>) -> Result<Option<T>, client::Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait::async_trait]
impl node_host::volumes::ObjectLookup for Live {
    async fn config_map(&self, ns: &str, name: &str) -> Result<Option<api::model::ConfigMap>, client::Error> {
        opt(self.0.api(Some(ns)).get(name).await)
    }
    async fn secret(&self, ns: &str, name: &str) -> Result<Option<api::model::Secret>, client::Error> {
        opt(self.0.api(Some(ns)).get(name).await)
    }
    async fn pvc(&self, ns: &str, name: &str) -> Result<Option<api::model::PersistentVolumeClaim>, client::Error> {
        opt(self.0.api(Some(ns)).get(name).await)
    }
    async fn pv(&self, name: &str) -> Result<Option<api::model::PersistentVolume>, client::Error> {
        opt(self.0.api(None).get(name).await)
    }
    async fn services(&self, ns: &str) -> Result<Vec<api::model::Service>, client::Error> {
        Ok(self.0.api::<api::model::Service>(Some(ns)).list(&Default::default()).await?.items)
    }
}

fn pod(name: &str, claim: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}})
}

fn node_facts(node: &str, base: &Path) -> node_host::volumes::NodeFacts {
    node_host::volumes::NodeFacts { node_name: node.into(), local_path_base: Some(base.to_path_buf()), ..Default::default() }
}

#[test]
fn local_path_provisions_on_the_pods_node_and_deletes_with_the_claim() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("lp", 2);
    let api = cluster.api();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let live = Live(client::Client::new(&cluster.url).unwrap());
    let root = tempfile::tempdir().unwrap();
    let base_of = |node: &str| -> PathBuf { root.path().join(node).join("local-path") };

    // The default class, kept by the control plane.
    let class = wait_for("the default StorageClass", Duration::from_secs(30), || {
        let (code, v) = api.get(&format!("{CLASSES}/local-path"))?;
        if code == 200 { Ok(v) } else { Err(format!("{code}")) }
    });
    assert_eq!(class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"], "true");
    assert_eq!(class["provisioner"], "shoal.io/local-path");
    assert_eq!(class["volumeBindingMode"], "WaitForFirstConsumer");
    assert_eq!(class["reclaimPolicy"], "Delete");

    // Each node says where its local-path volumes live.
    for node in ["lp-0", "lp-1"] {
        wait_for(&format!("node {node}"), Duration::from_secs(30), || match api.get(&format!("/api/v1/nodes/{node}"))?.0 {
            200 => Ok(()),
            c => Err(format!("{c}")),
        });
        let patch = json!({"metadata": {"annotations": {"local-path.shoal.io/base-dir": base_of(node).to_string_lossy()}}});
        let (code, body) = api.send("PATCH", &format!("/api/v1/nodes/{node}"), "application/merge-patch+json", patch.to_string().as_bytes()).unwrap();
        assert_eq!(code, 200, "{body}");
    }

    // A claim naming no class gets the default one and waits for its consumer.
    let claim = create(&api, PVCS, &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}));
    assert_eq!(claim["spec"]["storageClassName"], "local-path");
    let uid = claim["metadata"]["uid"].as_str().unwrap().to_string();
    wait_event(&api, "data", "WaitForFirstConsumer");
    assert_eq!(api.get(PVS).unwrap().1["items"].as_array().map(Vec::len), Some(0), "nothing provisioned before a consumer");

    create(&api, PODS, &pod("writer", "data"));
    let node = wait_for("the writer to be scheduled", Duration::from_secs(30), || {
        let (_, p) = api.get(&format!("{PODS}/writer"))?;
        p["spec"]["nodeName"].as_str().map(str::to_string).ok_or_else(|| p["status"].to_string())
    });
    let pvc = wait_phase(&api, &format!("{PVCS}/data"), "Bound");
    let pv_name = format!("pvc-{uid}");
    assert_eq!(pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"], node.as_str());
    assert_eq!(pvc["spec"]["volumeName"], pv_name.as_str());
    assert_eq!(pvc["status"]["capacity"]["storage"], "2Gi");
    let pv = wait_phase(&api, &format!("{PVS}/{pv_name}"), "Bound");
    let base = base_of(&node);
    assert_eq!(pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"], "shoal.io/local-path");
    assert_eq!(pv["spec"]["local"]["path"], base.join(&pv_name).to_string_lossy().as_ref());
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
    assert_eq!(pv["spec"]["storageClassName"], "local-path");
    assert_eq!(pv["spec"]["capacity"]["storage"], "2Gi");
    assert_eq!(pv["spec"]["claimRef"]["uid"], uid.as_str());
    let affinity = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0].to_string();
    assert!(affinity.contains(&format!("\"{node}\"")), "the volume is pinned to the pod's node: {affinity}");
    let msg = wait_event(&api, "data", "ProvisioningSucceeded");
    assert_eq!(msg, format!("Successfully provisioned volume {pv_name}"));

    // The node side: the pod's volume is the provisioned directory, made on first use.
    let writer: api::model::Pod = serde_json::from_value(get(&api, &format!("{PODS}/writer"))).unwrap();
    let facts = node_facts(&node, &base);
    let pod_dir = root.path().join("pods/writer");
    let vols = rt.block_on(node_host::volumes::prepare(&writer, &pod_dir, &facts, &live)).unwrap();
    assert_eq!(vols.volumes["data"].0, base.join(&pv_name));
    assert_eq!(vols.claims["data"], pv_name);
    std::fs::write(base.join(&pv_name).join("kept"), b"survives the pod").unwrap();
    node_host::volumes::release(&pod_dir).unwrap();
    assert_eq!(api.delete(&format!("{PODS}/writer")).unwrap().0, 200);
    wait_for("the writer to be gone", Duration::from_secs(30), || match api.get(&format!("{PODS}/writer"))?.0 {
        404 => Ok(()),
        c => Err(format!("{c}")),
    });
    assert_eq!(std::fs::read(base.join(&pv_name).join("kept")).unwrap(), b"survives the pod");

    // Another pod of the claim sees the same data.
    create(&api, PODS, &pod("reader", "data"));
    wait_for("the reader to be scheduled", Duration::from_secs(30), || {
        let (_, p) = api.get(&format!("{PODS}/reader"))?;
        p["spec"]["nodeName"].as_str().map(str::to_string).ok_or_else(|| p["status"].to_string())
    });
    let reader: api::model::Pod = serde_json::from_value(get(&api, &format!("{PODS}/reader"))).unwrap();
    assert_eq!(reader.spec.node_name.as_deref(), Some(node.as_str()), "a pod of a local volume lands on its node");
    let pod_dir = root.path().join("pods/reader");
    let vols = rt.block_on(node_host::volumes::prepare(&reader, &pod_dir, &facts, &live)).unwrap();
    assert_eq!(std::fs::read(vols.volumes["data"].0.join("kept")).unwrap(), b"survives the pod");
    node_host::volumes::release(&pod_dir).unwrap();
    assert_eq!(api.delete(&format!("{PODS}/reader")).unwrap().0, 200);

    // Deleting the claim deletes the volume (reclaim Delete), and the node removes the data.
    assert_eq!(api.delete(&format!("{PVCS}/data")).unwrap().0, 200);
    wait_for("the volume to be deleted", Duration::from_secs(30), || match api.get(&format!("{PVS}/{pv_name}"))?.0 {
        404 => Ok(()),
        c => Err(format!("still there ({c})")),
    });
    let removed = rt.block_on(node_host::volumes::sweep_local_path(&base, &Default::default(), &live)).unwrap();
    assert_eq!(removed, [pv_name.clone()]);
    assert!(!base.join(&pv_name).exists());
}
