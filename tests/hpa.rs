//! The HorizontalPodAutoscaler and the metrics APIs end to end on simulated nodes, whose
//! pods' usage the test sets through `sim.shoal.io/cpu` annotations (the "load"), with
//! the sync period and the scale-down stabilization window shortened by the server's
//! `--hpa-sync-period` and `--hpa-downscale-stabilization` flags: raising the CPU of a
//! Deployment's pods scales it up, lowering it scales it down once the window has
//! passed; the real kubectl's `top pods` and `top nodes` show the reported usage; a
//! custom Pods metric posted through `custom.metrics.k8s.io` drives a scale.

mod harness;

use std::time::{Duration, Instant};

use harness::{wait_for, Api, Backend, Cluster};
use serde_json::{json, Value};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const HPAS: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
const PODS: &str = "/api/v1/namespaces/default/pods";
const CUSTOM: &str = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods";
/// The scale-down stabilization window the server runs with.
const WINDOW: Duration = Duration::from_secs(6);

fn cluster() -> Cluster {
    let window = WINDOW.as_secs().to_string();
    let mut c = Cluster::with_args(Backend::Embedded, &["--hpa-sync-period", "1", "--hpa-downscale-stabilization", &window]);
    c.add_simulated_nodes_with("hpa", 2, &["--usage-interval", "1"]);
    c
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": "busybox",
                                       "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}}]}}}
    })
}

fn create(api: &Api, path: &str, body: &Value) {
    let (code, v) = api.post(path, body).expect("POST");
    assert_eq!(code, 201, "{v}");
}

