//! From a proposed replica count to the one applied (pure), as upstream's
//! `normalizeDesiredReplicas[WithBehaviors]`: stabilization over recent recommendations,
//! then the scaling rules' rate limits, then min/max — each step naming the condition
//! reason it leaves on the HPA.
//!
//! Without `behavior`, upstream's older rules hold: the highest recommendation of the
//! downscale stabilization window, and at most max(2 × current, 4) on a scale up. With
//! it, `scaleUp` (default: no window, +4 pods or +100% per 15 s, the larger) and
//! `scaleDown` (default: the cluster's window — 300 s — and −100% per 15 s) each have a
//! stabilization window (scale up to the lowest recent recommendation, down to the
//! highest) and policies over the changes made in their periods, combined by
//! `selectPolicy` (Max, Min, or Disabled).

use chrono::{DateTime, Utc};

use api::model::{HorizontalPodAutoscalerBehavior, HpaScalingPolicy, HpaScalingRules};

/// One recommendation of the replica calculation, when it was made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    pub replicas: i32,
    pub at: DateTime<Utc>,
}

/// A scaling change made by the controller: how many replicas, when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleEvent {
    pub change: i32,
    pub at: DateTime<Utc>,
}

/// What an HPA's actor remembers between syncs (upstream keeps the same in the
/// controller's memory): recent recommendations and the scale events of each direction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    pub recommendations: Vec<Recommendation>,
    pub up_events: Vec<ScaleEvent>,
    pub down_events: Vec<ScaleEvent>,
}

/// The rules of one direction with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub window_seconds: i64,
    /// `Max`, `Min` or `Disabled`.
    pub select: String,
    pub policies: Vec<HpaScalingPolicy>,
}

fn policy(type_: &str, value: i32, period_seconds: i32) -> HpaScalingPolicy {
    HpaScalingPolicy { type_: type_.into(), value, period_seconds }
}

/// `GenerateHPAScaleUpRules` over what the HPA sets.
pub fn scale_up_rules(r: Option<&HpaScalingRules>) -> Rules {
    let policies = match r.map(|r| r.policies.clone()).filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => vec![policy("Pods", 4, 15), policy("Percent", 100, 15)],
    };
    Rules {
        window_seconds: r.and_then(|r| r.stabilization_window_seconds).map(i64::from).unwrap_or(0),
        select: r.and_then(|r| r.select_policy.clone()).unwrap_or_else(|| "Max".into()),
        policies,
    }
}

/// `GenerateHPAScaleDownRules` over what the HPA sets; the window defaults to the
/// cluster's downscale stabilization.
pub fn scale_down_rules(r: Option<&HpaScalingRules>, default_window_seconds: i64) -> Rules {
    let policies = match r.map(|r| r.policies.clone()).filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => vec![policy("Percent", 100, 15)],
    };
    Rules {
        window_seconds: r.and_then(|r| r.stabilization_window_seconds).map(i64::from).unwrap_or(default_window_seconds),
        select: r.and_then(|r| r.select_policy.clone()).unwrap_or_else(|| "Max".into()),
        policies,
    }
}

/// The outcome of normalization: the replicas to apply and the two conditions' reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub replicas: i32,
    /// AbleToScale (True): `ScaleUpStabilized`, `ScaleDownStabilized` or `ReadyForNewScale`.
    pub able_reason: &'static str,
    pub able_message: &'static str,
    /// ScalingLimited: True when the limits changed the stabilized count.
    pub limited: bool,
    pub limited_reason: &'static str,
    pub limited_message: &'static str,
}

const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: (&str, &str) =
    ("ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation");
const UP_STABILIZED: (&str, &str) =
    ("ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation");
const WITHIN: (&str, &str) = ("DesiredWithinRange", "the desired count is within the acceptable range");
const TOO_MANY: (&str, &str) = ("TooManyReplicas", "the desired replica count is more than the maximum replica count");
const TOO_FEW: (&str, &str) = ("TooFewReplicas", "the desired replica count is less than the minimum replica count");
const UP_LIMIT: (&str, &str) = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate");
const DOWN_LIMIT: (&str, &str) = ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate");

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

impl Memory {
    /// Seeds the history with the current size on first sight (upstream's
    /// `recordInitialRecommendation`): a fresh actor does not scale down at once.
    pub fn seed(&mut self, current: i32, now: DateTime<Utc>) {
        if self.recommendations.is_empty() {
            self.recommendations.push(Recommendation { replicas: current, at: now });
        }
    }

