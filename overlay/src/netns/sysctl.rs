//! Network sysctls of one namespace. `/proc/sys/net` shows the namespace of the thread
//! that opens the file, so these run on a thread inside the node's namespace
//! ([`super::netlink::in_netns`]) and never touch the machine's own.

use std::io;
use std::path::Path;

/// The sysctls a node bridge needs: forwarding, and (when `br_netfilter` is loaded)
/// bridged traffic through the IP hooks, as kube-proxy requires.
pub fn node_settings(bridge: &str) -> Vec<(String, &'static str, bool)> {
    vec![
        ("net/ipv4/ip_forward".to_string(), "1", true),
        (format!("net/ipv4/conf/{bridge}/forwarding"), "1", true),
        ("net/bridge/bridge-nf-call-iptables".to_string(), "1", false),
    ]
}

/// Writes `value` to `/proc/sys/<key>` unless it already holds it. A missing file is an
/// error only when `required`.
pub fn set(key: &str, value: &str, required: bool) -> io::Result<()> {
    let path = Path::new("/proc/sys").join(key);
    match std::fs::read_to_string(&path) {
        Ok(v) if v.trim() == value => Ok(()),
        Ok(_) => std::fs::write(&path, value),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => Ok(()),
        Err(e) => Err(e),
    }
}
