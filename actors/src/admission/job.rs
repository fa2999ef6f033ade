//! The Job selector (upstream's Job strategy, PrepareForCreate): a Job created without
//! `manualSelector: true` gets a selector on its own uid and the labels that match it on
//! its template, before validation judges them. It needs the uid, which the registry
//! assigns just before admission, hence a plugin rather than a default.

use async_trait::async_trait;

use api::model::Job;

use super::{Admission, Context, Object, Result};

#[derive(Debug, Default)]
pub struct JobSelector;

#[async_trait]
impl Admission for JobSelector {
    fn name(&self) -> &'static str {
        "JobSelector"
    }

    async fn admit_create(&self, _cx: Context<'_>, obj: &mut dyn Object) -> Result<()> {
        if let Some(job) = obj.downcast_mut::<Job>() {
            job.generate_selector();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::testing;
    use crate::registry::RegistryError;

    fn job(manual: bool, selector: serde_json::Value) -> Job {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pi", "namespace": "default"},
            "spec": {"manualSelector": manual, "selector": selector,
                     "template": {"metadata": {"labels": {"app": "pi"}},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "perl"}]}}}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn jobs_get_a_selector_on_their_uid_and_manual_ones_are_checked() {
        let (reg, _dir) = testing::registry(Default::default()).await;
        let j = reg.create(job(false, serde_json::Value::Null)).await.unwrap();
        let sel = j.spec.selector.clone().unwrap();
        assert_eq!(sel.match_labels.get("batch.kubernetes.io/controller-uid"), Some(&j.metadata.uid));
        let labels = &j.spec.template.metadata.labels;
        assert_eq!(labels.get("batch.kubernetes.io/job-name").map(String::as_str), Some("pi"));
        assert_eq!(labels.get("controller-uid"), Some(&j.metadata.uid));
        assert_eq!(labels.get("app").map(String::as_str), Some("pi"));

        let mut manual = job(true, serde_json::json!({"matchLabels": {"app": "pi"}}));
        manual.metadata.name = "manual".into();
        let m = reg.create(manual).await.unwrap();
        assert_eq!(m.spec.selector.unwrap().match_labels.len(), 1, "a manual selector is left alone");

        let mut missing = job(true, serde_json::Value::Null);
        missing.metadata.name = "missing".into();
        match reg.create(missing).await {
            Err(RegistryError::Invalid { errors, .. }) => assert!(errors.iter().any(|e| e.field == "spec.selector"), "{errors:?}"),
            other => panic!("want 422, got {other:?}"),
        }
    }
}
