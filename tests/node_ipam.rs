//! Node pod CIDRs (the control plane's node IPAM): every Node gets a distinct subnet of
//! `--cluster-cidr`, keeps it across a restart of the server, frees it when deleted, and
//! a node that finds the range full gets a `CIDRNotAvailable` event.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{wait_for, Api, Backend, Cluster};
use serde_json::{json, Value};

fn create_node(api: &Api, name: &str) {
    let (code, body) = api.post("/api/v1/nodes", &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})).unwrap();
    assert_eq!(code, 201, "{body}");
}

/// podCIDR by node name, for the nodes whose name starts with `prefix`.
fn cidrs(api: &Api, prefix: &str) -> BTreeMap<String, Option<String>> {
    let (_, list) = api.get("/api/v1/nodes").unwrap();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            let name = n["metadata"]["name"].as_str()?.to_string();
            name.starts_with(prefix).then(|| {
                let spec = &n["spec"];
                if let Some(c) = spec["podCIDR"].as_str() {
                    assert_eq!(spec["podCIDRs"], json!([c]), "podCIDRs of {name}");
                }
                (name, spec["podCIDR"].as_str().map(str::to_string))
            })
        })
        .collect()
}

fn wait_all_assigned(api: &Api, prefix: &str, count: usize) -> BTreeMap<String, String> {
    wait_for("every node to have a pod CIDR", Duration::from_secs(20), || {
        let got = cidrs(api, prefix);
        let done: BTreeMap<String, String> = got.iter().filter_map(|(n, c)| Some((n.clone(), c.clone()?))).collect();
        if done.len() == count { Ok(done) } else { Err(format!("{got:?}")) }
    })
}

fn events_for(api: &Api, node: &str) -> Vec<Value> {
    let (_, list) = api.get("/api/v1/events").unwrap();
    list["items"].as_array().cloned().unwrap_or_default().into_iter().filter(|e| e["involvedObject"]["name"] == node).collect()
}

#[test]
fn nodes_get_distinct_pod_cidrs_that_survive_a_restart_and_are_freed_on_delete() {
    // Four /24s in the range: a fifth node finds it full.
    let mut cluster = Cluster::with_args(Backend::Embedded, &["--cluster-cidr", "10.250.0.0/22", "--node-cidr-mask-size", "24"]);
    let api = cluster.api();
    for i in 0..4 {
        create_node(&api, &format!("ipam-{i}"));
    }
    let first = wait_all_assigned(&api, "ipam-", 4);
    let mut distinct: Vec<&String> = first.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, ["10.250.0.0/24", "10.250.1.0/24", "10.250.2.0/24", "10.250.3.0/24"], "{first:?}");

    create_node(&api, "ipam-4");
    wait_for("a CIDRNotAvailable event for the fifth node", Duration::from_secs(20), || {
        let evs = events_for(&api, "ipam-4");
        evs.iter()
            .find(|e| e["reason"] == "CIDRNotAvailable")
            .map(|e| {
                assert_eq!(e["message"], "Node ipam-4 status is now: CIDRNotAvailable");
                assert_eq!(e["source"]["component"], "cidrAllocator");
            })
            .ok_or_else(|| format!("{evs:?}"))
    });
    assert_eq!(cidrs(&api, "ipam-4").get("ipam-4"), Some(&None));

    cluster.restart_server();
    let api = cluster.api();
    let after = cidrs(&api, "ipam-");
    for (name, cidr) in &first {
        assert_eq!(after.get(name), Some(&Some(cidr.clone())), "{name} after the restart: {after:?}");
    }
    assert_eq!(after.get("ipam-4"), Some(&None), "the restart must not hand out a taken range");

    // Deleting a node frees its range for the one waiting.
    let freed = first["ipam-2"].clone();
    let (code, body) = api.delete("/api/v1/nodes/ipam-2").unwrap();
    assert_eq!(code, 200, "{body}");
    let last = wait_for("the waiting node to get the freed range", Duration::from_secs(20), || {
        match cidrs(&api, "ipam-4").remove("ipam-4").flatten() {
            Some(c) => Ok(c),
            None => Err("ipam-4 has none".to_string()),
        }
    });
    assert_eq!(last, freed);
}

#[test]
fn simulated_nodes_registering_at_once_each_get_a_pod_cidr() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("many", 100);
    let api = cluster.api();
    let got = wait_all_assigned(&api, "many-", 100);
    let mut distinct: Vec<&String> = got.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 100, "{got:?}");
    assert!(got.values().all(|c| c.starts_with("10.244.") && c.ends_with(".0/24")), "{got:?}");
}
