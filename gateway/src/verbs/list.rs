//! LIST (and the switch to WATCH): snapshots behind continue tokens, resourceVersion
//! semantics, and the list body as JSON or as a Table.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use api::model::{ListMeta, Resource};
use serde::Serialize;
use serde_json::Value;

use super::{err, tag};
use crate::error::ApiError;
use crate::freshness::wait_until_fresh;
use crate::pagination;
use crate::request::params::{parse_rv, ListParams, Target};
use crate::request::selectors::Filter;
use crate::response::{json_response, ApiResult};
use crate::table;
use crate::watch;
use crate::AppState;

/// The list, filtered, read at the latest revision, as a snapshot: the store's values
/// with the encodings the encoded cache holds for their revisions.
async fn read_snapshot<T: Resource>(state: &AppState, ns: Option<&str>, filter: &Filter, prefix: &str) -> Result<pagination::Snapshot, ApiError> {
    let listed = state.encoded.list::<T>(&state.registry, ns, filter).await.map_err(err::<T>)?;
    Ok(pagination::Snapshot { rev: listed.rev, prefix: prefix.to_string(), selector: filter.key().to_string(), items: listed.items })
}

/// LIST, with `limit`/`continue` over a consistent snapshot and `resourceVersion` +
/// `resourceVersionMatch`:
/// - `resourceVersion` unset or "0": the latest state (shoal has no older cache to serve
///   "any" from).
/// - `NotOlderThan` N (or N without a match and without `limit`): the latest state once
///   the store has reached N; waits up to 3 s, then 504 "Too large resource version".
/// - `Exact` N (or N with `limit` and no match, upstream's legacy rule): served when N is
///   the latest revision or a kept snapshot of the same list is at N; an older N is 410
///   Expired (shoal keeps no multi-version state to rebuild it from), a newer one waits
///   like NotOlderThan and then needs N to be the latest revision.
pub async fn list<T: Resource>(state: web::Data<AppState>, req: HttpRequest, q: web::Query<ListParams>) -> ApiResult {
    let target = Target::of(&req);
    q.validate()?;
    let filter = Filter::for_kind::<T>(&q)?;
    if q.is_watch() {
        tag::<T>(&req, "watch");
        return watch::serve::<T>(state.get_ref().clone(), target.ns, filter, &q, table::requested(&req)?).await;
    }
    tag::<T>(&req, "list");
    let ns = target.ns.as_deref();
    let prefix = T::INFO.namespace_prefix(if T::INFO.namespaced { ns } else { None });
    let limit = q.page_limit();
    let cache = pagination::cache();
    let rv = parse_rv(q.rv())?;
    let page = if !q.continue_token().is_empty() {
        if rv.is_some_and(|n| n != 0) {
            return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
        }
        let token = pagination::Token::decode(q.continue_token(), &prefix)?;
        if token.rv == -1 {
            // Continue after the last key served, at the latest revision (inconsistent).
            let mut snap = read_snapshot::<T>(&state, ns, &filter, &prefix).await?;
            snap.items.retain(|i| i.key > token.start);
            pagination::first_page(cache, snap, limit)
        } else {
            let Some(snap) = cache.get(token.id) else {
                return Ok(pagination::expired_response(&token));
            };
            if snap.rev != token.rv || snap.prefix != prefix {
                return Ok(pagination::expired_response(&token));
            }
            if snap.selector != filter.key() {
                return Err(ApiError::bad_request(
                    "invalid continue token: the label and field selectors differ from those of the list it continues",
                ));
            }
            pagination::paginate(cache, &snap, token.id, token.off, limit, true)
        }
    } else {
        let exact = match (q.rv_match(), rv) {
            ("Exact", Some(n)) => Some(n),
            ("", Some(n)) if n != 0 && limit.is_some() => Some(n),
            _ => None,
        };
        match (exact, rv) {
            (Some(n), _) => {
                if let Some((id, snap)) = cache.find(n, &prefix, filter.key()) {
                    pagination::paginate(cache, &snap, id, 0, limit, false)
                } else {
                    wait_until_fresh(&state, n).await?;
                    let snap = read_snapshot::<T>(&state, ns, &filter, &prefix).await?;
                    if snap.rev != n {
                        return Err(ApiError::new(410, "Expired", "The resourceVersion for the provided list is too old."));
                    }
                    pagination::first_page(cache, snap, limit)
                }
            }
            (None, Some(n)) if n > 0 => {
                wait_until_fresh(&state, n).await?;
                pagination::first_page(cache, read_snapshot::<T>(&state, ns, &filter, &prefix).await?, limit)
            }
            _ => pagination::first_page(cache, read_snapshot::<T>(&state, ns, &filter, &prefix).await?, limit),
        }
    };
    list_response::<T>(&req, page)
}

fn list_response<T: Resource>(req: &HttpRequest, page: pagination::Page) -> ApiResult {
    let meta = ListMeta {
        resource_version: page.rev.to_string(),
        continue_token: page.continue_token,
        remaining_item_count: page.remaining,
    };
    if let Some(opts) = table::requested(req)? {
        let values: Vec<Value> = page.items.iter().filter_map(|i| serde_json::from_slice(&i.json).ok()).collect();
        let mut t = table::build(T::INFO, &values, &opts, &page.rev.to_string());
        t["metadata"] = serde_json::to_value(&meta).map_err(|e| ApiError::internal(e.to_string()))?;
        return json_response(StatusCode::OK, &t, &[]);
    }
    // The items are already JSON; splice them in rather than decode and encode again.
    let mut out = Vec::with_capacity(page.items.iter().map(|i| i.json.len() + 1).sum::<usize>() + 256);
    out.extend_from_slice(format!("{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":", T::INFO.kind, T::INFO.api_version()).as_bytes());
    out.extend_from_slice(&serde_json::to_vec(&meta).map_err(|e| ApiError::internal(e.to_string()))?);
    out.extend_from_slice(b",\"items\":[");
    for (n, i) in page.items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&i.json);
    }
    out.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok().content_type("application/json").body(out))
}

/// A list body (`kind: XList`) of typed items.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListBody<T> {
    kind: String,
    api_version: String,
    metadata: ListMeta,
    items: Vec<T>,
}

pub(super) fn list_body<T: Resource>(items: Vec<T>, rev: i64) -> ListBody<T> {
    ListBody {
        kind: format!("{}List", T::INFO.kind),
        api_version: T::INFO.api_version(),
        metadata: ListMeta { resource_version: rev.to_string(), ..Default::default() },
        items,
    }
}
