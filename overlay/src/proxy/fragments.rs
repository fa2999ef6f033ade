//! Each Service's part of the desired state, kept between syncs (pure): a sync recomputes
//! only the Services whose object or slices changed, and hands back the old and new parts
//! of those; [`Fragments::merged`] is [`super::model::desired`] from the kept parts.
//!
//! Which Services to recompute:
//! - when the lists come as `Arc`s (a cache hands the same `Arc` back for an object that
//!   did not change) and are the last update's but for one window (a common prefix and
//!   suffix by address: a changed object keeps its place, a new one takes one place), only
//!   the Services the window's objects name are looked at: O(changed) work and one pass of
//!   pointer compares;
//! - otherwise, by name: an object is unchanged when its uid and resourceVersion are those
//!   of the kept copy (the API server bumps the version on every write), so one change
//!   among 10,000 Services costs 10,000 lookups and short compares; objects without a
//!   version (built by hand) are compared whole.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use api::model::{EndpointSlice, ObjectMeta, Service};

use super::endpoints::{slice_service, slices_by_service};
use super::model::{fragment, service_key, NodeFacts};
use super::ruleset::Ruleset;

struct Entry {
    service: Service,
    slices: Vec<EndpointSlice>,
    part: Ruleset,
    /// The update that last saw the Service.
    seen: u64,
}

/// The parts of the Services (namespace → name → part).
#[derive(Default)]
pub struct Fragments {
    by_namespace: HashMap<String, HashMap<String, Entry>>,
    generation: u64,
    /// The last update's lists, when they came as `Arc`s and named each Service once.
    last: Option<Last>,
}

/// The lists of an update, kept to compare the next ones by address.
struct Last {
    services: Vec<Arc<Service>>,
    slices: Vec<Arc<EndpointSlice>>,
    /// Every IPv4 slice that names a Service (there or not yet), by that Service.
    by_service: HashMap<(String, String), Vec<Arc<EndpointSlice>>>,
}

/// The most objects a window of changes may hold before the lists are compared by name.
const WINDOW_MAX: usize = 1024;

/// An item of the lists a sync takes: an object, or an `Arc` of one (then an object that
/// did not change is known by its address).
pub trait Shared<T>: Borrow<T> {
    fn shared(&self) -> Option<&Arc<T>> {
        None
    }
}

impl<T> Shared<T> for T {}

impl<T> Shared<T> for &T {}

impl<T> Shared<T> for Arc<T> {
    fn shared(&self) -> Option<&Arc<T>> {
        Some(self)
    }
}

/// What one update found.
#[derive(Debug, Default)]
pub struct Update {
    /// The old parts of the Services that changed or went, merged (when asked for, or
    /// found by address).
    pub old: Ruleset,
    /// The new parts of the Services that changed or came, merged (likewise).
    pub new: Ruleset,
    /// Services changed, added or removed.
    pub services: usize,
    /// A Service listed twice: the parts cannot say what changed.
    pub duplicate: bool,
    /// Found from the window of the lists that changed (not by looking at every Service).
    pub by_address: bool,
}

impl Fragments {
    /// Brings the parts to `services` and `slices`; `parts`: hand back the old and new parts
    /// of what changed (a full sync needs only [`Self::merged`]).
    pub fn update<S: Shared<Service>, E: Shared<EndpointSlice>>(&mut self, services: &[S], slices: &[E], node: &NodeFacts, parts: bool) -> Update {
        let shared_services: Option<Vec<&Arc<Service>>> = services.iter().map(Shared::shared).collect();
        let shared_slices: Option<Vec<&Arc<EndpointSlice>>> = slices.iter().map(Shared::shared).collect();
        if let (Some(sv), Some(sl)) = (&shared_services, &shared_slices) {
            if let Some(u) = self.update_by_address(sv, sl, node) {
                return u;
            }
        }
        let u = self.update_by_name(services, slices, node, parts);
        self.last = match (shared_services, shared_slices) {
            (Some(sv), Some(sl)) if !u.duplicate => Some(Last::new(&sv, &sl)),
            _ => None,
        };
        u
    }

