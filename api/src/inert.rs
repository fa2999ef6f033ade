//! The fields shoal accepts, validates, stores and serves back but does not act on yet,
//! as Kubernetes lists its alpha fields: one table, mirrored in the README (a unit test
//! keeps the two equal). A field leaves the table when the behaviour behind it lands.

/// (kind, field path, what happens today).
pub const INERT_FIELDS: &[(&str, &str, &str)] = &[
    ("Pod", "spec.containers[].securityContext, lifecycle, probes", "enforced and run on real nodes; simulated nodes ignore them"),
    ("Pod", "spec.initContainers[].restartPolicy", "native sidecars run on real nodes; simulated nodes start them like regular containers"),
    ("Pod", "spec.containers[].restartPolicyRules, resizePolicy", "stored only"),
    ("Pod", "spec.containers[].env[].valueFrom.fileKeyRef", "stored; a container naming one fails to start (CreateContainerConfigError)"),
    ("Pod", "spec.volumes[] (every source but emptyDir, hostPath, persistentVolumeClaim, configMap, secret, projected, downwardAPI)", "stored; not mounted"),
    ("Pod", "spec.ephemeralContainers", "refused on create and update (no ephemeralcontainers subresource yet)"),
    ("Pod", "spec.os, spec.runtimeClassName, spec.overhead", "stored only"),
    ("Pod", "spec.readinessGates", "stored; readiness ignores the extra conditions"),
    ("Pod", "spec.resources, spec.resourceClaims, spec.containers[].resources.claims", "stored; the scheduler counts container requests only"),
    ("Pod", "spec.preemptionPolicy, spec.schedulingGroup, spec.evictionResponders", "stored only (no preemption)"),
    ("Pod", "status.resourceClaimStatuses, status.volumeHealth, status.extendedResourceClaimStatus", "stored as written by clients"),
    ("Job", "spec.scheduling", "stored only (gang scheduling is alpha upstream)"),
    ("Node", "spec.configSource, status.config, status.volumesAttached", "stored as node hosts report them"),
    ("Service", "spec.trafficDistribution", "stored; the proxy ignores topology preferences"),
    ("PersistentVolumeClaim", "spec.dataSource, spec.dataSourceRef, spec.volumeAttributesClassName", "stored; no provisioner"),
    ("HorizontalPodAutoscaler", "spec.behavior.scaleUp.tolerance, scaleDown.tolerance", "stored; the cluster-wide tolerance applies"),
    ("Lease", "spec.preferredHolder, spec.strategy", "stored only (no coordinated leader election)"),
    ("ServiceAccount", "secrets, imagePullSecrets, automountServiceAccountToken", "stored; no token volumes or pull secrets until the security work"),
    ("EndpointSlice", "endpoints[].hints", "stored; the endpoints controller sets none and the proxy ignores them"),
];

/// The README section listing [`INERT_FIELDS`], as a Markdown table.
pub fn readme_table() -> String {
    let mut out = String::from("| kind | field | today |\n|---|---|---|\n");
    for (kind, field, note) in INERT_FIELDS {
        out.push_str(&format!("| {kind} | `{field}` | {note} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_exactly_the_inert_fields() {
        let readme = include_str!("../../README.md");
        let start = "<!-- inert-fields: generated from api/src/inert.rs -->\n";
        let end = "<!-- /inert-fields -->";
        let from = readme.find(start).expect("README has the inert-fields section") + start.len();
        let to = readme[from..].find(end).expect("the section is closed") + from;
        assert_eq!(
            &readme[from..to],
            readme_table(),
            "README's inert-field table differs from api::inert::INERT_FIELDS; paste readme_table()'s output"
        );
    }
}
