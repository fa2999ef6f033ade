//! Watch: newline-delimited JSON events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) from a
//! resourceVersion on, filtered by selectors the way Kubernetes filters them; watch-list
//! (`sendInitialEvents=true`: the current objects, then a BOOKMARK annotated
//! `k8s.io/initial-events-end`, then live events); and Table events for
//! `Accept: application/json;as=Table` (what `kubectl get -w` asks for).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use api::model::Resource;
use actors::registry::{ObjectEvent, ObjectStream, RegistryError};
use futures::StreamExt;
use serde_json::json;
use tokio::time::{Instant, Interval};

use crate::encoded::{EncodedCache, Listed};
use crate::error::{from_registry, ApiError};
use crate::freshness::wait_until_fresh;
use crate::request::params::{parse_rv, ListParams};
use crate::request::selectors::Filter;
use crate::response::ApiResult;
use crate::table;
use crate::AppState;

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

struct WatchState<T: Resource> {
    events: Option<ObjectStream<T>>,
    encoded: Arc<EncodedCache>,
    filter: Filter,
    pending: VecDeque<Bytes>,
    bookmarks: Option<Interval>,
    /// Revision of the last event sent (or of the starting point).
    last_rv: i64,
    deadline: Option<Instant>,
    done: bool,
    /// Send each object as a one-row Table (column definitions with the first only).
    table: Option<table::Options>,
}

/// The annotation on the bookmark that ends a watch-list's initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

fn line(kind: &str, object: &impl serde::Serialize) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn error_line(e: ApiError) -> Bytes {
    line("ERROR", &e.status_body())
}

fn bookmark_line<T: Resource>(rv: i64, table: Option<table::Options>) -> Bytes {
    if table.is_some() {
        return line(
            "BOOKMARK",
            &json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
                    "columnDefinitions": [], "rows": []}),
        );
    }
    line(
        "BOOKMARK",
        &json!({"kind": T::INFO.kind, "apiVersion": T::INFO.api_version(), "metadata": {"resourceVersion": rv.to_string()}}),
    )
}

/// The bookmark that ends a watch-list's initial events.
fn initial_events_end_line<T: Resource>(rv: i64) -> Bytes {
    line(
        "BOOKMARK",
        &json!({"kind": T::INFO.kind, "apiVersion": T::INFO.api_version(),
                "metadata": {"resourceVersion": rv.to_string(), "annotations": {INITIAL_EVENTS_END: "true"}}}),
    )
}

