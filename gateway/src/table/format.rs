//! How upstream's printers spell values in cells: human durations and ages
//! (`duration.HumanDuration`, `translateTimestampSince`), label maps and label selectors
//! (`labels.FormatLabels`, `metav1.FormatLabelSelector`), access modes, "+ N more..."
//! lists, and small readers of an object's JSON.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

/// The string at a JSON pointer ("" when absent or not a string).
pub fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The integer at a JSON pointer, if there is one.
pub fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

/// The integer at a JSON pointer (0 when absent, as Go's zero value).
pub fn i(v: &Value, ptr: &str) -> i64 {
    int(v, ptr).unwrap_or(0)
}

/// The array at a JSON pointer (empty when absent).
pub fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The object at a JSON pointer, if there is one.
pub fn obj<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

/// `x`, or `fallback` when `x` is empty.
pub fn or(x: &str, fallback: &str) -> String {
    if x.is_empty() { fallback.to_string() } else { x.to_string() }
}

/// A Kubernetes timestamp (`Time` or `MicroTime`); None when absent or unreadable, which
/// upstream treats as the zero time.
pub fn timestamp(v: &Value, ptr: &str) -> Option<DateTime<Utc>> {
    let t = s(v, ptr);
    chrono::DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc))
}

/// `duration.HumanDuration`: about two or three significant figures (`45s`, `5m10s`,
/// `3h4m`, `2d4h`, `400d`, `2y3d`, `9y`); a little in the future reads as `0s`, more than a
/// second as `<invalid>`.
pub fn human_duration(d: TimeDelta) -> String {
    let secs = d.num_seconds();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// `translateTimestampSince`: the age of a timestamp, `<unknown>` for the zero time.
pub fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

/// The object's AGE cell.
pub fn age(v: &Value, now: DateTime<Utc>) -> String {
    since(timestamp(v, "/metadata/creationTimestamp"), now)
}

/// `labels.FormatLabels`: `k=v,…` sorted by key, `<none>` when empty.
pub fn labels(map: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<(&String, &str)> = map.into_iter().flatten().map(|(k, v)| (k, v.as_str().unwrap_or(""))).collect();
    pairs.sort();
    let text: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    or(&text.join(","), "<none>")
}

/// A `LabelSelector` as upstream's `labels.Selector.String()`: requirements sorted by key,
/// values sorted (`a=b,env in (dev,prod),!gone,tier`); "" for a missing or empty selector;
/// Err for a selector that cannot be a selector (an unknown operator).
pub fn selector_string(sel: Option<&Value>) -> Result<String, ()> {
    let Some(sel) = sel else { return Ok(String::new()) };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in sel.get("matchLabels").and_then(Value::as_object).into_iter().flatten() {
        reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
    }
    for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = s(e, "/key");
        let mut vals: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        vals.sort_unstable();
        let text = match s(e, "/operator") {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(","))
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when empty, `<error>`
/// when it is not a selector.
pub fn label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Ok(t) => or(&t, "<none>"),
        Err(()) => "<error>".into(),
    }
}

/// `helper.GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, each once.
pub fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
    let mut out = Vec::new();
    for (mode, short) in [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

/// `listWithMoreString`: the first few, then ` + N more...`; `<unset>` when empty.
pub fn list_with_more(items: &[String], max: usize) -> String {
    if items.len() > max {
        return format!("{} + {} more...", items[..max].join(","), items.len() - max);
    }
    or(&items.join(","), "<unset>")
}

/// `layoutContainerCells`: container names and images, comma-separated.
pub fn containers_and_images(pod_spec: Option<&Value>) -> (String, String) {
    let cs = pod_spec.and_then(|p| p.get("containers")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// An `IntOrString` as Go's `String()`: the number or the string.
pub fn int_or_string(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `printBoolPtr`: `True`, `False` or `<unset>`.
pub fn bool_ptr(v: Option<&Value>) -> String {
    match v.and_then(Value::as_bool) {
        Some(true) => "True".into(),
        Some(false) => "False".into(),
        None => "<unset>".into(),
    }
}

/// `net.JoinHostPort`: brackets around an IPv6 host.
pub fn host_port(host: &str, port: i64) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_like_human_duration() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (310, "5m10s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 4 * 60 + 5, "3h4m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (50 * 3600, "2d2h"),
            (8 * 86400, "8d"),
            (400 * 86400, "400d"),
            (730 * 86400, "2y"),
            (733 * 86400, "2y3d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(TimeDelta::seconds(secs)), want, "{secs}s");
        }
        assert_eq!(human_duration(TimeDelta::milliseconds(-1500)), "0s");
    }

    #[test]
    fn ages_of_missing_timestamps_are_unknown() {
        let now = Utc::now();
        assert_eq!(age(&json!({"metadata": {}}), now), "<unknown>");
        assert_eq!(age(&json!({"metadata": {"creationTimestamp": "garbage"}}), now), "<unknown>");
        let t = now - TimeDelta::seconds(30);
        assert_eq!(age(&json!({"metadata": {"creationTimestamp": t.to_rfc3339()}}), now), "30s");
    }

    #[test]
    fn labels_and_selectors_are_sorted_like_upstream() {
        let cases = [
            (json!({"matchLabels": {"tier": "web", "app": "x"}}), "app=x,tier=web"),
            (
                json!({"matchLabels": {"z": "1"}, "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "gone", "operator": "DoesNotExist"},
                    {"key": "b", "operator": "Exists"},
                    {"key": "c", "operator": "NotIn", "values": ["y", "x"]}]}),
                "b,c notin (x,y),env in (dev,prod),!gone,z=1",
            ),
            (json!({}), "<none>"),
            (json!({"matchExpressions": [{"key": "k", "operator": "Near"}]}), "<error>"),
        ];
        for (sel, want) in cases {
            assert_eq!(label_selector(Some(&sel)), want, "{sel}");
        }
        assert_eq!(label_selector(None), "<none>");
        assert_eq!(labels(json!({"b": "2", "a": "1"}).as_object()), "a=1,b=2");
        assert_eq!(labels(None), "<none>");
    }

    #[test]
    fn access_modes_lists_and_ports_format_like_upstream() {
        assert_eq!(access_modes(&[json!("ReadWriteMany"), json!("ReadWriteOnce"), json!("ReadWriteOnce")]), "RWO,RWX");
        assert_eq!(access_modes(&[json!("ReadWriteOncePod"), json!("ReadOnlyMany")]), "ROX,RWOP");
        let items: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(list_with_more(&items, 3), "a,b,c + 2 more...");
        assert_eq!(list_with_more(&items[..3], 3), "a,b,c");
        assert_eq!(list_with_more(&[], 3), "<unset>");
        assert_eq!(host_port("fd00::1", 80), "[fd00::1]:80");
        assert_eq!(host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(int_or_string(&json!("50%")), "50%");
        assert_eq!(int_or_string(&json!(2)), "2");
        assert_eq!(bool_ptr(None), "<unset>");
    }
}
