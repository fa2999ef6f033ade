//! The one table from Rust type names (as schemars names them) to Kubernetes definition
//! names, plus the strategic-merge metadata and the descriptions that the Rust types do
//! not carry in doc comments.

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const CORE: &str = "io.k8s.api.core.v1";
const APPS: &str = "io.k8s.api.apps.v1";
const BATCH: &str = "io.k8s.api.batch.v1";
const AUTOSCALING: &str = "io.k8s.api.autoscaling.v2";
const COORDINATION: &str = "io.k8s.api.coordination.v1";
const SCHEDULING_ALPHA: &str = "io.k8s.api.scheduling.v1alpha3";
const STORAGE: &str = "io.k8s.api.storage.v1";
const POLICY: &str = "io.k8s.api.policy.v1";
const AUTOSCALING_V1: &str = "io.k8s.api.autoscaling.v1";
const DISCOVERY: &str = "io.k8s.api.discovery.v1";

/// Rust type name → (package, Kubernetes type name). Every type reachable from a kind must
/// be here (a unit test checks it); the name defaults to the Rust name when empty.
pub const NAMES: &[(&str, &str, &str)] = &[
    // meta/v1 and the apimachinery scalars
    ("ObjectMeta", META, ""),
    ("ManagedFieldsEntry", META, ""),
    ("OwnerReference", META, ""),
    ("ListMeta", META, ""),
    ("Condition", META, ""),
    ("LabelSelector", META, ""),
    ("LabelSelectorRequirement", META, ""),
    ("IntOrString", "io.k8s.apimachinery.pkg.util.intstr", ""),
    ("Quantity", "io.k8s.apimachinery.pkg.api.resource", ""),
    // core/v1
    ("ObjectReference", CORE, ""),
    ("Pod", CORE, ""),
    ("PodTemplateSpec", CORE, ""),
    ("PodSpec", CORE, ""),
    ("Container", CORE, ""),
    ("ContainerPort", CORE, ""),
    ("EnvVar", CORE, ""),
    ("EnvVarSource", CORE, ""),
    ("ObjectFieldSelector", CORE, ""),
    ("ResourceFieldSelector", CORE, ""),
    ("KeySelector", CORE, "ConfigMapKeySelector"),
    ("ResourceRequirements", CORE, ""),
    ("VolumeMount", CORE, ""),
    ("Probe", CORE, ""),
    ("ExecAction", CORE, ""),
    ("HttpGetAction", CORE, "HTTPGetAction"),
    ("HttpHeader", CORE, "HTTPHeader"),
    ("TcpSocketAction", CORE, "TCPSocketAction"),
    ("Volume", CORE, ""),
    ("EmptyDirVolumeSource", CORE, ""),
    ("HostPathVolumeSource", CORE, ""),
    ("PersistentVolumeClaimVolumeSource", CORE, ""),
    ("KeyToPath", CORE, ""),
    ("ConfigMapVolumeSource", CORE, ""),
    ("SecretVolumeSource", CORE, ""),
    ("Affinity", CORE, ""),
    ("NodeAffinity", CORE, ""),
    ("NodeSelector", CORE, ""),
    ("NodeSelectorTerm", CORE, ""),
    ("NodeSelectorRequirement", CORE, ""),
    ("PreferredSchedulingTerm", CORE, ""),
    ("Toleration", CORE, ""),
    ("PodStatus", CORE, ""),
    ("PodIp", CORE, "PodIP"),
    ("ContainerStatus", CORE, ""),
    ("ContainerState", CORE, ""),
    ("ContainerStateWaiting", CORE, ""),
    ("ContainerStateRunning", CORE, ""),
    ("ContainerStateTerminated", CORE, ""),
    ("Node", CORE, ""),
    ("NodeSpec", CORE, ""),
    ("Taint", CORE, ""),
    ("NodeStatus", CORE, ""),
    ("NodeAddress", CORE, ""),
    ("NodeDaemonEndpoints", CORE, ""),
    ("DaemonEndpoint", CORE, ""),
    ("NodeSystemInfo", CORE, ""),
    ("Namespace", CORE, ""),
    ("NamespaceSpec", CORE, ""),
    ("NamespaceStatus", CORE, ""),
    ("Service", CORE, ""),
    ("ServiceSpec", CORE, ""),
    ("ServicePort", CORE, ""),
    ("ServiceStatus", CORE, ""),
    ("LoadBalancerStatus", CORE, ""),
    ("LoadBalancerIngress", CORE, ""),
    ("Endpoints", CORE, ""),
    ("EndpointSubset", CORE, ""),
    ("EndpointAddress", CORE, ""),
    ("EndpointPort", CORE, ""),
    ("PersistentVolumeClaim", CORE, ""),
    ("PersistentVolumeClaimSpec", CORE, ""),
    ("VolumeResourceRequirements", CORE, ""),
    ("PersistentVolumeClaimStatus", CORE, ""),
    ("ReplicationController", CORE, ""),
    ("ReplicationControllerSpec", CORE, ""),
    // core/v1 and batch/v1 types of the full schema (issue 12)
    ("PodAffinity", CORE, ""),
    ("PodAffinityTerm", CORE, ""),
    ("PodAntiAffinity", CORE, ""),
    ("WeightedPodAffinityTerm", CORE, ""),
    ("TopologySpreadConstraint", CORE, ""),
    ("PodSchedulingGate", CORE, ""),
    ("LocalObjectReference", CORE, ""),
    ("EphemeralContainer", CORE, ""),
    ("EnvFromSource", CORE, ""),
    ("ConfigMapEnvSource", CORE, ""),
    ("SecretEnvSource", CORE, ""),
    ("FileKeySelector", CORE, ""),
    ("VolumeDevice", CORE, ""),
    ("ContainerResizePolicy", CORE, ""),
    ("ContainerRestartRule", CORE, ""),
    ("ContainerRestartRuleOnExitCodes", CORE, ""),
    ("ResourceClaim", CORE, ""),
    ("PodFailurePolicy", BATCH, ""),
    ("PodFailurePolicyRule", BATCH, ""),
    ("PodFailurePolicyOnExitCodesRequirement", BATCH, ""),
    ("PodFailurePolicyOnPodConditionsPattern", BATCH, ""),
    ("SuccessPolicy", BATCH, ""),
    ("SuccessPolicyRule", BATCH, ""),
    ("UncountedTerminatedPods", BATCH, ""),
    ("JobSchedulingConfiguration", BATCH, ""),
    ("WorkloadPodGroupDisruptionMode", SCHEDULING_ALPHA, ""),
    ("WorkloadPodGroupSingleDisruptionMode", SCHEDULING_ALPHA, ""),
    ("WorkloadPodGroupAllDisruptionMode", SCHEDULING_ALPHA, ""),
    ("WorkloadPodGroupResourceClaim", SCHEDULING_ALPHA, ""),
    ("WorkloadPodGroupSchedulingConstraints", SCHEDULING_ALPHA, ""),
    ("TopologyConstraint", SCHEDULING_ALPHA, ""),
    ("WorkloadPodGroupSchedulingPolicy", SCHEDULING_ALPHA, ""),
    ("WorkloadPodGroupBasicSchedulingPolicy", SCHEDULING_ALPHA, ""),
    ("WorkloadPodGroupGangSchedulingPolicy", SCHEDULING_ALPHA, ""),
    ("GrpcAction", CORE, "GRPCAction"),
    ("Lifecycle", CORE, ""),
    ("LifecycleHandler", CORE, ""),
    ("SleepAction", CORE, ""),
    ("NodeConfigSource", CORE, ""),
    ("ConfigMapNodeConfigSource", CORE, ""),
    ("NodeConfigStatus", CORE, ""),
    ("NodePodPreemptionPolicy", CORE, ""),
    ("NodeFeatures", CORE, ""),
    ("ContainerImage", CORE, ""),
    ("NodeRuntimeHandler", CORE, ""),
    ("NodeRuntimeHandlerFeatures", CORE, ""),
    ("AttachedVolume", CORE, ""),
    ("NodeSwapStatus", CORE, ""),
    ("PodDnsConfig", CORE, "PodDNSConfig"),
    ("PodDnsConfigOption", CORE, "PodDNSConfigOption"),
    ("HostAlias", CORE, ""),
    ("PodOs", CORE, "PodOS"),
    ("PodReadinessGate", CORE, ""),
    ("PodResourceClaim", CORE, ""),
    ("PodSchedulingGroup", CORE, ""),
    ("EvictionResponder", CORE, ""),
    ("PodSecurityContext", CORE, ""),
    ("SecurityContext", CORE, ""),
    ("Capabilities", CORE, ""),
    ("SeLinuxOptions", CORE, "SELinuxOptions"),
    ("SeccompProfile", CORE, ""),
    ("AppArmorProfile", CORE, ""),
    ("WindowsSecurityContextOptions", CORE, ""),
    ("Sysctl", CORE, ""),
    ("HostIp", CORE, "HostIP"),
    ("VolumeMountStatus", CORE, ""),
    ("VolumeStatus", CORE, ""),
    ("ImageVolumeStatus", CORE, ""),
    ("ContainerUser", CORE, ""),
    ("LinuxContainerUser", CORE, ""),
    ("ResourceStatus", CORE, ""),
    ("ResourceHealth", CORE, ""),
    ("PodVolumeHealth", CORE, ""),
    ("VolumeHealthCondition", CORE, ""),
    ("PodResourceClaimStatus", CORE, ""),
    ("NodeAllocatableResourceClaimStatus", CORE, ""),
    ("NodeAllocatableOverheadResources", CORE, ""),
    ("NodeAllocatableMappedResources", CORE, ""),
    ("PodExtendedResourceClaimStatus", CORE, ""),
    ("ContainerExtendedResourceRequest", CORE, ""),
    ("SessionAffinityConfig", CORE, ""),
    ("ClientIpConfig", CORE, "ClientIPConfig"),
    ("PortStatus", CORE, ""),
    ("TypedLocalObjectReference", CORE, ""),
    ("TypedObjectReference", CORE, ""),
    ("VolumeHealthStatus", CORE, ""),
    ("ModifyVolumeStatus", CORE, ""),
    ("ProjectedVolumeSource", CORE, ""),
    ("VolumeProjection", CORE, ""),
    ("ConfigMapProjection", CORE, ""),
    ("SecretProjection", CORE, ""),
    ("DownwardApiProjection", CORE, "DownwardAPIProjection"),
    ("DownwardApiVolumeFile", CORE, "DownwardAPIVolumeFile"),
    ("DownwardApiVolumeSource", CORE, "DownwardAPIVolumeSource"),
    ("ServiceAccountTokenProjection", CORE, ""),
    ("ClusterTrustBundleProjection", CORE, ""),
    ("PodCertificateProjection", CORE, ""),
    ("AwsElasticBlockStoreVolumeSource", CORE, "AWSElasticBlockStoreVolumeSource"),
    ("AzureDiskVolumeSource", CORE, ""),
    ("AzureFileVolumeSource", CORE, ""),
    ("CephFsVolumeSource", CORE, "CephFSVolumeSource"),
    ("CinderVolumeSource", CORE, ""),
    ("CsiVolumeSource", CORE, "CSIVolumeSource"),
    ("EphemeralVolumeSource", CORE, ""),
    ("PersistentVolumeClaimTemplate", CORE, ""),
    ("FcVolumeSource", CORE, "FCVolumeSource"),
    ("FlexVolumeSource", CORE, ""),
    ("FlockerVolumeSource", CORE, ""),
    ("GcePersistentDiskVolumeSource", CORE, "GCEPersistentDiskVolumeSource"),
    ("GitRepoVolumeSource", CORE, ""),
    ("GlusterfsVolumeSource", CORE, ""),
    ("ImageVolumeSource", CORE, ""),
    ("IscsiVolumeSource", CORE, "ISCSIVolumeSource"),
    ("NfsVolumeSource", CORE, "NFSVolumeSource"),
    ("PhotonPersistentDiskVolumeSource", CORE, ""),
    ("PortworxVolumeSource", CORE, ""),
    ("QuobyteVolumeSource", CORE, ""),
    ("RbdVolumeSource", CORE, "RBDVolumeSource"),
    ("ScaleIoVolumeSource", CORE, "ScaleIOVolumeSource"),
    ("StorageOsVolumeSource", CORE, "StorageOSVolumeSource"),
    ("VsphereVirtualDiskVolumeSource", CORE, ""),
    // apps/v1
    ("ReplicaSet", APPS, ""),
    ("ReplicaSetSpec", APPS, ""),
    ("ReplicaSetStatus", APPS, ""),
    ("Deployment", APPS, ""),
    ("DeploymentSpec", APPS, ""),
    ("DeploymentStrategy", APPS, ""),
    ("RollingUpdateDeployment", APPS, ""),
    ("DeploymentStatus", APPS, ""),
    ("StatefulSet", APPS, ""),
    ("StatefulSetSpec", APPS, ""),
    ("StatefulSetUpdateStrategy", APPS, ""),
    ("RollingUpdateStatefulSetStrategy", APPS, ""),
    ("StatefulSetPersistentVolumeClaimRetentionPolicy", APPS, ""),
    ("StatefulSetOrdinals", APPS, ""),
    ("StatefulSetStatus", APPS, ""),
    ("ControllerRevision", APPS, ""),
    ("DaemonSet", APPS, ""),
    ("DaemonSetSpec", APPS, ""),
    ("DaemonSetUpdateStrategy", APPS, ""),
    ("RollingUpdateDaemonSet", APPS, ""),
    ("DaemonSetStatus", APPS, ""),
    // batch/v1
    ("Job", BATCH, ""),
    ("JobSpec", BATCH, ""),
    ("JobStatus", BATCH, ""),
    ("CronJob", BATCH, ""),
    ("CronJobSpec", BATCH, ""),
    ("JobTemplateSpec", BATCH, ""),
    ("CronJobStatus", BATCH, ""),
    // autoscaling/v2
    ("HorizontalPodAutoscaler", AUTOSCALING, ""),
    ("HorizontalPodAutoscalerSpec", AUTOSCALING, ""),
    ("CrossVersionObjectReference", AUTOSCALING, ""),
    ("MetricSpec", AUTOSCALING, ""),
    ("MetricTarget", AUTOSCALING, ""),
    ("MetricIdentifier", AUTOSCALING, ""),
    ("ResourceMetricSource", AUTOSCALING, ""),
    ("ContainerResourceMetricSource", AUTOSCALING, ""),
    ("PodsMetricSource", AUTOSCALING, ""),
    ("ObjectMetricSource", AUTOSCALING, ""),
    ("ExternalMetricSource", AUTOSCALING, ""),
    ("HorizontalPodAutoscalerBehavior", AUTOSCALING, ""),
    ("HpaScalingRules", AUTOSCALING, "HPAScalingRules"),
    ("HpaScalingPolicy", AUTOSCALING, "HPAScalingPolicy"),
    ("HorizontalPodAutoscalerStatus", AUTOSCALING, ""),
    ("MetricStatus", AUTOSCALING, ""),
    ("MetricValueStatus", AUTOSCALING, ""),
    ("ResourceMetricStatus", AUTOSCALING, ""),
    ("ContainerResourceMetricStatus", AUTOSCALING, ""),
    ("PodsMetricStatus", AUTOSCALING, ""),
    ("ObjectMetricStatus", AUTOSCALING, ""),
    ("ExternalMetricStatus", AUTOSCALING, ""),
    ("Event", CORE, ""),
    ("EventSource", CORE, ""),
    ("EventSeries", CORE, ""),
    // events.k8s.io/v1
    ("EventV1", "io.k8s.api.events.v1", "Event"),
    // coordination/v1
    ("Lease", COORDINATION, ""),
    ("LeaseSpec", COORDINATION, ""),
    // core/v1 PersistentVolume and its volume sources
    ("PersistentVolume", CORE, ""),
    ("PersistentVolumeSpec", CORE, ""),
    ("PersistentVolumeStatus", CORE, ""),
    ("VolumeNodeAffinity", CORE, ""),
    ("SecretReference", CORE, ""),
    ("AzureFilePersistentVolumeSource", CORE, ""),
    ("CSIPersistentVolumeSource", CORE, ""),
    ("CephFSPersistentVolumeSource", CORE, ""),
    ("CinderPersistentVolumeSource", CORE, ""),
    ("FlexPersistentVolumeSource", CORE, ""),
    ("GlusterfsPersistentVolumeSource", CORE, ""),
    ("ISCSIPersistentVolumeSource", CORE, ""),
    ("LocalVolumeSource", CORE, ""),
    ("RBDPersistentVolumeSource", CORE, ""),
    ("ScaleIOPersistentVolumeSource", CORE, ""),
    ("StorageOSPersistentVolumeSource", CORE, ""),
    // storage.k8s.io/v1
    ("StorageClass", STORAGE, ""),
    ("TopologySelectorTerm", CORE, ""),
    ("TopologySelectorLabelRequirement", CORE, ""),
    // policy/v1
    ("PodDisruptionBudget", POLICY, ""),
    ("PodDisruptionBudgetSpec", POLICY, ""),
    ("PodDisruptionBudgetStatus", POLICY, ""),
    // core/v1 configuration
    ("ConfigMap", CORE, ""),
    ("Secret", CORE, ""),
    ("ServiceAccount", CORE, ""),
    // discovery.k8s.io/v1
    ("EndpointSlice", DISCOVERY, ""),
    ("Endpoint", DISCOVERY, ""),
    ("EndpointConditions", DISCOVERY, ""),
    ("EndpointHints", DISCOVERY, ""),
    ("ForZone", DISCOVERY, ""),
    ("ForNode", DISCOVERY, ""),
    ("EndpointSlicePort", DISCOVERY, "EndpointPort"),
    // autoscaling/v1 (a view of the stored v2 objects)
    ("HorizontalPodAutoscalerV1", AUTOSCALING_V1, "HorizontalPodAutoscaler"),
    ("HorizontalPodAutoscalerSpecV1", AUTOSCALING_V1, "HorizontalPodAutoscalerSpec"),
    ("HorizontalPodAutoscalerStatusV1", AUTOSCALING_V1, "HorizontalPodAutoscalerStatus"),
    ("CrossVersionObjectReferenceV1", AUTOSCALING_V1, "CrossVersionObjectReference"),
];

