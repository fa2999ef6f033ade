//! Informers: one shared, read-only mirror of each kind, fed by list + watch on the store.
//!
//! Controllers read from these caches (they may be slightly stale) and write through the
//! registry with resourceVersion preconditions. Each cache knows the store revision it has
//! caught up to, so a controller can wait until it sees its own writes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, watch};

use api::model::Resource;
use crate::registry::{ObjectEvent, Registry, RegistryError};
use crate::store::Revision;

/// What changed in a cache.
#[derive(Debug, Clone)]
pub enum Change<T> {
    /// Created or updated; `old` is the previous version when there was one.
    Applied { new: Arc<T>, old: Option<Arc<T>> },
    Deleted(Arc<T>),
    /// The cache was rebuilt from a fresh list: subscribers should resynchronise everything.
    Resynced,
}

pub use api::model::{key_of, object_key};

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

impl<T: Resource> Cache<T> {
    fn new() -> Self {
        let (revision, _) = watch::channel(0);
        // tokio preallocates every slot: 16 Ki changes per kind is ~1 MiB, and a subscriber
        // that falls further behind resynchronises from the cache.
        let (changes, _) = broadcast::channel(16_384);
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

    fn set_revision(&self, rev: Revision) {
        self.revision.send_if_modified(|r| {
            if rev > *r {
                *r = rev;
                true
            } else {
                false
            }
        });
    }

    fn apply(&self, ev: ObjectEvent<T>) {
        let rev = ev.revision();
        match ev {
            ObjectEvent::Added(o) | ObjectEvent::Modified(o) => {
                let new = Arc::new(o);
                let old = self.write().insert(new.clone());
                let _ = self.changes.send(Change::Applied { new, old });
            }
            ObjectEvent::Deleted(o) => {
                let key = key_of(&o);
                let old = self.write().remove(&key).unwrap_or_else(|| Arc::new(o));
                let _ = self.changes.send(Change::Deleted(old));
            }
        }
        self.set_revision(rev);
    }

    fn replace_all(&self, items: Vec<T>, rev: Revision) {
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

/// The namespace cache as the namespace lifecycle plugin reads it.
#[async_trait::async_trait]
impl crate::admission::NamespaceMirror for Cache<api::model::Namespace> {
    fn namespace(&self, name: &str) -> Option<Arc<api::model::Namespace>> {
        self.get(None, name)
    }
    async fn caught_up(&self, rev: Revision, timeout: Duration) -> bool {
        self.wait_for_revision(rev, timeout).await
    }
}

/// Starts the list + watch loop of one kind on the current tokio runtime; the loop
/// relists after a watch error (e.g. 410 past compaction) and runs until the runtime stops.
pub fn start<T: Resource>(registry: Registry) -> Cache<T> {
    let cache = Cache::<T>::new();
    let feed = cache.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match sync_once(&registry, &feed).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(kind = T::INFO.kind, error = %e, "informer watch failed; relisting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    cache
}

async fn sync_once<T: Resource>(registry: &Registry, cache: &Cache<T>) -> Result<(), RegistryError> {
    let (items, rev) = registry.list::<T>(None).await?;
    cache.replace_all(items, rev.max(1));
    let mut events = registry.watch::<T>(None, rev + 1).await?;
    while let Some(item) = events.next().await {
        let (ev, _prev) = item?;
        cache.apply(ev);
    }
    Ok(())
}
