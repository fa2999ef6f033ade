//! CronJob schedules: upstream's grammar, and the next time a schedule fires.
//!
//! Kubernetes parses `spec.schedule` with robfig/cron's `ParseStandard`: five fields
//! (minute, hour, day of month, month, day of week) with `*`, `?`, lists, ranges, steps
//! and month/day names, or one of the macros `@yearly`, `@annually`, `@monthly`,
//! `@weekly`, `@daily`, `@midnight`, `@hourly`, `@every <duration>`. This module checks
//! that grammar itself, with robfig's limits and messages (`7` is no weekday, `L`/`W`/`#`
//! do not exist), and hands a normalised five-field expression to **croner** for the
//! calendar arithmetic.
//!
//! Why croner (`croner` 4.x, hexagon/croner-rust): it is maintained (the 4.0 line
//! reworked its time backends and 4.0.3 fixed DST-gap and weekday bugs), parses POSIX
//! five-field patterns (ranges, steps, names, `?`), applies Vixie cron's day rule (day of
//! month OR day of week, unless one of them is `*`) and computes next times on a zoned
//! chrono `DateTime<Tz>`, DST gaps and folds included. The `cron` crate (zslayton) wants
//! a seconds field and ANDs the two day fields; `saffron` has had no release since 2021.
//! Time zones are IANA names through `chrono-tz` (its bundled database, as Go's
//! `time/tzdata` fallback); without `timeZone` a schedule runs in the control plane's
//! local zone, as kube-controller-manager's does.
//!
//! Normalisation keeps croner's view of `*` equal to robfig's: a field that is `*`, `?`
//! or `*/1` anywhere in its list is written as `*` (robfig's "star bit"), and `N/S` is
//! written as `N-max/S`.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Local, TimeZone, Timelike, Utc};

/// A schedule that parses but can never be evaluated, or whose evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Parse(String),
    #[error("unknown time zone {0}")]
    UnknownTimeZone(String),
}

/// Where a schedule's fields are read: a named IANA zone, or the control plane's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// No `timeZone`: the local zone of the process running the controller.
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    /// The zone of a CronJob's `spec.timeZone` (None: [`Zone::Local`]). Names are
    /// case-sensitive IANA names (`Etc/UTC`, `Europe/Berlin`); `Local` is refused as
    /// upstream's validation refuses it.
    pub fn parse(tz: Option<&str>) -> Result<Zone, ScheduleError> {
        match tz {
            None => Ok(Zone::Local),
            Some(name) if name.eq_ignore_ascii_case("local") => Err(ScheduleError::UnknownTimeZone(name.into())),
            Some(name) => chrono_tz::Tz::from_str(name)
                .map(Zone::Named)
                .map_err(|_| ScheduleError::UnknownTimeZone(name.into())),
        }
    }

    /// `t` as RFC 3339 in this zone (seconds, `Z` for a zero offset), as Go's
    /// `t.In(loc).Format(time.RFC3339)` writes the scheduled-timestamp annotation.
    pub fn format_rfc3339(&self, t: DateTime<Utc>) -> String {
        use chrono::SecondsFormat::Secs;
        match self {
            Zone::Local => t.with_timezone(&Local).to_rfc3339_opts(Secs, true),
            Zone::Named(tz) => t.with_timezone(tz).to_rfc3339_opts(Secs, true),
        }
    }
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
    /// The five-field form handed to croner (or `@every …` as written).
    pub normalized: String,
}

#[derive(Debug, Clone)]
enum Kind {
    Cron(Box<croner::Cron>),
    /// `@every <duration>`: fixed delay, whole seconds, at least one.
    Every(Duration),
}

