//! Label selectors: the type, the one evaluation function, and the query-string parser.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Kubernetes' `metav1.LabelSelector`. An empty selector matches every object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry: `key operator values`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

pub const OP_IN: &str = "In";
pub const OP_NOT_IN: &str = "NotIn";
pub const OP_EXISTS: &str = "Exists";
pub const OP_DOES_NOT_EXIST: &str = "DoesNotExist";

impl LabelSelector {
    /// The selector of a plain `key: value` map (ReplicationController, Service).
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        LabelSelector { match_labels: map.clone(), match_expressions: Vec::new() }
    }

    /// True when the selector has neither labels nor expressions (it selects everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        matches(self, labels)
    }
}

/// Whether `labels` satisfy `selector`: every `matchLabels` pair and every expression.
/// An empty selector matches everything; an unknown operator matches nothing.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|r| requirement_matches(r, labels))
}

fn requirement_matches(r: &LabelSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&r.key);
    match r.operator.as_str() {
        OP_IN => value.is_some_and(|v| r.values.contains(v)),
        OP_NOT_IN => value.is_none_or(|v| !r.values.contains(v)),
        OP_EXISTS => value.is_some(),
        OP_DOES_NOT_EXIST => value.is_none(),
        _ => false,
    }
}

/// Parses the `?labelSelector=` syntax: comma-separated `a=b`, `a==b`, `a!=b`,
/// `a in (x,y)`, `a notin (x,y)`, `a`, `!a`; spaces are tolerated.
pub fn parse_selector_string(s: &str) -> Result<LabelSelector, String> {
    let mut sel = LabelSelector::default();
    for part in split_top_level(s)? {
        let part = part.trim();
        if part.is_empty() {
            if s.trim().is_empty() {
                continue;
            }
            return Err(format!("invalid label selector {s:?}: empty requirement"));
        }
        sel.match_expressions.push(parse_requirement(part)?);
    }
    // `a=b` requirements are kept as `In [b]` expressions: equivalent for matching.
    Ok(sel)
}

fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                if depth == 0 {
                    return Err(format!("invalid label selector {s:?}: unbalanced ')'"));
                }
                depth -= 1
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("invalid label selector {s:?}: unbalanced '('"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

fn is_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn check_key(key: &str, whole: &str) -> Result<String, String> {
    if key.is_empty() || !key.chars().all(is_key_char) {
        return Err(format!("invalid label selector {whole:?}: invalid key {key:?}"));
    }
    Ok(key.to_string())
}

fn check_value(v: &str, whole: &str) -> Result<String, String> {
    if !v.chars().all(is_value_char) {
        return Err(format!("invalid label selector {whole:?}: invalid value {v:?}"));
    }
    Ok(v.to_string())
}

fn req(key: String, op: &str, values: Vec<String>) -> LabelSelectorRequirement {
    LabelSelectorRequirement { key, operator: op.to_string(), values }
}

fn parse_requirement(p: &str) -> Result<LabelSelectorRequirement, String> {
    if let Some(rest) = p.strip_prefix('!') {
        return Ok(req(check_key(rest.trim(), p)?, OP_DOES_NOT_EXIST, vec![]));
    }
    if let Some(i) = p.find("!=") {
        let key = check_key(p[..i].trim(), p)?;
        return Ok(req(key, OP_NOT_IN, vec![check_value(p[i + 2..].trim(), p)?]));
    }
    if let Some(i) = p.find('=') {
        let key = check_key(p[..i].trim(), p)?;
        let rest = &p[i + 1..];
        let value = rest.strip_prefix('=').unwrap_or(rest);
        return Ok(req(key, OP_IN, vec![check_value(value.trim(), p)?]));
    }
    if let Some(open) = p.find('(') {
        let close = p.rfind(')').filter(|c| *c > open && p[*c + 1..].trim().is_empty());
        let Some(close) = close else {
            return Err(format!("invalid label selector {p:?}: expected ')' at the end"));
        };
        let head: Vec<&str> = p[..open].split_whitespace().collect();
        let [key, op] = head.as_slice() else {
            return Err(format!("invalid label selector {p:?}: expected `key in (…)` or `key notin (…)`"));
        };
        let op = match *op {
            "in" => OP_IN,
            "notin" => OP_NOT_IN,
            other => return Err(format!("invalid label selector {p:?}: unknown operator {other:?}")),
        };
        let mut values = Vec::new();
        for v in p[open + 1..close].split(',') {
            let v = v.trim();
            if !v.is_empty() || op == OP_IN || op == OP_NOT_IN {
                values.push(check_value(v, p)?);
            }
        }
        values.sort();
        values.dedup();
        return Ok(req(check_key(key, p)?, op, values));
    }
    let key = p.trim();
    if key.contains(char::is_whitespace) {
        return Err(format!("invalid label selector {p:?}: unexpected whitespace"));
    }
    Ok(req(check_key(key, p)?, OP_EXISTS, vec![]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![req(key.into(), op, values.iter().map(|v| v.to_string()).collect())],
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(matches(&LabelSelector::default(), &labels(&[])));
        assert!(matches(&LabelSelector::default(), &labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_require_every_pair() {
        let s = LabelSelector::from_map(&labels(&[("app", "web"), ("tier", "fe")]));
        assert!(matches(&s, &labels(&[("app", "web"), ("tier", "fe"), ("x", "y")])));
        assert!(!matches(&s, &labels(&[("app", "web")])));
        assert!(!matches(&s, &labels(&[("app", "db"), ("tier", "fe")])));
    }

    #[test]
    fn operator_in() {
        let s = expr("env", "In", &["prod", "qa"]);
        assert!(matches(&s, &labels(&[("env", "qa")])));
        assert!(!matches(&s, &labels(&[("env", "dev")])));
        assert!(!matches(&s, &labels(&[])));
    }

    #[test]
    fn operator_not_in() {
        let s = expr("env", "NotIn", &["prod"]);
        assert!(matches(&s, &labels(&[("env", "qa")])));
        assert!(matches(&s, &labels(&[])));
        assert!(!matches(&s, &labels(&[("env", "prod")])));
    }

    #[test]
    fn operator_exists_and_does_not_exist() {
        assert!(matches(&expr("gpu", "Exists", &[]), &labels(&[("gpu", "")])));
        assert!(!matches(&expr("gpu", "Exists", &[]), &labels(&[])));
        assert!(matches(&expr("gpu", "DoesNotExist", &[]), &labels(&[])));
        assert!(!matches(&expr("gpu", "DoesNotExist", &[]), &labels(&[("gpu", "1")])));
    }

    #[test]
    fn unknown_operator_matches_nothing() {
        assert!(!matches(&expr("a", "Gt", &["1"]), &labels(&[("a", "2")])));
    }

    #[test]
    fn parses_equality_forms() {
        assert_eq!(parse_selector_string("app=web").unwrap(), expr("app", "In", &["web"]));
        assert_eq!(parse_selector_string("app == web").unwrap(), expr("app", "In", &["web"]));
        assert_eq!(parse_selector_string("app!=web").unwrap(), expr("app", "NotIn", &["web"]));
        assert_eq!(parse_selector_string("app=").unwrap(), expr("app", "In", &[""]));
    }

    #[test]
    fn parses_set_forms() {
        assert_eq!(parse_selector_string("env in (prod, qa)").unwrap(), expr("env", "In", &["prod", "qa"]));
        assert_eq!(parse_selector_string("env notin (dev)").unwrap(), expr("env", "NotIn", &["dev"]));
        assert_eq!(parse_selector_string("gpu").unwrap(), expr("gpu", "Exists", &[]));
        assert_eq!(parse_selector_string("!gpu").unwrap(), expr("gpu", "DoesNotExist", &[]));
        assert_eq!(parse_selector_string("example.com/role").unwrap(), expr("example.com/role", "Exists", &[]));
    }

    #[test]
    fn parses_comma_separated_lists() {
        let s = parse_selector_string(" app = web , env in (a,b), !legacy ,tier").unwrap();
        assert_eq!(s.match_expressions.len(), 4);
        assert!(matches(&s, &labels(&[("app", "web"), ("env", "b"), ("tier", "x")])));
        assert!(!matches(&s, &labels(&[("app", "web"), ("env", "b"), ("tier", "x"), ("legacy", "1")])));
        assert!(parse_selector_string("").unwrap().is_empty());
        assert!(parse_selector_string("  ").unwrap().is_empty());
    }

    #[test]
    fn rejects_malformed_selectors() {
        for s in ["env in prod", "env in (a", "env xin (a)", "a b", "=x", "a,,b", "a=b c", "a)"] {
            assert!(parse_selector_string(s).is_err(), "{s} should be rejected");
        }
    }
}
