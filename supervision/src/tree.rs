//! The live supervision tree and its restart counts, kept outside the actors so that it
//! survives their restarts (and restarts of the whole tree); rendered as JSON at
//! `GET /debug/actors`.
//!
//! Every restart has one cause, counted once: a kill (counted when the supervisor accepts
//! it), a crash (a panic), or an escalation (a supervisor that spent its budget for a
//! child is restarted by the root). So `totalRestarts = kills + crashes + escalations`,
//! exactly; restarts of the whole tree by the root are counted apart (`treeRestarts`).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// Why an actor was restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Killed,
    Crashed,
    Escalated,
}

#[derive(Debug, Default)]
struct ChildNode {
    kind: &'static str,
    restarts: u64,
}

#[derive(Debug, Default)]
struct SupervisorNode {
    kind: &'static str,
    restarts: u64,
    escalations: u64,
    /// Restarts of children that no longer exist (their objects were deleted).
    departed_restarts: u64,
    children: BTreeMap<String, ChildNode>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CauseCounts {
    pub killed: u64,
    pub crashed: u64,
    pub escalated: u64,
}

impl CauseCounts {
    fn add(&mut self, c: Cause) {
        match c {
            Cause::Killed => self.killed += 1,
            Cause::Crashed => self.crashed += 1,
            Cause::Escalated => self.escalated += 1,
        }
    }
    pub fn total(&self) -> u64 {
        self.killed + self.crashed + self.escalated
    }
}

#[derive(Debug, Default)]
struct TreeState {
    /// Times the root's budget was spent (each one restarts the whole tree).
    escalations: u64,
    tree_restarts: u64,
    /// Some while the tree is stopped, waiting this back-off before it starts again.
    backoff: Option<Duration>,
    by_cause: CauseCounts,
    supervisors: BTreeMap<String, SupervisorNode>,
}

/// Shared handle to the tree. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    state: Arc<Mutex<TreeState>>,
}