impl Schedule {
    /// Parses `spec.schedule` as upstream does (robfig's `ParseStandard` grammar).
    /// `TZ=`/`CRON_TZ=` prefixes are refused: the zone belongs in `spec.timeZone`.
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        let expr = expr.trim();
        if expr.is_empty() {
            return Err(ScheduleError::Parse("empty spec string".into()));
        }
        if expr.starts_with("TZ=") || expr.starts_with("CRON_TZ=") {
            return Err(ScheduleError::Parse(TZ_IN_SCHEDULE.into()));
        }
        if let Some(rest) = expr.strip_prefix("@every ") {
            let d = parse_go_duration(rest.trim())
                .ok_or_else(|| ScheduleError::Parse(format!("failed to parse duration @every {}", rest.trim())))?;
            let secs = d.as_secs().max(1);
            return Ok(Schedule { kind: Kind::Every(Duration::from_secs(secs)), normalized: expr.to_string() });
        }
        let five = match expr {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            e if e.starts_with('@') => return Err(ScheduleError::Parse(format!("unrecognized descriptor: {e}"))),
            e => e,
        };
        let fields: Vec<&str> = five.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(ScheduleError::Parse(format!("expected exactly 5 fields, found {}: {expr}", fields.len())));
        }
        let mut parts = Vec::with_capacity(5);
        for (s, f) in fields.iter().zip(FIELDS.iter()) {
            parts.push(normalize_field(s, f).map_err(ScheduleError::Parse)?);
        }
        let normalized = parts.join(" ");
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(&normalized)
            .map_err(|e| ScheduleError::Parse(e.to_string()))?;
        Ok(Schedule { kind: Kind::Cron(Box::new(cron)), normalized })
    }

    /// The first time the schedule fires strictly after `t` (robfig's `Next`: `t` is
    /// rounded down to its second first). None when it never fires again (`0 0 30 2 *`).
    pub fn next_after(&self, t: DateTime<Utc>, zone: Zone) -> Option<DateTime<Utc>> {
        let t = t.with_nanosecond(0)?;
        match &self.kind {
            Kind::Every(d) => Some(t + chrono::Duration::from_std(*d).ok()?),
            Kind::Cron(c) => match zone {
                Zone::Local => next_in(c, t, &Local),
                Zone::Named(tz) => next_in(c, t, &tz),
            },
        }
    }
}

fn next_in<Z: TimeZone>(c: &croner::Cron, t: DateTime<Utc>, zone: &Z) -> Option<DateTime<Utc>> {
    c.find_next_occurrence(&t.with_timezone(zone), false).ok().map(|n| n.with_timezone(&Utc))
}

/// Upstream's message for a zone given inside the schedule.
pub const TZ_IN_SCHEDULE: &str = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead";

struct Field {
    min: u32,
    max: u32,
    /// Names of the values from `min` on (months from 1, days from Sunday = 0).
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Field; 5] = [
    Field { min: 0, max: 59, names: &[] },
    Field { min: 0, max: 23, names: &[] },
    Field { min: 1, max: 31, names: &[] },
    Field { min: 1, max: 12, names: MONTHS },
    Field { min: 0, max: 6, names: DAYS },
];

fn value(s: &str, f: &Field) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(f.min + i as u32);
    }
    if let Some(n) = s.strip_prefix('-') {
        if n.parse::<u32>().is_ok() {
            return Err(format!("negative number ({s}) not allowed: {s}"));
        }
    }
    s.parse::<u32>().map_err(|e| format!("failed to parse int from {s}: {e}"))
}

