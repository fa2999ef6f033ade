//! Node IPAM (upstream's nodeipam range allocator): every Node without `spec.podCIDR`
//! gets a free subnet of the cluster CIDR (`--cluster-cidr`, a `/--node-cidr-mask-size`
//! each) in `spec.podCIDR` and `spec.podCIDRs`.
//!
//! No allocation state of its own is stored: a node keeps its subnet because the subnet
//! is in its spec, and every pass rebuilds the bitmap from the cached Nodes, so a restart
//! of the control plane (or of this loop) hands out nothing twice, and a subnet is free
//! again exactly when its Node is gone. When the range is full the node gets upstream's
//! `CIDRNotAvailable` event and waits for a Node to go away.

pub mod cidr_set;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;

use api::model::Node;

use crate::allocator::Cidr;
use crate::controller::{changes_of, Action, Caches, Cx, ReconcileError, Singleton};
use crate::registry::{RegistryError, UpdateScope};
pub use cidr_set::{CidrSet, CidrSetError};

/// The default cluster pod CIDR (also the default of `--cluster-cidr`).
pub const DEFAULT_CLUSTER_CIDR: &str = "10.244.0.0/16";
/// The default size of each node's subnet (also the default of `--node-cidr-mask-size`).
pub const DEFAULT_NODE_CIDR_MASK: u8 = 24;
/// Upstream's reason for a node that found the range full.
pub const REASON_CIDR_NOT_AVAILABLE: &str = "CIDRNotAvailable";
/// Upstream's reason when writing the node's CIDR failed.
pub const REASON_CIDR_ASSIGNMENT_FAILED: &str = "CIDRAssignmentFailed";

const CONCURRENT_WRITES: usize = 32;
/// The event source upstream's range allocator records as.
pub const COMPONENT: &str = "cidrAllocator";

/// Where node pod CIDRs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeIpamConfig {
    pub cluster_cidr: Cidr,
    pub node_mask: u8,
}

impl NodeIpamConfig {
    /// Parses and checks `--cluster-cidr` and `--node-cidr-mask-size`.
    pub fn new(cluster_cidr: &str, node_mask: u8) -> Result<Self, String> {
        let cluster_cidr = Cidr::parse(cluster_cidr)?;
        CidrSet::new(cluster_cidr, node_mask).map_err(|e| e.to_string())?;
        Ok(NodeIpamConfig { cluster_cidr, node_mask })
    }
}

impl Default for NodeIpamConfig {
    fn default() -> Self {
        NodeIpamConfig::new(DEFAULT_CLUSTER_CIDR, DEFAULT_NODE_CIDR_MASK).expect("default cluster CIDR")
    }
}

/// The singleton. It remembers the subnets it wrote until the cache shows them (so that
/// a pass running before the cache caught up does not hand one out again) and the nodes
/// it already told that the range is full.
#[derive(Debug, Default)]
pub struct NodeIpam {
    written: Mutex<HashMap<String, (String, Cidr)>>,
    warned: Mutex<HashSet<String>>,
}

/// A node's CIDR as its spec holds it (`podCIDRs[0]`, else `podCIDR`).
pub fn node_cidr(node: &Node) -> Option<Cidr> {
    let s = node.spec.pod_cidrs.first().map(String::as_str).or(node.spec.pod_cidr.as_deref())?;
    Cidr::parse(s).ok().or_else(|| {
        // Cidr::parse refuses /31 and /32; a node may still hold one.
        let (ip, bits) = s.split_once('/')?;
        Cidr::new(ip.parse().ok()?, bits.parse().ok()?)
    })
}

fn has_cidr(node: &Node) -> bool {
    node.spec.pod_cidr.as_deref().is_some_and(|c| !c.is_empty()) || !node.spec.pod_cidrs.is_empty()
}

/// What one pass decides: which nodes get which subnet, and which find the range full.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub assign: Vec<(String, Cidr)>,
    pub full: Vec<String>,
}

