//! How long the root waits before it starts the whole tree again after its own restart
//! budget was spent: 1 s, doubling to 30 s; a tree that then ran for a quiet window of
//! 60 s without spending the budget again starts over at 1 s.

use std::time::{Duration, Instant};

pub const FIRST: Duration = Duration::from_secs(1);
pub const MAX: Duration = Duration::from_secs(30);
/// A tree that ran this long since its last restart is healthy again.
pub const QUIET: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct TreeBackoff {
    last: Option<Duration>,
    /// When the tree last started again after a back-off.
    restarted_at: Option<Instant>,
}

impl TreeBackoff {
    /// The wait before the next start, for a budget spent at `now`.
    pub fn next(&mut self, now: Instant) -> Duration {
        let quiet = self.restarted_at.is_none_or(|t| now.duration_since(t) >= QUIET);
        let wait = match self.last {
            Some(prev) if !quiet => (prev * 2).min(MAX),
            _ => FIRST,
        };
        self.last = Some(wait);
        wait
    }

    /// The tree started again at `now`.
    pub fn restarted(&mut self, now: Instant) {
        self.restarted_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_thirty() {
        let mut b = TreeBackoff::default();
        let t0 = Instant::now();
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..7 {
            let w = b.next(now);
            waits.push(w.as_secs());
            now += w;
            b.restarted(now);
            now += Duration::from_secs(1);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn a_quiet_window_resets_it() {
        let mut b = TreeBackoff::default();
        let t0 = Instant::now();
        assert_eq!(b.next(t0), FIRST);
        b.restarted(t0 + FIRST);
        assert_eq!(b.next(t0 + FIRST + Duration::from_secs(5)), Duration::from_secs(2));
        let back = t0 + Duration::from_secs(10);
        b.restarted(back);
        assert_eq!(b.next(back + QUIET), FIRST);
    }
}