/// One field in croner's strict syntax, with robfig's checks and messages.
fn normalize_field(s: &str, f: &Field) -> Result<String, String> {
    let mut out = Vec::new();
    let mut star = false;
    for part in s.split(',') {
        let pieces: Vec<&str> = part.split('/').collect();
        if pieces.len() > 2 {
            return Err(format!("too many slashes: {part}"));
        }
        let step = match pieces.get(1) {
            None => None,
            Some(st) => {
                let n: u32 = st.parse().map_err(|e| format!("failed to parse int from {st}: {e}"))?;
                if n == 0 {
                    return Err(format!("step of range should be a positive number: {part}"));
                }
                Some(n)
            }
        };
        let range = pieces[0];
        if range == "*" || range == "?" {
            match step {
                None | Some(1) => star = true,
                Some(n) => out.push(format!("*/{n}")),
            }
            continue;
        }
        let bounds: Vec<&str> = range.split('-').collect();
        let (lo, hi) = match bounds.as_slice() {
            [one] => {
                let v = value(one, f)?;
                (v, if step.is_some() { f.max } else { v })
            }
            [a, b] => (value(a, f)?, value(b, f)?),
            _ => return Err(format!("too many hyphens: {part}")),
        };
        if lo < f.min {
            return Err(format!("beginning of range ({lo}) below minimum ({}): {part}", f.min));
        }
        if hi > f.max {
            return Err(format!("end of range ({hi}) above maximum ({}): {part}", f.max));
        }
        if lo > hi {
            return Err(format!("beginning of range ({lo}) beyond end of range ({hi}): {part}"));
        }
        out.push(match step {
            Some(n) => format!("{lo}-{hi}/{n}"),
            None if lo == hi => lo.to_string(),
            None => format!("{lo}-{hi}"),
        });
    }
    Ok(if star { "*".into() } else { out.join(",") })
}

