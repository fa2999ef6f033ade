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
