//! Service ClusterIP and NodePort allocation.
//!
//! Modelled on Kubernetes' IPAddress allocator (one `IPAddress` object per allocated
//! address, KEP-1880) rather than the older bitmap in one key: every allocation is its own
//! store key, `/registry/ipallocations/{ip}` or `/registry/portallocations/{port}`, whose
//! value names the owning Service (namespace, name, uid). A key is taken with the store's
//! `create`, which fails when the key exists, so two concurrent creates can never get the
//! same address, and no lock or read-modify-write of a shared bitmap is needed.
//!
//! The registry reaches this through the `ServiceAllocation` admission plugin
//! (`crate::admission::allocation`):
//! - create: allocate after validation, BEFORE the Service is written; if the write fails
//!   the keys are released again;
//! - update: carry allocated values over from the stored object (an empty `clusterIP` or
//!   `nodePort` in a replace means "keep"), refuse a changed `clusterIP` (immutable),
//!   allocate what the new spec needs before the write, release what it no longer holds
//!   after the write (or the new keys when the write fails);
//! - delete: release the keys after the Service is gone;
//! - a dry run runs the same code, but only looks at the keys: what a real write would
//!   find taken is refused the same way, and nothing is taken.
//!
//! A crash between those steps leaves at worst an allocation without its Service; the
//! [`repair::AllocationRepair`] singleton releases allocations whose Service is gone (or
//! has another uid, or no longer holds the value) once they are older than a grace period
//! (so that an in-flight create is never robbed), and re-creates allocations a stored
//! Service holds but the store lacks (e.g. data written before the allocator existed).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use async_trait::async_trait;
use bincode::{Decode, Encode};
use rand::Rng;

pub mod ip;
pub mod port;
pub mod repair;

pub use ip::Cidr;
pub use port::PortRange;

use api::codec;
use api::model::Service;
use api::validation::FieldError;

use crate::admission::outcome::{AdmissionError, Reservation};
use crate::store::{Store, StoreError};

type Result<T, E = AdmissionError> = std::result::Result<T, E>;

/// Key prefix of ClusterIP allocations.
pub const IP_PREFIX: &str = "/registry/ipallocations/";
/// Key prefix of NodePort allocations.
pub const PORT_PREFIX: &str = "/registry/portallocations/";

/// The default Service ClusterIP range (also the default of `--service-cluster-ip-range`).
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// The default NodePort range (also the default of `--service-node-port-range`).
pub const DEFAULT_NODE_PORTS: &str = "30000-32767";

/// Where Service addresses and node ports come from.
#[derive(Debug, Clone)]
pub struct AllocatorConfig {
    /// The Service ClusterIP range ([`DEFAULT_SERVICE_CIDR`]). Its network address is never
    /// handed out, and its first address (`10.96.0.1`) is only given to a Service that
    /// asks for it (Kubernetes reserves it for the `kubernetes` Service).
    pub service_cidr: Cidr,
    /// The NodePort range ([`DEFAULT_NODE_PORTS`]).
    pub node_ports: PortRange,
    /// How old an allocation without a matching Service must be before the repair pass
    /// releases it.
    pub repair_grace: Duration,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            service_cidr: Cidr::parse(DEFAULT_SERVICE_CIDR).expect("default service CIDR"),
            node_ports: PortRange::parse(DEFAULT_NODE_PORTS).expect("default NodePort range"),
            repair_grace: Duration::from_secs(30),
        }
    }
}

impl AllocatorConfig {
    /// From the textual forms (`10.96.0.0/12`, `30000-32767`), e.g. command-line flags.
    pub fn new(service_cidr: &str, node_ports: &str) -> Result<Self, String> {
        Ok(AllocatorConfig {
            service_cidr: Cidr::parse(service_cidr)?,
            node_ports: PortRange::parse(node_ports)?,
            ..Default::default()
        })
    }
}

/// The value of an allocation key: who holds it, since when (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Allocation {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub allocated_at: i64,
}

