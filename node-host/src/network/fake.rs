//! A recording, in-memory pod network: hands out addresses of the node's pod CIDR
//! (`.1` is the gateway), the same one per pod uid, and logs every call.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{NetworkError, PodAddress, PodNetwork};

#[derive(Default)]
struct State {
    subnet: Option<(Ipv4Addr, u8)>,
    by_pod: BTreeMap<String, PodAddress>,
    calls: Vec<String>,
}

#[derive(Default)]
pub struct FakeNetwork {
    state: Mutex<State>,
}

/// `10.244.1.0/24` → (network address, prefix length).
pub fn parse_cidr(cidr: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 30)?;
    let mask = u32::MAX.checked_shl(32 - len as u32).unwrap_or(0);
    Some((Ipv4Addr::from(u32::from(ip) & mask), len))
}

impl FakeNetwork {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `ensure_node <cidr>`, `attach <uid>`, `detach <uid>`, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }
}

#[async_trait]
impl PodNetwork for FakeNetwork {
    async fn ensure_node(&self, pod_cidr: &str) -> Result<(), NetworkError> {
        let mut s = self.lock();
        s.calls.push(format!("ensure_node {pod_cidr}"));
        s.subnet = Some(parse_cidr(pod_cidr).ok_or_else(|| NetworkError::Setup(format!("invalid pod CIDR {pod_cidr:?}")))?);
        Ok(())
    }

    async fn attach(&self, pod_uid: &str, _netns: &Path) -> Result<PodAddress, NetworkError> {
        let mut s = self.lock();
        s.calls.push(format!("attach {pod_uid}"));
        if let Some(a) = s.by_pod.get(pod_uid) {
            return Ok(*a);
        }
        let (net, len) = s.subnet.ok_or_else(|| NetworkError::Setup("the node's network is not set up".into()))?;
        let size = 1u32 << (32 - len as u32);
        let gateway = Ipv4Addr::from(u32::from(net) + 1);
        let used: Vec<Ipv4Addr> = s.by_pod.values().map(|a| a.ip).collect();
        let ip = (2..size - 1).map(|i| Ipv4Addr::from(u32::from(net) + i)).find(|ip| !used.contains(ip));
        let ip = ip.ok_or_else(|| NetworkError::Exhausted(format!("{net}/{len}")))?;
        let a = PodAddress { ip, prefix_len: len, gateway };
        s.by_pod.insert(pod_uid.to_string(), a);
        Ok(a)
    }

    async fn detach(&self, pod_uid: &str) -> Result<(), NetworkError> {
        let mut s = self.lock();
        s.calls.push(format!("detach {pod_uid}"));
        s.by_pod.remove(pod_uid);
        Ok(())
    }

    fn address(&self, pod_uid: &str) -> Option<PodAddress> {
        self.lock().by_pod.get(pod_uid).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn addresses_are_stable_per_pod_and_freed_on_detach() {
        let n = FakeNetwork::new();
        n.ensure_node("10.244.3.0/30").await.unwrap();
        let a = n.attach("a", Path::new("/x")).await.unwrap();
        assert_eq!(a.ip, Ipv4Addr::new(10, 244, 3, 2));
        assert_eq!(a.gateway, Ipv4Addr::new(10, 244, 3, 1));
        assert_eq!(n.attach("a", Path::new("/x")).await.unwrap(), a);
        assert!(matches!(n.attach("b", Path::new("/x")).await, Err(NetworkError::Exhausted(_))));
        n.detach("a").await.unwrap();
        assert_eq!(n.attach("b", Path::new("/x")).await.unwrap().ip, Ipv4Addr::new(10, 244, 3, 2));
        assert_eq!(parse_cidr("10.1.2.3/16"), Some((Ipv4Addr::new(10, 1, 0, 0), 16)));
        assert_eq!(parse_cidr("nope"), None);
    }
}
