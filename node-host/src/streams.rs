//! The node server's view of the agent (`server::Streams`): container logs from the
//! files the pumps write, exec through the container runtime, attach to a pump's
//! output, and pod IPs for port-forwarding — all read from what the pod actors publish
//! (`NodeStats`).

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::agent::Agent;
use crate::runtime::{ContainerStatus, ExecRequest};
use crate::server::{Attach, ContainerRef, LogFile, StreamError, Streams};

pub struct AgentStreams(pub Arc<Agent>);

impl AgentStreams {
    fn pod(&self, namespace: &str, pod: &str) -> Result<crate::agent::PodInfo, StreamError> {
        self.0.stats.pod(namespace, pod).ok_or_else(|| StreamError::NotFound(format!("pod {namespace}/{pod} is not running on this node")))
    }

    fn current(&self, t: &ContainerRef) -> Result<crate::agent::ContainerInfo, StreamError> {
        self.pod(&t.namespace, &t.pod)?;
        self.0
            .stats
            .container(&t.namespace, &t.pod, &t.container, false)
            .ok_or_else(|| StreamError::BadRequest(format!("container {} is not valid for pod {}", t.container, t.pod)))
    }

    fn running_container(&self, t: &ContainerRef) -> Result<crate::agent::ContainerInfo, StreamError> {
        let c = self.current(t)?;
        if !c.running {
            return Err(StreamError::BadRequest(format!("container {} not found in pod {}", t.container, t.pod)));
        }
        Ok(c)
    }
}

#[async_trait]
impl Streams for AgentStreams {
    async fn metrics(&self) -> String {
        self.0.stats.render_metrics()
    }
    async fn usage(&self) -> Vec<crate::server::ContainerUsage> {
        let mut out = Vec::new();
        for p in self.0.stats.pods() {
            let Some(at) = p.usage_at else { continue };
            for c in p.containers.iter().filter(|c| c.running) {
                if let Some(u) = c.usage {
                    out.push(crate::server::ContainerUsage {
                        namespace: p.namespace.clone(),
                        pod: p.name.clone(),
                        container: c.name.clone(),
                        cpu_ns: u.cpu_ns,
                        memory_working_set: u.memory_working_set,
                        at,
                    });
                }
            }
        }
        out
    }

    async fn log_file(&self, t: &ContainerRef, previous: bool) -> Result<LogFile, StreamError> {
        self.current(t)?;
        match self.0.stats.container(&t.namespace, &t.pod, &t.container, previous) {
            Some(c) => Ok(LogFile { path: c.log_path, container_id: c.id }),
            None => Err(StreamError::BadRequest(format!("previous terminated container \"{}\" in pod \"{}\" not found", t.container, t.pod))),
        }
    }

    async fn running(&self, container_id: &str) -> bool {
        matches!(self.0.runtime.status(container_id).await, Ok(ContainerStatus::Running { .. }))
    }

    async fn exec(&self, t: &ContainerRef, req: ExecRequest) -> Result<i32, StreamError> {
        let c = self.running_container(t)?;
        self.0.runtime.exec(&c.id, req).await.map_err(|e| StreamError::Internal(e.to_string()))
    }

    async fn attach(&self, t: &ContainerRef) -> Result<Attach, StreamError> {
        let c = self.running_container(t)?;
        let output = self.0.pumps.subscribe(&c.id).ok_or_else(|| StreamError::Internal(format!("no output stream for container {}", t.container)))?;
        let tty = self
            .0
            .pods
            .cache
            .get_key(&format!("{}/{}", t.namespace, t.pod))
            .and_then(|p| p.spec.containers.iter().find(|x| x.name == t.container).and_then(|x| x.tty))
            .unwrap_or(false);
        Ok(Attach { output, stdin: None, tty })
    }

    async fn pod_ip(&self, namespace: &str, pod: &str) -> Result<IpAddr, StreamError> {
        let p = self.pod(namespace, pod)?;
        p.ip.map(IpAddr::V4).ok_or_else(|| StreamError::BadRequest(format!("pod {namespace}/{pod} has no IP yet")))
    }
}
