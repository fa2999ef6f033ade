//! PersistentVolume validation, as upstream's `ValidatePersistentVolumeSpec`: access
//! modes, a `storage` capacity, the reclaim policy, node affinity, and exactly one volume
//! source with its required fields.

use super::meta::*;
use super::names::*;
use super::pod::validate_node_selector_term;
use super::storage::ACCESS_MODES;
use super::{FieldError, FieldErrorKind};
use crate::model::{PersistentVolume, PersistentVolumeSpec, VolumeNodeAffinity};

pub const RECLAIM_POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];
pub const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const HOST_PATH_TYPES: &[&str] =
    &["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];

pub fn validate_persistent_volume(pv: &PersistentVolume) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&pv.metadata, false, NameFormat::Dns1123Subdomain);
    errs.extend(validate_pv_spec(&pv.spec, "spec"));
    errs
}

fn forbidden(field: impl Into<String>, detail: &str) -> FieldError {
    FieldError::new(FieldErrorKind::Forbidden, field, "", detail)
}

pub fn validate_pv_spec(spec: &PersistentVolumeSpec, p: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let am = format!("{p}.accessModes");
    if spec.access_modes.is_empty() {
        errs.push(FieldError::required(&am, ""));
    }
    let (mut once_pod, mut other) = (false, false);
    for m in &spec.access_modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(&am, m, ACCESS_MODES));
        } else if m == "ReadWriteOncePod" {
            once_pod = true;
        } else {
            other = true;
        }
    }
    if once_pod && other {
        errs.push(forbidden(&am, "may not use ReadWriteOncePod with other access modes"));
    }

    let cap = format!("{p}.capacity");
    if spec.capacity.is_empty() {
        errs.push(FieldError::required(&cap, ""));
    }
    if !spec.capacity.contains_key("storage") || spec.capacity.len() > 1 {
        let keys: Vec<&str> = spec.capacity.keys().map(String::as_str).collect();
        errs.push(FieldError::not_supported(&cap, format!("{keys:?}"), &["storage"]));
    }
    for (r, q) in &spec.capacity {
        let f = format!("{cap}[{r}]");
        match q.parsed() {
            Err(e) => errs.push(FieldError::invalid(&f, q, e)),
            Ok(v) if v.nanos <= 0 => errs.push(FieldError::invalid(&f, q, "must be greater than zero")),
            Ok(_) => {}
        }
    }

    let policy = spec.persistent_volume_reclaim_policy.as_deref().filter(|s| !s.is_empty());
    opt_supported(&mut errs, policy, &format!("{p}.persistentVolumeReclaimPolicy"), RECLAIM_POLICIES);

    let affinity = spec.node_affinity.as_ref().map(|a| validate_node_affinity(a, &format!("{p}.nodeAffinity"), &mut errs));
    validate_source(spec, p, affinity.unwrap_or(false), &mut errs);

    if let Some(hp) = &spec.host_path {
        if policy == Some("Recycle") && hp.path.trim_end_matches('/').is_empty() && !hp.path.is_empty() {
            errs.push(forbidden(format!("{p}.persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"));
        }
    }
    if let Some(sc) = spec.storage_class_name.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(invalid_each(&format!("{p}.storageClassName"), sc, is_dns1123_subdomain(sc)));
    }
    opt_supported(&mut errs, spec.volume_mode.as_deref(), &format!("{p}.volumeMode"), VOLUME_MODES);
    if let Some(vac) = &spec.volume_attributes_class_name {
        let f = format!("{p}.volumeAttributesClassName");
        if vac.is_empty() {
            errs.push(FieldError::required(&f, "an empty string is disallowed"));
        } else {
            errs.extend(invalid_each(&f, vac, is_dns1123_subdomain(vac)));
        }
        if spec.csi.is_none() {
            errs.push(FieldError::required(format!("{p}.csi"), "has to be specified when using volumeAttributesClassName"));
        }
    }
    if let Some(c) = &spec.claim_ref {
        // What the binder needs to find the claim: its name and namespace.
        if c.name.as_deref().is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("{p}.claimRef.name"), ""));
        }
        if c.namespace.as_deref().is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("{p}.claimRef.namespace"), ""));
        }
    }
    errs
}

/// `nodeAffinity`: `required` with at least one term. Returns whether it constrains nodes.
fn validate_node_affinity(a: &VolumeNodeAffinity, p: &str, errs: &mut Vec<FieldError>) -> bool {
    let Some(req) = &a.required else {
        errs.push(FieldError::required(format!("{p}.required"), "must specify required node constraints"));
        return false;
    };
    let tp = format!("{p}.required.nodeSelectorTerms");
    if req.node_selector_terms.is_empty() {
        errs.push(FieldError::required(&tp, "must have at least one node selector term"));
    }
    for (i, t) in req.node_selector_terms.iter().enumerate() {
        validate_node_selector_term(&t.match_expressions, &t.match_fields, &format!("{tp}[{i}]"), errs);
    }
    true
}

