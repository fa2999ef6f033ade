//! The official Python `kubernetes` client against real shoal servers: runs
//! tests/python/test_client.py with pytest (both pinned in .tools/venv by
//! scripts/install-deps.sh; `SHOAL_PYTHON` names the interpreter).

mod harness;

use std::path::PathBuf;
use std::process::Command;

use harness::{Backend, Cluster};

/// The pinned interpreter: `SHOAL_PYTHON`, else the repository's venv, else `python3`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SHOAL_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

#[test]
fn official_python_client_passes_its_suite() {
    // One cluster with simulated nodes for everything but compaction; one that compacts
    // every second for the 410 Gone test.
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("py", 3);
    let compacted = Cluster::with_args(Backend::Embedded, &["--compact-interval", "1"]);

    let python = python();
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"])
        .arg(&tests)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("SHOAL_COMPACTED_KUBECONFIG", compacted.kubeconfig())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(cluster.path())
        .output()
        .unwrap_or_else(|e| panic!("running {} -m pytest (run scripts/install-deps.sh to install it): {e}", python.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "pytest exited with {}:\n{text}", out.status);
}
