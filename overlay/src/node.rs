//! One node's pod network: the bridge on the node's pod CIDR, and for each pod an
//! address from the [`Pool`] (kept on disk by [`DiskStore`]) wired in through [`Links`].
//!
//! Order of effects, so that a crash at any point loses nothing: attach stores the
//! address before it creates the veth; detach removes the veth before it frees the
//! address. Calls block (netlink, files); an async caller runs them on a blocking thread.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::ipam::store::{DiskStore, Record, StoreError};
use crate::ipam::{IpamError, Pool, Subnet};
use crate::netns::{host_veth_name, BridgeSpec, LinkError, Links, VethSpec};

/// The default bridge name.
pub const DEFAULT_BRIDGE: &str = "shoal0";
/// The pod-side interface name.
pub const POD_INTERFACE: &str = "eth0";

/// A pod's address as the sandbox got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

impl Address {
    fn of(ip: Ipv4Addr, subnet: Subnet) -> Self {
        Address { ip, prefix_len: subnet.prefix_len(), gateway: subnet.gateway() }
    }
}

/// How a node's network is set up.
#[derive(Debug, Clone)]
pub struct NodeNetConfig {
    /// The node's state directory (`--root-dir`); addresses live in `<root>/network/ipam`.
    pub root: PathBuf,
    /// The bridge's name ([`DEFAULT_BRIDGE`]).
    pub bridge: String,
    /// MTU of the bridge and the veths (None: the kernel's default, 1500).
    pub mtu: Option<u32>,
}

impl NodeNetConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        NodeNetConfig { root: root.into(), bridge: DEFAULT_BRIDGE.into(), mtu: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeNetError {
    #[error("the node's pod CIDR is not known yet (ensure_node was not called)")]
    NoSubnet,
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Link(#[from] LinkError),
}

struct State {
    pool: Option<Pool>,
    /// The stored records (mirroring the pool once `ensure_node` knows the subnet).
    records: HashMap<String, Record>,
}

pub struct NodeNet<L: Links> {
    config: NodeNetConfig,
    links: L,
    store: DiskStore,
    state: Mutex<State>,
}

impl<L: Links> NodeNet<L> {
    /// Reads the stored addresses; `address` answers from them at once.
    pub fn open(config: NodeNetConfig, links: L) -> Result<Self, NodeNetError> {
        let store = DiskStore::under(&config.root);
        let (records, bad) = store.load()?;
        for path in bad {
            tracing::warn!(path = %path.display(), "ignoring an unreadable pod address file");
        }
        let state = State { pool: None, records: records.into_iter().collect() };
        Ok(NodeNet { config, links, store, state: Mutex::new(state) })
    }

    pub fn links(&self) -> &L {
        &self.links
    }

    pub fn config(&self) -> &NodeNetConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets up the bridge for `pod_cidr` and takes back the addresses stored for it.
    /// Records of another subnet (the node's CIDR changed) are dropped.
    pub fn ensure_node(&self, pod_cidr: &str) -> Result<Subnet, NodeNetError> {
        let subnet = Subnet::parse(pod_cidr)?;
        let mut pool = Pool::new(subnet)?;
        self.links.ensure_bridge(&BridgeSpec { name: self.config.bridge.clone(), gateway: subnet.gateway(), prefix_len: subnet.prefix_len(), mtu: self.config.mtu })?;
        let mut st = self.lock();
        if st.pool.as_ref().is_some_and(|p| p.subnet() == subnet) {
            return Ok(subnet);
        }
        let mut keep = HashMap::new();
        let mut held: Vec<(String, Record)> = st.records.drain().collect();
        // Rebuilt below from the records, which always mirror the pool.
        st.pool = None;
        held.sort_by(|a, b| a.0.cmp(&b.0));
        for (uid, r) in held {
            let restored = if r.subnet() == Some(subnet) { pool.restore(&uid, r.ip) } else { Err(IpamError::Outside { ip: r.ip, subnet }) };
            match restored {
                Ok(()) => {
                    keep.insert(uid, r);
                }
                Err(e) => {
                    tracing::warn!(pod = %uid, error = %e, "dropping a stored pod address");
                    self.store.remove(&uid)?;
                }
            }
        }
        st.records = keep;
        st.pool = Some(pool);
        Ok(subnet)
    }

    fn spec(&self, uid: &str, netns: &Path, addr: Address) -> VethSpec {
        VethSpec {
            bridge: self.config.bridge.clone(),
            host_name: host_veth_name(uid),
            netns: netns.to_path_buf(),
            pod_name: POD_INTERFACE.into(),
            ip: addr.ip,
            prefix_len: addr.prefix_len,
            gateway: addr.gateway,
            mtu: self.config.mtu,
        }
    }

