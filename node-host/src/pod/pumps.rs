//! The log pump of every running container on the node: the container writes its
//! stdout and stderr into two FIFOs (`logs::ContainerLogs`), and a pump per container
//! drains them into the CRI log file. Pumps are started when a container is created,
//! re-started for running containers a new agent adopts (they append to the same file),
//! and finished — draining what is left — once the container has exited.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::logs::{Chunk, ContainerLogs, LogOptions, PodLogKey, Pump};

#[derive(Default)]
pub struct Pumps {
    opts: LogOptions,
    running: Mutex<HashMap<String, Pump>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pumps {
    pub fn new(opts: LogOptions) -> Self {
        Pumps { opts, running: Mutex::default() }
    }

    /// The FIFOs and log file of one container attempt (made when missing).
    pub fn files(root: &Path, pod: &api::model::Pod, container: &str, attempt: u32) -> std::io::Result<ContainerLogs> {
        let key = PodLogKey {
            namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
        };
        ContainerLogs::create(root, &key, container, attempt)
    }

    /// Starts the pump of container `id` unless it runs already.
    pub fn ensure(&self, id: &str, logs: &ContainerLogs) {
        let mut running = lock(&self.running);
        if running.contains_key(id) {
            return;
        }
        match Pump::spawn(logs, self.opts.clone()) {
            Ok(p) => {
                running.insert(id.to_string(), p);
            }
            Err(e) => tracing::warn!(container = id, error = %e, "starting the log pump failed"),
        }
    }

    /// Finishes the pump of a container that has exited (its last output is drained).
    pub fn finish(&self, id: &str, logs: Option<ContainerLogs>) {
        let Some(pump) = lock(&self.running).remove(id) else { return };
        tokio::spawn(async move {
            if let Err(e) = pump.finish().await {
                tracing::warn!(error = %e, "draining a container's log failed");
            }
            if let Some(l) = logs {
                let _ = l.remove_fifos();
            }
        });
    }

    /// What `kubectl attach` reads: the container's output from now on.
    pub fn subscribe(&self, id: &str) -> Option<broadcast::Receiver<Chunk>> {
        lock(&self.running).get(id).map(Pump::subscribe)
    }

    pub fn has(&self, id: &str) -> bool {
        lock(&self.running).contains_key(id)
    }
}
