//! Timestamps as Kubernetes writes them: RFC 3339 `Time` (seconds) and `MicroTime`.

use chrono::{DateTime, Utc};

/// `2026-01-02T03:04:05Z`: a Kubernetes `Time`, second precision.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// "Now" as a Kubernetes `Time`.
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

/// `2026-01-02T03:04:05.000000Z`: a Kubernetes `MicroTime`.
pub fn micro(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// "Now" as a Kubernetes `MicroTime`.
pub fn now_micro_time() -> String {
    micro(Utc::now())
}

/// Parses a `Time` or `MicroTime` (any RFC 3339 offset) into UTC.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_micro_time_round_trip() {
        let t = parse("2026-01-02T03:04:05Z").expect("parse");
        assert_eq!(rfc3339(t), "2026-01-02T03:04:05Z");
        assert_eq!(micro(t), "2026-01-02T03:04:05.000000Z");
        assert!(parse(&now_micro_time()).is_some());
        assert!(parse(&now_rfc3339()).is_some());
        assert!(parse("yesterday").is_none());
    }
}
