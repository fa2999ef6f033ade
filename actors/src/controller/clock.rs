//! The time controllers read. Controllers that act on wall-clock time (the CronJob
//! controller) take `now` from the control plane's [`Clock`] (`ControlConfig::clock`)
//! instead of `Utc::now()`, so that tests can run schedules without waiting real minutes:
//! their pure planning functions take `now` as a parameter, and end-to-end tests start
//! the server with the hidden, tests-only flag `--test-clock-speed N` ([`ScaledClock`]).
//! The real clock is the default; nothing user-facing depends on the others.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Where a controller reads the current time.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;

    /// The real time to wait until this clock has moved on by `d` (a requeue delay
    /// computed in this clock's time).
    fn real_delay(&self, d: Duration) -> Duration {
        d
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at the real time and runs `speed` times as fast: for end-to-end
/// tests only (`--test-clock-speed 60` makes a `*/1 * * * *` CronJob fire every second).
#[derive(Debug)]
pub struct ScaledClock {
    origin: DateTime<Utc>,
    started: Instant,
    speed: f64,
}

impl ScaledClock {
    /// `speed` must be positive (the CLI checks it); anything else is taken as 1.
    pub fn new(speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        ScaledClock { origin: Utc::now(), started: Instant::now(), speed }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let scaled = self.started.elapsed().mul_f64(self.speed);
        self.origin + chrono::Duration::from_std(scaled).unwrap_or(chrono::Duration::zero())
    }

    fn real_delay(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }
}

/// A clock that only moves when told (unit tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_runs_fast_and_shortens_waits() {
        let c = ScaledClock::new(60.0);
        let before = c.now();
        std::thread::sleep(Duration::from_millis(50));
        let moved = c.now() - before;
        assert!(moved >= chrono::Duration::milliseconds(3000), "{moved:?}");
        assert_eq!(c.real_delay(Duration::from_secs(60)), Duration::from_secs(1));
        assert_eq!(ScaledClock::new(-1.0).real_delay(Duration::from_secs(5)), Duration::from_secs(5));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = ManualClock::new(t0);
        assert_eq!(c.now(), t0);
        c.advance(chrono::Duration::minutes(3));
        assert_eq!(c.now(), t0 + chrono::Duration::minutes(3));
        assert_eq!(c.real_delay(Duration::from_secs(7)), Duration::from_secs(7));
    }
}
