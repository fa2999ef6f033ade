//! The shared read-only mirror of one kind: objects by key, an owner index, the revision it
//! has caught up to, and a broadcast of changes. The control plane's informers feed it from
//! the registry; the client's watcher feeds the same type from HTTP list + watch.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

pub use api::model::{key_of, object_key};
use api::model::Resource;

/// A store revision (the resourceVersion of a list or of an object).
pub type Revision = i64;

/// What changed in a cache.
#[derive(Debug, Clone)]
pub enum Change<T> {
    /// Created or updated; `old` is the previous version when there was one.
    Applied { new: Arc<T>, old: Option<Arc<T>> },
    Deleted(Arc<T>),
    /// The cache was rebuilt from a fresh list: subscribers should resynchronise everything.
    Resynced,
}

/// One change that a feeder hands to [`Cache::apply`].
#[derive(Debug, Clone)]
pub enum Update<T> {
    /// Created or updated.
    Applied(Arc<T>),
    Deleted(Arc<T>),
}

struct State<T> {
    objects: HashMap<String, Arc<T>>,
    /// controller owner uid → keys of the objects it controls.
    by_owner: HashMap<String, HashSet<String>>,
}

impl<T: Resource> State<T> {
    fn insert(&mut self, obj: Arc<T>) -> Option<Arc<T>> {
        let key = key_of(obj.as_ref());
        if let Some(owner) = obj.meta().controller_ref() {
            self.by_owner.entry(owner.uid.clone()).or_default().insert(key.clone());
        }
        let old = self.objects.insert(key.clone(), obj.clone());
        if let Some(o) = &old {
            if let Some(prev_owner) = o.meta().controller_ref() {
                let still = obj.meta().controller_ref().map(|r| r.uid == prev_owner.uid).unwrap_or(false);
                if !still {
                    self.unindex(&prev_owner.uid.clone(), &key);
                }
            }
        }
        old
    }

    fn remove(&mut self, key: &str) -> Option<Arc<T>> {
        let old = self.objects.remove(key)?;
        if let Some(owner) = old.meta().controller_ref() {
            self.unindex(&owner.uid.clone(), key);
        }
        Some(old)
    }

    fn unindex(&mut self, owner: &str, key: &str) {
        if let Some(set) = self.by_owner.get_mut(owner) {
            set.remove(key);
            if set.is_empty() {
                self.by_owner.remove(owner);
            }
        }
    }
}

/// A shared cache of one kind. Cheap to clone.
pub struct Cache<T> {
    state: Arc<RwLock<State<T>>>,
    revision: watch::Sender<Revision>,
    changes: broadcast::Sender<Change<T>>,
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Cache { state: self.state.clone(), revision: self.revision.clone(), changes: self.changes.clone() }
    }
}

impl<T: Resource> Default for Cache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Resource> Cache<T> {
    /// A cache whose change broadcast holds 16 Ki changes (tokio preallocates every slot:
    /// ~1 MiB per kind); a subscriber that falls further behind resynchronises from the cache.
    pub fn new() -> Self {
        Self::with_capacity(16_384)
    }

