//! Each Service's part of the desired state, kept between syncs (pure): a sync recomputes
//! only the Services whose object or slices changed, and hands back the old and new parts
//! of those; [`Fragments::merged`] is [`super::model::desired`] from the kept parts.

use std::borrow::Borrow;
use std::collections::HashMap;

use api::model::{EndpointSlice, Service};

use super::endpoints::slices_by_service;
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
}

/// What one update found.
#[derive(Debug, Default)]
pub struct Update {
    /// The old parts of the Services that changed or went, merged.
    pub old: Ruleset,
    /// The new parts of the Services that changed or came, merged.
    pub new: Ruleset,
    /// Services changed, added or removed.
    pub services: usize,
    /// A Service listed twice: the parts cannot say what changed.
    pub duplicate: bool,
}

impl Fragments {
    /// Brings the parts to `services` and `slices`.
    pub fn update<S: Borrow<Service>, E: Borrow<EndpointSlice>>(&mut self, services: &[S], slices: &[E], node: &NodeFacts) -> Update {
        self.generation += 1;
        let generation = self.generation;
        let by_service = slices_by_service(slices.iter().map(Borrow::borrow));
        let mut u = Update::default();
        for svc in services {
            let svc = svc.borrow();
            let key = service_key(svc);
            let own = by_service.get(&key).map(Vec::as_slice).unwrap_or_default();
            let names = self.by_namespace.entry(key.0.to_string()).or_default();
            if let Some(e) = names.get_mut(key.1) {
                if e.seen == generation {
                    u.duplicate = true;
                }
                e.seen = generation;
                if e.service == *svc && e.slices.len() == own.len() && e.slices.iter().zip(own).all(|(a, b)| a == *b) {
                    continue;
                }
                let part = fragment(svc, own, node);
                merge_into(&mut u.old, &std::mem::replace(&mut e.part, part.clone()));
                merge_into(&mut u.new, &part);
                e.service = svc.clone();
                e.slices = own.iter().map(|s| (*s).clone()).collect();
            } else {
                let part = fragment(svc, own, node);
                merge_into(&mut u.new, &part);
                names.insert(key.1.to_string(), Entry { service: svc.clone(), slices: own.iter().map(|s| (*s).clone()).collect(), part, seen: generation });
            }
            u.services += 1;
        }
        for names in self.by_namespace.values_mut() {
            names.retain(|_, e| {
                if e.seen == generation {
                    return true;
                }
                merge_into(&mut u.old, &e.part);
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
    }
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
        let u = f.update(&services, &slices, &node());
        assert_eq!(u.services, 2);
        assert_eq!(f.merged(&services), (desired(&services, &slices, &node()), false));

        assert_eq!(f.update(&services, &slices, &node()).services, 0, "nothing changed");

        slices[1] = slice("db", 5432, &[("10.244.1.5", "n1")]);
        let u = f.update(&services, &slices, &node());
        assert_eq!(u.services, 1);
        assert!(u.old.chains.keys().all(|c| c.contains("/db/")) && u.new.chains.keys().all(|c| c.contains("/db/")));
        assert_eq!(f.merged(&services).0, desired(&services, &slices, &node()));

        let u = f.update(&services[..1], &slices, &node());
        assert_eq!((u.services, u.new.chains.len()), (1, 0), "db went: only old parts");
        assert_eq!(f.merged(&services[..1]).0, desired(&services[..1], &slices, &node()));
    }

    #[test]
    fn two_services_on_one_address_overlap_and_a_duplicate_is_seen() {
        let mut f = Fragments::default();
        let services = vec![service("a", "10.96.0.10", 80), service("b", "10.96.0.10", 80)];
        f.update::<_, EndpointSlice>(&services, &[], &node());
        assert!(f.merged(&services).1);
        let twice = vec![service("a", "10.96.0.10", 80), service("a", "10.96.0.10", 80)];
        assert!(f.update::<_, EndpointSlice>(&twice, &[], &node()).duplicate);
    }
}
