//! The Endpoints and EndpointSlice controllers (upstream's `pkg/controller/endpoint` and
//! `pkg/controller/endpointslice`), as one actor per Service: for a Service with a
//! selector, the pods of its namespace the selector matches that have an IP become
//! endpoints — in the core/v1 `Endpoints` of the Service's name (ready pods in
//! `addresses`, not-ready ones in `notReadyAddresses`, terminating ones left out) and in
//! EndpointSlices of at most [`MAX_ENDPOINTS_PER_SLICE`] endpoints (conditions ready /
//! serving / terminating as upstream sets them). Ports come from the Service's ports
//! with the target port resolved per pod (a named one through the pod's container
//! ports; a pod without it has no endpoint for that port). Both carry an ownerReference
//! to the Service, so the garbage collector removes them with it. Services without a
//! selector are left to their users; `default/kubernetes` belongs to
//! [`super::kubernetes_service`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use api::model::{
    Endpoint, EndpointAddress, EndpointConditions, EndpointPort, EndpointSlice, EndpointSlicePort, EndpointSubset, Endpoints,
    IntOrString, LabelSelector, Node, ObjectMeta, ObjectReference, Pod, Service, ServicePort, LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
};

use super::{controller_ref_of, pod_is_ready};
use crate::controller::{Action, ChildKind, Children, Cx, ReconcileError, Reconciler};
use crate::registry::{RegistryError, UpdateScope};

/// The value of [`LABEL_MANAGED_BY`] on the slices this controller writes.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Upstream's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The node label an endpoint's zone is read from.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

#[derive(Debug, Default)]
pub struct EndpointsController;

/// Whether this controller keeps the Service's endpoints.
pub fn managed(svc: &Service) -> bool {
    let is_kubernetes = svc.metadata.name == super::kubernetes_service::NAME
        && svc.metadata.namespace.as_deref() == Some(super::kubernetes_service::NAMESPACE);
    !svc.spec.selector.is_empty() && !is_kubernetes
}

/// One pod's endpoint, before it is written into either kind.
#[derive(Debug, Clone, PartialEq)]
struct PodEndpoint {
    ip: String,
    ready: bool,
    serving: bool,
    terminating: bool,
    node_name: Option<String>,
    hostname: Option<String>,
    target_ref: ObjectReference,
    /// (name, port, protocol, appProtocol) per Service port the pod resolves.
    ports: Vec<PortKey>,
}

type PortKey = (String, i32, String, Option<String>);

/// The port a Service port reaches on `pod`: a number as is (a missing target is the
/// port itself), a name through the pod's container ports of the same protocol.
pub fn resolve_target_port(sp: &ServicePort, pod: &Pod) -> Option<i32> {
    let proto = sp.protocol.as_deref().unwrap_or("TCP");
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(0)) => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => match name.parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => pod
                .spec
                .containers
                .iter()
                .flat_map(|c| c.ports.iter())
                .find(|p| p.name.as_deref() == Some(name.as_str()) && p.protocol.as_deref().unwrap_or("TCP") == proto)
                .map(|p| p.container_port),
        },
    }
}

fn pod_endpoint(svc: &Service, pod: &Pod) -> Option<PodEndpoint> {
    let ip = pod.status.as_ref()?.pod_ip.clone().filter(|ip| !ip.is_empty())?;
    if ip.contains(':') {
        // IPv4 slices only.
        return None;
    }
    let publish = svc.spec.publish_not_ready_addresses == Some(true);
    let terminating = pod.metadata.is_deleting();
    let serving = publish || pod_is_ready(pod);
    let ready = serving && (publish || !terminating);
    let ports = svc
        .spec
        .ports
        .iter()
        .filter_map(|sp| {
            let port = resolve_target_port(sp, pod)?;
            Some((
                sp.name.clone().unwrap_or_default(),
                port,
                sp.protocol.clone().unwrap_or_else(|| "TCP".into()),
                sp.app_protocol.clone(),
            ))
        })
        .collect::<Vec<_>>();
    if !svc.spec.ports.is_empty() && ports.is_empty() {
        return None;
    }
    let hostname = match (&pod.spec.hostname, &pod.spec.subdomain) {
        (Some(h), Some(sd)) if *sd == svc.metadata.name && !h.is_empty() => Some(h.clone()),
        _ => None,
    };
    Some(PodEndpoint {
        ip,
        ready,
        serving,
        terminating,
        node_name: pod.spec.node_name.clone().filter(|n| !n.is_empty()),
        hostname,
        target_ref: ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: Some(pod.metadata.name.clone()),
            uid: Some(pod.metadata.uid.clone()),
            ..Default::default()
        },
        ports,
    })
}