impl Tree {
    fn with<R>(&self, f: impl FnOnce(&mut TreeState) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut st)
    }

    /// Registers a supervisor (manager or singleton) under the root.
    pub fn add_supervisor(&self, name: &str, kind: &'static str) {
        self.with(|st| {
            st.supervisors.entry(name.to_string()).or_insert_with(|| SupervisorNode { kind, ..Default::default() });
        });
    }

    pub fn supervisor_restarted(&self, name: &str, cause: Cause) {
        self.with(|st| {
            if let Some(s) = st.supervisors.get_mut(name) {
                s.restarts += 1;
                st.by_cause.add(cause);
            }
        });
    }

    pub fn supervisor_escalated(&self, name: &str) {
        self.with(|st| {
            if let Some(s) = st.supervisors.get_mut(name) {
                s.escalations += 1;
            }
        });
    }

    /// The root's budget is spent: every supervisor stops, and the tree starts again
    /// after `backoff`.
    pub fn tree_stopped(&self, backoff: Duration) {
        self.with(|st| {
            st.escalations += 1;
            st.backoff = Some(backoff);
        });
    }

    /// The tree started again after a back-off.
    pub fn tree_restarted(&self) {
        self.with(|st| {
            st.tree_restarts += 1;
            st.backoff = None;
        });
    }

    pub fn add_child(&self, supervisor: &str, key: &str, kind: &'static str) {
        self.with(|st| {
            if let Some(s) = st.supervisors.get_mut(supervisor) {
                s.children.entry(key.to_string()).or_insert_with(|| ChildNode { kind, restarts: 0 });
            }
        });
    }

    pub fn child_restarted(&self, supervisor: &str, key: &str, cause: Cause) {
        self.with(|st| {
            if let Some(c) = st.supervisors.get_mut(supervisor).and_then(|s| s.children.get_mut(key)) {
                c.restarts += 1;
                st.by_cause.add(cause);
            }
        });
    }

    /// The object is gone: its actor leaves the tree, its restarts are kept in the total.
    pub fn remove_child(&self, supervisor: &str, key: &str) {
        self.with(|st| {
            if let Some(s) = st.supervisors.get_mut(supervisor) {
                if let Some(c) = s.children.remove(key) {
                    s.departed_restarts += c.restarts;
                }
            }
        });
    }

    /// Drops the children that are not in `live` (their objects went away meanwhile).
    pub fn retain_children(&self, supervisor: &str, live: &HashSet<String>) {
        self.with(|st| {
            if let Some(s) = st.supervisors.get_mut(supervisor) {
                let gone: Vec<String> = s.children.keys().filter(|k| !live.contains(*k)).cloned().collect();
                for k in gone {
                    if let Some(c) = s.children.remove(&k) {
                        s.departed_restarts += c.restarts;
                    }
                }
            }
        });
    }

    /// Sum of every restart in the tree, including departed children.
    pub fn total_restarts(&self) -> u64 {
        self.with(|st| st.by_cause.total())
    }

    /// Restarts by cause (their sum is `total_restarts`).
    pub fn restarts_by_cause(&self) -> CauseCounts {
        self.with(|st| st.by_cause)
    }

    /// Restarts of each supervisor and of its actors (departed ones included), by name.
    pub fn restarts_by_supervisor(&self) -> Vec<(String, u64)> {
        self.with(|st| {
            st.supervisors
                .iter()
                .map(|(n, s)| (n.clone(), s.restarts + s.departed_restarts + s.children.values().map(|c| c.restarts).sum::<u64>()))
                .collect()
        })
    }

    /// How often the root restarted the whole tree.
    pub fn tree_restarts(&self) -> u64 {
        self.with(|st| st.tree_restarts)
    }

    /// The back-off the tree is waiting out, if it is stopped.
    pub fn backoff(&self) -> Option<Duration> {
        self.with(|st| st.backoff)
    }

    /// The names of the supervisors under the root (kinds' plurals and singletons).
    pub fn supervisor_names(&self) -> Vec<String> {
        self.with(|st| st.supervisors.keys().cloned().collect())
    }

    pub fn child_count(&self, supervisor: &str) -> usize {
        self.with(|st| st.supervisors.get(supervisor).map(|s| s.children.len()).unwrap_or(0))
    }

    pub fn to_json(&self) -> Value {
        self.with(|st| {
            let children: Vec<Value> = st
                .supervisors
                .iter()
                .map(|(name, s)| {
                    let kids: Vec<Value> = s
                        .children
                        .iter()
                        .map(|(k, c)| json!({"name": k, "kind": c.kind, "restarts": c.restarts, "children": []}))
                        .collect();
                    json!({
                        "name": name,
                        "kind": s.kind,
                        "restarts": s.restarts,
                        "escalations": s.escalations,
                        "departedRestarts": s.departed_restarts,
                        "actors": kids.len(),
                        "children": kids,
                    })
                })
                .collect();
            json!({
                "name": "root",
                "kind": "root",
                "restarts": 0,
                "escalations": st.escalations,
                "totalRestarts": st.by_cause.total(),
                "restartsByCause": {
                    "killed": st.by_cause.killed,
                    "crashed": st.by_cause.crashed,
                    "escalated": st.by_cause.escalated,
                },
                "treeRestarts": st.tree_restarts,
                "state": if st.backoff.is_some() { "backoff" } else { "running" },
                "treeBackoffMs": st.backoff.map(|d| d.as_millis() as u64),
                "children": children,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_add_up_by_cause_and_survive_departed_children() {
        let t = Tree::default();
        t.add_supervisor("pods", "manager");
        t.add_child("pods", "default/a", "Pod");
        t.child_restarted("pods", "default/a", Cause::Killed);
        t.child_restarted("pods", "default/a", Cause::Crashed);
        t.supervisor_restarted("pods", Cause::Escalated);
        t.remove_child("pods", "default/a");
        assert_eq!(t.total_restarts(), 3);
        assert_eq!(t.restarts_by_cause(), CauseCounts { killed: 1, crashed: 1, escalated: 1 });
        assert_eq!(t.restarts_by_supervisor(), vec![("pods".to_string(), 3)]);
        let j = t.to_json();
        assert_eq!(j["totalRestarts"], 3);
        assert_eq!(j["children"][0]["departedRestarts"], 2);
    }

    #[test]
    fn tree_state_shows_the_backoff_until_the_tree_is_back() {
        let t = Tree::default();
        t.tree_stopped(Duration::from_secs(2));
        assert_eq!(t.to_json()["state"], "backoff");
        assert_eq!(t.to_json()["treeBackoffMs"], 2000);
        t.tree_restarted();
        assert_eq!(t.to_json()["state"], "running");
        assert_eq!(t.tree_restarts(), 1);
    }
}
