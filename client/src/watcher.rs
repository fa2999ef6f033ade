//! The watcher: list (page by page), watch from the list's resourceVersion with bookmarks,
//! resume from the last version seen when a stream drops, relist on 410 Gone, back off on
//! failures — feeding a [`Cache`]. What to do next is decided by [`Plan`], apart from I/O.

use std::time::Duration;

use api::model::Resource;

use crate::api::Api;
use crate::cache::{Cache, Revision, Update};
use crate::error::Error;
use crate::path::ListParams;
use crate::watch::WatchEvent;

/// Page size of the watcher's lists, unless its parameters name one.
const PAGE: u32 = 500;

/// What the watcher does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// List everything and replace the cache.
    List,
    /// Watch from this resourceVersion.
    Watch { from: String },
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The server closed the stream (e.g. its timeout): resume at once.
    Closed,
    /// The connection failed or went silent: resume from the same version, after a back-off.
    Failed,
    /// 410 Gone (an ERROR event or the answer to the watch request): relist at once.
    Gone,
    /// The server refused the watch otherwise (an ERROR event, or a non-2xx answer):
    /// relist after a back-off.
    Refused,
}

impl WatchEnd {
    /// How a watch that could not be opened ended.
    pub fn of_start_error(e: &Error) -> WatchEnd {
        match e.code() {
            _ if e.is_gone() => WatchEnd::Gone,
            Some(_) => WatchEnd::Refused,
            None => WatchEnd::Failed,
        }
    }
}

/// `wait` shortened by a random 0–20%, so that many watchers refused at once (a restarted
/// server) do not all come back at the same instant.
pub fn jittered(wait: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    wait.mul_f64(1.0 - (random % 1000) as f64 / 5000.0)
}

/// Doubling delays between `min` and `max`, reset by a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max, next: min }
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// The watcher's state without its I/O: where to resume from and how long to wait.
#[derive(Debug, Clone)]
pub struct Plan {
    resume_from: Option<String>,
    backoff: Backoff,
}

impl Default for Plan {
    fn default() -> Self {
        Plan { resume_from: None, backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)) }
    }
}

impl Plan {
    pub fn step(&self) -> Step {
        match &self.resume_from {
            Some(rv) => Step::Watch { from: rv.clone() },
            None => Step::List,
        }
    }

    /// A list succeeded at `resource_version`.
    pub fn listed(&mut self, resource_version: &str) {
        self.resume_from = Some(resource_version.to_string());
        self.backoff.reset();
    }

    /// A list failed: the delay before the next try.
    pub fn list_failed(&mut self) -> Duration {
        self.backoff.next_delay()
    }

    /// An event or bookmark at `resource_version` arrived.
    pub fn saw(&mut self, resource_version: &str) {
        if !resource_version.is_empty() {
            self.resume_from = Some(resource_version.to_string());
        }
        self.backoff.reset();
    }

    /// A watch ended: the delay before the next step.
    pub fn watch_ended(&mut self, end: WatchEnd) -> Duration {
        match end {
            WatchEnd::Closed => Duration::ZERO,
            WatchEnd::Failed => self.backoff.next_delay(),
            WatchEnd::Gone => {
                self.resume_from = None;
                Duration::ZERO
            }
            WatchEnd::Refused => {
                self.resume_from = None;
                self.backoff.next_delay()
            }
        }
    }
}

/// The cache revision of a resourceVersion (shoal's are store revisions; anything else
/// counts as 0, which never moves the cache back).
pub fn revision_of(resource_version: &str) -> Revision {
    resource_version.parse().unwrap_or(0)
}

/// Starts a watcher of `api` with `lp`'s selectors on the current tokio runtime, feeding a
/// new cache whose change broadcast holds `changes` changes. Abort the handle to stop it.
pub fn start<T: Resource>(api: Api<T>, lp: ListParams, changes: usize) -> (Cache<T>, tokio::task::JoinHandle<()>) {
    let cache = Cache::with_capacity(changes);
    let task = tokio::spawn(run(api, lp, cache.clone()));
    (cache, task)
}

/// Feeds `cache` from `api` until the task is dropped.
pub async fn run<T: Resource>(api: Api<T>, lp: ListParams, cache: Cache<T>) {
    let kind = api.info().kind;
    let list_params = ListParams { limit: lp.limit.or(Some(PAGE)), continue_token: None, resource_version: None, ..lp.clone() };
    let mut plan = Plan::default();
    loop {
        match plan.step() {
            Step::List => match api.list_all(&list_params).await {
                Ok(list) => {
                    let rv = list.metadata.resource_version;
                    cache.replace_all(list.items, revision_of(&rv).max(1));
                    plan.listed(&rv);
                }
                Err(e) => {
                    let wait = plan.list_failed();
                    tracing::warn!(kind, error = %e, ?wait, "watcher list failed");
                    tokio::time::sleep(jittered(wait)).await;
                }
            },
            Step::Watch { from } => {
                let end = watch_once(&api, &lp, &from, &cache, &mut plan).await;
                let wait = plan.watch_ended(end);
                if end != WatchEnd::Closed {
                    tracing::debug!(kind, ?end, ?wait, "watch ended");
                }
                if !wait.is_zero() {
                    tokio::time::sleep(jittered(wait)).await;
                }
            }
        }
    }
}

