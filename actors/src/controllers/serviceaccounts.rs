//! The service-accounts controller (upstream's `serviceaccounts-controller`): every
//! namespace that is not Terminating has a `default` ServiceAccount; one missing (a new
//! namespace, or the account deleted) is created again.

use futures::stream::BoxStream;
use futures::StreamExt;

use api::model::{Namespace, ObjectMeta, ServiceAccount, DEFAULT_SERVICE_ACCOUNT};

use crate::admission::namespace::is_terminating;
use crate::controller::{changes_of, Action, Caches, Cx, ReconcileError, Singleton};
use crate::registry::RegistryError;

#[derive(Debug, Default)]
pub struct ServiceAccountsController;

/// The namespaces that should have a `default` account and lack one in the cache.
pub fn missing_default(namespaces: &[std::sync::Arc<Namespace>], has: impl Fn(&str) -> bool) -> Vec<String> {
    namespaces
        .iter()
        .filter(|ns| !is_terminating(ns))
        .map(|ns| ns.metadata.name.clone())
        .filter(|name| !has(name))
        .collect()
}

#[async_trait::async_trait]
impl Singleton for ServiceAccountsController {
    const NAME: &'static str = "serviceaccounts";

    fn wakers(caches: &Caches) -> BoxStream<'static, ()> {
        futures::stream::select(changes_of(&caches.namespaces), changes_of(&caches.serviceaccounts)).boxed()
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        let caches = cx.caches();
        let namespaces = caches.namespaces.list(None);
        let missing = missing_default(&namespaces, |ns| caches.serviceaccounts.get(Some(ns), DEFAULT_SERVICE_ACCOUNT).is_some());
        for ns in missing {
            let sa = ServiceAccount {
                metadata: ObjectMeta { name: DEFAULT_SERVICE_ACCOUNT.into(), namespace: Some(ns.clone()), ..Default::default() },
                ..Default::default()
            };
            match cx.create(sa).await {
                Ok(_) => tracing::info!(namespace = %ns, "created the default ServiceAccount"),
                // Already there (the cache lags), or the namespace went away or is Terminating.
                Err(RegistryError::AlreadyExists { .. } | RegistryError::NotFound { .. } | RegistryError::Forbidden { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ns(name: &str, terminating: bool) -> Arc<Namespace> {
        let mut n = Namespace { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
        if terminating {
            n.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        }
        Arc::new(n)
    }

    #[test]
    fn active_namespaces_without_default_need_one() {
        let all = [ns("default", false), ns("team-a", false), ns("going", true)];
        assert_eq!(missing_default(&all, |n| n == "default"), ["team-a"]);
        assert!(missing_default(&all, |_| true).is_empty());
    }
}
