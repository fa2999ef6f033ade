//! A pod's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, written once per sandbox
//! into the pod's directory and bind-mounted into each of its containers (as the kubelet
//! does): what they say comes from `overlay::dns::files`, from the pod, its address, the
//! cluster's DNS settings and the node's own files.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use api::model::Pod;
use overlay::dns::{self, ClusterDns};

/// The three files of one pod.
#[derive(Debug, Clone)]
pub struct PodFiles {
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
    pub hostname: PathBuf,
    /// Upstream's `DNSConfigForming` warnings, for a pod event.
    pub warnings: Vec<String>,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Writes the files into `pod_dir` (replacing what an earlier sandbox wrote).
pub fn write(pod_dir: &Path, pod: &Pod, pod_ip: Option<Ipv4Addr>, cluster: &ClusterDns) -> io::Result<PodFiles> {
    let ips: Vec<IpAddr> = pod_ip.map(IpAddr::V4).into_iter().collect();
    let node_hosts = read("/etc/hosts").unwrap_or_default();
    let hosts = dns::hosts_file(pod, &ips, &cluster.domain, &node_hosts).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let (hostname, _) = dns::pod_hostname(pod, &cluster.domain).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let resolv = dns::resolv_conf(pod, cluster, read("/etc/resolv.conf").as_deref());
    let files = PodFiles {
        hosts: pod_dir.join("etc-hosts"),
        resolv_conf: pod_dir.join("resolv.conf"),
        hostname: pod_dir.join("hostname"),
        warnings: resolv.warnings.clone(),
    };
    std::fs::create_dir_all(pod_dir)?;
    replace(&files.hosts, hosts.as_bytes())?;
    replace(&files.resolv_conf, resolv.render().as_bytes())?;
    replace(&files.hostname, format!("{hostname}\n").as_bytes())?;
    Ok(files)
}

/// Where an existing pod's files are (a restarted agent finds them there).
pub fn paths(pod_dir: &Path) -> PodFiles {
    PodFiles { hosts: pod_dir.join("etc-hosts"), resolv_conf: pod_dir.join("resolv.conf"), hostname: pod_dir.join("hostname"), warnings: Vec::new() }
}

/// Write-and-rename, so a container never sees half a file.
fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_name_the_pod_and_its_address() {
        let dir = tempfile::tempdir().unwrap();
        let mut pod = Pod::default();
        pod.metadata.name = "web-1".into();
        pod.metadata.namespace = Some("shop".into());
        let f = write(dir.path(), &pod, Some(Ipv4Addr::new(10, 244, 0, 7)), &ClusterDns::default()).unwrap();
        let hosts = std::fs::read_to_string(&f.hosts).unwrap();
        assert!(hosts.contains("10.244.0.7\tweb-1"), "{hosts}");
        let resolv = std::fs::read_to_string(&f.resolv_conf).unwrap();
        assert!(resolv.contains("nameserver 10.96.0.10") && resolv.contains("search shop.svc.cluster.local"), "{resolv}");
        assert_eq!(std::fs::read_to_string(&f.hostname).unwrap(), "web-1\n");
    }
}
