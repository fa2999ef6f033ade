//! A container's environment as kubelet's `makeEnvironmentVariables` builds it: `envFrom`
//! first (ConfigMaps and Secrets, with prefix, optional; keys that are not valid names are
//! skipped with an `InvalidEnvironmentVariableNames` warning), then `env` in order
//! (`value` with `$(VAR)` expanded from what is defined so far and the service variables;
//! `valueFrom`: configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef), then the
//! service variables (`{SVC}_SERVICE_HOST`, docker-link variables) not already set.

use std::collections::{BTreeMap, HashMap};

use api::model::{Container, Pod, Service};

use super::downward::{field_value, named_container, resource_value};
use super::expansion::expand_with;
use super::{ConfigError, NodeFacts, ObjectLookup};

/// A warning event the caller records on the pod (reason, message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvWarning {
    pub reason: String,
    pub message: String,
}

/// The environment in order, and the warnings to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedEnv {
    pub vars: Vec<(String, String)>,
    pub warnings: Vec<EnvWarning>,
}

/// Ordered map: a name keeps its first position, its value the last one set.
#[derive(Default)]
struct Ordered {
    order: Vec<String>,
    values: HashMap<String, String>,
}

impl Ordered {
    fn set(&mut self, k: String, v: String) {
        if !self.values.contains_key(&k) {
            self.order.push(k.clone());
        }
        self.values.insert(k, v);
    }
}

/// The Services whose variables a pod gets: the `kubernetes` Service of `default` always,
/// the pod's namespace's Services when `enableServiceLinks` (default true). Services
/// without a cluster IP (`None`, headless) give none.
pub fn service_env(pod: &Pod, services_here: &[Service], services_default: &[Service]) -> Vec<(String, String)> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod.spec.enable_service_links.unwrap_or(true);
    let ip_set = |s: &Service| s.spec.cluster_ip.as_deref().is_some_and(|ip| !ip.is_empty() && ip != "None");
    let mut chosen: BTreeMap<String, &Service> = BTreeMap::new();
    for s in services_default {
        if s.metadata.name == "kubernetes" && ip_set(s) {
            chosen.insert(s.metadata.name.clone(), s);
        }
    }
    if links {
        for s in services_here.iter().filter(|s| s.metadata.namespace.as_deref().unwrap_or("default") == ns) {
            if ip_set(s) {
                chosen.insert(s.metadata.name.clone(), s);
            }
        }
    }
    let mut out = Vec::new();
    for s in chosen.values() {
        out.extend(variables_of(s));
    }
    out
}

fn env_name(s: &str) -> String {
    s.to_uppercase().replace('-', "_")
}

/// Upstream's `envvars.FromServices` for one Service.
fn variables_of(s: &Service) -> Vec<(String, String)> {
    let name = env_name(&s.metadata.name);
    let ip = s.spec.cluster_ip.clone().unwrap_or_default();
    let mut out = vec![(format!("{name}_SERVICE_HOST"), ip.clone())];
    if let Some(first) = s.spec.ports.first() {
        out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
    }
    for p in &s.spec.ports {
        if let Some(pn) = p.name.as_deref().filter(|n| !n.is_empty()) {
            out.push((format!("{name}_SERVICE_PORT_{}", env_name(pn)), p.port.to_string()));
        }
    }
    // Docker links.
    let host_port = |port: i32| if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
    for (i, p) in s.spec.ports.iter().enumerate() {
        let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        let lower = proto.to_lowercase();
        let prefix = format!("{name}_PORT_{}_{}", p.port, proto.to_uppercase());
        if i == 0 {
            out.push((format!("{name}_PORT"), format!("{lower}://{}", host_port(p.port))));
        }
        out.push((prefix.clone(), format!("{lower}://{}", host_port(p.port))));
        out.push((format!("{prefix}_PROTO"), lower));
        out.push((format!("{prefix}_PORT"), p.port.to_string()));
        out.push((format!("{prefix}_ADDR"), ip.clone()));
    }
    out
}

fn not_found(kind: &str, name: &str) -> ConfigError {
    ConfigError(format!("{kind} \"{name}\" not found"))
}

/// Caches of the objects one container's env reads (each fetched once).
struct Objects<'a> {
    ns: &'a str,
    lookup: &'a dyn ObjectLookup,
    config_maps: HashMap<String, Option<api::model::ConfigMap>>,
    secrets: HashMap<String, Option<api::model::Secret>>,
}

impl Objects<'_> {
    async fn config_map(&mut self, name: &str) -> Result<Option<api::model::ConfigMap>, ConfigError> {
        if let Some(c) = self.config_maps.get(name) {
            return Ok(c.clone());
        }
        let c = self.lookup.config_map(self.ns, name).await.map_err(|e| ConfigError(format!("couldn't get configMap {}/{name}: {e}", self.ns)))?;
        self.config_maps.insert(name.to_string(), c.clone());
        Ok(c)
    }

    async fn secret(&mut self, name: &str) -> Result<Option<api::model::Secret>, ConfigError> {
        if let Some(s) = self.secrets.get(name) {
            return Ok(s.clone());
        }
        let s = self.lookup.secret(self.ns, name).await.map_err(|e| ConfigError(format!("couldn't get secret {}/{name}: {e}", self.ns)))?;
        self.secrets.insert(name.to_string(), s.clone());
        Ok(s)
    }
}