/// Pure: the subnets taken by `nodes` (and by `in_flight`, writes not yet seen), and a
/// subnet for every node without one, in name order.
pub fn plan<'a>(set: &mut CidrSet, nodes: impl IntoIterator<Item = &'a Node>, in_flight: &HashMap<String, (String, Cidr)>) -> Plan {
    let mut nodes: Vec<&Node> = nodes.into_iter().collect();
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut wanting = Vec::new();
    for n in &nodes {
        if has_cidr(n) {
            if let Some(c) = node_cidr(n) {
                set.occupy(c);
            }
        } else if let Some((_, c)) = in_flight.get(&n.metadata.name).filter(|(uid, _)| *uid == n.metadata.uid) {
            set.occupy(*c);
        } else if !n.metadata.is_deleting() {
            wanting.push(n.metadata.name.clone());
        }
    }
    let mut out = Plan::default();
    for name in wanting {
        match set.allocate_next() {
            Ok(c) => out.assign.push((name, c)),
            Err(_) => out.full.push(name),
        }
    }
    out
}

impl NodeIpam {
    /// Forgets in-flight writes the cache now shows (or whose node is gone).
    fn settle(&self, cx: &Cx) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|name, (uid, _)| cx.caches().nodes.get(None, name).is_some_and(|n| n.metadata.uid == *uid && !has_cidr(&n)));
    }

    async fn assign(&self, cx: &Cx, name: &str, uid: &str, cidr: Cidr) -> Result<(), ReconcileError> {
        let text = cidr.to_string();
        let res = cx
            .modify::<Node>(None, name, UpdateScope::Main, |n| {
                if has_cidr(n) || n.metadata.uid != uid {
                    return false;
                }
                n.spec.pod_cidr = Some(text.clone());
                n.spec.pod_cidrs = vec![text.clone()];
                true
            })
            .await;
        match res {
            Ok(n) => {
                if node_cidr(&n) == Some(cidr) {
                    tracing::info!(node = name, cidr = %cidr, "allocated the node's pod CIDR");
                    self.warned.lock().unwrap_or_else(|p| p.into_inner()).remove(uid);
                }
                Ok(())
            }
            Err(RegistryError::NotFound { .. }) => Ok(()),
            Err(e) => {
                self.written.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
                if let Some(n) = cx.caches().nodes.get(None, name) {
                    cx.event_from(COMPONENT, &*n, "Normal", REASON_CIDR_ASSIGNMENT_FAILED, format!("Node {name} status is now: {REASON_CIDR_ASSIGNMENT_FAILED}"));
                }
                Err(e.into())
            }
        }
    }
}

#[async_trait::async_trait]
impl Singleton for NodeIpam {
    const NAME: &'static str = "node-ipam";

