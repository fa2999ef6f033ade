//! The live supervision tree and its restart counts, kept outside the actors so that it
//! survives their restarts; rendered as JSON at `GET /debug/actors`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

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

#[derive(Debug, Default)]
struct TreeState {
    escalations: u64,
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

    pub fn supervisor_restarted(&self, name: &str) {
        self.with(|st| {
            if let Some(s) = st.supervisors.get_mut(name) {
                s.restarts += 1;
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

    pub fn root_escalated(&self) {
        self.with(|st| st.escalations += 1);
    }

    pub fn add_child(&self, supervisor: &str, key: &str, kind: &'static str) {
        self.with(|st| {
            if let Some(s) = st.supervisors.get_mut(supervisor) {
                s.children.entry(key.to_string()).or_insert_with(|| ChildNode { kind, restarts: 0 });
            }
        });
    }

    pub fn child_restarted(&self, supervisor: &str, key: &str) {
        self.with(|st| {
            if let Some(c) = st.supervisors.get_mut(supervisor).and_then(|s| s.children.get_mut(key)) {
                c.restarts += 1;
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
    pub fn retain_children(&self, supervisor: &str, live: &std::collections::HashSet<String>) {
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
        self.with(|st| {
            st.supervisors
                .values()
                .map(|s| s.restarts + s.departed_restarts + s.children.values().map(|c| c.restarts).sum::<u64>())
                .sum()
        })
    }

    pub fn child_count(&self, supervisor: &str) -> usize {
        self.with(|st| st.supervisors.get(supervisor).map(|s| s.children.len()).unwrap_or(0))
    }

    pub fn to_json(&self) -> Value {
        let total = self.total_restarts();
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
                "totalRestarts": total,
                "children": children,
            })
        })
    }
}