impl Allocation {
    fn of(svc: &Service) -> Self {
        Allocation {
            namespace: svc.metadata.namespace.clone().unwrap_or_default(),
            name: svc.metadata.name.clone(),
            uid: svc.metadata.uid.clone(),
            allocated_at: chrono::Utc::now().timestamp(),
        }
    }
}

pub fn ip_key(ip: Ipv4Addr) -> String {
    format!("{IP_PREFIX}{ip}")
}

pub fn port_key(port: i32) -> String {
    format!("{PORT_PREFIX}{port}")
}

fn svc_type(s: &Service) -> &str {
    s.spec.type_.as_deref().unwrap_or("ClusterIP")
}

/// Whether the Service gets a ClusterIP (not ExternalName, not headless).
pub fn wants_ip(s: &Service) -> bool {
    svc_type(s) != "ExternalName" && s.spec.cluster_ip.as_deref() != Some("None")
}

/// Whether the Service gets node ports (NodePort, and LoadBalancer unless
/// `allocateLoadBalancerNodePorts: false`).
pub fn wants_node_ports(s: &Service) -> bool {
    match svc_type(s) {
        "NodePort" => true,
        "LoadBalancer" => s.spec.allocate_load_balancer_node_ports != Some(false),
        _ => false,
    }
}

/// The allocation keys a stored Service holds.
pub fn held_keys(cfg: &AllocatorConfig, s: &Service) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    if wants_ip(s) {
        if let Some(ip) = s.spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<Ipv4Addr>().ok()) {
            if cfg.service_cidr.is_usable(ip) {
                keys.insert(ip_key(ip));
            }
        }
    }
    if wants_node_ports(s) {
        for p in &s.spec.ports {
            if let Some(np) = p.node_port.filter(|n| cfg.node_ports.contains(*n)) {
                keys.insert(port_key(np));
            }
        }
    }
    keys
}

fn invalid(svc: &Service, errors: Vec<FieldError>) -> AdmissionError {
    AdmissionError::Invalid { kind: "Service".into(), name: svc.metadata.name.clone(), errors }
}

/// What [`take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Took {
    /// The key was free and is now the owner's (in a dry run: was free, and is left so).
    Now,
    /// The owner held it already (a retried write).
    Already,
    /// Someone else holds it.
    Other,
}

/// Tries to take `key` for `owner`; a dry run only looks whether it could.
pub(crate) async fn take(store: &dyn Store, key: &str, owner: &Allocation, dry_run: bool) -> Result<Took> {
    let holder = |kv: Option<crate::store::KeyValue>| {
        let held = kv.and_then(|kv| codec::decode::<Allocation>(&kv.value).ok());
        if held.is_some_and(|a| a.uid == owner.uid) {
            Took::Already
        } else {
            Took::Other
        }
    };
    if dry_run {
        return Ok(match store.get(key).await? {
            None => Took::Now,
            kv => holder(kv),
        });
    }
    let bytes = codec::encode(owner)?;
    match store.create(key, bytes, None).await {
        Ok(_) => Ok(Took::Now),
        Err(StoreError::AlreadyExists { .. }) => Ok(holder(store.get(key).await?)),
        Err(e) => Err(e.into()),
    }
}

/// Releases `key` if `uid` holds it.
pub async fn release(store: &dyn Store, key: &str, uid: &str) {
    let Ok(Some(kv)) = store.get(key).await else { return };
    match codec::decode::<Allocation>(&kv.value) {
        Ok(a) if a.uid == uid => {
            if let Err(e) = store.delete(key, Some(kv.mod_revision)).await {
                tracing::debug!(key, error = %e, "releasing an allocation");
            }
        }
        _ => {}
    }
}

/// The low addresses of a service range that random allocation leaves alone (upstream's
/// static band: a sixteenth of the range, between 16 and 256 addresses), so that the
/// addresses Services ask for by name — `10.96.0.10` for the cluster DNS — stay free.
pub fn static_band(size: u64) -> u64 {
    (size / 16).clamp(16, 256).min(size / 2)
}

async fn release_all(store: &dyn Store, keys: &[String], uid: &str) {
    for k in keys {
        release(store, k, uid).await;
    }
}

