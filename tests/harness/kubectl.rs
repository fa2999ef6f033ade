//! The real kubectl, bound to one test cluster: its kubeconfig, and a discovery cache of
//! its own (so that a port reused by another test's server never serves a stale cache).
//! Every kubectl-driven test runs it through here.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Cluster;

/// The kubectl the tests run: `SHOAL_KUBECTL`, else the pinned one that
/// `scripts/install-deps.sh` puts in `.tools/venv`, else `kubectl` on PATH.
pub fn kubectl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SHOAL_KUBECTL") {
        return PathBuf::from(p);
    }
    let pinned = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/kubectl");
    if pinned.exists() {
        return pinned;
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("kubectl")).find(|p| p.is_file()));
    on_path.unwrap_or_else(|| {
        panic!("kubectl not found: set SHOAL_KUBECTL, run scripts/install-deps.sh (.tools/venv/bin/kubectl) or put kubectl on PATH")
    })
}

/// What one kubectl run did.
pub struct Run {
    pub args: String,
    /// None when it was killed (it hung, or a signal ended it).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout then stderr, as a terminal shows them.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The whole run, for assertion messages.
    pub fn text(&self) -> String {
        format!("$ kubectl {}\nexit {:?}\n--- stdout\n{}--- stderr\n{}", self.args, self.code, self.stdout, self.stderr)
    }
}

/// kubectl for one cluster.
pub struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
}

/// The longest a kubectl command may run before the test calls it hung.
const RUN_LIMIT: Duration = Duration::from_secs(120);

impl Kubectl {
    pub fn new(cluster: &Cluster) -> Self {
        Kubectl { kubeconfig: cluster.kubeconfig(), home: cluster.path().to_path_buf() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(kubectl_bin());
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.home.join("kube-cache"))
            .env("HOME", &self.home);
        c
    }

    /// Runs kubectl to completion (at most two minutes), with nothing on stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// Runs kubectl to completion (at most two minutes), with `stdin` piped in.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} (run scripts/install-deps.sh): {e}", kubectl_bin().display()));
        if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
            input.write_all(text.as_bytes()).expect("writing kubectl's stdin");
        }
        let read = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_string(&mut s);
                }
                s
            })
        };
        let out = read(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
        let err = read(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
        let deadline = Instant::now() + RUN_LIMIT;
        let status = loop {
            if let Some(s) = child.try_wait().expect("waiting for kubectl") {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let r = Run {
            args: args.join(" "),
            code: status.and_then(|s| s.code()),
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        };
        assert!(status.is_some(), "kubectl hung for two minutes:\n{}", r.text());
        r
    }

    /// Runs kubectl, asserts exit 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.success(), "kubectl failed:\n{}", r.text());
        r.stdout
    }

    /// Runs kubectl, asserts a non-zero exit, returns stdout and stderr together.
    pub fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(!r.success() && r.code.is_some(), "kubectl should have failed:\n{}", r.text());
        r.output()
    }

    /// `get ... -o json`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {} -o json printed invalid JSON ({e}):\n{out}", args.join(" ")))
    }

    /// Starts a long-running kubectl (e.g. `get -w`) whose output lines arrive on a channel.
    pub fn stream(&self, args: &[&str]) -> Streaming {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting kubectl");
        let (tx, rx) = mpsc::channel();
        for r in [
            Box::new(child.stdout.take().expect("piped stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("piped stderr")) as Box<dyn Read + Send>,
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Streaming { child, rx, seen: Vec::new() }
    }
}

/// A running kubectl whose output is read line by line; killed on drop.
pub struct Streaming {
    child: Child,
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Streaming {
    /// Waits for a line that satisfies `f`; panics with everything seen so far.
    pub fn until(&mut self, what: &str, deadline: Duration, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + deadline;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if f(&line) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {what} within {deadline:?}; kubectl printed:\n{}", self.seen.join("\n"));
    }

    /// Every line seen so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