    /// Records `rec`, reusing one slot older than `keep_seconds` when there is one.
    fn record(&mut self, rec: i32, now: DateTime<Utc>, keep_seconds: i64) {
        let cutoff = now - secs(keep_seconds);
        match self.recommendations.iter_mut().find(|r| r.at < cutoff) {
            Some(old) => *old = Recommendation { replicas: rec, at: now },
            None => self.recommendations.push(Recommendation { replicas: rec, at: now }),
        }
        self.recommendations.retain(|r| r.at >= cutoff || r.at == now);
    }

    /// Without `behavior`: the highest recommendation within the window, then
    /// `convertDesiredReplicasWithRules` (max(2 × current, 4) per sync, min/max).
    pub fn normalize_plain(&mut self, current: i32, desired: i32, min: i32, max: i32, window_seconds: i64, now: DateTime<Utc>) -> Normalized {
        let cutoff = now - secs(window_seconds);
        let stabilized = self.recommendations.iter().filter(|r| r.at >= cutoff).map(|r| r.replicas).fold(desired, i32::max);
        self.record(desired, now, window_seconds);
        let (able_reason, able_message) = if stabilized != desired { DOWN_STABILIZED } else { READY };
        let up_limit = ((2.0 * f64::from(current)).ceil() as i64).max(4).min(i64::from(i32::MAX)) as i32;
        let (max_allowed, max_why) = if max > up_limit { (up_limit, UP_LIMIT) } else { (max, TOO_MANY) };
        let (replicas, (limited_reason, limited_message)) = if stabilized < min {
            (min, TOO_FEW)
        } else if stabilized > max_allowed {
            (max_allowed, max_why)
        } else {
            (stabilized, WITHIN)
        };
        Normalized { replicas, able_reason, able_message, limited: replicas != stabilized, limited_reason, limited_message }
    }

    /// With `behavior`: `stabilizeRecommendationWithBehaviors`, then
    /// `convertDesiredReplicasWithBehaviorRate`.
    pub fn normalize_with_behavior(
        &mut self,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        up: &Rules,
        down: &Rules,
        now: DateTime<Utc>,
    ) -> Normalized {
        let up_cutoff = now - secs(up.window_seconds);
        let down_cutoff = now - secs(down.window_seconds);
        let (mut up_rec, mut down_rec) = (desired, desired);
        for r in &self.recommendations {
            if r.at > up_cutoff {
                up_rec = up_rec.min(r.replicas);
            }
            if r.at > down_cutoff {
                down_rec = down_rec.max(r.replicas);
            }
        }
        let stabilized = current.max(up_rec).min(down_rec);
        self.record(desired, now, up.window_seconds.max(down.window_seconds));
        let (able_reason, able_message) = if stabilized == desired {
            READY
        } else if desired >= current {
            UP_STABILIZED
        } else {
            DOWN_STABILIZED
        };
        let (replicas, (limited_reason, limited_message)) = if stabilized > current {
            let limit = scale_up_limit(current, &self.up_events, up, now).max(current);
            let (allowed, why) = if max > limit { (limit, UP_LIMIT) } else { (max, TOO_MANY) };
            if stabilized > allowed {
                (allowed, why)
            } else {
                (stabilized, WITHIN)
            }
        } else if stabilized < current {
            let limit = scale_down_limit(current, &self.down_events, down, now).min(current);
            let (allowed, why) = if min < limit { (limit, DOWN_LIMIT) } else { (min, TOO_FEW) };
            if stabilized < allowed {
                (allowed, why)
            } else {
                (stabilized, WITHIN)
            }
        } else {
            (stabilized, WITHIN)
        };
        Normalized { replicas, able_reason, able_message, limited: replicas != stabilized, limited_reason, limited_message }
    }

    /// Records a scale from `from` to `to` (upstream's `storeScaleEvent`), forgetting
    /// events older than the direction's longest policy period.
    pub fn store_scale_event(&mut self, from: i32, to: i32, up: &Rules, down: &Rules, now: DateTime<Utc>) {
        let (events, rules, change) = if to > from { (&mut self.up_events, up, to - from) } else { (&mut self.down_events, down, from - to) };
        let longest = rules.policies.iter().map(|p| i64::from(p.period_seconds)).max().unwrap_or(0);
        events.retain(|e| e.at > now - secs(longest));
        events.push(ScaleEvent { change, at: now });
    }
}