/// Picks a free value among `size` candidates (`nth(offset)`), skipping `skip`: random
/// tries first, above the `low` band (kept for values asked for by name, as upstream's
/// static band), then a scan from a random start over all of what the store shows as free.
#[allow(clippy::too_many_arguments)]
async fn allocate_any(
    store: &dyn Store,
    owner: &Allocation,
    dry_run: bool,
    prefix: &str,
    size: u64,
    low: u64,
    skip: &(dyn Fn(u64) -> bool + Sync),
    key_of: &(dyn Fn(u64) -> String + Sync),
) -> Result<String> {
    for _ in 0..16 {
        let off = rand::rng().random_range(low.min(size - 1)..size);
        if skip(off) {
            continue;
        }
        let key = key_of(off);
        if take(store, &key, owner, dry_run).await? == Took::Now {
            return Ok(key);
        }
    }
    let used: BTreeSet<String> = store.list(prefix).await?.kvs.into_iter().map(|kv| kv.key).collect();
    let start = rand::rng().random_range(0..size);
    for i in 0..size {
        let off = (start + i) % size;
        if skip(off) {
            continue;
        }
        let key = key_of(off);
        if used.contains(&key) {
            continue;
        }
        if take(store, &key, owner, dry_run).await? == Took::Now {
            return Ok(key);
        }
    }
    Err(AdmissionError::Store(StoreError::Backend(format!("failed to allocate from {prefix}: range is full"))))
}

/// Allocates what `svc` needs and does not hold in `old`; pushes every key taken to `taken`
/// (a dry run takes nothing, so pushes nothing, but fills in the values it would take).
async fn allocate(
    store: &dyn Store,
    cfg: &AllocatorConfig,
    svc: &mut Service,
    old: Option<&Service>,
    dry_run: bool,
    taken: &mut Vec<String>,
) -> Result<()> {
    let mut took = |key: &String| {
        if !dry_run {
            taken.push(key.clone());
        }
    };
    let owner = Allocation::of(svc);
    let old_keys = old.map(|o| held_keys(cfg, o)).unwrap_or_default();
    if svc.spec.cluster_ip.as_deref() == Some("None") && svc.spec.cluster_ips.is_empty() {
        svc.spec.cluster_ips = vec!["None".into()];
    }
    if wants_ip(svc) {
        let requested = svc.spec.cluster_ip.clone().filter(|s| !s.is_empty());
        let key = match requested {
            Some(ip_s) => {
                let field = "spec.clusterIPs";
                let range_err = || {
                    invalid(
                        svc,
                        vec![FieldError::invalid(
                            field,
                            &ip_s,
                            format!("provided IP is not in the valid range. The range of valid IPs is {}", cfg.service_cidr),
                        )],
                    )
                };
                let ip: Ipv4Addr = ip_s.parse().map_err(|_| range_err())?;
                if !cfg.service_cidr.is_usable(ip) {
                    return Err(range_err());
                }
                let key = ip_key(ip);
                if !old_keys.contains(&key) {
                    match take(store, &key, &owner, dry_run).await? {
                        Took::Now => took(&key),
                        Took::Already => {}
                        Took::Other => {
                            return Err(invalid(svc, vec![FieldError::invalid(field, &ip_s, "provided IP is already allocated")]))
                        }
                    }
                }
                key
            }
            None => {
                let cidr = cfg.service_cidr;
                let size = cidr.size();
                // Never the network address, the reserved first address or the broadcast.
                let key =
                    allocate_any(store, &owner, dry_run, IP_PREFIX, size, static_band(size), &|o| o <= 1 || o >= size - 1, &|o| ip_key(cidr.nth(o)))
                        .await?;
                took(&key);
                key
            }
        };
        let ip = key.trim_start_matches(IP_PREFIX).to_string();
        svc.spec.cluster_ip = Some(ip.clone());
        svc.spec.cluster_ips = vec![ip];
        if svc.spec.ip_families.is_empty() {
            svc.spec.ip_families = vec!["IPv4".into()];
        }
        if svc.spec.ip_family_policy.is_none() {
            svc.spec.ip_family_policy = Some("SingleStack".into());
        }
    }
    if wants_node_ports(svc) {
        let range = cfg.node_ports;
        let mut mine: BTreeSet<i32> = BTreeSet::new();
        for i in 0..svc.spec.ports.len() {
            let field = format!("spec.ports[{i}].nodePort");
            match svc.spec.ports[i].node_port.filter(|n| *n != 0) {
                Some(np) => {
                    if !range.contains(np) {
                        return Err(invalid(
                            svc,
                            vec![FieldError::invalid(
                                field,
                                np,
                                format!("provided port is not in the valid range. The range of valid ports is {range}"),
                            )],
                        ));
                    }
                    let key = port_key(np);
                    if mine.contains(&np) || old_keys.contains(&key) {
                        mine.insert(np);
                        continue;
                    }
                    match take(store, &key, &owner, dry_run).await? {
                        Took::Now => took(&key),
                        Took::Already => {}
                        Took::Other => {
                            return Err(invalid(svc, vec![FieldError::invalid(field, np, "provided port is already allocated")]))
                        }
                    }
                    mine.insert(np);
                }
                None => {
                    let key =
                        allocate_any(store, &owner, dry_run, PORT_PREFIX, range.size(), 0, &|_| false, &|o| port_key(range.nth(o)))
                            .await?;
                    let np: i32 = key.trim_start_matches(PORT_PREFIX).parse().unwrap_or(0);
                    took(&key);
                    mine.insert(np);
                    svc.spec.ports[i].node_port = Some(np);
                }
            }
        }
    }
    Ok(())
}

