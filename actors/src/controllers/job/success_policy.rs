//! The success policy of Indexed Jobs (upstream's `success_policy.go`): a rule is met
//! when enough of its indexes (or of all indexes) succeeded; the first met rule wins.

use api::model::SuccessPolicy;

use super::indexes::Indexes;

/// The message of the SuccessCriteriaMet condition, if a rule is met.
pub fn matched(policy: Option<&SuccessPolicy>, completions: i32, succeeded: &Indexes) -> Option<String> {
    let policy = policy?;
    for (i, rule) in policy.rules.iter().enumerate() {
        let met = match (&rule.succeeded_indexes, rule.succeeded_count) {
            (Some(ixs), count) => {
                let want = Indexes::parse(Some(ixs), completions);
                let have = want.iter().filter(|i| succeeded.contains(*i)).count();
                match count {
                    Some(c) => have >= c.max(0) as usize,
                    None => !want.is_empty() && have == want.len(),
                }
            }
            (None, Some(c)) => succeeded.len() >= c.max(0) as usize,
            (None, None) => false,
        };
        if met {
            return Some(format!("Matched rules at index {i}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_on_indexes_and_counts() {
        let p: SuccessPolicy = serde_json::from_value(json!({"rules": [
            {"succeededIndexes": "0-2"},
            {"succeededIndexes": "5-9", "succeededCount": 2},
            {"succeededCount": 4},
        ]}))
        .unwrap();
        let s = |v: &[i32]| v.iter().copied().collect::<Indexes>();
        assert_eq!(matched(Some(&p), 10, &s(&[0, 1])), None);
        assert_eq!(matched(Some(&p), 10, &s(&[0, 1, 2])).as_deref(), Some("Matched rules at index 0"));
        assert_eq!(matched(Some(&p), 10, &s(&[6, 9])).as_deref(), Some("Matched rules at index 1"));
        assert_eq!(matched(Some(&p), 10, &s(&[0, 3, 4, 6])).as_deref(), Some("Matched rules at index 2"));
        assert_eq!(matched(None, 10, &s(&[0, 1, 2])), None);
    }
}
