//! Storage admission: `DefaultStorageClass` (upstream's
//! `plugin/pkg/admission/storage/storageclass/setdefault`) gives a claim that names no
//! class (`storageClassName` absent; an explicit `""` means "no class" and is kept) the
//! default StorageClass — the one annotated `storageclass.kubernetes.io/is-default-class:
//! "true"`, the newest when several are (upstream picks the newest too). The immutable
//! fields of classes and volumes are update validation (`api::validation`), not admission.

use async_trait::async_trait;

use api::codec;
use api::model::{PersistentVolumeClaim, Resource, StorageClass};

use super::{Admission, Context, Object, Result};

/// Sets the default class on claims that name none.
pub struct DefaultStorageClass;

/// The default class among `classes`: the newest of those marked default (ties: by name).
pub fn default_class(classes: &[StorageClass]) -> Option<&StorageClass> {
    classes
        .iter()
        .filter(|c| c.is_default())
        .max_by(|a, b| {
            let t = |c: &StorageClass| c.metadata.creation_timestamp.clone().unwrap_or_default();
            t(a).cmp(&t(b)).then_with(|| b.metadata.name.cmp(&a.metadata.name))
        })
}

#[async_trait]
impl Admission for DefaultStorageClass {
    fn name(&self) -> &'static str {
        "DefaultStorageClass"
    }

    async fn admit_create(&self, cx: Context<'_>, obj: &mut dyn Object) -> Result<()> {
        let Some(pvc) = obj.downcast_mut::<PersistentVolumeClaim>() else { return Ok(()) };
        if pvc.spec.storage_class_name.is_some() {
            return Ok(());
        }
        let listed = cx.store.list(&StorageClass::INFO.key_prefix()).await?;
        let mut classes = Vec::with_capacity(listed.kvs.len());
        for kv in &listed.kvs {
            classes.push(codec::decode::<StorageClass>(&kv.value)?);
        }
        if let Some(c) = default_class(&classes) {
            pvc.spec.storage_class_name = Some(c.metadata.name.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::testing::{answer, registry};
    use crate::allocator::AllocatorConfig;
    use crate::registry::UpdateScope;
    use serde_json::json;

    fn class(name: &str, default: bool, created: &str) -> StorageClass {
        let mut c: StorageClass = serde_json::from_value(json!({"metadata": {"name": name, "creationTimestamp": created},
            "provisioner": "example.com/p"})).unwrap();
        if default {
            c.metadata.annotations.insert(api::model::IS_DEFAULT_CLASS.into(), "true".into());
        }
        c
    }

    #[test]
    fn the_newest_default_class_wins() {
        let cs = vec![
            class("old", true, "2030-01-01T00:00:00Z"),
            class("new", true, "2030-01-02T00:00:00Z"),
            class("newest-not-default", false, "2030-01-03T00:00:00Z"),
        ];
        assert_eq!(default_class(&cs).map(|c| c.metadata.name.as_str()), Some("new"));
        assert!(default_class(&cs[2..]).is_none());
    }

    fn claim(class: Option<&str>) -> PersistentVolumeClaim {
        let mut v = json!({"metadata": {"name": "data", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        if let Some(c) = class {
            v["spec"]["storageClassName"] = json!(c);
        }
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn claims_without_a_class_get_the_default_one() {
        let (r, _dir) = registry(AllocatorConfig::default()).await;
        let none = r.create(claim(None)).await.unwrap();
        assert_eq!(none.spec.storage_class_name, None, "no default class yet");
        let mut c = class("standard", true, "");
        c.metadata.creation_timestamp = None;
        r.create(c).await.unwrap();
        let mut p = claim(None);
        p.metadata.name = "data2".into();
        assert_eq!(r.create(p).await.unwrap().spec.storage_class_name.as_deref(), Some("standard"));
        let mut p = claim(Some(""));
        p.metadata.name = "data3".into();
        assert_eq!(r.create(p).await.unwrap().spec.storage_class_name.as_deref(), Some(""), "an explicit empty class stays");
        let mut p = claim(Some("fast"));
        p.metadata.name = "data4".into();
        assert_eq!(r.create(p).await.unwrap().spec.storage_class_name.as_deref(), Some("fast"));
    }

    #[tokio::test]
    async fn immutable_storage_fields_are_refused_on_update() {
        let (r, _dir) = registry(AllocatorConfig::default()).await;
        let c = r.create(class("fast", false, "")).await.unwrap();
        let mut changed = c.clone();
        changed.provisioner = "other.example.com/p".into();
        let (code, msg) = answer(&r.update(changed, UpdateScope::Main).await);
        assert_eq!(code, 422, "{msg}");
        assert!(msg.contains("provisioner: Forbidden: updates to provisioner are forbidden."), "{msg}");
        let mut fine = c.clone();
        fine.allow_volume_expansion = Some(true);
        fine.metadata.labels.insert("tier".into(), "gold".into());
        assert_eq!(answer(&r.update(fine, UpdateScope::Main).await).0, 200);

        let pv: api::model::PersistentVolume = serde_json::from_value(json!({"metadata": {"name": "pv0"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/a"}}})).unwrap();
        let pv = r.create(pv).await.unwrap();
        let mut moved = pv.clone();
        moved.spec.host_path.as_mut().unwrap().path = "/b".into();
        let (code, msg) = answer(&r.update(moved, UpdateScope::Main).await);
        assert_eq!(code, 422, "{msg}");
        assert!(msg.contains("spec.persistentvolumesource is immutable after creation"), "{msg}");
        let mut grown = pv;
        grown.spec.capacity.insert("storage".into(), api::model::Quantity::from("2Gi"));
        assert_eq!(answer(&r.update(grown, UpdateScope::Main).await).0, 200);
    }
}