    /// The update from the window of the lists that differs from the last ones by
    /// address; `None` (nothing changed here) when there are no last lists, the window
    /// is too wide, or a Service is listed twice.
    fn update_by_address(&mut self, services: &[&Arc<Service>], slices: &[&Arc<EndpointSlice>], node: &NodeFacts) -> Option<Update> {
        let last = self.last.as_ref()?;
        let (sv, sl) = (window(&last.services, services), window(&last.slices, slices));
        let new_services = &services[sv.start..services.len() - (last.services.len() - sv.end)];
        let new_slices = &slices[sl.start..slices.len() - (last.slices.len() - sl.end)];
        if sv.len() + new_services.len() + sl.len() + new_slices.len() > WINDOW_MAX {
            return None;
        }
        let (old_services, old_slices) = (last.services[sv.clone()].to_vec(), last.slices[sl.clone()].to_vec());
        let mut now: HashMap<(&str, &str), &Service> = HashMap::new();
        for s in new_services {
            if now.insert(service_key(s), s).is_some() {
                return None;
            }
        }
        let gone: BTreeSet<(&str, &str)> = old_services.iter().map(|s| service_key(s)).collect();
        // A new Service kept from before and not in the old window is listed twice.
        if now.keys().any(|k| !gone.contains(k) && self.entry(*k).is_some()) {
            return None;
        }
        let touched = now.keys().chain(&gone).copied().chain(old_slices.iter().chain(new_slices.iter().copied()).filter_map(|s| slice_service(s)));
        let touched: BTreeSet<(String, String)> = touched.map(|(ns, name)| (ns.to_string(), name.to_string())).collect();
        let now: HashMap<(&str, &str), Service> = now.into_iter().map(|(k, s)| (k, s.clone())).collect();
        let gone: BTreeSet<(String, String)> = gone.into_iter().map(|(ns, name)| (ns.to_string(), name.to_string())).collect();

        let last = self.last.as_mut()?;
        for s in &old_slices {
            let Some((ns, name)) = slice_service(s) else { continue };
            let key = (ns.to_string(), name.to_string());
            if let Some(list) = last.by_service.get_mut(&key) {
                list.retain(|o| !Arc::ptr_eq(o, s));
                if list.is_empty() {
                    last.by_service.remove(&key);
                }
            }
        }
        for s in new_slices {
            if let Some((ns, name)) = slice_service(s) {
                last.by_service.entry((ns.to_string(), name.to_string())).or_default().push(Arc::clone(s));
            }
        }
        last.services.splice(sv, new_services.iter().map(|s| Arc::clone(s)));
        last.slices.splice(sl, new_slices.iter().map(|s| Arc::clone(s)));

        let mut u = Update { by_address: true, ..Update::default() };
        let generation = self.generation;
        for key in &touched {
            let k = (key.0.as_str(), key.1.as_str());
            let own: Vec<&EndpointSlice> = last.by_service.get(key).into_iter().flatten().map(|s| &**s).collect();
            let names = self.by_namespace.entry(key.0.clone()).or_default();
            let service = match (now.get(&k), names.get(&key.1)) {
                (Some(s), _) => Some(s.clone()),
                (None, Some(e)) if !gone.contains(key) => Some(e.service.clone()),
                _ => None,
            };
            match (service, names.get_mut(&key.1)) {
                (Some(svc), Some(e)) => {
                    if same(&e.service, &svc, |s| &s.metadata) && e.slices.len() == own.len() && e.slices.iter().zip(&own).all(|(a, b)| same(a, *b, |s| &s.metadata)) {
                        continue;
                    }
                    let part = fragment(&svc, &own, node);
                    merge_into(&mut u.old, &std::mem::replace(&mut e.part, part.clone()));
                    merge_into(&mut u.new, &part);
                    e.service = svc;
                    e.slices = own.iter().map(|s| (*s).clone()).collect();
                }
                (Some(svc), None) => {
                    let part = fragment(&svc, &own, node);
                    merge_into(&mut u.new, &part);
                    names.insert(key.1.clone(), Entry { service: svc, slices: own.iter().map(|s| (*s).clone()).collect(), part, seen: generation });
                }
                (None, Some(_)) => {
                    if let Some(e) = names.remove(&key.1) {
                        merge_into(&mut u.old, &e.part);
                    }
                }
                (None, None) => continue,
            }
            u.services += 1;
        }
        self.by_namespace.retain(|_, names| !names.is_empty());
        Some(u)
    }