/// The pods' endpoints grouped by the ports they resolve, groups and endpoints in a
/// stable order.
fn grouped(svc: &Service, pods: &[Arc<Pod>]) -> BTreeMap<Vec<PortKey>, Vec<PodEndpoint>> {
    let sel = LabelSelector::from_map(&svc.spec.selector);
    let mut groups: BTreeMap<Vec<PortKey>, Vec<PodEndpoint>> = BTreeMap::new();
    for p in pods {
        if p.metadata.namespace != svc.metadata.namespace || !sel.matches(&p.metadata.labels) {
            continue;
        }
        if let Some(e) = pod_endpoint(svc, p) {
            groups.entry(e.ports.clone()).or_default().push(e);
        }
    }
    for es in groups.values_mut() {
        es.sort_by(|a, b| (&a.ip, &a.target_ref.name).cmp(&(&b.ip, &b.target_ref.name)));
    }
    groups
}

fn owned_meta(svc: &Service, name: String) -> ObjectMeta {
    ObjectMeta {
        name,
        namespace: svc.metadata.namespace.clone(),
        owner_references: vec![controller_ref_of(svc)],
        ..Default::default()
    }
}

/// The Endpoints the Service should have (pure).
pub fn desired_endpoints(svc: &Service, pods: &[Arc<Pod>]) -> Endpoints {
    let mut subsets = Vec::new();
    for (ports, es) in grouped(svc, pods) {
        let mut subset = EndpointSubset {
            ports: ports
                .iter()
                .map(|(name, port, proto, app)| EndpointPort {
                    name: Some(name.clone()).filter(|n| !n.is_empty()),
                    port: *port,
                    protocol: Some(proto.clone()),
                    app_protocol: app.clone(),
                })
                .collect(),
            ..Default::default()
        };
        for e in es {
            if e.terminating && svc.spec.publish_not_ready_addresses != Some(true) {
                continue;
            }
            let a = EndpointAddress {
                ip: e.ip.clone(),
                hostname: e.hostname.clone(),
                node_name: e.node_name.clone(),
                target_ref: Some(e.target_ref.clone()),
            };
            if e.ready {
                subset.addresses.push(a);
            } else {
                subset.not_ready_addresses.push(a);
            }
        }
        if !subset.addresses.is_empty() || !subset.not_ready_addresses.is_empty() {
            subsets.push(subset);
        }
    }
    let mut meta = owned_meta(svc, svc.metadata.name.clone());
    meta.labels = svc.metadata.labels.clone();
    Endpoints { metadata: meta, subsets, ..Default::default() }
}