fn secret_value(s: &api::model::Secret, key: &str) -> Option<String> {
    s.data.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned()).or_else(|| s.string_data.get(key).cloned())
}

fn secret_pairs(s: &api::model::Secret) -> Vec<(String, String)> {
    let mut m: BTreeMap<String, String> = s.data.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned())).collect();
    m.extend(s.string_data.clone());
    m.into_iter().collect()
}

/// Resolves the container's environment.
pub async fn resolve(pod: &Pod, container: &Container, facts: &NodeFacts, lookup: &dyn ObjectLookup) -> Result<ResolvedEnv, ConfigError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let services_here = lookup.services(ns).await.map_err(|e| ConfigError(format!("failed to list services: {e}")))?;
    let services_default =
        if ns == "default" { services_here.clone() } else { lookup.services("default").await.map_err(|e| ConfigError(format!("failed to list services: {e}")))? };
    let service_vars = service_env(pod, &services_here, &services_default);
    let service_map: HashMap<String, String> = service_vars.iter().cloned().collect();

    let mut objs = Objects { ns, lookup, config_maps: HashMap::new(), secrets: HashMap::new() };
    let mut env = Ordered::default();
    let mut warnings = Vec::new();

    for from in &container.env_from {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (pairs, what, name) = if let Some(r) = &from.config_map_ref {
            match objs.config_map(&r.name).await? {
                Some(cm) => (cm.data.clone().into_iter().collect::<Vec<_>>(), "configMap", r.name.clone()),
                None if r.optional.unwrap_or(false) => continue,
                None => return Err(not_found("configmap", &r.name)),
            }
        } else if let Some(r) = &from.secret_ref {
            match objs.secret(&r.name).await? {
                Some(s) => (secret_pairs(&s), "secret", r.name.clone()),
                None if r.optional.unwrap_or(false) => continue,
                None => return Err(not_found("secret", &r.name)),
            }
        } else {
            continue;
        };
        let mut invalid = Vec::new();
        for (k, v) in pairs {
            let k = format!("{prefix}{k}");
            if !api::validation::names::is_env_var_name(&k).is_empty() {
                invalid.push(k);
                continue;
            }
            env.set(k, v);
        }
        if !invalid.is_empty() {
            invalid.sort();
            warnings.push(EnvWarning {
                reason: "InvalidEnvironmentVariableNames".into(),
                message: format!(
                    "Keys [{}] from the EnvFrom {what} {ns}/{name} were skipped since they are considered invalid environment variable names.",
                    invalid.join(", ")
                ),
            });
        }
    }

    for e in &container.env {
        let value = match (e.value.as_deref().filter(|v| !v.is_empty()), &e.value_from) {
            (Some(v), _) => expand_with(v, |k| env.values.get(k).or_else(|| service_map.get(k)).cloned()),
            (None, Some(src)) => {
                if let Some(f) = &src.field_ref {
                    field_value(f, pod, facts).map_err(ConfigError)?
                } else if let Some(r) = &src.resource_field_ref {
                    let c = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                        Some(n) => named_container(pod, n).ok_or_else(|| ConfigError(format!("container {n} not found")))?,
                        None => container,
                    };
                    resource_value(r, c, facts).map_err(ConfigError)?
                } else if let Some(k) = &src.config_map_key_ref {
                    let optional = k.optional.unwrap_or(false);
                    let Some(cm) = objs.config_map(&k.name).await? else {
                        if optional {
                            continue;
                        }
                        return Err(not_found("configmap", &k.name));
                    };
                    match cm.data.get(&k.key) {
                        Some(v) => v.clone(),
                        None if optional => continue,
                        None => return Err(ConfigError(format!("couldn't find key {} in ConfigMap {ns}/{}", k.key, k.name))),
                    }
                } else if let Some(k) = &src.secret_key_ref {
                    let optional = k.optional.unwrap_or(false);
                    let Some(s) = objs.secret(&k.name).await? else {
                        if optional {
                            continue;
                        }
                        return Err(not_found("secret", &k.name));
                    };
                    match secret_value(&s, &k.key) {
                        Some(v) => v,
                        None if optional => continue,
                        None => return Err(ConfigError(format!("couldn't find key {} in Secret {ns}/{}", k.key, k.name))),
                    }
                } else if src.file_key_ref.is_some() {
                    return Err(ConfigError(format!("env {:?}: fileKeyRef is not supported by this node yet", e.name)));
                } else {
                    String::new()
                }
            }
            (None, None) => String::new(),
        };
        env.set(e.name.clone(), value);
    }

    let mut vars: Vec<(String, String)> = env.order.iter().map(|k| (k.clone(), env.values[k].clone())).collect();
    for (k, v) in service_vars {
        if !env.values.contains_key(&k) {
            vars.push((k, v));
        }
    }
    Ok(ResolvedEnv { vars, warnings })
}