/// The running pods of `app`, not being deleted.
fn pods(api: &Api, app: &str) -> Vec<Value> {
    let (_, v) = api.get(&format!("{PODS}?labelSelector=app%3D{app}")).expect("GET pods");
    v["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null() && p["status"]["phase"] == "Running")
        .collect()
}

/// Sets the CPU every running pod of `app` reports (as load would); new pods get it too
/// on the next call.
fn load(api: &Api, app: &str, cpu: &str) {
    for p in pods(api, app) {
        if p["metadata"]["annotations"]["sim.shoal.io/cpu"] == cpu {
            continue;
        }
        let name = p["metadata"]["name"].as_str().unwrap_or_default();
        let patch = json!({"metadata": {"annotations": {"sim.shoal.io/cpu": cpu, "sim.shoal.io/memory": "64Mi"}}});
        let _ = api.send("PATCH", &format!("{PODS}/{name}"), "application/merge-patch+json", patch.to_string().as_bytes());
    }
}

fn spec_replicas(api: &Api, name: &str) -> i64 {
    let (_, d) = api.get(&format!("{DEPLOYMENTS}/{name}")).expect("GET deployment");
    d["spec"]["replicas"].as_i64().unwrap_or(-1)
}

fn hpa(api: &Api, name: &str) -> Value {
    api.get(&format!("{HPAS}/{name}")).expect("GET hpa").1
}

fn condition(h: &Value, type_: &str) -> (String, String) {
    let c = h["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned()).unwrap_or_default();
    (c["status"].as_str().unwrap_or_default().to_string(), c["reason"].as_str().unwrap_or_default().to_string())
}

/// Holds `cpu` on the pods of `app` until the Deployment has `want` replicas.
fn scale_under_load(api: &Api, app: &str, cpu: &str, want: i64, deadline: Duration) {
    wait_for(&format!("{app} at {want} replicas under {cpu} per pod"), deadline, || {
        load(api, app, cpu);
        let n = spec_replicas(api, app);
        if n == want { Ok(()) } else { Err(format!("replicas {n}; hpa status {}", hpa(api, app)["status"])) }
    });
}

#[test]
fn cpu_utilization_scales_a_deployment_up_then_down_after_the_window_and_kubectl_top_shows_it() {
    let c = cluster();
    let api = c.api();
    create(&api, DEPLOYMENTS, &deployment("web", 2));
    create(&api, HPAS, &json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 2, "maxReplicas": 6,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}
    }));

    // At the target (100m of 200m requested = 50%): measured, and no change.
    wait_for("the HPA to measure 50% at 2 replicas", Duration::from_secs(60), || {
        load(&api, "web", "100m");
        let h = hpa(&api, "web");
        let util = &h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"];
        let active = condition(&h, "ScalingActive");
        if util == 50 && active.0 == "True" && h["status"]["desiredReplicas"] == 2 { Ok(()) } else { Err(format!("{}", h["status"])) }
    });
    assert_eq!(spec_replicas(&api, "web"), 2);

    // The real kubectl reads the same window.
    let k = c.kubectl();
    wait_for("kubectl top pods to show 100m per pod", Duration::from_secs(30), || {
        let r = k.run(&["top", "pods", "-l", "app=web", "--no-headers"]);
        let lines: Vec<&str> = r.stdout.lines().filter(|l| l.contains("100m") && l.contains("64Mi")).collect();
        if r.success() && lines.len() == 2 { Ok(()) } else { Err(r.text()) }
    });
    let all = k.run(&["top", "pods", "-A"]);
    assert!(all.success() && all.stdout.contains("NAMESPACE") && all.stdout.contains("web-"), "{}", all.text());
    let nodes = k.run(&["top", "nodes"]);
    assert!(nodes.success() && nodes.stdout.contains("hpa-0") && nodes.stdout.contains("hpa-1") && nodes.stdout.contains("CPU(cores)"), "{}", nodes.text());
    let node = k.run(&["top", "node", "hpa-0", "--no-headers"]);
    assert!(node.success(), "{}", node.text());

    // Load: 300m per pod is 150% of the target → three times the pods, capped at 6.
    let t = Instant::now();
    scale_under_load(&api, "web", "300m", 6, Duration::from_secs(90));
    println!("scaled 2 → 6 in {:.1} s", t.elapsed().as_secs_f64());
    wait_for("ScalingLimited TooManyReplicas at the maximum", Duration::from_secs(30), || {
        load(&api, "web", "300m");
        let h = hpa(&api, "web");
        let limited = condition(&h, "ScalingLimited");
        if limited == ("True".into(), "TooManyReplicas".into()) && h["status"]["lastScaleTime"].is_string() { Ok(()) } else { Err(format!("{}", h["status"])) }
    });
    let (_, events) = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb").expect("GET events");
    let rescaled = events["items"].as_array().is_some_and(|es| {
        es.iter().any(|e| e["reason"] == "SuccessfulRescale" && e["message"].as_str().is_some_and(|m| m.contains("cpu resource utilization (percentage of request) above target")))
    });
    assert!(rescaled, "no SuccessfulRescale event: {events}");

    // Idle: 50m per pod is 25% → a scale down, but only once the window has passed.
    let lowered = Instant::now();
    wait_for("the HPA to see the lower load", Duration::from_secs(30), || {
        load(&api, "web", "50m");
        let h = hpa(&api, "web");
        let util = h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"].as_i64().unwrap_or(0);
        if util <= 30 { Ok(()) } else { Err(format!("{}", h["status"])) }
    });
    let h = hpa(&api, "web");
    if lowered.elapsed() < WINDOW - Duration::from_secs(1) {
        assert_eq!(spec_replicas(&api, "web"), 6, "scaled down inside the window: {}", h["status"]);
        assert_eq!(condition(&h, "AbleToScale").1, "ScaleDownStabilized", "{}", h["status"]);
    }
    scale_under_load(&api, "web", "50m", 2, Duration::from_secs(90));
    let took = lowered.elapsed();
    println!("scaled 6 → 2 in {:.1} s (window {} s)", took.as_secs_f64(), WINDOW.as_secs());
    assert!(took >= WINDOW, "scaled down after {took:?}, before the {WINDOW:?} window");
    let table = k.run(&["get", "hpa", "web"]);
    assert!(table.success() && table.stdout.contains("Deployment/web"), "{}", table.text());
}