/// Exactly one source, and the fields each source requires.
fn validate_source(spec: &PersistentVolumeSpec, p: &str, has_affinity: bool, errs: &mut Vec<FieldError>) {
    let set = spec.set_sources();
    match set.as_slice() {
        [] => errs.push(FieldError::required(p, "must specify a volume type")),
        [_] => {}
        [_, rest @ ..] => {
            for name in rest {
                errs.push(forbidden(format!("{p}.{name}"), "may not specify more than 1 volume type"));
            }
        }
    }
    let mut required = |field: String, value: &str| {
        if value.is_empty() {
            errs.push(FieldError::required(field, ""));
        }
    };
    if let Some(s) = &spec.host_path {
        required(format!("{p}.hostPath.path"), &s.path);
    }
    if let Some(s) = &spec.gce_persistent_disk {
        required(format!("{p}.persistentDisk.pdName"), &s.pd_name);
    }
    if let Some(s) = &spec.aws_elastic_block_store {
        required(format!("{p}.awsElasticBlockStore.volumeID"), &s.volume_id);
    }
    if let Some(s) = &spec.glusterfs {
        required(format!("{p}.glusterfs.endpoints"), &s.endpoints);
        required(format!("{p}.glusterfs.path"), &s.path);
    }
    if let Some(s) = &spec.nfs {
        required(format!("{p}.nfs.server"), &s.server);
        required(format!("{p}.nfs.path"), &s.path);
    }
    if let Some(s) = &spec.rbd {
        required(format!("{p}.rbd.image"), &s.image);
    }
    if let Some(s) = &spec.quobyte {
        required(format!("{p}.quobyte.registry"), &s.registry);
        required(format!("{p}.quobyte.volume"), &s.volume);
    }
    if let Some(s) = &spec.iscsi {
        required(format!("{p}.iscsi.targetPortal"), &s.target_portal);
        required(format!("{p}.iscsi.iqn"), &s.iqn);
    }
    if let Some(s) = &spec.cinder {
        required(format!("{p}.cinder.volumeID"), &s.volume_id);
    }
    if let Some(s) = &spec.flex_volume {
        required(format!("{p}.flexVolume.driver"), &s.driver);
    }
    if let Some(s) = &spec.azure_file {
        required(format!("{p}.azureFile.secretName"), &s.secret_name);
        required(format!("{p}.azureFile.shareName"), &s.share_name);
    }
    if let Some(s) = &spec.vsphere_volume {
        required(format!("{p}.vsphereVolume.volumePath"), &s.volume_path);
    }
    if let Some(s) = &spec.photon_persistent_disk {
        required(format!("{p}.photonPersistentDisk.pdID"), &s.pd_id);
    }
    if let Some(s) = &spec.portworx_volume {
        required(format!("{p}.portworxVolume.volumeID"), &s.volume_id);
    }
    if let Some(s) = &spec.azure_disk {
        required(format!("{p}.azureDisk.diskName"), &s.disk_name);
        required(format!("{p}.azureDisk.diskURI"), &s.disk_uri);
    }
    if let Some(s) = &spec.scale_io {
        required(format!("{p}.scaleIO.gateway"), &s.gateway);
        required(format!("{p}.scaleIO.system"), &s.system);
    }
    if let Some(s) = &spec.local {
        required(format!("{p}.local.path"), &s.path);
    }
    if let Some(s) = &spec.csi {
        required(format!("{p}.csi.driver"), &s.driver);
        required(format!("{p}.csi.volumeHandle"), &s.volume_handle);
    }
    if let Some(s) = &spec.cephfs {
        if s.monitors.is_empty() {
            errs.push(FieldError::required(format!("{p}.cephfs.monitors"), ""));
        }
    }
    if let Some(s) = &spec.fc {
        if s.target_wwns.is_empty() && s.wwids.is_empty() {
            errs.push(FieldError::required(format!("{p}.fc.targetwwns"), "must specify either targetWWNs or wwids, but not both"));
        }
    }
    if let Some(s) = &spec.flocker {
        let (n, u) = (s.dataset_name.as_deref().unwrap_or(""), s.dataset_uuid.as_deref().unwrap_or(""));
        if n.is_empty() == u.is_empty() {
            errs.push(FieldError::required(format!("{p}.flocker"), "one and only one of datasetName and datasetUUID should be set"));
        }
    }
    if let Some(s) = &spec.host_path {
        opt_supported(errs, s.type_.as_deref(), &format!("{p}.hostPath.type"), HOST_PATH_TYPES);
    }
    if spec.local.is_some() && set.len() == 1 && !has_affinity {
        errs.push(FieldError::required(format!("{p}.nodeAffinity"), "Local volume requires node affinity"));
    }
}