/// Allocations made for one write, to keep or undo once the write's outcome is known.
#[derive(Debug, Default)]
pub struct Plan {
    uid: String,
    /// Keys taken for this write (released if the write fails).
    taken: Vec<String>,
    /// Keys the old object held and the new one does not (released if the write succeeds).
    dropped: Vec<String>,
}

#[async_trait]
impl Reservation for Plan {
    async fn settle(self: Box<Self>, store: &dyn Store, committed: bool) {
        let keys = if committed { &self.dropped } else { &self.taken };
        release_all(store, keys, &self.uid).await;
    }
}

/// Create: allocates for a validated Service with its uid set.
pub async fn reserve_create(store: &dyn Store, cfg: &AllocatorConfig, svc: &mut Service, dry_run: bool) -> Result<Plan> {
    let mut plan = Plan { uid: svc.metadata.uid.clone(), ..Default::default() };
    if let Err(e) = allocate(store, cfg, svc, None, dry_run, &mut plan.taken).await {
        release_all(store, &plan.taken, &plan.uid).await;
        return Err(e);
    }
    Ok(plan)
}

/// Update, before validation: an empty `clusterIP` or `nodePort` keeps the stored value;
/// a changed `clusterIP` is refused (immutable).
pub fn carry_over(old: &Service, new: &mut Service) -> Result<()> {
    let (ot, nt) = (svc_type(old).to_string(), svc_type(new).to_string());
    if ot != "ExternalName" && nt != "ExternalName" {
        let old_ip = old.spec.cluster_ip.clone().unwrap_or_default();
        if new.spec.cluster_ip.as_deref().unwrap_or("").is_empty() {
            new.spec.cluster_ip = old.spec.cluster_ip.clone();
            if new.spec.cluster_ips.is_empty() {
                new.spec.cluster_ips = old.spec.cluster_ips.clone();
            }
        }
        let new_ip = new.spec.cluster_ip.clone().unwrap_or_default();
        if !old_ip.is_empty() && new_ip != old_ip {
            return Err(invalid(new, vec![FieldError::invalid("spec.clusterIP", new_ip, "field is immutable")]));
        }
        if new.spec.cluster_ips.is_empty() && !new_ip.is_empty() {
            new.spec.cluster_ips = vec![new_ip];
        }
        if new.spec.ip_families.is_empty() {
            new.spec.ip_families = old.spec.ip_families.clone();
        }
        if new.spec.ip_family_policy.is_none() {
            new.spec.ip_family_policy = old.spec.ip_family_policy.clone();
        }
    }
    if wants_node_ports(old) && wants_node_ports(new) {
        for p in new.spec.ports.iter_mut().filter(|p| p.node_port.unwrap_or(0) == 0) {
            let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let same = old.spec.ports.iter().find(|o| o.port == p.port && o.protocol.clone().unwrap_or_else(|| "TCP".into()) == proto);
            let named = old.spec.ports.iter().find(|o| o.name.is_some() && o.name == p.name);
            if let Some(np) = same.or(named).and_then(|o| o.node_port) {
                p.node_port = Some(np);
            }
        }
    }
    Ok(())
}

