//! `kubectl get` prints upstream's headers for every kind: one row per kind (how kubectl
//! names it, where discovery lists it, a manifest that makes one, the header kubectl
//! prints, and the `-o wide` header). Each row creates its object, lists the kind
//! (`kubectl get KIND`, the list path) and gets the object wide (`kubectl get KIND NAME
//! -o wide`, the one-object path), and compares the header lines column by column.
//!
//! Rows for kinds the server does not serve yet (its discovery does not list them) are
//! skipped with a note, so that they light up as the kinds land.
//!
//! kubectl is the pinned one (`SHOAL_KUBECTL`, else the repository's .tools/venv, else
//! PATH).

mod harness;

use std::time::Duration;

use harness::{wait_for, Api, Cluster, Kubectl};
use serde_json::{json, Value};

/// One kind's expectations.
struct Row {
    /// What `kubectl get` is given (a resource name, `plural.version.group` when another
    /// version of the kind is also served).
    resource: &'static str,
    /// Where discovery must list the kind: group version path and plural.
    discovery: (&'static str, &'static str),
    /// A manifest applied before the `get` (None: objects of the kind exist already).
    manifest: Option<&'static str>,
    /// The object `kubectl get KIND NAME -o wide` reads.
    name: &'static str,
    header: &'static [&'static str],
    wide: &'static [&'static str],
}

const NS: &str = "tables";

