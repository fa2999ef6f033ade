//! The admission plugin that gives Services their ClusterIP and NodePorts (see
//! `crate::allocator` for how allocations are held).

use async_trait::async_trait;

use api::model::Service;

use super::{Admission, Context, Object, Reservation, Result};
use crate::allocator::{self, AllocatorConfig};

/// Allocates on create and update, refuses a changed `clusterIP` and taken values,
/// releases on delete.
pub struct ServiceAllocation {
    cfg: AllocatorConfig,
}

impl ServiceAllocation {
    pub fn new(cfg: AllocatorConfig) -> Self {
        ServiceAllocation { cfg }
    }
}

#[async_trait]
impl Admission for ServiceAllocation {
    fn name(&self) -> &'static str {
        "ServiceAllocation"
    }

    async fn admit_update(&self, _cx: Context<'_>, old: &dyn Object, new: &mut dyn Object) -> Result<()> {
        match (old.downcast_ref::<Service>(), new.downcast_mut::<Service>()) {
            (Some(old), Some(new)) => allocator::carry_over(old, new),
            _ => Ok(()),
        }
    }

    async fn reserve(
        &self,
        cx: Context<'_>,
        old: Option<&dyn Object>,
        new: &mut dyn Object,
    ) -> Result<Option<Box<dyn Reservation>>> {
        let Some(svc) = new.downcast_mut::<Service>() else { return Ok(None) };
        let plan = match old.and_then(|o| o.downcast_ref::<Service>()) {
            Some(old) => allocator::reserve_update(cx.store, &self.cfg, old, svc, cx.dry_run).await?,
            None => allocator::reserve_create(cx.store, &self.cfg, svc, cx.dry_run).await?,
        };
        Ok(Some(Box::new(plan)))
    }

    async fn deleted(&self, cx: Context<'_>, obj: &dyn Object) {
        if let Some(svc) = obj.downcast_ref::<Service>() {
            allocator::release_held(cx.store, &self.cfg, svc).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::admission::testing::{answer, registry};
    use crate::allocator::{AllocatorConfig, IP_PREFIX, PORT_PREFIX};
    use crate::registry::{Preconditions, Propagation, Registry, UpdateScope};
    use api::model::Service;

    fn svc(name: &str, spec: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap()
    }

    async fn keys(r: &Registry) -> Vec<String> {
        let mut out = Vec::new();
        for prefix in [IP_PREFIX, PORT_PREFIX] {
            out.extend(r.store().list(prefix).await.unwrap().kvs.into_iter().map(|kv| kv.key));
        }
        out
    }

    #[tokio::test]
    async fn a_dry_run_create_answers_an_address_and_takes_nothing() {
        let (r, _d) = registry(AllocatorConfig::default()).await;
        let dry = r
            .create_with(svc("a", serde_json::json!({"type": "NodePort", "ports": [{"port": 80}]})), true)
            .await
            .expect("dry run");
        let ip: std::net::Ipv4Addr = dry.spec.cluster_ip.as_deref().expect("an address").parse().unwrap();
        assert!(r.allocator().service_cidr.is_usable(ip), "{ip}");
        assert!(dry.spec.ports[0].node_port.is_some_and(|p| r.allocator().node_ports.contains(p)), "{dry:?}");
        assert!(keys(&r).await.is_empty(), "no allocation keys");
        assert!(r.get::<Service>(Some("default"), "a").await.is_err(), "no object");
        // A dry-run delete of a real Service keeps its keys.
        r.create(svc("b", serde_json::json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}))).await.unwrap();
        r.delete_with::<Service>(Some("default"), "b", &Preconditions::default(), Propagation::Background, true).await.unwrap();
        assert_eq!(keys(&r).await, vec![format!("{IP_PREFIX}10.96.0.10")]);
    }

    #[tokio::test]
    async fn taken_addresses_and_ports_get_the_same_answer_dry_run_or_not() {
        let (r, _d) = registry(AllocatorConfig::default()).await;
        r.create(svc("first", serde_json::json!({"clusterIP": "10.96.0.10", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})))
            .await
            .unwrap();
        let before = keys(&r).await;
        for (name, spec, words) in [
            ("ip-clash", serde_json::json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}), "provided IP is already allocated"),
            ("port-clash", serde_json::json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}), "provided port is already allocated"),
            ("outside", serde_json::json!({"clusterIP": "10.200.0.1", "ports": [{"port": 80}]}), "not in the valid range"),
        ] {
            let dry = r.create_with(svc(name, spec.clone()), true).await;
            let real = r.create_with(svc(name, spec), false).await;
            assert_eq!(answer(&dry), answer(&real), "{name}");
            let (code, message) = answer(&real);
            assert_eq!(code, 422, "{name}: {message}");
            assert!(message.contains(words), "{name}: {message}");
            assert_eq!(keys(&r).await, before, "{name}: a refused create leaves no keys");
        }
        // The same clash on an update: a second Service moving onto the taken node port.
        r.create(svc("second", serde_json::json!({"type": "NodePort", "ports": [{"port": 80}]}))).await.unwrap();
        let before = keys(&r).await;
        let mut moved: Service = r.get(Some("default"), "second").await.unwrap();
        moved.spec.ports[0].node_port = Some(30080);
        let dry = r.update_with(moved.clone(), UpdateScope::Main, true).await;
        let real = r.update_with(moved, UpdateScope::Main, false).await;
        assert_eq!(answer(&dry), answer(&real));
        assert_eq!(answer(&real).0, 422, "{real:?}");
        assert_eq!(keys(&r).await, before);
    }

    #[tokio::test]
    async fn changing_the_cluster_ip_is_422_dry_run_or_not() {
        let (r, _d) = registry(AllocatorConfig::default()).await;
        let s = r.create(svc("web", serde_json::json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}))).await.unwrap();
        let mut changed = s.clone();
        changed.spec.cluster_ip = Some("10.96.0.11".into());
        changed.spec.cluster_ips = vec!["10.96.0.11".into()];
        let dry = r.update_with(changed.clone(), UpdateScope::Main, true).await;
        let real = r.update_with(changed, UpdateScope::Main, false).await;
        assert_eq!(answer(&dry), answer(&real));
        let (code, message) = answer(&real);
        assert_eq!(code, 422, "{message}");
        assert!(message.contains("field is immutable"), "{message}");
        assert_eq!(keys(&r).await, vec![format!("{IP_PREFIX}10.96.0.10")]);
        // A dry-run switch to NodePort answers a port and takes none.
        let mut to_np = s;
        to_np.spec.type_ = Some("NodePort".into());
        let dry = r.update_with(to_np, UpdateScope::Main, true).await.expect("dry run");
        assert!(dry.spec.ports[0].node_port.is_some(), "{dry:?}");
        assert_eq!(keys(&r).await, vec![format!("{IP_PREFIX}10.96.0.10")]);
    }
}
