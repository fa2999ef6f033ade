//! DNS for pods: the per-pod resolver files (the cluster DNS server comes later).

pub mod files;

pub use files::{hosts_file, pod_hostname, resolv_conf, ClusterDns, DnsError, ResolvConf, DEFAULT_CLUSTER_DNS, DEFAULT_CLUSTER_DOMAIN};
