//! The restart budget of a supervisor, as in Erlang/OTP: at most `limit` restarts within
//! a sliding `window`; one more means the supervisor gives up and escalates.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RestartBudget {
    limit: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    pub fn new(limit: u32, window: Duration) -> Self {
        RestartBudget { limit, window, recent: VecDeque::new() }
    }

    /// Records a restart at `now`; false when it would exceed the budget.
    pub fn allow(&mut self, now: Instant) -> bool {
        while let Some(t) = self.recent.front() {
            if now.duration_since(*t) > self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() as u32 >= self.limit {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixth_restart_within_the_window_is_refused() {
        let mut b = RestartBudget::new(5, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(b.allow(t0 + Duration::from_secs(i)), "restart {i}");
        }
        assert!(!b.allow(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn restarts_older_than_the_window_are_forgotten() {
        let mut b = RestartBudget::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(b.allow(t0));
        assert!(b.allow(t0 + Duration::from_secs(1)));
        assert!(!b.allow(t0 + Duration::from_secs(2)));
        assert!(b.allow(t0 + Duration::from_secs(12)));
    }
}
