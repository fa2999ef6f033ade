//! Cron schedules: the five-field syntax CronJob uses, parsed into sets of allowed values.

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronSchedule {
    pub minutes: u64,
    pub hours: u64,
    pub days_of_month: u64,
    pub months: u64,
    /// Bit 0 is Sunday.
    pub days_of_week: u64,
    /// Whether day-of-month or day-of-week was `*`/`?`: then only the other one restricts
    /// the day (cron's rule: when both are restricted, either may match).
    pub dom_star: bool,
    pub dow_star: bool,
}

impl CronSchedule {
    /// Whether a minute with these calendar fields is scheduled
    /// (`month` 1–12, `day_of_month` 1–31, `day_of_week` 0–6 with 0 = Sunday).
    pub fn matches(&self, minute: u32, hour: u32, day_of_month: u32, month: u32, day_of_week: u32) -> bool {
        let bit = |set: u64, v: u32| v < 64 && set & (1 << v) != 0;
        let dom = bit(self.days_of_month, day_of_month);
        let dow = bit(self.days_of_week, day_of_week);
        let day = if self.dom_star || self.dow_star { dom && dow } else { dom || dow };
        bit(self.minutes, minute) && bit(self.hours, hour) && bit(self.months, month) && day
    }
}

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Value of the first name (1 for months, 0 for days).
    names_base: u32,
}

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[], names_base: 0 },
    Field { name: "hour", min: 0, max: 23, names: &[], names_base: 0 },
    Field { name: "day of month", min: 1, max: 31, names: &[], names_base: 0 },
    Field { name: "month", min: 1, max: 12, names: MONTHS, names_base: 1 },
    Field { name: "day of week", min: 0, max: 6, names: DAYS, names_base: 0 },
];

fn range_bits(lo: u32, hi: u32, step: u32) -> u64 {
    (lo..=hi).step_by(step as usize).fold(0u64, |acc, v| acc | (1 << v))
}

fn parse_value(s: &str, f: &Field) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + f.names_base);
    }
    let v: u32 = s
        .parse()
        .map_err(|_| format!("failed to parse {} {s:?}: not a number or name", f.name))?;
    if v < f.min || v > f.max {
        return Err(format!("{} {v} is out of range [{}, {}]", f.name, f.min, f.max));
    }
    Ok(v)
}

/// Returns the bits of one field, and whether it was a bare `*` or `?`.
fn parse_field(s: &str, f: &Field) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => {
                let step: u32 = st.parse().map_err(|_| format!("invalid step {st:?} in {} field", f.name))?;
                if step == 0 {
                    return Err(format!("step of {} field must be positive", f.name));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            if step.is_none() {
                star = true;
            }
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (lo, hi) = (parse_value(a, f)?, parse_value(b, f)?);
            if lo > hi {
                return Err(format!("beginning of range ({lo}) beyond end of range ({hi}) in {} field", f.name));
            }
            (lo, hi)
        } else {
            let v = parse_value(range, f)?;
            (v, if step.is_some() { f.max } else { v })
        };
        bits |= range_bits(lo, hi, step.unwrap_or(1));
    }
    Ok((bits, star && !s.contains(',')))
}

/// Parses a standard cron expression (`*/5 * * * 1-5`, `0 3 * JAN,JUL sun`) or one of
/// `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
pub fn parse_cron(expr: &str) -> Result<CronSchedule, String> {
    let expr = expr.trim();
    if expr.starts_with("TZ=") || expr.starts_with("CRON_TZ=") {
        return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".to_string());
    }
    let expanded = match expr {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        e if e.starts_with('@') => return Err(format!("unrecognized descriptor: {e}")),
        e => e,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: {expr:?}", fields.len()));
    }
    let mut out = [(0u64, false); 5];
    for (i, (s, f)) in fields.iter().zip(FIELDS.iter()).enumerate() {
        out[i] = parse_field(s, f)?;
    }
    Ok(CronSchedule {
        minutes: out[0].0,
        hours: out[1].0,
        days_of_month: out[2].0,
        months: out[3].0,
        days_of_week: out[4].0,
        dom_star: out[2].1,
        dow_star: out[4].1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_schedules() {
        for s in [
            "* * * * *", "*/5 * * * *", "0 3 * * 1-5", "15,45 */2 1,15 * *", "0 0 1 JAN,jul SUN",
            "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "0 9-17/2 ? * mon-fri",
            "5/15 * * * *",
        ] {
            assert!(parse_cron(s).is_ok(), "{s}: {:?}", parse_cron(s));
        }
    }

    #[test]
    fn rejects_bad_schedules() {
        for s in [
            "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 7",
            "*/0 * * * *", "5-1 * * * *", "a * * * *", "@every 5m", "@often", "TZ=UTC * * * * *", "1,,2 * * * *",
        ] {
            assert!(parse_cron(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn expands_fields() {
        let c = parse_cron("*/15 0 * * *").unwrap();
        assert_eq!(c.minutes, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(c.hours, 1);
        let c = parse_cron("0 0 * * mon-wed").unwrap();
        assert_eq!(c.days_of_week, 0b1110);
        assert!(c.matches(0, 0, 17, 3, 1));
        assert!(!c.matches(0, 0, 17, 3, 0));
    }

    #[test]
    fn day_fields_or_when_both_restricted() {
        let c = parse_cron("0 0 1 * mon").unwrap();
        assert!(c.matches(0, 0, 1, 5, 3)); // the 1st, a Wednesday
        assert!(c.matches(0, 0, 9, 5, 1)); // a Monday
        assert!(!c.matches(0, 0, 9, 5, 2));
    }
}