/// An update: the create checks, and upstream's immutable fields (the volume source,
/// volumeMode, and nodeAffinity once set).
pub fn validate_persistent_volume_update(new: &PersistentVolume, old: &PersistentVolume) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let source = |pv: &PersistentVolume| {
        let mut s = pv.spec.clone();
        s.access_modes.clear();
        s.capacity.clear();
        s.claim_ref = None;
        s.mount_options.clear();
        s.node_affinity = None;
        s.persistent_volume_reclaim_policy = None;
        s.storage_class_name = None;
        s.volume_attributes_class_name = None;
        s.volume_mode = None;
        s
    };
    if source(new) != source(old) {
        errs.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.persistentvolumesource",
            "",
            "spec.persistentvolumesource is immutable after creation",
        ));
    }
    if new.spec.volume_mode != old.spec.volume_mode {
        errs.push(FieldError::invalid("volumeMode", new.spec.volume_mode.as_deref().unwrap_or(""), "field is immutable"));
    }
    if old.spec.node_affinity.is_some() && new.spec.node_affinity != old.spec.node_affinity {
        errs.push(FieldError::invalid("nodeAffinity", "", "field is immutable"));
    }
    errs.extend(validate_persistent_volume(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pv(spec: serde_json::Value) -> PersistentVolume {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv0"}, "spec": spec}))
        .unwrap()
    }

    fn good() -> serde_json::Value {
        json!({"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
               "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": "/data"}})
    }

    fn fields(errs: &[FieldError]) -> Vec<(&str, FieldErrorKind)> {
        errs.iter().map(|e| (e.field.as_str(), e.kind)).collect()
    }

    #[test]
    fn table_of_cases() {
        use FieldErrorKind::*;
        let cases: Vec<(&str, serde_json::Value, Vec<(&str, FieldErrorKind)>)> = vec![
            ("good", good(), vec![]),
            ("no access modes", json!({"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}),
                vec![("spec.accessModes", Required)]),
            ("bad access mode", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["Sometimes"], "hostPath": {"path": "/d"}}),
                vec![("spec.accessModes", NotSupported)]),
            ("once-pod with others", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOncePod", "ReadOnlyMany"], "hostPath": {"path": "/d"}}),
                vec![("spec.accessModes", Forbidden)]),
            ("no capacity", json!({"accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}}),
                vec![("spec.capacity", Required), ("spec.capacity", NotSupported)]),
            ("other resource", json!({"capacity": {"storage": "1Gi", "cpu": "1"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}}),
                vec![("spec.capacity", NotSupported)]),
            ("zero storage", json!({"capacity": {"storage": "0"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}}),
                vec![("spec.capacity[storage]", Invalid)]),
            ("no source", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}),
                vec![("spec", Required)]),
            ("two sources", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}, "nfs": {"server": "s", "path": "/x"}}),
                vec![("spec.nfs", Forbidden)]),
            ("bad reclaim policy", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}, "persistentVolumeReclaimPolicy": "Keep"}),
                vec![("spec.persistentVolumeReclaimPolicy", NotSupported)]),
            ("recycle root", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/"}, "persistentVolumeReclaimPolicy": "Recycle"}),
                vec![("spec.persistentVolumeReclaimPolicy", Forbidden)]),
            ("local without affinity", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "local": {"path": "/mnt"}}),
                vec![("spec.nodeAffinity", Required)]),
            ("affinity without required", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "local": {"path": "/mnt"}, "nodeAffinity": {}}),
                vec![("spec.nodeAffinity.required", Required), ("spec.nodeAffinity", Required)]),
            ("local with affinity", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "local": {"path": "/mnt"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}}),
                vec![]),
            ("bad affinity operator", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Near"}]}]}}}),
                vec![("spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].operator", NotSupported)]),
            ("nfs without server", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], "nfs": {"path": "/x"}}),
                vec![("spec.nfs.server", Required)]),
            ("csi without handle", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "csi": {"driver": "d"}}),
                vec![("spec.csi.volumeHandle", Required)]),
            ("bad class name", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}, "storageClassName": "Fast_Disks"}),
                vec![("spec.storageClassName", Invalid)]),
            ("bad volume mode", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}, "volumeMode": "Raw"}),
                vec![("spec.volumeMode", NotSupported)]),
            ("claimRef without name", json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}, "claimRef": {"namespace": "default"}}),
                vec![("spec.claimRef.name", Required)]),
        ];
        for (name, spec, want) in cases {
            let errs = validate_persistent_volume(&pv(spec));
            assert_eq!(fields(&errs), want, "{name}: {errs:#?}");
        }
    }

    #[test]
    fn namespace_is_forbidden() {
        let mut v = pv(good());
        v.metadata.namespace = Some("default".into());
        assert_eq!(fields(&validate_persistent_volume(&v)), vec![("metadata.namespace", FieldErrorKind::Forbidden)]);
    }
}