    /// Gives the pod its address (the one it holds, else a new one) and wires `netns` to
    /// the bridge. Calling it again for a pod already wired into the same namespace does
    /// nothing more.
    pub fn attach(&self, uid: &str, netns: &Path) -> Result<Address, NodeNetError> {
        let (addr, fresh) = {
            let mut st = self.lock();
            let pool = st.pool.as_mut().ok_or(NodeNetError::NoSubnet)?;
            let subnet = pool.subnet();
            let lease = pool.allocate(uid)?;
            let addr = Address::of(lease.ip, subnet);
            if lease.fresh {
                let rec = Record::new(lease.ip, subnet);
                if let Err(e) = self.store.save(uid, &rec) {
                    if let Some(p) = st.pool.as_mut() {
                        p.release(uid);
                    }
                    return Err(e.into());
                }
                st.records.insert(uid.to_string(), rec);
            }
            (addr, lease.fresh)
        };
        let spec = self.spec(uid, netns, addr);
        if !fresh && self.links.is_attached(&spec)? {
            return Ok(addr);
        }
        if !fresh {
            // Wired into another (older) sandbox, or half-wired: start over.
            self.links.detach(&spec.host_name)?;
        }
        match self.links.attach(&spec) {
            Ok(()) => Ok(addr),
            Err(e) => {
                if fresh {
                    self.forget(uid)?;
                }
                Err(e.into())
            }
        }
    }

    fn forget(&self, uid: &str) -> Result<(), NodeNetError> {
        self.store.remove(uid)?;
        let mut st = self.lock();
        st.records.remove(uid);
        if let Some(p) = st.pool.as_mut() {
            p.release(uid);
        }
        Ok(())
    }

    /// Removes the pod's veth and frees its address; a pod never attached is fine.
    pub fn detach(&self, uid: &str) -> Result<(), NodeNetError> {
        self.links.detach(&host_veth_name(uid))?;
        self.forget(uid)
    }

    /// The address the pod holds, if any (also right after a restart, before `ensure_node`).
    pub fn address(&self, uid: &str) -> Option<Address> {
        let st = self.lock();
        match &st.pool {
            Some(p) => p.get(uid).map(|ip| Address::of(ip, p.subnet())),
            None => st.records.get(uid).and_then(|r| Some(Address::of(r.ip, r.subnet()?))),
        }
    }

    /// Every pod holding an address, by uid.
    pub fn holders(&self) -> Vec<(String, Address)> {
        let st = self.lock();
        let mut out: Vec<(String, Address)> = st.records.iter().filter_map(|(u, r)| Some((u.clone(), Address::of(r.ip, r.subnet()?)))).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::fake::{Call, FakeLinks};

    fn net(root: &Path) -> NodeNet<FakeLinks> {
        NodeNet::open(NodeNetConfig::new(root), FakeLinks::default()).unwrap()
    }

    #[test]
    fn attach_before_the_node_is_known_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let n = net(root.path());
        assert!(matches!(n.attach("a", Path::new("/proc/1/ns/net")), Err(NodeNetError::NoSubnet)));
    }

    #[test]
    fn pods_get_addresses_that_survive_a_restart_and_are_freed_on_detach() {
        let root = tempfile::tempdir().unwrap();
        let n = net(root.path());
        n.ensure_node("10.244.3.0/24").unwrap();
        assert_eq!(n.links().calls()[0], Call::EnsureBridge(BridgeSpec { name: "shoal0".into(), gateway: "10.244.3.1".parse().unwrap(), prefix_len: 24, mtu: None }));
        let a = n.attach("a", Path::new("/ns/a")).unwrap();
        let b = n.attach("b", Path::new("/ns/b")).unwrap();
        assert_eq!((a.ip.to_string(), a.prefix_len, a.gateway.to_string()), ("10.244.3.2".into(), 24, "10.244.3.1".into()));
        assert_eq!(b.ip.to_string(), "10.244.3.3");
        assert_eq!(n.links().attached()[&host_veth_name("a")].netns, Path::new("/ns/a"));
        // Attaching again, already wired: no second veth.
        assert_eq!(n.attach("a", Path::new("/ns/a")).unwrap(), a);
        assert_eq!(n.links().calls().iter().filter(|c| matches!(c, Call::Attach(_))).count(), 2);

        // A restarted agent: the same addresses, before and after ensure_node.
        let m = net(root.path());
        assert_eq!(m.address("a"), Some(a));
        m.ensure_node("10.244.3.0/24").unwrap();
        assert_eq!(m.attach("b", Path::new("/ns/b2")).unwrap(), b, "a new sandbox keeps the pod's address");
        assert_eq!(m.attach("c", Path::new("/ns/c")).unwrap().ip.to_string(), "10.244.3.4", "never one held by another pod");

        m.detach("a").unwrap();
        assert_eq!(m.address("a"), None);
        assert!(m.links().calls().contains(&Call::Detach(host_veth_name("a"))));
        m.detach("a").unwrap();
        assert_eq!(net(root.path()).address("a"), None, "freed on disk too");
    }

    #[test]
    fn a_failed_attach_frees_the_new_address() {
        let root = tempfile::tempdir().unwrap();
        let n = net(root.path());
        n.ensure_node("10.244.3.0/24").unwrap();
        n.links().fail_next_attach();
        assert!(n.attach("a", Path::new("/ns/a")).is_err());
        assert_eq!(n.address("a"), None);
        assert!(net(root.path()).holders().is_empty());
    }

    #[test]
    fn a_changed_pod_cidr_drops_the_old_addresses() {
        let root = tempfile::tempdir().unwrap();
        let n = net(root.path());
        n.ensure_node("10.244.3.0/24").unwrap();
        n.attach("a", Path::new("/ns/a")).unwrap();
        let m = net(root.path());
        m.ensure_node("10.244.9.0/24").unwrap();
        assert_eq!(m.address("a"), None);
        assert_eq!(m.attach("a", Path::new("/ns/a")).unwrap().ip.to_string(), "10.244.9.2");
    }
}
