//! CronJob `spec.schedule` and `spec.timeZone` as upstream validates them
//! (`validateScheduleFormat`, `validateTimeZone`); the grammar itself is `crate::cron`.

use super::FieldError;
use crate::cron::{Schedule, Zone, TZ_IN_SCHEDULE};

/// A schedule that parses and names no zone of its own.
pub fn validate_schedule(schedule: &str, path: &str) -> Vec<FieldError> {
    if schedule.contains("TZ") {
        return vec![FieldError::invalid(path, schedule, TZ_IN_SCHEDULE)];
    }
    match Schedule::parse(schedule) {
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::invalid(path, schedule, e.to_string())],
    }
}

/// An explicit IANA zone name: non-empty, parts of `[A-Za-z.-_0-9+]{1,14}` not starting
/// with `-`, not `.`/`..`, not `Local`, and known to the time zone database.
pub fn validate_time_zone(tz: Option<&str>, path: &str) -> Vec<FieldError> {
    let Some(tz) = tz else { return Vec::new() };
    if tz.is_empty() {
        return vec![FieldError::invalid(path, tz, "timeZone must be nil or non-empty string")];
    }
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 14
            && p != "."
            && p != ".."
            && !p.starts_with('-')
            && p.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+'))
    };
    if !tz.split('/').all(part_ok) {
        return vec![FieldError::invalid(path, tz, format!("unknown time zone {tz}"))];
    }
    if tz.eq_ignore_ascii_case("local") {
        return vec![FieldError::invalid(
            path,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )];
    }
    match Zone::parse(Some(tz)) {
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::invalid(path, tz, e.to_string())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(validate_schedule("*/1 * * * *", "spec.schedule"), vec![]);
        let e = validate_schedule("61 * * * *", "spec.schedule");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "spec.schedule");
        let e = validate_schedule("CRON_TZ=UTC 0 * * * *", "spec.schedule");
        assert!(e[0].detail.contains("use timeZone field instead"), "{e:?}");
    }

    #[test]
    fn time_zones() {
        assert_eq!(validate_time_zone(None, "spec.timeZone"), vec![]);
        assert_eq!(validate_time_zone(Some("Europe/Berlin"), "spec.timeZone"), vec![]);
        assert_eq!(validate_time_zone(Some("Etc/GMT+5"), "spec.timeZone"), vec![]);
        for bad in ["", "Local", "../etc/passwd", "Europe/-Berlin", "Mars/Olympus", "America/Argentina_Buenos_Aires_x"] {
            let e = validate_time_zone(Some(bad), "spec.timeZone");
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert_eq!(e[0].field, "spec.timeZone");
        }
    }
}