    fn entry(&self, (ns, name): (&str, &str)) -> Option<&Entry> {
        self.by_namespace.get(ns)?.get(name)
    }

    /// The update from every Service and slice, looked up by name.
    fn update_by_name<S: Borrow<Service>, E: Borrow<EndpointSlice>>(&mut self, services: &[S], slices: &[E], node: &NodeFacts, parts: bool) -> Update {
        self.generation += 1;
        let generation = self.generation;
        let by_service = slices_by_service(slices.iter().map(Borrow::borrow));
        let mut u = Update::default();
        for svc in services {
            let svc = svc.borrow();
            let key = service_key(svc);
            let own = by_service.get(&key).map(Vec::as_slice).unwrap_or_default();
            let names = match self.by_namespace.get_mut(key.0) {
                Some(names) => names,
                None => self.by_namespace.entry(key.0.to_string()).or_default(),
            };
            if let Some(e) = names.get_mut(key.1) {
                if e.seen == generation {
                    u.duplicate = true;
                }
                e.seen = generation;
                if same(&e.service, svc, |s| &s.metadata) && e.slices.len() == own.len() && e.slices.iter().zip(own).all(|(a, b)| same(a, b, |s| &s.metadata)) {
                    continue;
                }
                let part = fragment(svc, own, node);
                if parts {
                    merge_into(&mut u.old, &e.part);
                    merge_into(&mut u.new, &part);
                }
                e.part = part;
                e.service = svc.clone();
                e.slices = own.iter().map(|s| (*s).clone()).collect();
            } else {
                let part = fragment(svc, own, node);
                if parts {
                    merge_into(&mut u.new, &part);
                }
                names.insert(key.1.to_string(), Entry { service: svc.clone(), slices: own.iter().map(|s| (*s).clone()).collect(), part, seen: generation });
            }
            u.services += 1;
        }
        for names in self.by_namespace.values_mut() {
            names.retain(|_, e| {
                if e.seen == generation {
                    return true;
                }
                if parts {
                    merge_into(&mut u.old, &e.part);
                }
                u.services += 1;
                false
            });
        }
        self.by_namespace.retain(|_, names| !names.is_empty());
        u
    }

    /// The parts of `services` merged in their order (a later Service wins a clash, as in
    /// [`super::model::desired`]); `true` when two parts claimed the same object.
    pub fn merged<S: Borrow<Service>>(&self, services: &[S]) -> (Ruleset, bool) {
        let mut rs = Ruleset::default();
        let mut overlap = false;
        for svc in services {
            let (ns, name) = service_key(svc.borrow());
            if let Some(e) = self.by_namespace.get(ns).and_then(|n| n.get(name)) {
                overlap |= claims_any(&rs, &e.part);
                merge_into(&mut rs, &e.part);
            }
        }
        (rs, overlap)
    }

    /// Forgets every part (the next update recomputes all).
    pub fn clear(&mut self) {
        self.by_namespace.clear();
        self.last = None;
    }
}

impl Last {
    fn new(services: &[&Arc<Service>], slices: &[&Arc<EndpointSlice>]) -> Self {
        let mut by_service: HashMap<(String, String), Vec<Arc<EndpointSlice>>> = HashMap::new();
        for s in slices {
            if let Some((ns, name)) = slice_service(s) {
                by_service.entry((ns.to_string(), name.to_string())).or_default().push(Arc::clone(s));
            }
        }
        Last { services: services.iter().map(|s| Arc::clone(s)).collect(), slices: slices.iter().map(|s| Arc::clone(s)).collect(), by_service }
    }
}

/// The part of `old` that `new` does not share by address at either end: `old[range]`
/// gave way to `new[range.start .. new.len() - (old.len() - range.end)]`.
fn window<T>(old: &[Arc<T>], new: &[&Arc<T>]) -> std::ops::Range<usize> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| Arc::ptr_eq(a, b)).count();
    let room = old.len().min(new.len()) - prefix;
    let suffix = old.iter().rev().zip(new.iter().rev()).take(room).take_while(|(a, b)| Arc::ptr_eq(a, b)).count();
    prefix..old.len() - suffix
}

