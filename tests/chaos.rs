//! The chaos scenario (examples/scenarios/chaos.json): scaling and two rollouts of a
//! 20-replica Deployment on 5 simulated nodes while 200 random actors are killed; the
//! cluster converges, nothing is lost or duplicated, and restarts add up to the kills.

mod harness;

use harness::{Backend, Cluster};

#[test]
fn chaos_scenario_converges_after_200_kills() {
    // A budget that 200 kills spread over the run cannot spend (the scenario asserts
    // restarts == kills, which escalations would break).
    let mut cluster = Cluster::with_args(Backend::Embedded, &["--restart-limit", "50"]);
    cluster.add_simulated_nodes("chaos", 5);
    let scenario = format!("{}/examples/scenarios/chaos.json", env!("CARGO_MANIFEST_DIR"));
    let o = cluster.shoal(&["run", &scenario]);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    println!("{text}");
    assert!(o.status.success(), "scenario failed:\n{text}");
    let (_, tree) = cluster.api().get("/debug/actors").unwrap();
    assert!(tree["totalRestarts"].as_u64().unwrap_or(0) >= 200, "{tree}");
}

/// The same under 1,000 kills at 10 ms intervals with the default restart budget: kills
/// spend supervisors' budgets (escalations) and the root's (whole-tree restarts with
/// back-off), and still the server stays up, converges within 5 s of the last kill, loses
/// and duplicates no pod, and counts exactly one restart per kill plus one per escalation.
#[test]
fn a_thousand_kills_with_the_default_budget_never_end_the_server() {
    let mut cluster = Cluster::with_args(Backend::Embedded, &[]);
    cluster.add_simulated_nodes("chaos", 5);
    let scenario = format!("{}/examples/scenarios/chaos-1000.json", env!("CARGO_MANIFEST_DIR"));
    let o = cluster.shoal(&["run", &scenario]);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    println!("{text}");
    assert_eq!(cluster.server_exit_status(), None, "the server exited:\n{text}");
    assert!(o.status.success(), "scenario failed:\n{text}");
    let (code, _) = cluster.api().get("/healthz").unwrap();
    assert_eq!(code, 200);
    let (_, tree) = cluster.api().get("/debug/actors").unwrap();
    let n = |p: &str| tree.pointer(p).and_then(|v| v.as_u64()).unwrap_or(0);
    let converged = text.lines().rev().find(|l| l.contains("wait ") && l.contains("complete")).unwrap_or("?");
    println!(
        "figures: kills {}; restarts {} = {} after kills + {} escalations + {} crashes; tree restarts {}; convergence: {}",
        n("/restartsByCause/killed"),
        n("/totalRestarts"),
        n("/restartsByCause/killed"),
        n("/restartsByCause/escalated"),
        n("/restartsByCause/crashed"),
        n("/treeRestarts"),
        converged.trim()
    );
    // 1,000 random kills and two by name (`deploy`, `Deployment/default/web`).
    assert_eq!(n("/restartsByCause/killed"), 1002, "{tree}");
    let (_, metrics) = cluster.api().get("/metrics").unwrap();
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    let tree_restarts = format!("shoal_supervision_tree_restarts_total {}", n("/treeRestarts"));
    assert!(metrics.contains(&tree_restarts), "want {tree_restarts:?} in /metrics:\n{metrics}");
    assert!(metrics.contains("shoal_actor_restarts_total{supervisor=\"deployments\"}"), "{metrics}");
}

/// Kill paths name kinds as kubectl does, singletons by name; unknown names are 404.
#[test]
fn kill_paths_take_every_kubectl_spelling_of_a_kind() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let body = serde_json::json!({});
    for (typed, killed) in [
        ("Deployment", "deployments"),
        ("deployment", "deployments"),
        ("deployments", "deployments"),
        ("deploy", "deployments"),
        ("rs", "replicasets"),
        ("Scheduler", "scheduler"),
    ] {
        // The manager just killed may still be restarting: a refused kill says so (404)
        // and is retried until the deadline.
        let answer = harness::wait_for(&format!("a kill of {typed}"), std::time::Duration::from_secs(10), || {
            match api.post(&format!("/debug/actors/{typed}/kill"), &body) {
                Ok((200, v)) => Ok(v),
                other => Err(format!("{other:?}")),
            }
        });
        assert_eq!(answer["killed"], killed, "{typed}: {answer}");
    }
    let (code, status) = api.post("/debug/actors/widgets/kill", &body).unwrap();
    assert_eq!(code, 404, "{status}");
    assert!(status["message"].as_str().unwrap_or("").contains("no actor kind or singleton named \"widgets\""), "{status}");
    let (code, status) = api.post("/debug/actors/configmaps/kill", &body).unwrap();
    assert_eq!(code, 404, "a kind without a manager: {status}");
    let (code, status) = api.post("/debug/actors/deploy/default/nothing/kill", &body).unwrap();
    assert_eq!(code, 404, "{status}");
}