/// Update, after validation: allocates what the new spec needs; the plan releases what
/// the old one held and the new one does not once the write is stored.
pub async fn reserve_update(
    store: &dyn Store,
    cfg: &AllocatorConfig,
    old: &Service,
    new: &mut Service,
    dry_run: bool,
) -> Result<Plan> {
    let mut plan = Plan { uid: old.metadata.uid.clone(), ..Default::default() };
    if let Err(e) = allocate(store, cfg, new, Some(old), dry_run, &mut plan.taken).await {
        release_all(store, &plan.taken, &plan.uid).await;
        return Err(e);
    }
    if !dry_run {
        let now = held_keys(cfg, new);
        plan.dropped = held_keys(cfg, old).into_iter().filter(|k| !now.contains(k)).collect();
    }
    Ok(plan)
}

/// Delete: releases what the deleted Service held.
pub async fn release_held(store: &dyn Store, cfg: &AllocatorConfig, svc: &Service) {
    let keys: Vec<String> = held_keys(cfg, svc).into_iter().collect();
    release_all(store, &keys, &svc.metadata.uid).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Preconditions, Registry};

    fn svc(name: &str, spec: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap()
    }

    async fn registry(cidr: &str, ports: &str) -> (Registry, tempfile::TempDir) {
        crate::admission::testing::registry(AllocatorConfig::new(cidr, ports).unwrap()).await
    }

    #[tokio::test]
    async fn concurrent_creates_fill_a_small_range_without_duplicates_then_fail() {
        // 10.0.0.0/28: 16 addresses, minus network, reserved .1 and broadcast = 13.
        let (r, _d) = registry("10.0.0.0/28", "30000-30002").await;
        let results = futures::future::join_all(
            (0..16).map(|i| r.create(svc(&format!("s{i}"), serde_json::json!({"ports": [{"port": 80}]})))),
        )
        .await;
        let ips: Vec<String> = results.iter().flatten().map(|s| s.spec.cluster_ip.clone().unwrap()).collect();
        assert_eq!(ips.len(), 13, "{results:?}");
        assert_eq!(ips.iter().collect::<BTreeSet<_>>().len(), 13);
        assert!(!ips.iter().any(|ip| ip == "10.0.0.0" || ip == "10.0.0.1" || ip == "10.0.0.15"));
        assert_eq!(r.store().list(IP_PREFIX).await.unwrap().kvs.len(), 13);
        // Node ports: three in the range, a fourth request fails and leaves nothing behind.
        let (r, _d) = registry("10.0.0.0/24", "30000-30002").await;
        let np = r.create(svc("np", serde_json::json!({"type": "NodePort", "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}, {"name": "c", "port": 3}]}))).await.unwrap();
        let got: BTreeSet<i32> = np.spec.ports.iter().map(|p| p.node_port.unwrap()).collect();
        assert_eq!(got, [30000, 30001, 30002].into_iter().collect());
        assert!(r.create(svc("np2", serde_json::json!({"type": "NodePort", "ports": [{"port": 1}]}))).await.is_err());
        assert_eq!(r.store().list(IP_PREFIX).await.unwrap().kvs.len(), 1, "np2's address was released");
        // Deleting releases everything.
        r.delete::<Service>(Some("default"), "np", &Preconditions::default()).await.unwrap();
        assert!(r.store().list(IP_PREFIX).await.unwrap().kvs.is_empty());
        assert!(r.store().list(PORT_PREFIX).await.unwrap().kvs.is_empty());
    }
}