/// Go's `time.ParseDuration` for non-negative durations (`1h30m`, `90s`, `1.5h`).
fn parse_go_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn next(expr: &str, zone: Zone, from: &str) -> String {
        let s = Schedule::parse(expr).unwrap();
        s.next_after(utc(from), zone).unwrap().to_rfc3339()
    }

    const UTC: Zone = Zone::Named(chrono_tz::UTC);

    #[test]
    fn accepts_upstreams_grammar() {
        for s in [
            "* * * * *", "*/5 * * * *", "0 3 * * 1-5", "15,45 */2 1,15 * *", "0 0 1 JAN,jul SUN", "@hourly", "@daily",
            "@midnight", "@weekly", "@monthly", "@yearly", "@annually", "0 9-17/2 ? * mon-fri", "5/15 * * * *",
            "@every 1h30m", "0 0 30 2 *",
        ] {
            assert!(Schedule::parse(s).is_ok(), "{s}: {:?}", Schedule::parse(s));
        }
    }

    #[test]
    fn refuses_what_robfig_refuses() {
        for (s, msg) in [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4"),
            ("* * * * * *", "expected exactly 5 fields, found 6"),
            ("60 * * * *", "end of range (60) above maximum (59)"),
            ("* 24 * * *", "above maximum (23)"),
            ("* * 0 * *", "beginning of range (0) below minimum (1)"),
            ("* * * 13 *", "above maximum (12)"),
            ("* * * * 7", "end of range (7) above maximum (6)"),
            ("*/0 * * * *", "step of range should be a positive number"),
            ("5-1 * * * *", "beginning of range (5) beyond end of range (1)"),
            ("a * * * *", "failed to parse int from a"),
            ("1,,2 * * * *", "failed to parse int from "),
            ("1-2-3 * * * *", "too many hyphens"),
            ("*/2/3 * * * *", "too many slashes"),
            ("0 0 L * *", "failed to parse int from L"),
            ("0 0 * * 5#2", "failed to parse int from 5#2"),
            ("@often", "unrecognized descriptor: @often"),
            ("TZ=UTC * * * * *", TZ_IN_SCHEDULE),
        ] {
            let e = Schedule::parse(s).expect_err(s).to_string();
            assert!(e.contains(msg), "{s}: {e}");
        }
    }

    #[test]
    fn next_times_in_utc() {
        assert_eq!(next("*/1 * * * *", UTC, "2026-03-01T10:00:00Z"), "2026-03-01T10:01:00+00:00");
        assert_eq!(next("*/1 * * * *", UTC, "2026-03-01T10:00:59.900Z"), "2026-03-01T10:01:00+00:00");
        assert_eq!(next("5/15 * * * *", UTC, "2026-03-01T10:06:00Z"), "2026-03-01T10:20:00+00:00");
        assert_eq!(next("0 9-17/4 * * mon-fri", UTC, "2026-03-06T13:00:00Z"), "2026-03-06T17:00:00+00:00");
        assert_eq!(next("0 9-17/4 * * mon-fri", UTC, "2026-03-06T17:00:00Z"), "2026-03-09T09:00:00+00:00");
        assert_eq!(next("@every 90m", UTC, "2026-03-01T10:00:30.5Z"), "2026-03-01T11:30:30+00:00");
    }

    #[test]
    fn macros_expand_as_upstream() {
        let from = "2026-03-11T10:30:00Z"; // a Wednesday
        assert_eq!(next("@hourly", UTC, from), "2026-03-11T11:00:00+00:00");
        assert_eq!(next("@daily", UTC, from), "2026-03-12T00:00:00+00:00");
        assert_eq!(next("@midnight", UTC, from), "2026-03-12T00:00:00+00:00");
        assert_eq!(next("@weekly", UTC, from), "2026-03-15T00:00:00+00:00");
        assert_eq!(next("@monthly", UTC, from), "2026-04-01T00:00:00+00:00");
        assert_eq!(next("@yearly", UTC, from), "2027-01-01T00:00:00+00:00");
        assert_eq!(next("@annually", UTC, from), "2027-01-01T00:00:00+00:00");
    }

    #[test]
    fn day_fields_or_unless_one_is_a_star() {
        // The 13th or any Friday: Friday 2026-03-06 comes first.
        assert_eq!(next("0 0 13 * 5", UTC, "2026-03-01T00:00:00Z"), "2026-03-06T00:00:00+00:00");
        // `?` and `*/1` are stars (robfig's star bit): only the other field restricts.
        assert_eq!(next("0 0 13 * ?", UTC, "2026-03-01T00:00:00Z"), "2026-03-13T00:00:00+00:00");
        assert_eq!(next("0 0 */1 * 5", UTC, "2026-03-01T00:00:00Z"), "2026-03-06T00:00:00+00:00");
        assert_eq!(next("0 0 13 * */1", UTC, "2026-03-01T00:00:00Z"), "2026-03-13T00:00:00+00:00");
    }

    #[test]
    fn time_zones_move_the_wall_clock() {
        let ny = Zone::parse(Some("America/New_York")).unwrap();
        // 09:00 in New York is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT).
        assert_eq!(next("0 9 * * *", ny, "2026-01-10T12:00:00Z"), "2026-01-10T14:00:00+00:00");
        assert_eq!(next("0 9 * * *", ny, "2026-07-10T12:00:00Z"), "2026-07-10T13:00:00+00:00");
        // 2026-03-08 02:30 does not exist in New York: the run moves past the gap, once.
        let s = Schedule::parse("30 2 * * *").unwrap();
        let first = s.next_after(utc("2026-03-08T05:00:00Z"), ny).unwrap();
        assert_eq!(first.to_rfc3339(), "2026-03-08T07:00:00+00:00");
        assert_eq!(s.next_after(first, ny).unwrap().to_rfc3339(), "2026-03-09T06:30:00+00:00");
        let tokyo = Zone::parse(Some("Asia/Tokyo")).unwrap();
        assert_eq!(tokyo.format_rfc3339(utc("2026-03-01T00:00:00Z")), "2026-03-01T09:00:00+09:00");
        assert_eq!(UTC.format_rfc3339(utc("2026-03-01T00:00:00Z")), "2026-03-01T00:00:00Z");
    }

    #[test]
    fn zone_names() {
        assert!(Zone::parse(Some("Etc/UTC")).is_ok());
        assert_eq!(Zone::parse(None), Ok(Zone::Local));
        for bad in ["Local", "Mars/Olympus", "", "america/new_york"] {
            assert!(Zone::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn never_firing_schedules_have_no_next_time() {
        let s = Schedule::parse("0 0 30 2 *").unwrap();
        assert_eq!(s.next_after(utc("2026-01-01T00:00:00Z"), UTC), None);
    }
}