    fn wakers(caches: &Caches) -> BoxStream<'static, ()> {
        changes_of(&caches.nodes)
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        let config = cx.config().node_ipam;
        let mut set = CidrSet::new(config.cluster_cidr, config.node_mask).map_err(|e| ReconcileError::Other(e.to_string()))?;
        self.settle(cx);
        let nodes = cx.caches().nodes.list(None);
        let plan = {
            let w = self.written.lock().unwrap_or_else(|p| p.into_inner());
            plan(&mut set, nodes.iter().map(|n| &**n), &w)
        };
        for name in &plan.full {
            let Some(n) = cx.caches().nodes.get(None, name) else { continue };
            if self.warned.lock().unwrap_or_else(|p| p.into_inner()).insert(n.metadata.uid.clone()) {
                tracing::warn!(node = %name, range = %config.cluster_cidr, "no pod CIDR left for the node");
                cx.event_from(COMPONENT, &*n, "Normal", REASON_CIDR_NOT_AVAILABLE, format!("Node {name} status is now: {REASON_CIDR_NOT_AVAILABLE}"));
            }
        }
        let jobs: Vec<(String, String, Cidr)> = plan
            .assign
            .into_iter()
            .filter_map(|(name, c)| cx.caches().nodes.get(None, &name).map(|n| (name, n.metadata.uid.clone(), c)))
            .collect();
        {
            let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
            for (name, uid, c) in &jobs {
                w.insert(name.clone(), (uid.clone(), *c));
            }
        }
        let writes: Vec<_> = jobs.iter().map(|(name, uid, c)| self.assign(cx, name, uid, *c)).collect();
        let results: Vec<Result<(), ReconcileError>> = futures::stream::iter(writes).buffer_unordered(CONCURRENT_WRITES).collect().await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            return Err(e);
        }
        // A full range waits for a Node to go away (a change of the nodes cache).
        Ok(if plan.full.is_empty() { Action::await_change() } else { Action::requeue(Duration::from_secs(60)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::ObjectMeta;

    fn node(name: &str, cidr: Option<&str>) -> Node {
        let mut n = Node { metadata: ObjectMeta { name: name.into(), uid: format!("uid-{name}"), ..Default::default() }, ..Default::default() };
        if let Some(c) = cidr {
            n.spec.pod_cidr = Some(c.into());
            n.spec.pod_cidrs = vec![c.into()];
        }
        n
    }

    fn set(cluster: &str, mask: u8) -> CidrSet {
        CidrSet::new(Cidr::parse(cluster).unwrap(), mask).unwrap()
    }

    fn names(p: &Plan) -> Vec<(String, String)> {
        p.assign.iter().map(|(n, c)| (n.clone(), c.to_string())).collect()
    }

    #[test]
    fn nodes_without_a_cidr_get_distinct_free_ones() {
        let nodes = [node("b", None), node("a", Some("10.244.0.0/24")), node("c", None), node("d", Some("10.244.2.0/24"))];
        let p = plan(&mut set("10.244.0.0/16", 24), &nodes, &HashMap::new());
        assert_eq!(names(&p), [("b".into(), "10.244.1.0/24".into()), ("c".into(), "10.244.3.0/24".into())]);
        assert!(p.full.is_empty());
    }

    #[test]
    fn a_converged_cluster_plans_nothing() {
        let nodes = [node("a", Some("10.244.0.0/24")), node("b", Some("10.244.1.0/24"))];
        assert_eq!(plan(&mut set("10.244.0.0/16", 24), &nodes, &HashMap::new()), Plan::default());
    }

    #[test]
    fn writes_not_yet_cached_stay_taken() {
        let nodes = [node("a", None), node("b", None)];
        let in_flight = HashMap::from([("a".to_string(), ("uid-a".to_string(), Cidr::parse("10.244.0.0/24").unwrap()))]);
        let p = plan(&mut set("10.244.0.0/16", 24), &nodes, &in_flight);
        assert_eq!(names(&p), [("b".into(), "10.244.1.0/24".into())]);
        // A node recreated under the same name (another uid) is not covered by the old write.
        let in_flight = HashMap::from([("a".to_string(), ("old".to_string(), Cidr::parse("10.244.0.0/24").unwrap()))]);
        let p = plan(&mut set("10.244.0.0/16", 24), &nodes, &in_flight);
        assert_eq!(names(&p), [("a".into(), "10.244.0.0/24".into()), ("b".into(), "10.244.1.0/24".into())]);
    }

    #[test]
    fn a_full_range_leaves_the_rest_waiting() {
        let nodes = [node("a", None), node("b", None), node("c", None)];
        let p = plan(&mut set("10.244.0.0/23", 24), &nodes, &HashMap::new());
        assert_eq!(names(&p), [("a".into(), "10.244.0.0/24".into()), ("b".into(), "10.244.1.0/24".into())]);
        assert_eq!(p.full, ["c"]);
    }

    #[test]
    fn config_is_checked() {
        assert!(NodeIpamConfig::new("10.244.0.0/16", 24).is_ok());
        assert!(NodeIpamConfig::new("10.244.0.0/16", 8).is_err());
        assert!(NodeIpamConfig::new("10.244.0.0", 24).is_err());
        assert_eq!(NodeIpamConfig::default().cluster_cidr.to_string(), DEFAULT_CLUSTER_CIDR);
    }
}