/// The EndpointSlices the Service should have (pure): one group of slices per distinct
/// resolved port set, at most [`MAX_ENDPOINTS_PER_SLICE`] endpoints each, named
/// `<service>-<n>`; a Service matching no pod gets one empty slice, as upstream's
/// placeholder. `zone` gives a node's zone.
pub fn desired_slices(svc: &Service, pods: &[Arc<Pod>], zone: impl Fn(&str) -> Option<String>) -> Vec<EndpointSlice> {
    let mut chunks: Vec<(Vec<PortKey>, Vec<PodEndpoint>)> = Vec::new();
    for (ports, es) in grouped(svc, pods) {
        for c in es.chunks(MAX_ENDPOINTS_PER_SLICE) {
            chunks.push((ports.clone(), c.to_vec()));
        }
    }
    if chunks.is_empty() {
        chunks.push((Vec::new(), Vec::new()));
    }
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, (ports, es))| {
            let mut meta = owned_meta(svc, format!("{}-{i}", svc.metadata.name));
            meta.labels = svc.metadata.labels.clone();
            meta.labels.insert(LABEL_SERVICE_NAME.into(), svc.metadata.name.clone());
            meta.labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
            EndpointSlice {
                metadata: meta,
                address_type: "IPv4".into(),
                endpoints: es
                    .into_iter()
                    .map(|e| Endpoint {
                        addresses: vec![e.ip],
                        conditions: Some(EndpointConditions {
                            ready: Some(e.ready),
                            serving: Some(e.serving),
                            terminating: Some(e.terminating),
                        }),
                        hostname: e.hostname,
                        target_ref: Some(e.target_ref),
                        zone: e.node_name.as_deref().and_then(&zone),
                        node_name: e.node_name,
                        ..Default::default()
                    })
                    .collect(),
                ports: ports
                    .into_iter()
                    .map(|(name, port, proto, app)| EndpointSlicePort {
                        name: Some(name),
                        protocol: Some(proto),
                        port: Some(port),
                        app_protocol: app,
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect()
}

fn node_zone(node: &Node) -> Option<String> {
    node.metadata.labels.get(ZONE_LABEL).cloned()
}

/// Whether a stored object already says what the desired one does.
fn same_meta(have: &ObjectMeta, want: &ObjectMeta) -> bool {
    have.labels == want.labels && have.owner_references == want.owner_references
}

async fn sync(svc: &Service, cx: &Cx) -> Result<(), ReconcileError> {
    let caches = cx.caches();
    let ns = svc.metadata.namespace.as_deref();
    let pods = caches.pods.list(ns);
    let nodes = &caches.nodes;
    let zone = |n: &str| nodes.get(None, n).and_then(|n| node_zone(&n));

    let want = desired_endpoints(svc, &pods);
    match caches.endpoints.get(ns, &svc.metadata.name) {
        None => match cx.create(want.clone()).await {
            Ok(_) => {}
            Err(RegistryError::AlreadyExists { .. }) => write_endpoints(cx, ns, &want).await?,
            Err(e) => return Err(e.into()),
        },
        Some(have) if have.subsets != want.subsets || !same_meta(&have.metadata, &want.metadata) => {
            write_endpoints(cx, ns, &want).await?
        }
        Some(_) => {}
    }

    let want = desired_slices(svc, &pods, zone);
    let uid = &svc.metadata.uid;
    let have: Vec<Arc<EndpointSlice>> = caches
        .endpointslices
        .list(ns)
        .into_iter()
        .filter(|s| {
            s.metadata.labels.get(LABEL_SERVICE_NAME) == Some(&svc.metadata.name)
                && s.metadata.labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY)
        })
        .collect();
    for w in &want {
        match have.iter().find(|h| h.metadata.name == w.metadata.name) {
            None => match cx.create(w.clone()).await {
                Ok(_) => {}
                Err(RegistryError::AlreadyExists { .. }) => write_slice(cx, ns, w).await?,
                Err(e) => return Err(e.into()),
            },
            Some(h) if h.endpoints != w.endpoints || h.ports != w.ports || !same_meta(&h.metadata, &w.metadata) => {
                write_slice(cx, ns, w).await?
            }
            Some(_) => {}
        }
    }
    for h in &have {
        let ours = h.metadata.owner_references.iter().any(|o| &o.uid == uid) || h.metadata.owner_references.is_empty();
        if ours && !want.iter().any(|w| w.metadata.name == h.metadata.name) {
            match cx.delete::<EndpointSlice>(ns, &h.metadata.name, &Default::default()).await {
                Ok(_) | Err(RegistryError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

async fn write_endpoints(cx: &Cx, ns: Option<&str>, want: &Endpoints) -> Result<(), ReconcileError> {
    cx.modify::<Endpoints>(ns, &want.metadata.name, UpdateScope::Main, |e| {
        e.subsets = want.subsets.clone();
        e.metadata.labels = want.metadata.labels.clone();
        e.metadata.owner_references = want.metadata.owner_references.clone();
        true
    })
    .await?;
    Ok(())
}

async fn write_slice(cx: &Cx, ns: Option<&str>, want: &EndpointSlice) -> Result<(), ReconcileError> {
    cx.modify::<EndpointSlice>(ns, &want.metadata.name, UpdateScope::Main, |s| {
        s.endpoints = want.endpoints.clone();
        s.ports = want.ports.clone();
        s.metadata.labels = want.metadata.labels.clone();
        s.metadata.owner_references = want.metadata.owner_references.clone();
        true
    })
    .await?;
    Ok(())
}

#[async_trait]
impl Reconciler for EndpointsController {
    type Object = Service;
    const CHILDREN: Children =
        Children::Of(&[ChildKind::selected::<Pod>(), ChildKind::of::<Endpoints>(), ChildKind::of::<EndpointSlice>()]);

    /// The Service's selector wakes it on the changes of the pods it matches.
    fn selector(obj: &Service) -> Option<LabelSelector> {
        managed(obj).then(|| LabelSelector::from_map(&obj.spec.selector))
    }

    async fn reconcile(&self, obj: Arc<Service>, cx: &Cx) -> Result<Action, ReconcileError> {
        if !managed(&obj) || obj.metadata.is_deleting() {
            return Ok(Action::await_change());
        }
        sync(&obj, cx).await?;
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Condition, Container, ContainerPort, PodStatus, Validate};

    fn svc(ports: Vec<ServicePort>) -> Service {
        let mut s = Service::default();
        s.metadata.name = "web".into();
        s.metadata.namespace = Some("default".into());
        s.metadata.uid = "svc-uid".into();
        s.spec.selector.insert("app".into(), "web".into());
        s.spec.ports = ports;
        s
    }

    fn port(name: &str, port: i32, target: Option<IntOrString>) -> ServicePort {
        ServicePort { name: Some(name.into()), port, target_port: target, protocol: Some("TCP".into()), ..Default::default() }
    }

    fn pod(name: &str, ip: &str, ready: bool, named: Option<(&str, i32)>) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.metadata.namespace = Some("default".into());
        p.metadata.uid = format!("{name}-uid");
        p.metadata.labels.insert("app".into(), "web".into());
        p.spec.node_name = Some("n1".into());
        let mut c = Container { name: "c".into(), ..Default::default() };
        if let Some((n, v)) = named {
            c.ports.push(ContainerPort { name: Some(n.into()), container_port: v, ..Default::default() });
        }
        p.spec.containers.push(c);
        p.status = Some(PodStatus {
            pod_ip: Some(ip.into()),
            conditions: vec![Condition { type_: "Ready".into(), status: if ready { "True" } else { "False" }.into(), ..Default::default() }],
            ..Default::default()
        });
        Arc::new(p)
    }

    #[test]
    fn ready_and_not_ready_pods_with_a_named_port() {
        let s = svc(vec![port("http", 80, Some(IntOrString::String("web".into()))), port("metrics", 9090, None)]);
        let pods = vec![pod("a", "10.1.0.2", true, Some(("web", 8080))), pod("b", "10.1.0.3", false, Some(("web", 8080)))];
        let e = desired_endpoints(&s, &pods);
        assert_eq!(e.subsets.len(), 1);
        assert_eq!(e.subsets[0].addresses.len(), 1);
        assert_eq!(e.subsets[0].addresses[0].ip, "10.1.0.2");
        assert_eq!(e.subsets[0].not_ready_addresses[0].ip, "10.1.0.3");
        let ports: Vec<_> = e.subsets[0].ports.iter().map(|p| (p.name.clone().unwrap(), p.port)).collect();
        assert_eq!(ports, vec![("http".to_string(), 8080), ("metrics".to_string(), 9090)]);
        assert!(e.validate().is_empty(), "{:?}", e.validate());

        let slices = desired_slices(&s, &pods, |_| Some("z1".into()));
        assert_eq!(slices.len(), 1);
        let sl = &slices[0];
        assert!(sl.validate().is_empty(), "{:?}", sl.validate());
        assert_eq!(sl.metadata.labels[LABEL_SERVICE_NAME], "web");
        assert_eq!(sl.metadata.labels[LABEL_MANAGED_BY], MANAGED_BY);
        assert_eq!(sl.metadata.owner_references[0].uid, "svc-uid");
        assert_eq!(sl.address_type, "IPv4");
        assert_eq!(sl.endpoints.len(), 2);
        let c = sl.endpoints[1].conditions.clone().unwrap();
        assert_eq!((c.ready, c.serving, c.terminating), (Some(false), Some(false), Some(false)));
        assert_eq!(sl.endpoints[0].zone.as_deref(), Some("z1"));
        assert_eq!(sl.endpoints[0].node_name.as_deref(), Some("n1"));
        assert_eq!(sl.endpoints[0].target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
        assert_eq!(sl.ports.iter().map(|p| p.port.unwrap()).collect::<Vec<_>>(), vec![8080, 9090]);
    }

    #[test]
    fn a_pod_without_the_named_port_gets_no_endpoint_for_it() {
        let s = svc(vec![port("http", 80, Some(IntOrString::String("web".into()))), port("raw", 81, Some(IntOrString::Int(8181)))]);
        let pods = vec![pod("a", "10.1.0.2", true, Some(("web", 8080))), pod("b", "10.1.0.3", true, None)];
        let e = desired_endpoints(&s, &pods);
        assert_eq!(e.subsets.len(), 2);
        let slices = desired_slices(&s, &pods, |_| None);
        assert_eq!(slices.len(), 2);
        let only_raw = slices.iter().find(|s| s.ports.len() == 1).unwrap();
        assert_eq!(only_raw.endpoints[0].addresses, vec!["10.1.0.3".to_string()]);
        // Only the named port: the pod lacking it is no endpoint at all.
        let s = svc(vec![port("http", 80, Some(IntOrString::String("web".into())))]);
        assert_eq!(desired_slices(&s, &pods, |_| None)[0].endpoints.len(), 1);
    }

    #[test]
    fn terminating_publish_not_ready_and_no_ip() {
        let s = svc(vec![port("http", 80, None)]);
        let mut t = (*pod("t", "10.1.0.4", true, None)).clone();
        t.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        let pods = vec![Arc::new(t), pod("n", "", true, None)];
        let e = desired_endpoints(&s, &pods);
        assert!(e.subsets.is_empty(), "terminating pods are left out of Endpoints");
        let sl = &desired_slices(&s, &pods, |_| None)[0];
        assert_eq!(sl.endpoints.len(), 1);
        let c = sl.endpoints[0].conditions.clone().unwrap();
        assert_eq!((c.ready, c.serving, c.terminating), (Some(false), Some(true), Some(true)));

        let mut s = s;
        s.spec.publish_not_ready_addresses = Some(true);
        let pods = vec![pod("b", "10.1.0.3", false, None)];
        assert_eq!(desired_endpoints(&s, &pods).subsets[0].addresses.len(), 1);
        assert_eq!(desired_slices(&s, &pods, |_| None)[0].endpoints[0].conditions.as_ref().unwrap().ready, Some(true));
    }

    #[test]
    fn no_pods_give_one_empty_slice_and_many_pods_are_chunked() {
        let s = svc(vec![port("http", 80, None)]);
        let sl = desired_slices(&s, &[], |_| None);
        assert_eq!(sl.len(), 1);
        assert!(sl[0].endpoints.is_empty());
        assert!(sl[0].validate().is_empty());
        let pods: Vec<_> = (0..250).map(|i| pod(&format!("p{i}"), &format!("10.1.{}.{}", i / 200, i % 200 + 1), true, None)).collect();
        let sl = desired_slices(&s, &pods, |_| None);
        assert_eq!(sl.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(), vec![100, 100, 50]);
        assert_eq!(sl[2].metadata.name, "web-2");
    }

    #[test]
    fn services_without_selector_and_the_kubernetes_service_are_not_managed() {
        let mut s = svc(vec![]);
        assert!(managed(&s));
        s.spec.selector.clear();
        assert!(!managed(&s));
        let mut k = svc(vec![]);
        k.metadata.name = "kubernetes".into();
        assert!(!managed(&k));
    }
}
