//! Restart and image-pull back-off as kubelet's `flowcontrol.Backoff` keeps it: per key
//! (pod uid + container name, or pod uid + image), the first restart is immediate, each
//! later one waits `initial` doubling up to `max`; an entry is forgotten after twice `max`
//! without an update, and a container that ran at least `reset_after` starts afresh.
//! Pure: every call takes the current time.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    pub initial: Duration,
    pub max: Duration,
    /// A container that ran at least this long before exiting restarts without back-off.
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    /// Upstream's: 10 s doubling to 5 min, reset after 10 min of running.
    fn default() -> Self {
        BackoffConfig { initial: Duration::from_secs(10), max: Duration::from_secs(300), reset_after: Duration::from_secs(600) }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    /// When the back-off started counting (the exit that was restarted).
    last_update: SystemTime,
}

#[derive(Debug, Default)]
pub struct Backoff {
    cfg: BackoffConfig,
    entries: HashMap<String, Entry>,
}

impl Backoff {
    pub fn new(cfg: BackoffConfig) -> Self {
        Backoff { cfg, entries: HashMap::new() }
    }

    pub fn config(&self) -> BackoffConfig {
        self.cfg
    }

    /// Some(current delay, time left) while `key` is backing off from an event at `since`
    /// (a container's exit, a failed pull).
    pub fn in_backoff(&self, key: &str, from: SystemTime, now: SystemTime) -> Option<(Duration, Duration)> {
        let e = self.entries.get(key)?;
        if since(now, e.last_update) > self.cfg.max * 2 {
            return None;
        }
        let waited = since(now, from);
        (waited < e.delay).then(|| (e.delay, e.delay - waited))
    }

    /// Records a restart of `key` after an event at `at`: the next one waits longer.
    pub fn next(&mut self, key: &str, at: SystemTime, now: SystemTime) {
        let delay = match self.entries.get(key) {
            Some(e) if since(now, e.last_update) <= self.cfg.max * 2 => (e.delay * 2).min(self.cfg.max),
            _ => self.cfg.initial,
        };
        self.entries.insert(key.to_string(), Entry { delay, last_update: at });
    }

    /// The delay `key` is at (what the CrashLoopBackOff message names).
    pub fn delay(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.delay)
    }

    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets every key starting with `prefix` (a pod's, when it is removed).
    pub fn forget_prefix(&mut self, prefix: &str) {
        self.entries.retain(|k, _| !k.starts_with(prefix));
    }
}

fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

/// `10s`, `1m20s`, `5m0s`, `200ms`: Go's `time.Duration` spelling, as upstream's messages use it.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let (h, m, s) = ((secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64, secs % 60.0);
    let s = if s.fract() == 0.0 { format!("{}s", s as u64) } else { format!("{}s", format!("{s:.3}").trim_end_matches('0')) };
    match (h, m) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_restart_is_immediate_then_the_delay_doubles_to_the_cap() {
        let cfg = BackoffConfig { initial: Duration::from_secs(10), max: Duration::from_secs(40), reset_after: Duration::from_secs(600) };
        let mut b = Backoff::new(cfg);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(b.in_backoff("k", t0, t0), None, "no entry: restart at once");
        b.next("k", t0, t0);
        let exit = t0 + Duration::from_secs(1);
        assert_eq!(b.in_backoff("k", exit, exit), Some((Duration::from_secs(10), Duration::from_secs(10))));
        assert!(b.in_backoff("k", exit, exit + Duration::from_secs(10)).is_none());
        let mut delays = vec![];
        for i in 0..4 {
            let at = exit + Duration::from_secs(11 * (i + 1));
            b.next("k", at, at);
            delays.push(b.delay("k").unwrap().as_secs());
        }
        assert_eq!(delays, [20, 40, 40, 40]);
        let later = exit + Duration::from_secs(1000);
        assert_eq!(b.in_backoff("k", later, later), None, "expired after twice the cap");
        b.next("k", later, later);
        assert_eq!(b.delay("k"), Some(Duration::from_secs(10)), "starts again from the initial delay");
    }

    #[test]
    fn durations_read_as_go_prints_them() {
        for (d, want) in [(200, "200ms"), (10_000, "10s"), (80_000, "1m20s"), (300_000, "5m0s"), (1_500, "1.5s")] {
            assert_eq!(go_duration(Duration::from_millis(d)), want);
        }
    }
}
