//! [`Links`] over rtnetlink: a Linux bridge per node and a veth pair per pod, created in
//! one request with the pod end born inside the pod's namespace (no move, no rename).
//!
//! The node side lives in the network namespace the links were made in (the agent's), or
//! in the one named by a file (tests, and nodes that run inside a namespace of their
//! own); it is held open, so any thread may use the links later.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use super::netlink::{current_netns, in_netns, in_netns_file, is_exists, Netlink};
use super::{sysctl, BridgeSpec, LinkError, Links, VethSpec};

pub struct VethLinks {
    /// The node's network namespace, held open from the start.
    node_ns: File,
    /// The node-side socket, opened once.
    node: Mutex<Option<Netlink>>,
}

impl VethLinks {
    /// Links of the network namespace the calling thread is in now (the node's), kept
    /// whatever thread later uses them.
    pub fn new() -> io::Result<Self> {
        Ok(VethLinks { node_ns: current_netns()?, node: Mutex::new(None) })
    }

    /// Links of the node whose network namespace is the file `node_netns`.
    pub fn in_namespace(node_netns: impl AsRef<Path>) -> io::Result<Self> {
        let p = node_netns.as_ref();
        let node_ns = File::open(p).map_err(|e| io::Error::new(e.kind(), format!("opening the node's network namespace {}: {e}", p.display())))?;
        Ok(VethLinks { node_ns, node: Mutex::new(None) })
    }

    fn with_node<R>(&self, f: impl FnOnce(&mut Netlink) -> io::Result<R>) -> Result<io::Result<R>, LinkError> {
        let mut guard = self.node.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(Netlink::open_in(&self.node_ns).map_err(LinkError::Socket)?);
        }
        let nl = guard.as_mut().expect("opened above");
        let res = f(nl);
        if res.is_err() {
            // A socket in an unknown state (e.g. half-read replies) is not reused.
            *guard = None;
        }
        Ok(res)
    }

    fn in_node_ns<R: Send>(&self, f: impl FnOnce() -> io::Result<R> + Send) -> io::Result<R> {
        in_netns_file(&self.node_ns, f)
    }
}

fn configure_pod_side(veth: &VethSpec) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    if let Some(lo) = nl.link("lo")? {
        if !lo.up {
            nl.set_up(lo.index)?;
        }
    }
    let eth = nl.link(&veth.pod_name)?.ok_or_else(|| io::Error::other(format!("{} did not appear in the namespace", veth.pod_name)))?;
    if !eth.up {
        nl.set_up(eth.index)?;
    }
    nl.add_address(eth.index, veth.ip, veth.prefix_len)?;
    nl.add_default_route(eth.index, veth.gateway)
}

impl Links for VethLinks {
    fn ensure_bridge(&self, b: &BridgeSpec) -> Result<(), LinkError> {
        let err = |source| LinkError::Bridge { bridge: b.name.clone(), source };
        self.with_node(|nl| {
            let link = match nl.link(&b.name)? {
                Some(l) => l,
                None => {
                    match nl.add_bridge(&b.name, b.mtu) {
                        Err(e) if !is_exists(&e) => return Err(e),
                        _ => {}
                    }
                    nl.link(&b.name)?.ok_or_else(|| io::Error::other("the new bridge is not there"))?
                }
            };
            if !link.up {
                nl.set_up(link.index)?;
            }
            let have = nl.addresses(link.index)?;
            if !have.contains(&(b.gateway, b.prefix_len)) {
                nl.add_address(link.index, b.gateway, b.prefix_len)?;
            }
            Ok(())
        })?
        .map_err(err)?;
        for (key, value, required) in sysctl::node_settings(&b.name) {
            self.in_node_ns(|| sysctl::set(&key, value, required)).map_err(|source| LinkError::Sysctl { key: key.clone(), source })?;
        }
        Ok(())
    }

    fn attach(&self, v: &VethSpec) -> Result<(), LinkError> {
        let ns = File::open(&v.netns).map_err(|source| LinkError::Veth { host: v.host_name.clone(), netns: v.netns.clone(), source })?;
        let veth_err = |source| LinkError::Veth { host: v.host_name.clone(), netns: v.netns.clone(), source };
        self.with_node(|nl| {
            let bridge = nl.link(&v.bridge)?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no bridge {}", v.bridge)))?;
            match nl.add_veth(&v.host_name, bridge.index, &v.pod_name, &ns, v.mtu) {
                Err(e) if is_exists(&e) => {
                    // A leftover of an earlier attempt (the host end, or eth0 in the pod).
                    nl.del_link(&v.host_name)?;
                    nl.add_veth(&v.host_name, bridge.index, &v.pod_name, &ns, v.mtu)?;
                }
                other => other?,
            }
            let host = nl.link(&v.host_name)?.ok_or_else(|| io::Error::other("the new veth is not there"))?;
            nl.set_hairpin(host.index)
        })?
        .map_err(veth_err)?;
        if let Err(source) = in_netns(&v.netns, || configure_pod_side(v)) {
            let _ = self.detach(&v.host_name);
            return Err(LinkError::PodSide { name: v.pod_name.clone(), netns: v.netns.clone(), source });
        }
        Ok(())
    }

    fn is_attached(&self, v: &VethSpec) -> Result<bool, LinkError> {
        let on_bridge = self
            .with_node(|nl| {
                let Some(bridge) = nl.link(&v.bridge)? else { return Ok(false) };
                Ok(nl.link(&v.host_name)?.is_some_and(|h| h.master == Some(bridge.index)))
            })?
            .map_err(|source| LinkError::Veth { host: v.host_name.clone(), netns: v.netns.clone(), source })?;
        if !on_bridge {
            return Ok(false);
        }
        // The host end could belong to an older sandbox of the pod: look inside this one.
        let inside = in_netns(&v.netns, || {
            let mut nl = Netlink::open()?;
            let Some(eth) = nl.link(&v.pod_name)? else { return Ok(false) };
            Ok(eth.up && nl.addresses(eth.index)?.contains(&(v.ip, v.prefix_len)))
        });
        match inside {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(LinkError::PodSide { name: v.pod_name.clone(), netns: v.netns.clone(), source }),
        }
    }

    fn detach(&self, host_name: &str) -> Result<bool, LinkError> {
        self.with_node(|nl| nl.del_link(host_name))?.map_err(|source| LinkError::Remove { host: host_name.to_string(), source })
    }

    fn remove_bridge_if_unused(&self, name: &str) -> Result<bool, LinkError> {
        self.with_node(|nl| {
            let Some(bridge) = nl.link(name)? else { return Ok(false) };
            if nl.ports(bridge.index)? > 0 {
                return Ok(false);
            }
            nl.del_link(name)
        })?
        .map_err(|source| LinkError::Bridge { bridge: name.to_string(), source })
    }
}

/// Whether a network namespace file can be opened (the pod's sandbox still exists).
pub fn netns_exists(path: &Path) -> bool {
    File::open(path).is_ok()
}
