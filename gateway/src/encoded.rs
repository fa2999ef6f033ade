//! The encoded cache: each object's JSON kept beside its store revision, so that a LIST,
//! a watch-list's initial events and a watch's fan-out are concatenations of encodings
//! made once per revision instead of a decode and an encode per object per reader.
//!
//! Consistency is the store's: a list still reads the store (one raw prefix read, the
//! bincode values as stored) and takes from here only the encodings of exactly the
//! revisions it read; whatever is missing or older is decoded (sharing the object an
//! informer or a watch already decoded, `Registry::shared_object`), encoded and kept.
//! An entry holds the JSON and a weak reference to the decoded object (for selectors):
//! the decoded objects stay owned by the informers' caches, not duplicated here.
//! Entries of keys a full read of their collection no longer finds are dropped, so the
//! cache holds at most one encoding per live object of the kinds that are read.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use actix_web::web::Bytes;
use actors::registry::{Registry, RegistryError};
use actors::store::{KeyValue, Revision};
use api::model::Resource;

use crate::pagination::Item;
use crate::request::selectors::Filter;

/// One object's encoding at one revision.
struct Entry<T> {
    rev: Revision,
    json: Bytes,
    obj: Weak<T>,
}

/// The encodings of one kind, by store key.
struct Kind<T> {
    entries: Mutex<BTreeMap<String, Entry<T>>>,
}

impl<T> Kind<T> {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry<T>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The encodings of every kind that has been read (one per kind, made on first use).
#[derive(Default)]
pub struct EncodedCache {
    kinds: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

/// What a list read: its items (key within the collection, JSON) and revision.
pub struct Listed {
    pub items: Vec<Item>,
    pub rev: Revision,
}

fn encode<T: Resource>(obj: &T) -> Result<Bytes, RegistryError> {
    serde_json::to_vec(obj).map(Bytes::from).map_err(|e| RegistryError::BadRequest(format!("cannot encode {}: {e}", T::INFO.kind)))
}

impl EncodedCache {
    fn kind<T: Resource>(&self) -> Arc<Kind<T>> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let any = kinds
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(Kind::<T> { entries: Mutex::new(BTreeMap::new()) }) as Arc<dyn Any + Send + Sync>)
            .clone();
        drop(kinds);
        match any.downcast::<Kind<T>>() {
            Ok(kind) => kind,
            // A TypeId names one type: the entry made for T is a Kind<T>.
            Err(_) => Arc::new(Kind { entries: Mutex::new(BTreeMap::new()) }),
        }
    }

    /// Every object of the kind in `ns` (everywhere when None) that `filter` accepts, as
    /// JSON, read at the store's latest revision.
    pub async fn list<T: Resource>(&self, registry: &Registry, ns: Option<&str>, filter: &Filter) -> Result<Listed, RegistryError> {
        let read = registry.list_raw::<T>(ns).await?;
        let kind = self.kind::<T>();
        let strip = T::INFO.key_prefix();
        // What is held for exactly the revisions read, under one short lock.
        let mut held: Vec<Option<(Bytes, Weak<T>)>> = {
            let entries = kind.lock();
            read.kvs
                .iter()
                .map(|kv| entries.get(&kv.key).filter(|e| e.rev == kv.mod_revision).map(|e| (e.json.clone(), e.obj.clone())))
                .collect()
        };
        let mut made: Vec<(String, Entry<T>)> = Vec::new();
        let mut items = Vec::with_capacity(read.kvs.len());
        for (kv, held) in read.kvs.iter().zip(held.iter_mut()) {
            let (json, obj) = match held.take() {
                Some((json, _)) if filter.is_empty() => (json, None),
                Some((json, weak)) => match weak.upgrade() {
                    Some(obj) => (json, Some(obj)),
                    None => (json, Some(registry.shared_object::<T>(kv)?)),
                },
                None => {
                    let obj = registry.shared_object::<T>(kv)?;
                    let json = encode(obj.as_ref())?;
                    made.push((kv.key.clone(), Entry { rev: kv.mod_revision, json: json.clone(), obj: Arc::downgrade(&obj) }));
                    (json, Some(obj))
                }
            };
            if obj.as_ref().is_some_and(|o| !filter.accepts(o.as_ref())) {
                continue;
            }
            let key = kv.key.strip_prefix(strip.as_str()).unwrap_or(&kv.key).to_string();
            items.push(Item { key, json });
        }
        let prefix = T::INFO.namespace_prefix(if T::INFO.namespaced { ns } else { None });
        let mut entries = kind.lock();
        for (key, entry) in made {
            insert_newer(&mut entries, key, entry);
        }
        prune(&mut entries, &prefix, &read.kvs, read.revision);
        Ok(Listed { items, rev: read.revision })
    }

