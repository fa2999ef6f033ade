//! The cluster network's contract between the control plane and the nodes: the ConfigMap
//! in which the control plane publishes its ranges (as kube-proxy reads a ConfigMap of
//! its own) and the names of the cluster DNS Service that every node serves a share of.
//! Pure data and parsing; no I/O.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `kube-system/shoal-network`: written by the control plane at start, read by every node.
pub const CONFIG_NAMESPACE: &str = "kube-system";
pub const CONFIG_NAME: &str = "shoal-network";

/// `kube-system/kube-dns`, the Service of the cluster DNS (kubeadm's name for CoreDNS's).
pub const DNS_NAMESPACE: &str = "kube-system";
pub const DNS_SERVICE: &str = "kube-dns";
/// The DNS Service's address: this offset into the service range (`10.96.0.10`), as
/// kubeadm does; the allocator never hands out the range's low band at random.
pub const DNS_OFFSET: u64 = 10;
/// The `managed-by` of the slices each node writes for its own DNS server.
pub const DNS_SLICE_MANAGER: &str = "node.shoal.io";
pub const DEFAULT_DOMAIN: &str = "cluster.local";
/// The overlay's UDP port (Flannel's UDP backend's).
pub const DEFAULT_OVERLAY_PORT: u16 = 8285;

const KEY_CLUSTER_CIDR: &str = "clusterCIDR";
const KEY_SERVICE_CIDR: &str = "serviceCIDR";
const KEY_NODE_PORTS: &str = "nodePortRange";
const KEY_DNS_IP: &str = "clusterDNS";
const KEY_DOMAIN: &str = "clusterDomain";
const KEY_OVERLAY_PORT: &str = "overlayPort";

/// What a node needs to know of the cluster's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Pod addresses of every node (`10.244.0.0/16`), as `address/prefix`.
    pub cluster_cidr: String,
    /// Service ClusterIPs (`10.96.0.0/12`).
    pub service_cidr: String,
    /// NodePorts, `first-last` (`30000-32767`).
    pub node_port_range: String,
    /// The cluster DNS Service's address (pods' `nameserver`).
    pub dns_ip: Ipv4Addr,
    pub domain: String,
    /// The UDP port every node's overlay listens on.
    pub overlay_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ConfigMap {CONFIG_NAMESPACE}/{CONFIG_NAME}: data.{key}: {message}")]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

impl NetworkConfig {
    /// The ConfigMap's `data`.
    pub fn to_data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (KEY_CLUSTER_CIDR.to_string(), self.cluster_cidr.clone()),
            (KEY_SERVICE_CIDR.to_string(), self.service_cidr.clone()),
            (KEY_NODE_PORTS.to_string(), self.node_port_range.clone()),
            (KEY_DNS_IP.to_string(), self.dns_ip.to_string()),
            (KEY_DOMAIN.to_string(), self.domain.clone()),
            (KEY_OVERLAY_PORT.to_string(), self.overlay_port.to_string()),
        ])
    }

    /// Reads the ConfigMap's `data`, checking each value's shape.
    pub fn from_data(data: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &'static str| data.get(key).cloned().ok_or(ConfigError { key, message: "missing".into() });
        let cidr = |key: &'static str| -> Result<String, ConfigError> {
            let v = get(key)?;
            parse_cidr(&v).map_err(|message| ConfigError { key, message })?;
            Ok(v)
        };
        let cluster_cidr = cidr(KEY_CLUSTER_CIDR)?;
        let service_cidr = cidr(KEY_SERVICE_CIDR)?;
        let node_port_range = get(KEY_NODE_PORTS)?;
        parse_port_range(&node_port_range).map_err(|message| ConfigError { key: KEY_NODE_PORTS, message })?;
        let dns_ip = get(KEY_DNS_IP)?.parse().map_err(|e| ConfigError { key: KEY_DNS_IP, message: format!("{e}") })?;
        let domain = get(KEY_DOMAIN)?;
        if domain.is_empty() {
            return Err(ConfigError { key: KEY_DOMAIN, message: "empty".into() });
        }
        let overlay_port = get(KEY_OVERLAY_PORT)?
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or(ConfigError { key: KEY_OVERLAY_PORT, message: "not a port (1-65535)".into() })?;
        Ok(NetworkConfig { cluster_cidr, service_cidr, node_port_range, dns_ip, domain, overlay_port })
    }
}

/// `a.b.c.d/n` → (network address, prefix length).
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, len) = s.split_once('/').ok_or_else(|| format!("{s:?} is not address/prefix"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let len: u8 = len.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if len > 32 {
        return Err(format!("{s:?}: prefix longer than 32"));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((Ipv4Addr::from(u32::from(ip) & mask), len))
}

/// `first-last` → the inclusive range.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or_else(|| format!("{s:?} is not first-last"))?;
    let a: u16 = a.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    let b: u16 = b.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    if a > b {
        return Err(format!("{s:?}: first above last"));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NetworkConfig {
        NetworkConfig {
            cluster_cidr: "10.244.0.0/16".into(),
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: "30000-32767".into(),
            dns_ip: Ipv4Addr::new(10, 96, 0, 10),
            domain: DEFAULT_DOMAIN.into(),
            overlay_port: DEFAULT_OVERLAY_PORT,
        }
    }

    #[test]
    fn data_round_trips() {
        assert_eq!(NetworkConfig::from_data(&sample().to_data()), Ok(sample()));
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut d = sample().to_data();
        d.insert(KEY_CLUSTER_CIDR.into(), "10.244.0.0".into());
        assert_eq!(NetworkConfig::from_data(&d).unwrap_err().key, KEY_CLUSTER_CIDR);
        let mut d = sample().to_data();
        d.remove(KEY_DOMAIN);
        let e = NetworkConfig::from_data(&d).unwrap_err();
        assert_eq!(e.to_string(), "ConfigMap kube-system/shoal-network: data.clusterDomain: missing");
        let mut d = sample().to_data();
        d.insert(KEY_NODE_PORTS.into(), "32767-30000".into());
        assert!(NetworkConfig::from_data(&d).is_err());
    }

    #[test]
    fn cidrs_are_masked() {
        assert_eq!(parse_cidr("10.244.3.7/16"), Ok((Ipv4Addr::new(10, 244, 0, 0), 16)));
        assert!(parse_cidr("10.244.0.0/33").is_err());
    }
}