/// An event line around an object's JSON as the encoded cache holds it.
fn encoded_line(kind: &str, json: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(json.len() + 32);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(json);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

/// One object event, as the object (its encoding made once for every watcher) or (for
/// Table watches) as a one-row Table; as upstream, only the first Table of a watch
/// carries the column definitions.
fn object_line<T: Resource>(encoded: &EncodedCache, kind: &str, obj: &Arc<T>, table: &mut Option<table::Options>) -> Bytes {
    let Some(opts) = table.as_mut() else {
        let meta = obj.meta();
        let key = T::INFO.key(meta.namespace.as_deref(), &meta.name);
        let rev = meta.resource_version.parse().unwrap_or(0);
        return encoded_line(kind, &encoded.json_of(&key, rev, obj));
    };
    table_line::<T>(kind, serde_json::to_value(obj.as_ref()).unwrap_or(serde_json::Value::Null), opts)
}

/// One object (as JSON) as a one-row Table event; the column definitions go with the
/// watch's first Table only.
fn table_line<T: Resource>(kind: &str, value: serde_json::Value, opts: &mut table::Options) -> Bytes {
    let rv = value["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
    let out = line(kind, &table::build(T::INFO, &[value], opts, &rv));
    opts.no_headers = true;
    out
}

/// Translates a store change into what a filtered watcher should see: an object entering
/// the selection is ADDED, one leaving it is DELETED.
fn visible_event<T: Resource>(filter: &Filter, ev: &ObjectEvent<T>, prev: Option<&T>) -> Option<(&'static str, std::sync::Arc<T>)> {
    let now = filter.accepts(ev.object());
    match ev {
        ObjectEvent::Added(o) => now.then(|| ("ADDED", o.clone())),
        ObjectEvent::Deleted(o) => now.then(|| ("DELETED", o.clone())),
        ObjectEvent::Modified(o) => {
            let before = prev.map(|p| filter.accepts(p)).unwrap_or(false);
            match (before, now) {
                (true, true) => Some(("MODIFIED", o.clone())),
                (false, true) => Some(("ADDED", o.clone())),
                (true, false) => Some(("DELETED", o.clone())),
                (false, false) => None,
            }
        }
    }
}

/// The current objects the filter accepts, as the encoded cache serves lists.
async fn list_encoded<T: Resource>(state: &AppState, ns: Option<&str>, filter: &Filter) -> Result<Listed, ApiError> {
    state.encoded.list::<T>(&state.registry, ns, filter).await.map_err(|e| from_registry(e, T::INFO.group, T::INFO.plural))
}

/// Starts a watch response.
/// - Legacy (no `sendInitialEvents`): without a resourceVersion (or with "0") the current
///   objects come first as ADDED events, as Kubernetes does; with N, changes after N.
/// - `sendInitialEvents=true` (with `resourceVersionMatch=NotOlderThan`,
///   `allowWatchBookmarks=true`): the current objects (at a revision not older than the
///   given one, waiting up to 3 s for it) as ADDED, a BOOKMARK with
///   `k8s.io/initial-events-end: "true"` at the list's revision, then live changes.
/// - `sendInitialEvents=false`: changes after N, or after now when N is unset or "0".
pub async fn serve<T: Resource>(
    state: AppState,
    ns: Option<String>,
    filter: Filter,
    q: &ListParams,
    mut table: Option<table::Options>,
) -> ApiResult {
    let rv = parse_rv(q.resource_version.as_deref().unwrap_or(""))?.unwrap_or(0);
    let mut pending = VecDeque::new();
    let list_now = |pending: &mut VecDeque<Bytes>, listed: Listed, table: &mut Option<table::Options>| {
        for item in listed.items {
            pending.push_back(match table.as_mut() {
                None => encoded_line("ADDED", &item.json),
                Some(opts) => table_line::<T>("ADDED", serde_json::from_slice(&item.json).unwrap_or(serde_json::Value::Null), opts),
            });
        }
    };
    let (from, last_rev) = match q.send_initial_events {
        Some(true) => {
            if rv > 0 {
                wait_until_fresh(&state, rv).await?;
            }
            let listed = list_encoded::<T>(&state, ns.as_deref(), &filter).await?;
            let list_rev = listed.rev;
            list_now(&mut pending, listed, &mut table);
            pending.push_back(initial_events_end_line::<T>(list_rev));
            (list_rev + 1, list_rev)
        }
        Some(false) if rv == 0 => {
            let now = state
                .registry
                .store()
                .current_revision()
                .await
                .map_err(|e| from_registry(RegistryError::from(e), T::INFO.group, T::INFO.plural))?;
            (now + 1, now)
        }
        None if rv == 0 => {
            let listed = list_encoded::<T>(&state, ns.as_deref(), &filter).await?;
            let list_rev = listed.rev;
            list_now(&mut pending, listed, &mut table);
            (list_rev + 1, list_rev)
        }
        _ => (rv + 1, rv),
    };
    let last_rv = last_rev;
    let events = match state.registry.watch::<T>(ns.as_deref(), from).await {
        Ok(s) => Some(s),
        Err(e @ RegistryError::Expired { .. }) => {
            // Kubernetes answers an expired watch with 200 and one ERROR event (410 Expired).
            pending.push_back(error_line(from_registry(e, T::INFO.group, T::INFO.plural)));
            None
        }
        Err(e) => return Err(from_registry(e, T::INFO.group, T::INFO.plural)),
    };
    let done = events.is_none();
    let st = WatchState {
        events,
        encoded: state.encoded.clone(),
        filter,
        pending,
        bookmarks: q.allow_watch_bookmarks.unwrap_or(false).then(|| {
            let mut i = tokio::time::interval(BOOKMARK_EVERY);
            i.reset();
            i
        }),
        last_rv,
        deadline: q.timeout_seconds.map(|s| Instant::now() + Duration::from_secs(s)),
        done,
        table,
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(b) = st.pending.pop_front() {
                return Some((Ok::<Bytes, actix_web::Error>(b), st));
            }
            if st.done {
                return None;
            }
            let deadline = st.deadline;
            let Some(events) = st.events.as_mut() else { return None };
            tokio::select! {
                next = events.next() => match next {
                    None => st.done = true,
                    Some(Ok((ev, prev))) => {
                        st.last_rv = ev.revision();
                        if let Some((kind, obj)) = visible_event(&st.filter, &ev, prev.as_deref()) {
                            st.pending.push_back(object_line(&st.encoded, kind, &obj, &mut st.table));
                        }
                    }
                    Some(Err(e)) => {
                        st.pending.push_back(error_line(from_registry(e, T::INFO.group, T::INFO.plural)));
                        st.done = true;
                    }
                },
                _ = async { match st.bookmarks.as_mut() { Some(i) => { i.tick().await; } None => futures::future::pending::<()>().await } } => {
                    st.pending.push_back(bookmark_line::<T>(st.last_rv, st.table));
                }
                _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => futures::future::pending::<()>().await } } => {
                    st.done = true;
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .streaming(stream))
}