    /// The JSON of `obj`, stored under `key` at `rev` (a watch event's object): encoded
    /// once however many watchers send it.
    pub fn json_of<T: Resource>(&self, key: &str, rev: Revision, obj: &Arc<T>) -> Bytes {
        let kind = self.kind::<T>();
        if let Some(e) = kind.lock().get(key).filter(|e| e.rev == rev) {
            return e.json.clone();
        }
        let json = encode(obj.as_ref()).unwrap_or_default();
        insert_newer(&mut kind.lock(), key.to_string(), Entry { rev, json: json.clone(), obj: Arc::downgrade(obj) });
        json
    }

    /// How many encodings are held, and their bytes (for `/metrics` and the tests).
    pub fn held<T: Resource>(&self) -> (usize, usize) {
        let kind = self.kind::<T>();
        let entries = kind.lock();
        (entries.len(), entries.values().map(|e| e.json.len()).sum())
    }
}

/// Keeps `entry` unless a newer revision of the key is held (a watch replaying history
/// must not replace the live encoding).
fn insert_newer<T>(entries: &mut BTreeMap<String, Entry<T>>, key: String, entry: Entry<T>) {
    match entries.get(&key) {
        Some(e) if e.rev >= entry.rev => {}
        _ => {
            entries.insert(key, entry);
        }
    }
}

