//! The scheduling-gates plugin: on a pod update, gates may only be removed, never added
//! (upstream's pod update validation; the rule lives in `api::validation::scheduling`).

use async_trait::async_trait;

use api::model::Pod;
use api::validation::scheduling::validate_scheduling_gates_update;

use super::{Admission, AdmissionError, Context, Object, Result};

pub struct SchedulingGates;

#[async_trait]
impl Admission for SchedulingGates {
    fn name(&self) -> &'static str {
        "SchedulingGates"
    }

    async fn admit_update(&self, _cx: Context<'_>, old: &dyn Object, new: &mut dyn Object) -> Result<()> {
        let (Some(old), Some(new)) = (old.downcast_ref::<Pod>(), (*new).downcast_ref::<Pod>()) else { return Ok(()) };
        let errors = validate_scheduling_gates_update(&old.spec, &new.spec, "spec");
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AdmissionError::Invalid { kind: "Pod".into(), name: new.metadata.name.clone(), errors })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::embedded::EmbeddedStore;

    fn pod(gates: &[&str]) -> Pod {
        let gates: Vec<_> = gates.iter().map(|g| json!({"name": g})).collect();
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"},
                                      "spec": {"containers": [{"name": "c"}], "schedulingGates": gates}}))
        .unwrap()
    }

    #[tokio::test]
    async fn gates_may_be_removed_not_added() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let cx = Context { store: &store, dry_run: false };
        let plugin = SchedulingGates;
        let cases: &[(&[&str], &[&str], Option<&str>)] = &[
            (&["a", "b"], &["b"], None),
            (&["a"], &[], None),
            (&["a"], &["a"], None),
            (&["a"], &["a", "c"], Some("spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'c'")),
            (&[], &["c"], Some("spec.schedulingGates[0].name: Forbidden: only deletion is allowed, but found new scheduling gate 'c'")),
        ];
        for (old, new, want) in cases {
            let mut new_pod = pod(new);
            let res = plugin.admit_update(cx, &pod(old), &mut new_pod).await;
            match (res, want) {
                (Ok(()), None) => {}
                (Err(AdmissionError::Invalid { errors, .. }), Some(w)) => assert_eq!(errors[0].to_string(), *w),
                (other, _) => panic!("{old:?} → {new:?}: {other:?}"),
            }
        }
    }
}