/// One watch from `from`, applying its events until it ends.
async fn watch_once<T: Resource>(api: &Api<T>, lp: &ListParams, from: &str, cache: &Cache<T>, plan: &mut Plan) -> WatchEnd {
    let mut stream = match api.watch(lp, from).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(kind = api.info().kind, error = %e, "opening a watch failed");
            return WatchEnd::of_start_error(&e);
        }
    };
    loop {
        let ev = match stream.next().await {
            None => return WatchEnd::Closed,
            Some(Err(e)) => {
                tracing::warn!(kind = api.info().kind, error = %e, "watch failed; resuming");
                return WatchEnd::Failed;
            }
            Some(Ok(ev)) => ev,
        };
        let (update, rv) = match ev {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                let rv = o.meta().resource_version.clone();
                (Some(Update::Applied(std::sync::Arc::new(o))), rv)
            }
            WatchEvent::Deleted(o) => {
                let rv = o.meta().resource_version.clone();
                (Some(Update::Deleted(std::sync::Arc::new(o))), rv)
            }
            WatchEvent::Bookmark { resource_version } => (None, resource_version),
            ev @ WatchEvent::Error(_) => return if ev.is_gone() { WatchEnd::Gone } else { WatchEnd::Refused },
        };
        match update {
            Some(u) => cache.apply(u, revision_of(&rv)),
            None => cache.set_revision(revision_of(&rv)),
        }
        plan.saw(&rv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    #[test]
    fn lists_first_then_watches_from_the_list_and_each_event() {
        let mut p = Plan::default();
        assert_eq!(p.step(), Step::List);
        p.listed("10");
        assert_eq!(p.step(), Step::Watch { from: "10".into() });
        p.saw("12");
        p.saw("");
        assert_eq!(p.step(), Step::Watch { from: "12".into() }, "a version-less event keeps the last one");
    }

    #[test]
    fn relists_at_once_on_gone_from_an_event_or_the_watch_answer() {
        let mut p = Plan::default();
        p.listed("10");
        assert_eq!(p.watch_ended(WatchEnd::Gone), Duration::ZERO);
        assert_eq!(p.step(), Step::List);
        let http_410 = Error::Api { method: "GET", path: "/api/v1/pods".into(), status: Box::new(Status { code: 410, ..Default::default() }) };
        assert_eq!(WatchEnd::of_start_error(&http_410), WatchEnd::Gone);
        let http_500 = Error::Api { method: "GET", path: "/api/v1/pods".into(), status: Box::new(Status { code: 500, ..Default::default() }) };
        assert_eq!(WatchEnd::of_start_error(&http_500), WatchEnd::Refused);
        let idle = Error::WatchIdle { path: "/api/v1/pods".into(), idle_secs: 60 };
        assert_eq!(WatchEnd::of_start_error(&idle), WatchEnd::Failed);
    }

    #[test]
    fn resumes_from_the_last_version_after_a_failure_with_growing_backoff() {
        let mut p = Plan::default();
        p.listed("10");
        p.saw("15");
        let first = p.watch_ended(WatchEnd::Failed);
        let second = p.watch_ended(WatchEnd::Failed);
        assert!(second > first, "{first:?} then {second:?}");
        assert_eq!(p.step(), Step::Watch { from: "15".into() });
        p.saw("16");
        assert_eq!(p.watch_ended(WatchEnd::Failed), first, "an event resets the back-off");
        assert_eq!(p.watch_ended(WatchEnd::Closed), Duration::ZERO, "a closed stream resumes at once");
        assert_eq!(p.step(), Step::Watch { from: "16".into() });
    }

    #[test]
    fn jitter_shortens_a_wait_by_at_most_a_fifth() {
        let w = Duration::from_secs(10);
        for _ in 0..100 {
            let j = jittered(w);
            assert!(j <= w && j >= w.mul_f64(0.8), "{j:?}");
        }
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_refused_watch_relists_after_a_backoff_and_list_failures_back_off_to_a_cap() {
        let mut p = Plan::default();
        p.listed("10");
        assert!(p.watch_ended(WatchEnd::Refused) > Duration::ZERO);
        assert_eq!(p.step(), Step::List);
        let waits: Vec<Duration> = (0..10).map(|_| p.list_failed()).collect();
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap(), Duration::from_secs(10));
    }
}
