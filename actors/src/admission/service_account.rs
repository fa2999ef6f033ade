//! The ServiceAccount admission plugin (upstream's `ServiceAccount` plugin, its
//! defaulting part): a pod that names no account runs as `default`, in
//! `spec.serviceAccountName` and its deprecated mirror `spec.serviceAccount`.
//!
//! Left out for now, on purpose: upstream also refuses pods whose account does not exist
//! yet and mounts the account's token as a projected volume. Both belong to the security
//! work (tokens, authentication); until then a pod may name an account that is not there
//! (it is created in time by the service-accounts controller for `default`).

use async_trait::async_trait;

use api::model::{Pod, DEFAULT_SERVICE_ACCOUNT};

use super::{Admission, Context, Object, Result};

#[derive(Debug, Default)]
pub struct ServiceAccountAdmission;

#[async_trait]
impl Admission for ServiceAccountAdmission {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }

    async fn admit_create(&self, _cx: Context<'_>, obj: &mut dyn Object) -> Result<()> {
        if let Some(pod) = obj.downcast_mut::<Pod>() {
            if pod.spec.service_account_name.as_deref().unwrap_or("").is_empty() {
                pod.spec.service_account_name = Some(DEFAULT_SERVICE_ACCOUNT.to_string());
                pod.spec.service_account = Some(DEFAULT_SERVICE_ACCOUNT.to_string());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::testing;

    fn pod(name: &str, sa: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "serviceAccountName": sa}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn pods_without_an_account_get_default_and_named_ones_keep_theirs() {
        let (reg, _dir) = testing::registry(Default::default()).await;
        let p = reg.create(pod("a", None)).await.unwrap();
        assert_eq!(p.spec.service_account_name.as_deref(), Some("default"));
        assert_eq!(p.spec.service_account.as_deref(), Some("default"));
        // An account that does not exist (yet) is not refused.
        let p = reg.create(pod("b", Some("robot"))).await.unwrap();
        assert_eq!(p.spec.service_account_name.as_deref(), Some("robot"));
        assert_eq!(p.spec.service_account.as_deref(), Some("robot"), "mirrored by defaulting");
    }
}