/// Replicas changed in the last `period_seconds`.
fn changed_within(events: &[ScaleEvent], period_seconds: i32, now: DateTime<Utc>) -> i32 {
    let cutoff = now - secs(i64::from(period_seconds));
    events.iter().filter(|e| e.at > cutoff).map(|e| e.change).fold(0, i32::saturating_add)
}

/// `calculateScaleUpLimitWithScalingRules`.
pub fn scale_up_limit(current: i32, events: &[ScaleEvent], rules: &Rules, now: DateTime<Utc>) -> i32 {
    let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select.as_str() {
        "Disabled" => return current,
        "Min" => (i64::MAX, i64::min),
        _ => (i64::MIN, i64::max),
    };
    for p in &rules.policies {
        let start = i64::from(current) - i64::from(changed_within(events, p.period_seconds, now));
        let proposed = match p.type_.as_str() {
            "Pods" => start + i64::from(p.value),
            _ => (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64,
        };
        result = pick(result, proposed);
    }
    if rules.policies.is_empty() {
        return current;
    }
    result.clamp(0, i64::from(i32::MAX)) as i32
}

/// `calculateScaleDownLimitWithBehaviors`.
pub fn scale_down_limit(current: i32, events: &[ScaleEvent], rules: &Rules, now: DateTime<Utc>) -> i32 {
    // For a scale down the smallest change (`Min`) is the highest limit.
    let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select.as_str() {
        "Disabled" => return current,
        "Min" => (i64::MIN, i64::max),
        _ => (i64::MAX, i64::min),
    };
    for p in &rules.policies {
        let start = i64::from(current) + i64::from(changed_within(events, p.period_seconds, now));
        let proposed = match p.type_.as_str() {
            "Pods" => start - i64::from(p.value),
            _ => (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64,
        };
        result = pick(result, proposed);
    }
    if rules.policies.is_empty() {
        return current;
    }
    result.clamp(0, i64::from(i32::MAX)) as i32
}

/// The effective rules of both directions of an HPA's behavior.
pub fn rules_of(b: &HorizontalPodAutoscalerBehavior, default_down_window: i64) -> (Rules, Rules) {
    (scale_up_rules(b.scale_up.as_ref()), scale_down_rules(b.scale_down.as_ref(), default_down_window))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        api::time::parse("2026-01-01T12:00:00Z").unwrap() + secs(s)
    }

    fn rules(window: i64, select: &str, policies: &[(&str, i32, i32)]) -> Rules {
        Rules { window_seconds: window, select: select.into(), policies: policies.iter().map(|(t, v, p)| policy(t, *v, *p)).collect() }
    }

    #[test]
    fn defaults_are_upstreams() {
        let up = scale_up_rules(None);
        assert_eq!(up, rules(0, "Max", &[("Pods", 4, 15), ("Percent", 100, 15)]));
        assert_eq!(scale_down_rules(None, 300), rules(300, "Max", &[("Percent", 100, 15)]));
        let set = HpaScalingRules { stabilization_window_seconds: Some(60), select_policy: Some("Min".into()), ..Default::default() };
        assert_eq!(scale_down_rules(Some(&set), 300).window_seconds, 60);
        assert_eq!(scale_down_rules(Some(&set), 300).select, "Min");
    }

    /// Default scale up: the larger of +4 pods and +100% per 15 s.
    #[test]
    fn default_scale_up_allows_four_pods_or_double() {
        let up = scale_up_rules(None);
        assert_eq!(scale_up_limit(1, &[], &up, t(0)), 5);
        assert_eq!(scale_up_limit(10, &[], &up, t(0)), 20);
        // After +4 in the last 15 s from 1 (now 5), the period started at 1: 1+4 = 5, 2.
        let ev = [ScaleEvent { change: 4, at: t(-5) }];
        assert_eq!(scale_up_limit(5, &ev, &up, t(0)), 5);
        // Once the period has passed it may grow again.
        assert_eq!(scale_up_limit(5, &ev, &up, t(11)), 10);
    }

    /// The docs' example: scale down by at most 4 pods or 10% per minute.
    #[test]
    fn select_policy_max_picks_the_biggest_change_and_min_the_smallest() {
        let max = rules(0, "Max", &[("Pods", 4, 60), ("Percent", 10, 60)]);
        let min = rules(0, "Min", &[("Pods", 4, 60), ("Percent", 10, 60)]);
        // 80 replicas: Pods allows 76, Percent 72; Max change → 72, Min change → 76.
        assert_eq!(scale_down_limit(80, &[], &max, t(0)), 72);
        assert_eq!(scale_down_limit(80, &[], &min, t(0)), 76);
        // 10 replicas: Percent allows 9, Pods 6.
        assert_eq!(scale_down_limit(10, &[], &max, t(0)), 6);
        let disabled = rules(0, "Disabled", &[("Pods", 4, 60)]);
        assert_eq!(scale_down_limit(10, &[], &disabled, t(0)), 10);
        assert_eq!(scale_up_limit(10, &[], &disabled, t(0)), 10);
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let up = scale_up_rules(None);
        let down = scale_down_rules(None, 300);
        let mut m = Memory::default();
        m.seed(5, t(0));
        // A lower recommendation is held at the highest of the last 300 s.
        let n = m.normalize_with_behavior(5, 2, 1, 10, &up, &down, t(10));
        assert_eq!((n.replicas, n.able_reason), (5, "ScaleDownStabilized"));
        let n = m.normalize_with_behavior(5, 2, 1, 10, &up, &down, t(200));
        assert_eq!(n.replicas, 5);
        // Once the seed has aged out, the recommendations of the window are all 2.
        let n = m.normalize_with_behavior(5, 2, 1, 10, &up, &down, t(301));
        assert_eq!((n.replicas, n.able_reason, n.limited), (2, "ReadyForNewScale", false));
    }

    #[test]
    fn scale_up_is_immediate_and_rate_limited() {
        let up = scale_up_rules(None);
        let down = scale_down_rules(None, 300);
        let mut m = Memory::default();
        m.seed(2, t(0));
        let n = m.normalize_with_behavior(2, 20, 1, 50, &up, &down, t(1));
        assert_eq!((n.replicas, n.limited, n.limited_reason), (6, true, "ScaleUpLimit"));
        m.store_scale_event(2, 6, &up, &down, t(1));
        // Within the same 15 s period: the period started at 2 → max(2+4, 4) = 6.
        let n = m.normalize_with_behavior(6, 20, 1, 50, &up, &down, t(5));
        assert_eq!(n.replicas, 6);
        let n = m.normalize_with_behavior(6, 20, 1, 50, &up, &down, t(17));
        assert_eq!(n.replicas, 12);
        // maxReplicas caps with TooManyReplicas.
        let n = m.normalize_with_behavior(12, 20, 1, 14, &up, &down, t(40));
        assert_eq!((n.replicas, n.limited_reason), (14, "TooManyReplicas"));
    }

    #[test]
    fn scale_up_window_applies_the_lowest_recent_recommendation() {
        let up = rules(60, "Max", &[("Percent", 100, 15)]);
        let down = scale_down_rules(None, 0);
        let mut m = Memory::default();
        m.seed(3, t(0));
        let n = m.normalize_with_behavior(3, 6, 1, 10, &up, &down, t(10));
        assert_eq!((n.replicas, n.able_reason), (3, "ScaleUpStabilized"));
        let n = m.normalize_with_behavior(3, 6, 1, 10, &up, &down, t(61));
        assert_eq!(n.replicas, 6);
    }

    #[test]
    fn without_behavior_scale_up_is_limited_to_double_or_four() {
        let mut m = Memory::default();
        m.seed(1, t(0));
        let n = m.normalize_plain(1, 10, 1, 20, 300, t(1));
        assert_eq!((n.replicas, n.limited_reason), (4, "ScaleUpLimit"));
        let n = m.normalize_plain(8, 30, 1, 20, 300, t(2));
        assert_eq!((n.replicas, n.limited_reason), (16, "ScaleUpLimit"));
        let n = m.normalize_plain(16, 30, 1, 20, 300, t(3));
        assert_eq!((n.replicas, n.limited_reason), (20, "TooManyReplicas"));
        // Below minReplicas.
        let mut m = Memory::default();
        let n = m.normalize_plain(3, 0, 2, 20, 0, t(0));
        assert_eq!((n.replicas, n.limited_reason), (2, "TooFewReplicas"));
    }
}