/// Drops the entries under `prefix` that a full read at `rev` did not find (deleted keys),
/// unless they are newer than the read (written after it).
fn prune<T>(entries: &mut BTreeMap<String, Entry<T>>, prefix: &str, read: &[KeyValue], rev: Revision) {
    let mut listed = read.iter().map(|kv| kv.key.as_str()).peekable();
    let gone: Vec<String> = entries
        .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
        .take_while(|(k, _)| k.starts_with(prefix))
        .filter(|(k, e)| {
            while listed.peek().is_some_and(|l| *l < k.as_str()) {
                listed.next();
            }
            listed.peek() != Some(&k.as_str()) && e.rev <= rev
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in gone {
        entries.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::registry::{Preconditions, UpdateScope};
    use api::model::ConfigMap;
    use futures::StreamExt;

    fn config_map(name: &str, tier: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = name.into();
        cm.metadata.namespace = Some("default".into());
        cm.metadata.labels = [("tier".to_string(), tier.to_string())].into_iter().collect();
        cm.data = [("k".to_string(), format!("value of {name}"))].into_iter().collect();
        cm
    }

    /// The list as it was built before the cache: every stored object decoded and encoded.
    async fn from_the_store(state: &crate::AppState, filter: &Filter) -> (Vec<(String, Vec<u8>)>, Revision) {
        let (objs, rev) = state.registry.list::<ConfigMap>(Some("default")).await.expect("listing");
        let items = objs
            .iter()
            .filter(|o| filter.accepts(*o))
            .map(|o| (api::model::key_of(o), serde_json::to_vec(o).expect("encoding")))
            .collect();
        (items, rev)
    }

    async fn assert_same(state: &crate::AppState, filter: &Filter) -> usize {
        let listed = state.encoded.list::<ConfigMap>(&state.registry, Some("default"), filter).await.expect("listing");
        let got: Vec<(String, Vec<u8>)> = listed.items.iter().map(|i| (i.key.clone(), i.json.to_vec())).collect();
        let (want, rev) = from_the_store(state, filter).await;
        assert_eq!(listed.rev, rev);
        assert_eq!(got, want, "the encoded list differs from the store's, object by object");
        got.len()
    }

    #[actix_rt::test]
    async fn lists_equal_the_store_object_by_object_across_updates_deletes_and_compaction() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let state = crate::verbs::testing::state(dir.path()).await;
        let reg = &state.registry;
        let all = Filter::new("ConfigMap", None, None).expect("no selector");
        let front = Filter::new("ConfigMap", Some("tier=front"), None).expect("a selector");
        for i in 0..40 {
            reg.create(config_map(&format!("cm-{i:02}"), if i % 2 == 0 { "front" } else { "back" })).await.expect("creating");
        }
        // A watch decodes changes as an informer would: its objects are shared with lists.
        let mut watch = reg.watch::<ConfigMap>(None, 0).await.expect("watching");
        assert_eq!(assert_same(&state, &all).await, 40);
        assert_eq!(assert_same(&state, &front).await, 20);
        for i in 0..10 {
            let mut cm = reg.get::<ConfigMap>(Some("default"), &format!("cm-{i:02}")).await.expect("reading");
            cm.metadata.labels.insert("tier".into(), "front".into());
            cm.data = [("k".to_string(), format!("updated {i}"))].into_iter().collect();
            reg.update(cm, UpdateScope::Main).await.expect("updating");
        }
        for i in 30..40 {
            reg.delete::<ConfigMap>(Some("default"), &format!("cm-{i:02}"), &Preconditions::default()).await.expect("deleting");
        }
        // Watch events encoded for watchers land in the same cache.
        for _ in 0..20 {
            let (ev, _) = watch.next().await.expect("an event").expect("a decoded event");
            let meta = ev.object().meta();
            state.encoded.json_of(&ConfigMap::INFO.key(meta.namespace.as_deref(), &meta.name), ev.revision(), ev.shared());
        }
        assert_eq!(assert_same(&state, &all).await, 30);
        assert_eq!(assert_same(&state, &front).await, 20);
        assert_eq!(state.encoded.held::<ConfigMap>().0, 30, "deleted keys are dropped at the next full read");
        let now = reg.store().current_revision().await.expect("a revision");
        reg.store().compact(now).await.expect("compacting");
        reg.create(config_map("cm-new", "front")).await.expect("creating after compaction");
        assert_eq!(assert_same(&state, &all).await, 31);
        assert_eq!(assert_same(&state, &front).await, 21);
    }

    fn kv(key: &str, rev: Revision) -> KeyValue {
        KeyValue { key: key.into(), value: vec![], create_revision: rev, mod_revision: rev, version: 1, lease: 0 }
    }

    fn entry(rev: Revision) -> Entry<()> {
        Entry { rev, json: Bytes::from_static(b"{}"), obj: Weak::new() }
    }

    #[test]
    fn a_full_read_drops_the_keys_it_no_longer_finds_but_not_newer_writes() {
        let mut entries = BTreeMap::new();
        for (k, rev) in [("/r/pods/a/1", 3), ("/r/pods/a/2", 4), ("/r/pods/a/3", 9), ("/r/pods/b/1", 2), ("/r/pods/a/4", 12)] {
            entries.insert(k.to_string(), entry(rev));
        }
        prune(&mut entries, "/r/pods/a/", &[kv("/r/pods/a/1", 3), kv("/r/pods/a/3", 9)], 10);
        let left: Vec<&str> = entries.keys().map(String::as_str).collect();
        assert_eq!(left, ["/r/pods/a/1", "/r/pods/a/3", "/r/pods/a/4", "/r/pods/b/1"]);
    }

    #[test]
    fn an_older_revision_never_replaces_a_newer_one() {
        let mut entries = BTreeMap::new();
        insert_newer(&mut entries, "k".into(), entry(5));
        insert_newer(&mut entries, "k".into(), entry(3));
        assert_eq!(entries["k"].rev, 5);
        insert_newer(&mut entries, "k".into(), entry(8));
        assert_eq!(entries["k"].rev, 8);
    }
}