fn rows() -> Vec<Row> {
    vec![
        Row {
            resource: "pods",
            discovery: ("/api/v1", "pods"),
            manifest: Some(
                "apiVersion: v1\nkind: Pod\nmetadata: {name: tbl-pod}\nspec:\n  containers: [{name: c, image: hello:v1}]\n",
            ),
            name: "tbl-pod",
            header: &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            wide: &["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
        },
        Row {
            resource: "nodes",
            discovery: ("/api/v1", "nodes"),
            manifest: None,
            name: "tb-0",
            header: &["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
            wide: &["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
        },
        Row {
            resource: "namespaces",
            discovery: ("/api/v1", "namespaces"),
            manifest: None,
            name: NS,
            header: &["NAME", "STATUS", "AGE"],
            wide: &["NAME", "STATUS", "AGE"],
        },
        Row {
            resource: "services",
            discovery: ("/api/v1", "services"),
            manifest: Some(
                "apiVersion: v1\nkind: Service\nmetadata: {name: tbl-svc}\nspec:\n  type: NodePort\n  selector: {app: tbl}\n  ports: [{port: 80}]\n",
            ),
            name: "tbl-svc",
            header: &["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
            wide: &["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"],
        },
        Row {
            resource: "endpoints",
            discovery: ("/api/v1", "endpoints"),
            manifest: Some(
                "apiVersion: v1\nkind: Endpoints\nmetadata: {name: tbl-ep}\nsubsets:\n- addresses: [{ip: 10.9.0.1}]\n  ports: [{port: 80}]\n",
            ),
            name: "tbl-ep",
            header: &["NAME", "ENDPOINTS", "AGE"],
            wide: &["NAME", "ENDPOINTS", "AGE"],
        },
        Row {
            resource: "replicationcontrollers",
            discovery: ("/api/v1", "replicationcontrollers"),
            manifest: Some(
                "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: tbl-rc}\nspec:\n  replicas: 1\n  selector: {app: tbl-rc}\n  template:\n    metadata: {labels: {app: tbl-rc}}\n    spec: {containers: [{name: c, image: hello:v1}]}\n",
            ),
            name: "tbl-rc",
            header: &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            wide: &["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        },
        Row {
            resource: "replicasets",
            discovery: ("/apis/apps/v1", "replicasets"),
            manifest: Some(
                "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: tbl-rs}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: tbl-rs}}\n  template:\n    metadata: {labels: {app: tbl-rs}}\n    spec: {containers: [{name: c, image: hello:v1}]}\n",
            ),
            name: "tbl-rs",
            header: &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            wide: &["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        },
        Row {
            resource: "deployments",
            discovery: ("/apis/apps/v1", "deployments"),
            manifest: Some(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: tbl-deploy}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: tbl-deploy}}\n  template:\n    metadata: {labels: {app: tbl-deploy}}\n    spec: {containers: [{name: c, image: hello:v1}]}\n",
            ),
            name: "tbl-deploy",
            header: &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            wide: &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        },
        Row {
            resource: "statefulsets",
            discovery: ("/apis/apps/v1", "statefulsets"),
            manifest: Some(
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: tbl-sts}\nspec:\n  serviceName: tbl-sts\n  replicas: 1\n  selector: {matchLabels: {app: tbl-sts}}\n  template:\n    metadata: {labels: {app: tbl-sts}}\n    spec: {containers: [{name: c, image: hello:v1}]}\n",
            ),
            name: "tbl-sts",
            header: &["NAME", "READY", "AGE"],
            wide: &["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"],
        },
        Row {
            resource: "daemonsets",
            discovery: ("/apis/apps/v1", "daemonsets"),
            manifest: Some(
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: tbl-ds}\nspec:\n  selector: {matchLabels: {app: tbl-ds}}\n  template:\n    metadata: {labels: {app: tbl-ds}}\n    spec: {containers: [{name: c, image: hello:v1}]}\n",
            ),
            name: "tbl-ds",
            header: &["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"],
            wide: &["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        },
        Row {
            resource: "controllerrevisions",
            discovery: ("/apis/apps/v1", "controllerrevisions"),
            manifest: Some("apiVersion: apps/v1\nkind: ControllerRevision\nmetadata: {name: tbl-cr}\nrevision: 1\ndata: {}\n"),
            name: "tbl-cr",
            header: &["NAME", "CONTROLLER", "REVISION", "AGE"],
            wide: &["NAME", "CONTROLLER", "REVISION", "AGE"],
        },
        Row {
            resource: "jobs",
            discovery: ("/apis/batch/v1", "jobs"),
            manifest: Some(
                "apiVersion: batch/v1\nkind: Job\nmetadata: {name: tbl-job}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: hello:v1}]\n",
            ),
            name: "tbl-job",
            header: &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
            wide: &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        },
        Row {
            resource: "cronjobs",
            discovery: ("/apis/batch/v1", "cronjobs"),
            manifest: Some(
                "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: tbl-cron}\nspec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{name: c, image: hello:v1}]\n",
            ),
            name: "tbl-cron",
            header: &["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
            wide: &["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        },
        Row {
            resource: "persistentvolumeclaims",
            discovery: ("/api/v1", "persistentvolumeclaims"),
            manifest: Some(
                "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: tbl-pvc}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
            ),
            name: "tbl-pvc",
            header: &["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"],
            wide: &["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE", "VOLUMEMODE"],
        },
        Row {
            resource: "horizontalpodautoscalers.v2.autoscaling",
            discovery: ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
            manifest: Some(
                "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: tbl-hpa}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: tbl-deploy}\n  minReplicas: 1\n  maxReplicas: 3\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}\n",
            ),
            name: "tbl-hpa",
            header: &["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
            wide: &["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
        },
        Row {
            resource: "horizontalpodautoscalers.v1.autoscaling",
            discovery: ("/apis/autoscaling/v1", "horizontalpodautoscalers"),
            manifest: Some(
                "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: tbl-hpa1}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: tbl-deploy}\n  minReplicas: 1\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 70\n",
            ),
            name: "tbl-hpa1",
            header: &["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
            wide: &["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
        },
        Row {
            resource: "leases",
            discovery: ("/apis/coordination.k8s.io/v1", "leases"),
            manifest: Some("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: tbl-lease}\nspec: {holderIdentity: me, leaseDurationSeconds: 30}\n"),
            name: "tbl-lease",
            header: &["NAME", "HOLDER", "AGE"],
            wide: &["NAME", "HOLDER", "AGE"],
        },
        Row {
            resource: "events",
            discovery: ("/api/v1", "events"),
            manifest: Some(
                "apiVersion: v1\nkind: Event\nmetadata: {name: tbl-event}\ninvolvedObject: {kind: Pod, name: tbl-pod, namespace: tables}\nreason: Tested\nmessage: printed as upstream prints it\ntype: Normal\ncount: 3\nfirstTimestamp: '2026-01-01T00:00:00Z'\nlastTimestamp: '2026-01-01T00:01:00Z'\nsource: {component: tables-test}\n",
            ),
            name: "tbl-event",
            header: &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
            wide: &["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"],
        },
        Row {
            resource: "events.v1.events.k8s.io",
            discovery: ("/apis/events.k8s.io/v1", "events"),
            manifest: None,
            name: "tbl-event",
            header: &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
            wide: &["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"],
        },
        Row {
            resource: "configmaps",
            discovery: ("/api/v1", "configmaps"),
            manifest: Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tbl-cm}\ndata: {a: '1'}\n"),
            name: "tbl-cm",
            header: &["NAME", "DATA", "AGE"],
            wide: &["NAME", "DATA", "AGE"],
        },
        Row {
            resource: "secrets",
            discovery: ("/api/v1", "secrets"),
            manifest: Some("apiVersion: v1\nkind: Secret\nmetadata: {name: tbl-secret}\nstringData: {a: '1'}\n"),
            name: "tbl-secret",
            header: &["NAME", "TYPE", "DATA", "AGE"],
            wide: &["NAME", "TYPE", "DATA", "AGE"],
        },
        Row {
            resource: "serviceaccounts",
            discovery: ("/api/v1", "serviceaccounts"),
            manifest: Some("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: tbl-sa}\n"),
            name: "tbl-sa",
            header: &["NAME", "SECRETS", "AGE"],
            wide: &["NAME", "SECRETS", "AGE"],
        },
        Row {
            resource: "persistentvolumes",
            discovery: ("/api/v1", "persistentvolumes"),
            manifest: Some(
                "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: tbl-pv}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /tmp/tbl-pv}\n",
            ),
            name: "tbl-pv",
            header: &["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"],
            wide: &[
                "NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE", "VOLUMEMODE"
            ],
        },
        Row {
            resource: "storageclasses",
            discovery: ("/apis/storage.k8s.io/v1", "storageclasses"),
            manifest: Some("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: tbl-sc}\nprovisioner: example.com/none\n"),
            name: "tbl-sc",
            header: &["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"],
            wide: &["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"],
        },
        Row {
            resource: "endpointslices",
            discovery: ("/apis/discovery.k8s.io/v1", "endpointslices"),
            manifest: Some(
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: tbl-eps}\naddressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.9.0.2]}]\n",
            ),
            name: "tbl-eps",
            header: &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
            wide: &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        },
        Row {
            resource: "poddisruptionbudgets",
            discovery: ("/apis/policy/v1", "poddisruptionbudgets"),
            manifest: Some("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: tbl-pdb}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: tbl}}\n"),
            name: "tbl-pdb",
            header: &["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
            wide: &["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
        },
    ]
}

/// The column names of a kubectl header line (columns are at least two spaces apart;
/// names such as `ACCESS MODES` hold one).
fn header_columns(out: &str) -> Vec<String> {
    let line = out.lines().next().unwrap_or("");
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()
}

/// Whether discovery lists `plural` in the group version at `path`.
fn served(api: &Api, (path, plural): (&str, &str)) -> bool {
    match api.get(path) {
        Ok((200, doc)) => doc["resources"].as_array().into_iter().flatten().any(|r| r["name"] == plural),
        _ => false,
    }
}

/// `kubectl get ARGS` once it prints a table (a just-created object may not be listed by
/// the first read of a cache-fed client; the server answers from the store, so this is
/// immediate in practice).
fn get_table(k: &Kubectl, args: &[&str]) -> String {
    wait_for(&format!("kubectl get {}", args.join(" ")), Duration::from_secs(20), || {
        let r = k.run(args);
        if r.success() && !r.stdout.trim().is_empty() { Ok(r.stdout) } else { Err(r.text()) }
    })
}

#[test]
fn kubectl_get_prints_upstreams_headers_for_every_kind() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("tb", 1);
    let api = cluster.api();
    let k = cluster.kubectl();
    let v = k.run(&["version", "--client"]);
    assert!(v.success(), "kubectl does not run (scripts/install-deps.sh installs it):\n{}", v.text());
    k.ok(&["create", "namespace", NS]);
    wait_for("node tb-0", Duration::from_secs(30), || match api.get("/api/v1/nodes/tb-0") {
        Ok((200, _)) => Ok(()),
        other => Err(format!("{other:?}")),
    });

    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut skipped = Vec::new();
    for row in rows() {
        if !served(&api, row.discovery) {
            eprintln!("skipping {}: {} does not list {} yet", row.resource, row.discovery.0, row.discovery.1);
            skipped.push(row.resource);
            continue;
        }
        if let Some(manifest) = row.manifest {
            let r = k.run_with_stdin(&["apply", "-n", NS, "-f", "-"], Some(manifest));
            assert!(r.success(), "creating the {} object:\n{}", row.resource, r.text());
        }
        let list = get_table(&k, &["get", row.resource, "-n", NS]);
        if header_columns(&list) != row.header {
            mismatches.push(format!("kubectl get {}:\n  want {:?}\n  got  {:?}\n{list}", row.resource, row.header, header_columns(&list)));
        }
        let one = get_table(&k, &["get", row.resource, row.name, "-n", NS, "-o", "wide"]);
        if header_columns(&one) != row.wide {
            mismatches.push(format!("kubectl get {} {} -o wide:\n  want {:?}\n  got  {:?}\n{one}", row.resource, row.name, row.wide, header_columns(&one)));
        }
        checked += 1;
    }
    assert!(mismatches.is_empty(), "{} of {checked} kinds print other headers than upstream:\n{}", mismatches.len(), mismatches.join("\n"));
    // Every row must have been checked: discovery lists every kind shoal serves.
    assert!(skipped.is_empty(), "rows skipped: discovery lists fewer kinds than shoal serves: {skipped:?}");
    assert_eq!(checked, 26, "rows checked");
}

#[test]
fn kubectl_get_events_shows_what_happened_to_which_object() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("ev", 1);
    let k = cluster.kubectl();
    let out = k.run_with_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata: {name: seen}\nspec:\n  containers: [{name: c, image: hello:v1}]\n"),
    );
    assert!(out.success(), "{}", out.text());
    // The scheduler records that it placed the pod; the table names it as kubectl users know.
    let events = wait_for("a Scheduled event for pod/seen", Duration::from_secs(30), || {
        let out = k.ok(&["get", "events"]);
        if out.lines().any(|l| l.contains("pod/seen") && l.contains("Scheduled")) { Ok(out) } else { Err(out) }
    });
    assert_eq!(header_columns(&events), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], "{events}");
    let line = events.lines().find(|l| l.contains("pod/seen") && l.contains("Scheduled")).unwrap_or_default();
    let cells: Vec<&str> = line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(cells.get(1..4), Some(&["Normal", "Scheduled", "pod/seen"][..]), "{events}");
    assert!(cells.get(4).is_some_and(|m| m.contains("seen")), "the message names the pod: {events}");

    // --sort-by asks for whole objects in the rows (includeObject=Object).
    let sorted = k.ok(&["get", "events", "--sort-by=.metadata.creationTimestamp"]);
    assert_eq!(header_columns(&sorted), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], "{sorted}");
    assert!(sorted.contains("pod/seen"), "{sorted}");

    let api = cluster.api();
    let (code, table) = api
        .get_with("/api/v1/namespaces/default/events?includeObject=None", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .expect("listing events as a Table");
    assert_eq!(code, 200, "{table}");
    assert!(table["rows"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(|row| row["object"] == Value::Null)), "{table}");
    // The events.k8s.io/v1 view prints the same cells from its own field names.
    let (code, table) = api
        .get_with("/apis/events.k8s.io/v1/namespaces/default/events", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .expect("listing events.k8s.io events as a Table");
    assert_eq!(code, 200, "{table}");
    let row = table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["cells"][3] == "pod/seen" && r["cells"][2] == "Scheduled")
        .unwrap_or_else(|| panic!("no Scheduled row for pod/seen in {table}"));
    assert_eq!(row["cells"][1], "Normal", "{row}");
    assert!(row["cells"][5].as_str().is_some_and(|s| s.starts_with("default-scheduler")), "the source is the scheduler: {row}");
    assert!(row["cells"][6].as_str().is_some_and(|m| m.contains("seen")), "{row}");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata", "{row}");
    // A Table watch sends the column definitions with its first event only, as upstream.
    let watch = api.watch_with("/api/v1/namespaces/default/pods?watch=true", "application/json;as=Table;v=v1;g=meta.k8s.io");
    let first = watch.next(Duration::from_secs(10)).expect("the first watch event");
    assert_eq!((&first["type"], &first["object"]["rows"][0]["cells"][0]), (&json!("ADDED"), &json!("seen")), "{first}");
    assert_eq!(first["object"]["columnDefinitions"][0]["name"], "Name", "{first}");
    let out = k.run_with_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata: {name: later}\nspec:\n  containers: [{name: c, image: hello:v1}]\n"),
    );
    assert!(out.success(), "{}", out.text());
    let next = watch.next(Duration::from_secs(10)).expect("a later watch event");
    assert_eq!(next["object"]["rows"][0]["cells"][0], "later", "{next}");
    assert_eq!(next["object"]["columnDefinitions"], Value::Null, "{next}");

    let (code, status) = api
        .get_with("/api/v1/namespaces/default/events?includeObject=Everything", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .expect("listing events as a Table");
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().is_some_and(|m| m.contains("includeObject: Unsupported value: \"Everything\"")), "{status}");
}
