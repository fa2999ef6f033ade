//! The column definitions of each kind's Table, as upstream's printers declare them
//! (pkg/printers/internalversion `AddHandlers`): name, type, format, priority (1 = shown
//! only with `-o wide`) and description, in upstream's order.

use super::descriptions as d;

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub format: &'static str,
    pub priority: i32,
    pub description: &'static str,
}

const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column { name, ty, format: "", priority: 0, description }
}

const fn wide(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column { name, ty, format: "", priority: 1, description }
}

const NAME: Column = Column { name: "Name", ty: "string", format: "name", priority: 0, description: d::META_NAME };
const AGE: Column = col("Age", "string", d::META_CREATED);
const CONTAINERS: Column = wide("Containers", "string", "Names of each container in the template.");
const IMAGES: Column = wide("Images", "string", "Images referenced by each container in the template.");

const POD: &[Column] = &[
    NAME,
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    AGE,
    wide("IP", "string", d::POD_IP),
    wide("Node", "string", d::POD_NODE),
    wide("Nominated Node", "string", d::POD_NOMINATED),
    wide("Readiness Gates", "string", d::POD_GATES),
];

const POD_DISRUPTION_BUDGET: &[Column] = &[
    NAME,
    col("Min Available", "string", "The minimum number of pods that must be available."),
    col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
];

const REPLICATION_CONTROLLER: &[Column] = &[
    NAME,
    col("Desired", "integer", d::RC_DESIRED),
    col("Current", "integer", d::RC_CURRENT),
    col("Ready", "integer", d::RC_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::RC_SELECTOR),
];

const REPLICA_SET: &[Column] = &[
    NAME,
    col("Desired", "integer", d::RS_DESIRED),
    col("Current", "integer", d::RS_CURRENT),
    col("Ready", "integer", d::RS_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::RS_SELECTOR),
];

const DAEMON_SET: &[Column] = &[
    NAME,
    col("Desired", "integer", d::DS_DESIRED),
    col("Current", "integer", d::DS_CURRENT),
    col("Ready", "integer", d::DS_READY),
    col("Up-to-date", "integer", d::DS_UPDATED),
    col("Available", "integer", d::DS_AVAILABLE),
    col("Node Selector", "string", d::POD_NODE_SELECTOR),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::DS_SELECTOR),
];

const JOB: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col("Completions", "string", d::JOB_SUCCEEDED),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::JOB_SELECTOR),
];

const CRON_JOB: &[Column] = &[
    NAME,
    col("Schedule", "string", d::CJ_SCHEDULE),
    col("Timezone", "string", d::CJ_TIMEZONE),
    col("Suspend", "boolean", d::CJ_SUSPEND),
    col("Active", "integer", d::CJ_ACTIVE),
    col("Last Schedule", "string", d::CJ_LAST),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::JOB_SELECTOR),
];

const SERVICE: &[Column] = &[
    NAME,
    col("Type", "string", d::SVC_TYPE),
    col("Cluster-IP", "string", d::SVC_CLUSTER_IP),
    col("External-IP", "string", d::SVC_EXTERNAL_IPS),
    col("Port(s)", "string", d::SVC_PORTS),
    AGE,
    wide("Selector", "string", d::SVC_SELECTOR),
];

const STATEFUL_SET: &[Column] = &[NAME, col("Ready", "string", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES];

const ENDPOINTS: &[Column] = &[NAME, col("Endpoints", "string", d::EP_SUBSETS), AGE];

const NODE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", d::NODE_KUBELET),
    wide("Internal-IP", "string", d::NODE_ADDRESSES),
    wide("External-IP", "string", d::NODE_ADDRESSES),
    wide("OS-Image", "string", d::NODE_OS),
    wide("Kernel-Version", "string", d::NODE_KERNEL),
    wide("Container-Runtime", "string", d::NODE_RUNTIME),
];

const EVENT: &[Column] = &[
    col("Last Seen", "string", d::EV_LAST),
    col("Type", "string", d::EV_TYPE),
    col("Reason", "string", d::EV_REASON),
    col("Object", "string", d::EV_OBJECT),
    wide("Subobject", "string", d::EV_SUBOBJECT),
    wide("Source", "string", d::EV_SOURCE),
    col("Message", "string", d::EV_MESSAGE),
    wide("First Seen", "string", d::EV_FIRST),
    wide("Count", "string", d::EV_COUNT),
    Column { name: "Name", ty: "string", format: "name", priority: 1, description: d::META_NAME },
];