/// Prefix of definitions for a type missing from [`NAMES`] (never in a correct build).
pub const UNMAPPED: &str = "io.shoal.unmapped.";

/// The Kubernetes definition name of a Rust type.
pub fn k8s_name(rust: &str) -> String {
    match NAMES.iter().find(|(r, _, _)| *r == rust) {
        Some((r, pkg, name)) => format!("{pkg}.{}", if name.is_empty() { r } else { name }),
        None => format!("{UNMAPPED}{rust}"),
    }
}

/// The definition name of a kind's type: `io.k8s.api.apps.v1.Deployment`.
pub fn kind_name(k: &api::model::KindInfo) -> String {
    match (k.group, k.version, k.kind) {
        ("events.k8s.io", _, "Event") => k8s_name("EventV1"),
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => k8s_name("HorizontalPodAutoscalerV1"),
        (_, _, kind) => k8s_name(kind),
    }
}

pub const META_STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const META_DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const META_PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const META_LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// Strategic-merge metadata of list fields, as Kubernetes declares it:
/// (definition, property, patch strategy, merge key, list-map keys).
pub const PATCH_META: &[(&str, &str, &str, &str, &[&str])] = &[
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", "merge", "uid", &["uid"]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", "merge", "", &[]),
    ("io.k8s.api.core.v1.PodSpec", "containers", "merge", "name", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "initContainers", "merge", "name", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "volumes", "merge,retainKeys", "name", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", "merge", "name", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", "merge", "name", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", "merge", "ip", &["ip"]),
    ("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints", "merge", "topologyKey", &["topologyKey", "whenUnsatisfiable"]),
    ("io.k8s.api.core.v1.PodSpec", "resourceClaims", "merge,retainKeys", "name", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "schedulingGates", "merge", "name", &["name"]),
    ("io.k8s.api.core.v1.Container", "volumeDevices", "merge", "devicePath", &["devicePath"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "env", "merge", "name", &["name"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "ports", "merge", "containerPort", &["containerPort", "protocol"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts", "merge", "mountPath", &["mountPath"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices", "merge", "devicePath", &["devicePath"]),
    ("io.k8s.api.core.v1.Container", "env", "merge", "name", &["name"]),
    ("io.k8s.api.core.v1.Container", "ports", "merge", "containerPort", &["containerPort", "protocol"]),
    ("io.k8s.api.core.v1.Container", "volumeMounts", "merge", "mountPath", &["mountPath"]),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", "merge", "port", &["port", "protocol"]),
    ("io.k8s.api.core.v1.PodStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", "merge", "ip", &["ip"]),
    ("io.k8s.api.core.v1.NodeStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.core.v1.NodeStatus", "addresses", "merge", "type", &["type"]),
    ("io.k8s.api.core.v1.ServiceStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.apps.v1.DeploymentStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.batch.v1.JobStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus", "conditions", "merge", "type", &["type"]),
    ("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", "conditions", "merge", "type", &["type"]),
];

/// Properties Kubernetes marks `required`, per definition (Kubernetes type name, without
/// the package, as in [`NAMES`]). Every Rust struct is `#[serde(default)]`, so schemars
/// marks nothing required; this table restores upstream's lists, which `kubectl explain`
/// shows as `-required-` and `kubectl apply` validates. Only spec-side types are listed
/// (plus the conditions' type and status): status types that the server fills in need no
/// client-side checks. A unit test checks that every listed property exists.
pub const REQUIRED: &[(&str, &[&str])] = &[
    // meta/v1
    ("OwnerReference", &["apiVersion", "kind", "name", "uid"]),
    ("LabelSelectorRequirement", &["key", "operator"]),
    // One Rust type serves every kind's conditions; type and status are what all of
    // Kubernetes' condition types require.
    ("Condition", &["type", "status"]),
    // core/v1
    ("PodSpec", &["containers"]),
    ("Container", &["name"]),
    ("ContainerPort", &["containerPort"]),
    ("EnvVar", &["name"]),
    ("ObjectFieldSelector", &["fieldPath"]),
    ("ResourceFieldSelector", &["resource"]),
    ("ConfigMapKeySelector", &["key"]),
    ("VolumeMount", &["name", "mountPath"]),
    ("HTTPGetAction", &["port"]),
    ("HTTPHeader", &["name", "value"]),
    ("TCPSocketAction", &["port"]),
    ("Volume", &["name"]),
    ("HostPathVolumeSource", &["path"]),
    ("PersistentVolumeClaimVolumeSource", &["claimName"]),
    ("KeyToPath", &["key", "path"]),
    ("NodeSelector", &["nodeSelectorTerms"]),
    ("NodeSelectorRequirement", &["key", "operator"]),
    ("PreferredSchedulingTerm", &["weight", "preference"]),
    ("Taint", &["key", "effect"]),
    ("ServicePort", &["port"]),
    ("EndpointAddress", &["ip"]),
    ("EndpointPort", &["port"]),
    // apps/v1 (StatefulSetSpec.serviceName is optional since Kubernetes 1.29)
    ("ReplicaSetSpec", &["selector"]),
    ("DeploymentSpec", &["selector", "template"]),
    ("StatefulSetSpec", &["selector", "template"]),
    ("DaemonSetSpec", &["selector", "template"]),
    ("ControllerRevision", &["revision"]),
    // batch/v1
    ("JobSpec", &["template"]),
    ("CronJobSpec", &["schedule", "jobTemplate"]),
    // autoscaling/v2
    ("HorizontalPodAutoscalerSpec", &["scaleTargetRef", "maxReplicas"]),
    ("CrossVersionObjectReference", &["kind", "name"]),
    ("MetricSpec", &["type"]),
    ("MetricTarget", &["type"]),
    ("MetricIdentifier", &["name"]),
    ("ResourceMetricSource", &["name", "target"]),
    ("ContainerResourceMetricSource", &["name", "target", "container"]),
    ("PodsMetricSource", &["metric", "target"]),
    ("ObjectMetricSource", &["describedObject", "target", "metric"]),
    ("ExternalMetricSource", &["metric", "target"]),
    ("HPAScalingPolicy", &["type", "value", "periodSeconds"]),
    // core/v1 PersistentVolume sources
    ("AWSElasticBlockStoreVolumeSource", &["volumeID"]),
    ("AzureDiskVolumeSource", &["diskName", "diskURI"]),
    ("AzureFilePersistentVolumeSource", &["secretName", "shareName"]),
    ("CephFSPersistentVolumeSource", &["monitors"]),
    ("CinderPersistentVolumeSource", &["volumeID"]),
    ("CSIPersistentVolumeSource", &["driver", "volumeHandle"]),
    ("FlexPersistentVolumeSource", &["driver"]),
    ("GCEPersistentDiskVolumeSource", &["pdName"]),
    ("GlusterfsPersistentVolumeSource", &["endpoints", "path"]),
    ("ISCSIPersistentVolumeSource", &["targetPortal", "iqn", "lun"]),
    ("LocalVolumeSource", &["path"]),
    ("NFSVolumeSource", &["server", "path"]),
    ("PhotonPersistentDiskVolumeSource", &["pdID"]),
    ("PortworxVolumeSource", &["volumeID"]),
    ("QuobyteVolumeSource", &["registry", "volume"]),
    ("RBDPersistentVolumeSource", &["monitors", "image"]),
    ("ScaleIOPersistentVolumeSource", &["gateway", "system", "secretRef"]),
    ("VsphereVirtualDiskVolumeSource", &["volumePath"]),
    // storage.k8s.io/v1
    ("StorageClass", &["provisioner"]),
    ("TopologySelectorLabelRequirement", &["key", "values"]),
    // discovery.k8s.io/v1
    ("EndpointSlice", &["addressType", "endpoints"]),
    ("Endpoint", &["addresses"]),
    ("ForZone", &["name"]),
    ("ForNode", &["name"]),
    // autoscaling/v1: its names are v2's too, so they are given with their package.
    ("io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec", &["scaleTargetRef", "maxReplicas"]),
    ("io.k8s.api.autoscaling.v1.CrossVersionObjectReference", &["kind", "name"]),
];

/// The full definition names and required properties of [`REQUIRED`].
pub fn required() -> impl Iterator<Item = (String, &'static [&'static str])> {
    REQUIRED.iter().map(|(k8s, props)| {
        if k8s.starts_with("io.k8s.") {
            return (k8s.to_string(), *props);
        }
        let pkg = NAMES
            .iter()
            .find(|(r, _, n)| if n.is_empty() { r == k8s } else { n == k8s })
            .map(|(_, pkg, _)| *pkg)
            .unwrap_or(UNMAPPED.trim_end_matches('.'));
        (format!("{pkg}.{k8s}"), *props)
    })
}

/// Descriptions of kinds (definition → text).
pub const KIND_DESCRIPTIONS: &[(&str, &str)] = &[
    ("Namespace", "Namespace provides a scope for Names."),
    ("Node", "Node is a worker node in the cluster."),
    ("Pod", "Pod is a collection of containers that can run on a host."),
    ("Service", "Service is a named abstraction of software service (for example, mysql) consisting of a local port that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy."),
    ("Endpoints", "Endpoints is a collection of endpoints that implement the actual service."),
    ("ReplicationController", "ReplicationController represents the configuration of a replication controller."),
    ("Deployment", "Deployment enables declarative updates for Pods and ReplicaSets."),
    ("ReplicaSet", "ReplicaSet ensures that a specified number of pod replicas are running at any given time."),
    ("StatefulSet", "StatefulSet represents a set of pods with consistent identities."),
    ("DaemonSet", "DaemonSet represents the configuration of a daemon set."),
    ("ControllerRevision", "ControllerRevision implements an immutable snapshot of state data. Clients are responsible for serializing and deserializing the objects that contain their internal state. Once a ControllerRevision has been successfully created, it can not be updated. The API Server will fail validation of all requests that attempt to mutate the Data field. ControllerRevisions may, however, be deleted. Note that, due to its use by both the DaemonSet and StatefulSet controllers for update and rollback, this object is beta. However, it may be subject to name and representation changes in future releases, and clients should not depend on its stability. It is primarily for internal use by controllers."),
    ("Job", "Job represents the configuration of a single job."),
    ("CronJob", "CronJob represents the configuration of a single cron job."),
    ("PersistentVolumeClaim", "PersistentVolumeClaim is a user's request for and claim to a persistent volume."),
    ("HorizontalPodAutoscaler", "HorizontalPodAutoscaler is the configuration for a horizontal pod autoscaler, which automatically manages the replica count of any resource implementing the scale subresource based on the metrics specified."),
    ("Lease", "Lease defines a lease concept."),
    ("Event", "Event is a report of an event somewhere in the cluster."),
    ("PersistentVolume", "PersistentVolume (PV) is a storage resource provisioned by an administrator. It is analogous to a node. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes"),
    ("StorageClass", "StorageClass describes the parameters for a class of storage for which PersistentVolumes can be dynamically provisioned.\n\nStorageClasses are non-namespaced; the name of the storage class according to etcd is in ObjectMeta.Name."),
    ("PodDisruptionBudget", "PodDisruptionBudget is an object to define the max disruption that can be caused to a collection of pods"),
    ("ConfigMap", "ConfigMap holds configuration data for pods to consume."),
    ("Secret", "Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes."),
    ("ServiceAccount", "ServiceAccount binds together: * a name, understood by users, and perhaps by peripheral systems, for an identity * a principal that can be authenticated and authorized * a set of secrets"),
    ("EndpointSlice", "EndpointSlice represents a set of service endpoints. Most EndpointSlices are created by the EndpointSlice controller to represent the Pods selected by Service objects."),
];

/// Field descriptions that are better than the generated ones: (Rust type name or `*`
/// for any type, JSON field name, text).
pub const FIELD_DESCRIPTIONS: &[(&str, &str, &str)] = &[
    ("*", "apiVersion", "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values."),
    ("*", "kind", "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase."),
    ("*", "metadata", "Standard object's metadata."),
    ("*", "spec", "Specification of the desired behavior of the object."),
    ("*", "status", "Most recently observed status of the object. Populated by the system. Read-only."),
    ("*", "selector", "Label query over pods that should match the replica count. It must match the pod template's labels."),
    ("*", "template", "Template describes the pods that will be created."),
    ("*", "minReadySeconds", "Minimum number of seconds for which a newly created pod should be ready without any of its container crashing, for it to be considered available. Defaults to 0."),
    ("*", "conditions", "Current service state of the object."),
    ("*", "observedGeneration", "The generation observed by the controller."),
    ("DeploymentSpec", "replicas", "Number of desired pods. This is a pointer to distinguish between explicit zero and not specified. Defaults to 1."),
    ("ReplicaSetSpec", "replicas", "Replicas is the number of desired pods. Defaults to 1."),
    ("ReplicationControllerSpec", "replicas", "Replicas is the number of desired replicas. Defaults to 1."),
    ("StatefulSetSpec", "replicas", "Replicas is the desired number of replicas of the given Template. Defaults to 1."),
    ("DeploymentSpec", "strategy", "The deployment strategy to use to replace existing pods with new ones."),
    ("DeploymentSpec", "revisionHistoryLimit", "The number of old ReplicaSets to retain to allow rollback. Defaults to 10."),
    ("DeploymentSpec", "paused", "Indicates that the deployment is paused."),
    ("DeploymentSpec", "progressDeadlineSeconds", "The maximum time in seconds for a deployment to make progress before it is considered to be failed. Defaults to 600s."),
    ("ObjectMeta", "name", "Name must be unique within a namespace. Cannot be updated."),
    ("ObjectMeta", "namespace", "Namespace defines the space within which each name must be unique."),
    ("ObjectMeta", "labels", "Map of string keys and values that can be used to organize and categorize (scope and select) objects."),
    ("ObjectMeta", "annotations", "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata."),
    ("ObjectMeta", "resourceVersion", "An opaque value that represents the internal version of this object. Populated by the system. Read-only."),
    ("ObjectMeta", "uid", "UID is the unique in time and space value for this object. Populated by the system. Read-only."),
    ("PodSpec", "containers", "List of containers belonging to the pod. There must be at least one container in a Pod. Cannot be updated."),
    ("PodSpec", "initContainers", "List of initialization containers belonging to the pod, run in order before the app containers start."),
    ("PodSpec", "volumes", "List of volumes that can be mounted by containers belonging to the pod."),
    ("PodSpec", "nodeName", "NodeName indicates in which node this pod is scheduled."),
    ("PodSpec", "nodeSelector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
    ("PodSpec", "restartPolicy", "Restart policy for all containers within the pod. One of Always, OnFailure, Never. Default to Always."),
    ("Container", "name", "Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name. Cannot be updated."),
    ("Container", "image", "Container image name."),
    ("Container", "command", "Entrypoint array. Not executed within a shell. The container image's ENTRYPOINT is used if this is not provided."),
    ("Container", "args", "Arguments to the entrypoint. The container image's CMD is used if this is not provided."),
    ("Container", "ports", "List of ports to expose from the container."),
    ("Container", "env", "List of environment variables to set in the container. Cannot be updated."),
    ("Container", "resources", "Compute Resources required by this container. Cannot be updated."),
    ("ContainerPort", "containerPort", "Number of port to expose on the pod's IP address. This must be a valid port number, 0 < x < 65536."),
    ("ServiceSpec", "ports", "The list of ports that are exposed by this service."),
    ("ServiceSpec", "type", "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer."),
    ("ServiceSpec", "selector", "Route service traffic to pods with label keys and values matching this selector."),
];

/// The description of a field, from the table or generated from the field and type names.
pub fn field_description(rust_type: &str, field: &str) -> String {
    if let Some((_, _, d)) = FIELD_DESCRIPTIONS.iter().find(|(t, f, _)| *t == rust_type && *f == field) {
        return d.to_string();
    }
    if let Some((_, _, d)) = FIELD_DESCRIPTIONS.iter().find(|(t, f, _)| *t == "*" && *f == field) {
        return d.to_string();
    }
    format!("{} of the {rust_type}.", words(field))
}

/// `minReadySeconds` → `Min ready seconds`.
fn words(field: &str) -> String {
    let mut out = String::new();
    for (i, c) in field.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_ascii_uppercase() {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubernetes() {
        assert_eq!(k8s_name("Deployment"), "io.k8s.api.apps.v1.Deployment");
        assert_eq!(k8s_name("PodSpec"), "io.k8s.api.core.v1.PodSpec");
        assert_eq!(k8s_name("ObjectMeta"), "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
        assert_eq!(k8s_name("Quantity"), "io.k8s.apimachinery.pkg.api.resource.Quantity");
        assert_eq!(k8s_name("IntOrString"), "io.k8s.apimachinery.pkg.util.intstr.IntOrString");
        assert_eq!(k8s_name("HttpGetAction"), "io.k8s.api.core.v1.HTTPGetAction");
        assert_eq!(k8s_name("Nope"), "io.shoal.unmapped.Nope");
    }

    #[test]
    fn every_rust_name_is_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (r, _, _) in NAMES {
            assert!(seen.insert(*r), "{r} listed twice");
        }
        let mut k8s = std::collections::BTreeSet::new();
        for (r, _, _) in NAMES {
            assert!(k8s.insert(k8s_name(r)), "{r} maps onto a name already taken");
        }
    }

    #[test]
    fn descriptions_fall_back_to_words() {
        assert!(field_description("DeploymentSpec", "replicas").starts_with("Number of desired pods"));
        assert_eq!(field_description("JobSpec", "backoffLimit"), "Backoff limit of the JobSpec.");
    }
}
