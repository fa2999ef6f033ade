//! Which children wake their owner: a reconciler lists its child kinds as types
//! (`Children::Of(&[ChildKind::of::<Pod>()])`); a child's change is routed to its
//! controlling owner by uid, and an orphan's to every object whose selector matches it.

use std::collections::BTreeMap;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::world::HasSource;
use client::cache::Change;
use api::model::Resource;

/// A change of a child, reduced to what routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildChange {
    /// Wake the owners with these uids; for an orphan, the objects in its namespace whose
    /// selector matches its labels.
    Touched { owners: Vec<String>, orphan: Option<(String, BTreeMap<String, String>)> },
    /// Missed changes: wake everyone.
    Lagged,
}

/// One kind of child, followed in the world `W`.
pub struct ChildKind<W> {
    follow: fn(&W, &'static str) -> BoxStream<'static, ChildChange>,
}

impl<W> ChildKind<W> {
    /// Children of type `C`, found in `W`'s source of `C`s.
    pub const fn of<C: Resource>() -> Self
    where
        W: HasSource<C>,
    {
        ChildKind { follow: follow::<W, C> }
    }

    /// Children of type `C` that wake every object whose selector matches their labels
    /// (old and new), whoever owns them: a Service follows the pods it selects this way.
    pub const fn selected<C: Resource>() -> Self
    where
        W: HasSource<C>,
    {
        ChildKind { follow: follow_selected::<W, C> }
    }

    /// Objects of type `C` that every owner depends on without owning them (the Nodes a
    /// DaemonSet runs on): a change that `F` finds significant wakes every owner.
    pub const fn every<C: Resource, F: Significant<C>>() -> Self
    where
        W: HasSource<C>,
    {
        ChildKind { follow: follow_every::<W, C, F> }
    }

    /// The changes of these children that concern owners of kind `owner_kind`.
    pub(crate) fn follow(&self, world: &W, owner_kind: &'static str) -> BoxStream<'static, ChildChange> {
        (self.follow)(world, owner_kind)
    }
}

/// The child kinds of a reconciler.
pub enum Children<W: 'static> {
    None,
    Of(&'static [ChildKind<W>]),
}

impl<W> Children<W> {
    pub fn kinds(&self) -> &'static [ChildKind<W>] {
        match self {
            Children::None => &[],
            Children::Of(k) => k,
        }
    }
}

fn follow<W: HasSource<C>, C: Resource>(world: &W, owner_kind: &'static str) -> BoxStream<'static, ChildChange> {
    let rx = world.source().subscribe();
    BroadcastStream::new(rx).filter_map(move |i| futures::future::ready(child_change(owner_kind, i))).boxed()
}

fn follow_selected<W: HasSource<C>, C: Resource>(world: &W, _owner_kind: &'static str) -> BoxStream<'static, ChildChange> {
    let rx = world.source().subscribe();
    BroadcastStream::new(rx).flat_map(|i| futures::stream::iter(selected_changes(i))).boxed()
}

/// Which changes of an object followed with [`ChildKind::every`] wake the owners.
pub trait Significant<C>: 'static {
    /// `old` is None for a new object; a deletion always counts.
    fn significant(new: &C, old: Option<&C>) -> bool;
}

fn follow_every<W: HasSource<C>, C: Resource, F: Significant<C>>(world: &W, _owner_kind: &'static str) -> BoxStream<'static, ChildChange> {
    let rx = world.source().subscribe();
    BroadcastStream::new(rx)
        .filter_map(|i| {
            futures::future::ready(match i {
                Ok(Change::Applied { new, old }) if !F::significant(&new, old.as_deref()) => None,
                _ => Some(ChildChange::Lagged),
            })
        })
        .boxed()
}

/// A selected child's change: one wake-up per distinct label set it had before and after.
fn selected_changes<C: Resource>(item: Result<Change<C>, BroadcastStreamRecvError>) -> Vec<ChildChange> {
    let (new, old) = match item {
        Ok(Change::Applied { new, old }) => (Some(new), old),
        Ok(Change::Deleted(o)) => (None, Some(o)),
        Ok(Change::Resynced) | Err(_) => return vec![ChildChange::Lagged],
    };
    let mut out: Vec<ChildChange> = Vec::new();
    for obj in [new.as_ref(), old.as_ref()].into_iter().flatten() {
        let c = ChildChange::Touched {
            owners: Vec::new(),
            orphan: Some((obj.meta().namespace.clone().unwrap_or_default(), obj.meta().labels.clone())),
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn child_change<C: Resource>(owner_kind: &str, item: Result<Change<C>, BroadcastStreamRecvError>) -> Option<ChildChange> {
    let change = match item {
        Ok(c) => c,
        Err(_) => return Some(ChildChange::Lagged),
    };
    let (new, old) = match &change {
        Change::Applied { new, old } => (Some(new.clone()), old.clone()),
        Change::Deleted(o) => (None, Some(o.clone())),
        Change::Resynced => return Some(ChildChange::Lagged),
    };
    let mut owners = Vec::new();
    let mut orphan = None;
    for obj in [new.as_ref(), old.as_ref()].into_iter().flatten() {
        match obj.meta().controller_ref() {
            Some(r) if r.kind == owner_kind => owners.push(r.uid.clone()),
            Some(_) => {}
            None => {
                if orphan.is_none() {
                    orphan = Some((obj.meta().namespace.clone().unwrap_or_default(), obj.meta().labels.clone()));
                }
            }
        }
    }
    if owners.is_empty() && orphan.is_none() {
        return None;
    }
    Some(ChildChange::Touched { owners, orphan })
}