#[test]
fn a_custom_pods_metric_drives_a_scale() {
    let c = cluster();
    let api = c.api();
    create(&api, DEPLOYMENTS, &deployment("queue", 1));
    create(&api, HPAS, &json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "queue"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "queue"},
                 "minReplicas": 1, "maxReplicas": 5,
                 "metrics": [{"type": "Pods", "pods": {"metric": {"name": "jobs_waiting"}, "target": {"type": "AverageValue", "averageValue": "10"}}}],
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}
    }));
    // Without a value the metric is missing: ScalingActive False.
    wait_for("the HPA to miss its metric", Duration::from_secs(30), || {
        let h = hpa(&api, "queue");
        let active = condition(&h, "ScalingActive");
        if active == ("False".into(), "FailedGetPodsMetric".into()) { Ok(()) } else { Err(format!("{}", h["status"])) }
    });
    // 30 waiting jobs shared by the pods, 10 per pod wanted → 3 pods.
    let post_queue = |total: i64| {
        let pods = pods(&api, "queue");
        let each = total / pods.len().max(1) as i64;
        for p in &pods {
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            let (code, v) = api.post(&format!("{CUSTOM}/{name}/jobs_waiting"), &json!({"value": each.to_string()})).expect("POST metric");
            assert_eq!(code, 201, "{v}");
        }
    };
    wait_for("queue at 3 replicas for 30 waiting jobs", Duration::from_secs(60), || {
        post_queue(30);
        let n = spec_replicas(&api, "queue");
        let h = hpa(&api, "queue");
        if n == 3 && h["status"]["currentMetrics"][0]["pods"]["current"]["averageValue"] == "10" {
            Ok(())
        } else {
            Err(format!("replicas {n}; hpa status {}", h["status"]))
        }
    });
    let (_, list) = api.get(&format!("{CUSTOM}/*/jobs_waiting?labelSelector=app%3Dqueue")).expect("GET custom metrics");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "{list}");
    let (_, disc) = api.get("/apis/custom.metrics.k8s.io/v1beta2").expect("discovery");
    assert!(disc["resources"].as_array().is_some_and(|rs| rs.iter().any(|r| r["name"] == "pods/jobs_waiting")), "{disc}");
    // The queue drains: back to one pod (no scale-down window in its behavior).
    wait_for("queue back at 1 replica", Duration::from_secs(60), || {
        post_queue(2);
        let n = spec_replicas(&api, "queue");
        if n == 1 { Ok(()) } else { Err(format!("replicas {n}; hpa status {}", hpa(&api, "queue")["status"])) }
    });
}

/// The same on a real node: a busybox container that burns CPU (capped by its limit, so
/// the test loads the machine by 300m at most) is measured from its cgroup, which scales
/// its Deployment up to the maximum; replaced by an idle one, it scales back down.
#[test]
fn a_cpu_burning_container_on_a_real_node_scales_its_deployment() {
    harness::real::require_root();
    let rc = harness::real::RealCluster::with_args("hpa", &["--hpa-sync-period", "1", "--hpa-downscale-stabilization", "3"]);
    let api = rc.cluster.api();
    let burner = |command: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "burn"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "burn"}},
                     "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                     "template": {"metadata": {"labels": {"app": "burn"}},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", command],
                                                           "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "100m"}}}]}}}
        })
    };
    create(&api, DEPLOYMENTS, &burner("while :; do :; done"));
    create(&api, HPAS, &json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "burn"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "burn"},
                 "minReplicas": 1, "maxReplicas": 3,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}
    }));
    // Each burning container uses its 100m limit: 200% of its 50m request.
    let t = Instant::now();
    wait_for("burn at 3 replicas", Duration::from_secs(120), || {
        let n = spec_replicas(&api, "burn");
        if n == 3 { Ok(()) } else { Err(format!("replicas {n}; hpa status {}", hpa(&api, "burn")["status"])) }
    });
    println!("real node: scaled 1 → 3 in {:.1} s", t.elapsed().as_secs_f64());
    let k = rc.cluster.kubectl();
    wait_for("kubectl top pods to show the burning pods near their limit", Duration::from_secs(60), || {
        let r = k.run(&["top", "pods", "-l", "app=burn", "--no-headers"]);
        // NAME CPU(cores) MEMORY(bytes): at least 50m each once all three run.
        let busy = r.stdout.lines().filter_map(|l| l.split_whitespace().nth(1)?.strip_suffix('m')?.parse::<u32>().ok()).filter(|m| *m >= 50).count();
        if r.success() && busy == 3 { Ok(()) } else { Err(r.text()) }
    });
    // Idle containers: usage near zero, back to the minimum once the window has passed.
    let (code, v) = api
        .modify(&format!("{DEPLOYMENTS}/burn"), |d| d["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["sleep", "3600"]))
        .expect("PUT deployment");
    assert_eq!(code, 200, "{v}");
    let t = Instant::now();
    wait_for("burn back at 1 replica", Duration::from_secs(180), || {
        let n = spec_replicas(&api, "burn");
        if n == 1 { Ok(()) } else { Err(format!("replicas {n}; hpa status {}", hpa(&api, "burn")["status"])) }
    });
    println!("real node: scaled 3 → 1 in {:.1} s after the idle rollout", t.elapsed().as_secs_f64());
}