    /// A cache whose change broadcast holds `changes` changes before a slow subscriber lags.
    pub fn with_capacity(changes: usize) -> Self {
        let (revision, _) = watch::channel(0);
        let (changes, _) = broadcast::channel(changes.max(1));
        Cache {
            state: Arc::new(RwLock::new(State { objects: HashMap::new(), by_owner: HashMap::new() })),
            revision,
            changes,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State<T>> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State<T>> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, ns: Option<&str>, name: &str) -> Option<Arc<T>> {
        self.read().objects.get(&object_key(ns, name)).cloned()
    }

    pub fn get_key(&self, key: &str) -> Option<Arc<T>> {
        self.read().objects.get(key).cloned()
    }

    /// Every object (in `ns`, or everywhere when None).
    pub fn list(&self, ns: Option<&str>) -> Vec<Arc<T>> {
        let st = self.read();
        st.objects
            .values()
            .filter(|o| ns.is_none() || o.meta().namespace.as_deref() == ns)
            .cloned()
            .collect()
    }

    /// Objects whose controlling ownerReference has this uid.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<T>> {
        let st = self.read();
        st.by_owner
            .get(owner_uid)
            .map(|keys| keys.iter().filter_map(|k| st.objects.get(k).cloned()).collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The store revision this cache has caught up to.
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    /// Waits until the cache has seen revision `rev` (or `timeout` passes). Returns
    /// whether it caught up.
    pub async fn wait_for_revision(&self, rev: Revision, timeout: Duration) -> bool {
        let mut rx = self.revision.subscribe();
        let caught_up = async move { rx.wait_for(|r| *r >= rev).await.is_ok() };
        matches!(tokio::time::timeout(timeout, caught_up).await, Ok(true))
    }

    /// Waits for the first full list.
    pub async fn wait_synced(&self) {
        let mut rx = self.revision.subscribe();
        let _ = rx.wait_for(|r| *r > 0).await;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change<T>> {
        self.changes.subscribe()
    }

    /// Records that the feeder has seen everything up to `rev` (a bookmark, or an event);
    /// the revision never goes back.
    pub fn set_revision(&self, rev: Revision) {
        self.revision.send_if_modified(|r| {
            if rev > *r {
                *r = rev;
                true
            } else {
                false
            }
        });
    }

    /// Applies one change seen at revision `rev` and tells the subscribers.
    pub fn apply(&self, update: Update<T>, rev: Revision) {
        match update {
            Update::Applied(new) => {
                let old = self.write().insert(new.clone());
                let _ = self.changes.send(Change::Applied { new, old });
            }
            Update::Deleted(o) => {
                let key = key_of(o.as_ref());
                let old = self.write().remove(&key).unwrap_or(o);
                let _ = self.changes.send(Change::Deleted(old));
            }
        }
        self.set_revision(rev);
    }

    /// Replaces the whole content with a fresh list taken at `rev` (objects missing from it
    /// vanish) and tells the subscribers to resynchronise.
    pub fn replace_all(&self, items: Vec<T>, rev: Revision) {
        {
            let mut st = self.write();
            st.objects.clear();
            st.by_owner.clear();
            for o in items {
                st.insert(Arc::new(o));
            }
        }
        let _ = self.changes.send(Change::Resynced);
        self.set_revision(rev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{OwnerReference, ReplicaSet as ConfigMap};

    fn cm(name: &str, owner: Option<&str>) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = name.into();
        c.metadata.namespace = Some("default".into());
        if let Some(uid) = owner {
            c.metadata.owner_references =
                vec![OwnerReference { uid: uid.into(), controller: Some(true), ..Default::default() }];
        }
        c
    }

    #[tokio::test]
    async fn replace_all_drops_missing_objects_and_reindexes_owners() {
        let cache = Cache::<ConfigMap>::with_capacity(8);
        let mut rx = cache.subscribe();
        cache.apply(Update::Applied(Arc::new(cm("a", Some("o1")))), 5);
        assert_eq!(cache.owned_by("o1").len(), 1);
        assert!(matches!(rx.recv().await, Ok(Change::Applied { old: None, .. })));
        cache.replace_all(vec![cm("b", Some("o2"))], 9);
        assert!(cache.get(Some("default"), "a").is_none());
        assert!(cache.owned_by("o1").is_empty());
        assert_eq!(cache.owned_by("o2").len(), 1);
        assert_eq!(cache.revision(), 9);
        assert!(matches!(rx.recv().await, Ok(Change::Resynced)));
        cache.set_revision(3);
        assert_eq!(cache.revision(), 9, "the revision never goes back");
        assert!(cache.wait_for_revision(9, Duration::from_millis(10)).await);
        assert!(!cache.wait_for_revision(10, Duration::from_millis(10)).await);
    }
}