/// Whether `new` is the kept object `old`: the same uid and resourceVersion when both
/// carry a version, else equal whole.
fn same<T: PartialEq>(old: &T, new: &T, meta: impl Fn(&T) -> &ObjectMeta) -> bool {
    let (a, b) = (meta(old), meta(new));
    if !a.resource_version.is_empty() && !b.resource_version.is_empty() {
        return a.resource_version == b.resource_version && a.uid == b.uid && a.name == b.name && a.namespace == b.namespace;
    }
    old == new
}

/// Adds `part` to `rs` (its objects replace those of the same name).
pub fn merge_into(rs: &mut Ruleset, part: &Ruleset) {
    rs.chains.extend(part.chains.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (map, elements) in &part.maps {
        rs.maps.entry(*map).or_default().extend(elements.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    rs.affinity_sets.extend(part.affinity_sets.iter().map(|(k, v)| (k.clone(), *v)));
    for (dest, eps) in &part.udp {
        rs.udp.entry(*dest).or_default().extend(eps.iter().copied());
    }
}

/// Takes `part`'s objects out of `rs`.
pub fn remove_from(rs: &mut Ruleset, part: &Ruleset) {
    for c in part.chains.keys() {
        rs.chains.remove(c);
    }
    for (map, elements) in &part.maps {
        if let Some(m) = rs.maps.get_mut(map) {
            for k in elements.keys() {
                m.remove(k);
            }
            if m.is_empty() {
                rs.maps.remove(map);
            }
        }
    }
    for s in part.affinity_sets.keys() {
        rs.affinity_sets.remove(s);
    }
    for d in part.udp.keys() {
        rs.udp.remove(d);
    }
}

/// Whether `rs` already holds an object `part` names.
pub fn claims_any(rs: &Ruleset, part: &Ruleset) -> bool {
    part.chains.keys().any(|c| rs.chains.contains_key(c))
        || part.maps.iter().any(|(map, e)| rs.maps.get(map).is_some_and(|m| e.keys().any(|k| m.contains_key(k))))
        || part.affinity_sets.keys().any(|s| rs.affinity_sets.contains_key(s))
        || part.udp.keys().any(|d| rs.udp.contains_key(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::model::desired;
    use crate::proxy::testutil::*;

    #[test]
    fn only_changed_services_are_recomputed_and_the_merge_is_the_desired_state() {
        let mut f = Fragments::default();
        let services = vec![service("web", "10.96.0.10", 80), service("db", "10.96.0.11", 5432)];
        let mut slices = vec![slice("web", 8080, &[("10.244.1.2", "n1")]), slice("db", 5432, &[("10.244.1.4", "n1")])];
        let u = f.update(&services, &slices, &node(), true);
        assert_eq!(u.services, 2);
        assert_eq!(f.merged(&services), (desired(&services, &slices, &node()), false));

        assert_eq!(f.update(&services, &slices, &node(), true).services, 0, "nothing changed");

        slices[1] = slice("db", 5432, &[("10.244.1.5", "n1")]);
        let u = f.update(&services, &slices, &node(), true);
        assert_eq!(u.services, 1);
        assert!(u.old.chains.keys().all(|c| c.contains("/db/")) && u.new.chains.keys().all(|c| c.contains("/db/")));
        assert_eq!(f.merged(&services).0, desired(&services, &slices, &node()));

        let u = f.update(&services[..1], &slices, &node(), true);
        assert_eq!((u.services, u.new.chains.len()), (1, 0), "db went: only old parts");
        assert_eq!(f.merged(&services[..1]).0, desired(&services[..1], &slices, &node()));
    }

    #[test]
    fn shared_lists_are_compared_by_address_and_end_as_the_desired_state() {
        let mut f = Fragments::default();
        let svc = |name: &str, i: u8| Arc::new(service(name, &format!("10.96.0.{i}"), 80));
        let sl = |name: &str, i: u8| Arc::new(slice(name, 8080, &[(&format!("10.244.1.{i}"), "n1")]));
        let mut services: Vec<Arc<Service>> = (0..6).map(|i| svc(&format!("s{i}"), 10 + i)).collect();
        let mut slices: Vec<Arc<EndpointSlice>> = (0..6).map(|i| sl(&format!("s{i}"), 10 + i)).collect();
        let check = |f: &Fragments, services: &[Arc<Service>], slices: &[Arc<EndpointSlice>]| assert_eq!(f.merged(services).0, desired(services, slices, &node()));
        let u = f.update(&services, &slices, &node(), true);
        assert!(!u.by_address && u.services == 6);
        let u = f.update(&services, &slices, &node(), true);
        assert!(u.by_address && u.services == 0, "{u:?}");

        slices[3] = sl("s3", 99);
        let u = f.update(&services, &slices, &node(), true);
        assert!(u.by_address && u.services == 1 && u.new.chains.keys().all(|c| c.contains("/s3/")), "{u:?}");
        check(&f, &services, &slices);

        services.insert(2, svc("late", 50));
        slices.insert(4, sl("late", 50));
        let u = f.update(&services, &slices, &node(), true);
        assert!(u.by_address && u.services == 1 && u.old.chains.is_empty() && !u.new.chains.is_empty(), "{u:?}");
        check(&f, &services, &slices);

        // A slice before its Service: nothing to do; then the Service finds it.
        slices.push(sl("early", 60));
        assert_eq!(f.update(&services, &slices, &node(), true).services, 0);
        services.push(svc("early", 60));
        let u = f.update(&services, &slices, &node(), true);
        assert!(u.by_address && u.services == 1 && u.new.chains.keys().any(|c| c.ends_with("__10.244.1.60/8080")), "{u:?}");
        check(&f, &services, &slices);

        services.remove(1);
        slices.remove(1);
        let u = f.update(&services, &slices, &node(), true);
        assert!(u.by_address && u.services == 1 && u.new.chains.is_empty(), "s1 went: {u:?}");
        check(&f, &services, &slices);

        // A Service listed twice: compared by name, which sees it.
        services.push(services[0].clone());
        let u = f.update(&services, &slices, &node(), true);
        assert!(!u.by_address && u.duplicate);
        services.pop();
        assert!(!f.update(&services, &slices, &node(), true).by_address, "no last lists after a duplicate");
        assert!(f.update(&services, &slices, &node(), true).by_address);
        check(&f, &services, &slices);
    }

    #[test]
    fn objects_with_the_same_resource_version_are_not_compared_whole() {
        let mut f = Fragments::default();
        let mut web = service("web", "10.96.0.10", 80);
        web.metadata.resource_version = "7".into();
        let mut slices = vec![slice("web", 8080, &[("10.244.1.2", "n1")])];
        slices[0].metadata.resource_version = "8".into();
        f.update(std::slice::from_ref(&web), &slices, &node(), true);
        // The same version: the same object, whatever a copy in hand says.
        let mut stale = slices.clone();
        stale[0].endpoints.clear();
        assert_eq!(f.update(std::slice::from_ref(&web), &stale, &node(), true).services, 0);
        stale[0].metadata.resource_version = "9".into();
        assert_eq!(f.update(std::slice::from_ref(&web), &stale, &node(), true).services, 1, "a new version is looked at");
        web.metadata.resource_version = "10".into();
        let u = f.update(std::slice::from_ref(&web), &stale, &node(), true);
        assert_eq!(u.services, 1);
        assert!(u.new.chains.is_empty() && u.old.chains.is_empty(), "recomputed, and still without endpoints");
        web.metadata.resource_version.clear();
        assert_eq!(f.update(std::slice::from_ref(&web), &stale, &node(), true).services, 1, "no version: compared whole (and it differs)");
        assert_eq!(f.update(std::slice::from_ref(&web), &stale, &node(), true).services, 0, "compared whole, equal");
    }

    #[test]
    fn two_services_on_one_address_overlap_and_a_duplicate_is_seen() {
        let mut f = Fragments::default();
        let services = vec![service("a", "10.96.0.10", 80), service("b", "10.96.0.10", 80)];
        f.update::<_, EndpointSlice>(&services, &[], &node(), true);
        assert!(f.merged(&services).1);
        let twice = vec![service("a", "10.96.0.10", 80), service("a", "10.96.0.10", 80)];
        assert!(f.update::<_, EndpointSlice>(&twice, &[], &node(), true).duplicate);
    }
}