const NAMESPACE: &[Column] = &[NAME, col("Status", "string", "The status of the namespace"), AGE];

const SECRET: &[Column] = &[NAME, col("Type", "string", d::SECRET_TYPE), col("Data", "string", d::SECRET_DATA), AGE];

const SERVICE_ACCOUNT: &[Column] = &[NAME, col("Secrets", "string", d::SA_SECRETS), AGE];

const PERSISTENT_VOLUME: &[Column] = &[
    NAME,
    col("Capacity", "string", d::PV_CAPACITY),
    col("Access Modes", "string", d::PV_MODES),
    col("Reclaim Policy", "string", d::PV_RECLAIM),
    col("Status", "string", d::PV_PHASE),
    col("Claim", "string", d::PV_CLAIM),
    col("StorageClass", "string", "StorageClass of the pv"),
    col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    col("Reason", "string", d::PV_REASON),
    AGE,
    wide("VolumeMode", "string", d::PV_MODE),
];

const PERSISTENT_VOLUME_CLAIM: &[Column] = &[
    NAME,
    col("Status", "string", d::PVC_PHASE),
    col("Volume", "string", d::PVC_VOLUME),
    col("Capacity", "string", d::PVC_CAPACITY),
    col("Access Modes", "string", d::PVC_MODES),
    col("StorageClass", "string", "StorageClass of the pvc"),
    col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    AGE,
    wide("VolumeMode", "string", d::PVC_MODE),
];

const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col("Up-to-date", "string", d::DEPLOY_UPDATED),
    col("Available", "string", d::DEPLOY_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::DEPLOY_SELECTOR),
];

const HORIZONTAL_POD_AUTOSCALER: &[Column] = &[
    NAME,
    col("Reference", "string", d::HPA_REF),
    col("Targets", "string", d::HPA_METRICS),
    col("MinPods", "string", d::HPA_MIN),
    col("MaxPods", "string", d::HPA_MAX),
    col("Replicas", "string", d::HPA_CURRENT),
    AGE,
];

const CONFIG_MAP: &[Column] = &[NAME, col("Data", "string", d::CM_DATA), AGE];

const LEASE: &[Column] = &[NAME, col("Holder", "string", d::LEASE_HOLDER), AGE];

const STORAGE_CLASS: &[Column] = &[
    NAME,
    col("Provisioner", "string", d::SC_PROVISIONER),
    col("ReclaimPolicy", "string", d::SC_RECLAIM),
    col("VolumeBindingMode", "string", d::SC_BINDING),
    col("AllowVolumeExpansion", "string", d::SC_EXPANSION),
    AGE,
];

const CONTROLLER_REVISION: &[Column] =
    &[NAME, col("Controller", "string", "Controller of the object"), col("Revision", "string", d::CR_REVISION), AGE];

const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col("AddressType", "string", d::ES_ADDRESS_TYPE),
    col("Ports", "string", d::ES_PORTS),
    col("Endpoints", "string", d::ES_ENDPOINTS),
    AGE,
];

/// What a kind without a printer of its own shows.
const DEFAULT: &[Column] = &[NAME, AGE];

/// The columns of `kind`'s Table.
pub fn of(kind: &str) -> &'static [Column] {
    match kind {
        "Pod" => POD,
        "PodDisruptionBudget" => POD_DISRUPTION_BUDGET,
        "ReplicationController" => REPLICATION_CONTROLLER,
        "ReplicaSet" => REPLICA_SET,
        "DaemonSet" => DAEMON_SET,
        "Job" => JOB,
        "CronJob" => CRON_JOB,
        "Service" => SERVICE,
        "StatefulSet" => STATEFUL_SET,
        "Endpoints" => ENDPOINTS,
        "Node" => NODE,
        "Event" => EVENT,
        "Namespace" => NAMESPACE,
        "Secret" => SECRET,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "PersistentVolume" => PERSISTENT_VOLUME,
        "PersistentVolumeClaim" => PERSISTENT_VOLUME_CLAIM,
        "Deployment" => DEPLOYMENT,
        "HorizontalPodAutoscaler" => HORIZONTAL_POD_AUTOSCALER,
        "ConfigMap" => CONFIG_MAP,
        "Lease" => LEASE,
        "StorageClass" => STORAGE_CLASS,
        "ControllerRevision" => CONTROLLER_REVISION,
        "EndpointSlice" => ENDPOINT_SLICE,
        _ => DEFAULT,
    }
}
