//! A request's parameters, path and query, parsed and checked before a verb runs; each
//! refusal is the 400 or 422 (and message) that shoal has always answered.

use actix_web::HttpRequest;
use actors::registry::{DeleteOptions as RegistryDeleteOptions, Preconditions, Propagation};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;

/// Where a request points: namespace (for namespaced kinds) and name, from the path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub ns: Option<String>,
    pub name: Option<String>,
}

impl Target {
    pub fn of(req: &HttpRequest) -> Self {
        Target {
            ns: req.match_info().get("ns").map(str::to_string),
            name: req.match_info().get("name").map(str::to_string),
        }
    }

    /// The name on the path ("" on a collection path).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// Query parameters of list and watch requests.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub watch: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub allow_watch_bookmarks: Option<bool>,
    pub send_initial_events: Option<bool>,
    pub timeout_seconds: Option<u64>,
    pub limit: Option<i64>,
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
}

impl ListParams {
    /// `watch=true` (or `1`): the list is a watch.
    pub fn is_watch(&self) -> bool {
        matches!(self.watch.as_deref(), Some("true") | Some("1"))
    }

    /// `resourceVersion` as given ("" when absent).
    pub fn rv(&self) -> &str {
        self.resource_version.as_deref().unwrap_or("")
    }

    /// `resourceVersionMatch` as given ("" when absent).
    pub fn rv_match(&self) -> &str {
        self.resource_version_match.as_deref().unwrap_or("")
    }

    /// The `continue` token ("" when absent).
    pub fn continue_token(&self) -> &str {
        self.continue_token.as_deref().unwrap_or("")
    }

    /// A positive `limit` (zero and negative mean "no limit").
    pub fn page_limit(&self) -> Option<usize> {
        self.limit.filter(|l| *l > 0).map(|l| l as usize)
    }

    /// Upstream's `ValidateListOptions` (apimachinery internalversion validation): a
    /// 422 Invalid on `ListOptions.meta.k8s.io` with one cause per broken rule.
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut errs: Vec<(&str, &str, String)> = Vec::new(); // (field, cause reason, message)
        let forbidden = |f: &'static str, m: &str| (f, "FieldValueForbidden", format!("Forbidden: {m}"));
        let (rv, m, cont) = (self.rv(), self.rv_match(), self.continue_token());
        if self.is_watch() {
            if let Some(send) = self.send_initial_events {
                if m != "NotOlderThan" {
                    errs.push(forbidden("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"));
                }
                if send && self.allow_watch_bookmarks != Some(true) {
                    errs.push(forbidden("allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true"));
                }
            }
            if !m.is_empty() {
                if self.send_initial_events.is_none() {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"));
                }
                if m != "NotOlderThan" {
                    errs.push(("resourceVersionMatch", "FieldValueNotSupported", format!("Unsupported value: {m:?}: supported values: \"NotOlderThan\"")));
                }
                if !cont.is_empty() {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"));
                }
            }
        } else {
            if !m.is_empty() {
                if rv.is_empty() {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"));
                }
                if !cont.is_empty() {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"));
                }
                if m != "Exact" && m != "NotOlderThan" {
                    errs.push((
                        "resourceVersionMatch",
                        "FieldValueNotSupported",
                        format!("Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""),
                    ));
                }
                if m == "Exact" && rv == "0" {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""));
                }
            }
            if self.send_initial_events.is_some() {
                errs.push(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"));
            }
        }
        if errs.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = errs.iter().map(|(f, _, m)| format!("{f}: {m}")).collect();
        let joined = if list.len() == 1 { list[0].clone() } else { format!("[{}]", list.join(", ")) };
        let causes: Vec<Value> = errs.iter().map(|(f, r, m)| json!({"reason": r, "message": m, "field": f})).collect();
        Err(ApiError {
            details: Some(json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes})),
            ..ApiError::new(422, "Invalid", format!("ListOptions.meta.k8s.io \"\" is invalid: {joined}"))
        })
    }
}

/// Parses a `resourceVersion` parameter ("" → None).
pub fn parse_rv(rv: &str) -> Result<Option<i64>, ApiError> {
    if rv.is_empty() {
        return Ok(None);
    }
    match rv.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(Some(n)),
        _ => Err(ApiError::bad_request(format!("invalid resource version: {rv:?}: must be a non-negative integer"))),
    }
}

/// Query parameters of writes (POST, PUT, PATCH, DELETE), kept as given: each is checked
/// when the verb that uses it asks for it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteParams {
    pub field_manager: Option<String>,
    pub force: Option<String>,
    #[serde(default)]
    pub dry_run: Vec<String>,
}

impl WriteParams {
    /// Reads the request's query string.
    pub fn of(req: &HttpRequest) -> Result<Self, ApiError> {
        Self::parse(req.query_string())
    }

    /// Reads a query string (`dryRun` may repeat); one that is not urlencoded is a 400.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut p = WriteParams::default();
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
        for (k, v) in pairs {
            match k.as_str() {
                "fieldManager" => p.field_manager = Some(v),
                "force" => p.force = Some(v),
                "dryRun" => p.dry_run.push(v),
                _ => {}
            }
        }
        Ok(p)
    }

    /// `dryRun=All`: validate and answer, write nothing. Other values are a 400.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        for v in &self.dry_run {
            if v != "All" {
                return Err(ApiError::bad_request(format!("Invalid dry run value: {v:?}: supported values: \"All\"")));
            }
        }
        Ok(!self.dry_run.is_empty())
    }

    /// `force` of an apply: true, false (or absent), else a 400.
    pub fn force(&self) -> Result<bool, ApiError> {
        match self.force.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!("invalid force value {other:?}: must be true or false"))),
        }
    }

    /// The field manager: the `fieldManager` parameter, else the User-Agent's product
    /// name (`kubectl/v1.32 (...)` → `kubectl`), else `unknown`.
    pub fn manager(&self, req: &HttpRequest) -> Result<String, ApiError> {
        let ua = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        self.manager_or_agent(ua)
    }

    /// [`WriteParams::manager`] with the User-Agent given.
    pub fn manager_or_agent(&self, user_agent: &str) -> Result<String, ApiError> {
        if let Some(m) = &self.field_manager {
            if m.len() > 128 {
                return Err(ApiError::new(422, "Invalid", "fieldManager: Too long: may not be longer than 128"));
            }
            return Ok(m.clone());
        }
        let name = user_agent.split('/').next().unwrap_or("").trim();
        Ok(if name.is_empty() { "unknown".into() } else { name.chars().take(128).collect() })
    }

    /// The field manager an apply requires (present and not empty, else a 400).
    pub fn apply_manager(&self) -> Result<String, ApiError> {
        self.field_manager.clone().filter(|m| !m.is_empty()).ok_or_else(|| {
            ApiError::bad_request("PATCH request with apply content type requires a fieldManager: fieldManager is required for apply requests")
        })
    }
}

/// The `fieldValidation` query parameter of POST, PUT and PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Unknown and duplicate fields fail the request with 400 BadRequest.
    Strict,
    /// They are dropped with a `Warning` header each (the default, as in Kubernetes).
    Warn,
    /// They are dropped silently.
    Ignore,
}

/// Query parameters that carry the field validation directive.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldValidationParams {
    field_validation: Option<String>,
}

impl FieldValidation {
    /// Parses the directive; absent or empty means Warn, anything else unknown is a 400.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.map(str::trim).unwrap_or("") {
            "" => Ok(FieldValidation::Warn),
            v if v.eq_ignore_ascii_case("strict") => Ok(FieldValidation::Strict),
            v if v.eq_ignore_ascii_case("warn") => Ok(FieldValidation::Warn),
            v if v.eq_ignore_ascii_case("ignore") => Ok(FieldValidation::Ignore),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }

    /// The directive of a request, from its query string.
    pub fn of(req: &HttpRequest) -> Result<Self, ApiError> {
        Self::from_query(req.query_string())
    }

    /// The directive in a query string (one that does not parse counts as absent).
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let params: FieldValidationParams = serde_urlencoded::from_str(query).unwrap_or_default();
        Self::parse(params.field_validation.as_deref())
    }

    /// Applies the directive to what decoding found: Strict → 400 listing every problem
    /// (as Kubernetes: `Deployment in version "v1" cannot be handled as a Deployment:
    /// strict decoding error: unknown field "spec.foo", duplicate field "spec.replicas"`),
    /// Warn → one `Warning` header value per problem, Ignore → nothing.
    pub fn check(self, kind: &str, version: &str, duplicates: &[String], unknown: &[String]) -> Result<Vec<String>, ApiError> {
        let problems: Vec<String> = duplicates
            .iter()
            .map(|p| format!("duplicate field \"{p}\""))
            .chain(unknown.iter().map(|p| format!("unknown field \"{p}\"")))
            .collect();
        match self {
            FieldValidation::Ignore => Ok(Vec::new()),
            FieldValidation::Warn => Ok(problems.iter().map(|p| warning(p)).collect()),
            FieldValidation::Strict if problems.is_empty() => Ok(Vec::new()),
            FieldValidation::Strict => Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                problems.join(", ")
            ))),
        }
    }
}

/// A `Warning` header value (RFC 7234 warn-code 299, like Kubernetes).
fn warning(text: &str) -> String {
    format!("299 - \"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Query parameters of DELETE.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteParams {
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
}

/// The body of DELETE (`DeleteOptions`), all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    #[serde(default)]
    pub preconditions: Option<PreconditionsBody>,
    #[serde(default)]
    pub propagation_policy: Option<String>,
    #[serde(default)]
    pub grace_period_seconds: Option<i64>,
    #[serde(default)]
    pub dry_run: Vec<String>,
}

/// `DeleteOptions.preconditions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreconditionsBody {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl From<PreconditionsBody> for Preconditions {
    fn from(p: PreconditionsBody) -> Self {
        Preconditions { uid: p.uid, resource_version: p.resource_version }
    }
}

/// What a DELETE asks for, from its `DeleteOptions` body and its query.
#[derive(Debug, Clone, Default)]
pub struct DeleteRequest {
    pub propagation: Propagation,
    pub preconditions: Preconditions,
    /// `gracePeriodSeconds` (the body's, else the query's): None for the kind's default.
    pub grace_period_seconds: Option<i64>,
    /// The body's `dryRun` values (checked with the query's by [`WriteParams::dry_run`]).
    pub dry_run: Vec<String>,
}

impl DeleteRequest {
    /// The body's propagationPolicy wins over the query's; unspecified means Background
    /// (as for apps/v1 kinds in Kubernetes, and what kubectl sends); another value is a 422.
    pub fn resolve(body: DeleteOptions, query: &DeleteParams) -> Result<Self, ApiError> {
        let policy = body.propagation_policy.or_else(|| query.propagation_policy.clone());
        let propagation = match policy.as_deref() {
            None => Propagation::Background,
            Some(p) => Propagation::parse(p).ok_or_else(|| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""),
                )
            })?,
        };
        let preconditions = body.preconditions.map(Preconditions::from).unwrap_or_default();
        let grace_period_seconds = body.grace_period_seconds.or(query.grace_period_seconds);
        Ok(DeleteRequest { propagation, preconditions, grace_period_seconds, dry_run: body.dry_run })
    }

    /// What the registry is asked to do, with `dry_run` settled from the query and body.
    pub fn options(&self, dry_run: bool) -> RegistryDeleteOptions {
        RegistryDeleteOptions {
            preconditions: self.preconditions.clone(),
            propagation: self.propagation,
            grace_period_seconds: self.grace_period_seconds,
            dry_run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(query: &str) -> ListParams {
        serde_urlencoded::from_str(query).expect("a list query")
    }

    #[test]
    fn target_reads_namespace_and_name_from_the_path() {
        let req = actix_web::test::TestRequest::default().param("ns", "team").param("name", "web").to_http_request();
        assert_eq!(Target::of(&req), Target { ns: Some("team".into()), name: Some("web".into()) });
        let req = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(Target::of(&req).name(), "");
    }

    #[test]
    fn watch_limit_and_resource_version_parameters() {
        assert!(list("watch=true").is_watch() && list("watch=1").is_watch());
        assert!(!list("watch=false").is_watch() && !list("").is_watch());
        assert_eq!(list("limit=5").page_limit(), Some(5));
        assert_eq!(list("limit=0").page_limit(), None);
        assert_eq!(list("limit=-3").page_limit(), None);
        assert_eq!(list("continue=abc").continue_token(), "abc");
        assert_eq!(parse_rv("").unwrap(), None);
        assert_eq!(parse_rv("0").unwrap(), Some(0));
        assert_eq!(parse_rv("42").unwrap(), Some(42));
        for bad in ["-1", "abc", "1.5"] {
            let e = parse_rv(bad).unwrap_err();
            assert_eq!((e.code, e.reason), (400, "BadRequest"));
            assert_eq!(e.message, format!("invalid resource version: {bad:?}: must be a non-negative integer"));
        }
    }

    #[test]
    fn list_options_are_validated_as_upstream_with_one_cause_per_rule() {
        for ok in ["", "resourceVersion=5&resourceVersionMatch=Exact", "resourceVersion=0&resourceVersionMatch=NotOlderThan",
            "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
            "watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan"]
        {
            assert!(list(ok).validate().is_ok(), "{ok}");
        }
        let e = list("resourceVersionMatch=Exact").validate().unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert_eq!(
            e.message,
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        );
        let e = list("resourceVersion=0&resourceVersionMatch=Exact").validate().unwrap_err();
        assert!(e.message.ends_with("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""), "{}", e.message);
        let e = list("resourceVersion=1&resourceVersionMatch=Newest").validate().unwrap_err();
        assert!(e.message.contains(r#"Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", """#), "{}", e.message);
        assert_eq!(list("sendInitialEvents=true").validate().unwrap_err().message,
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list");
        let e = list("watch=true&sendInitialEvents=true").validate().unwrap_err();
        assert_eq!(
            e.message,
            "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, \
             allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true]"
        );
        let causes = &e.details.as_ref().unwrap()["causes"];
        assert_eq!(causes.as_array().unwrap().len(), 2);
        assert_eq!(causes[1], json!({"reason": "FieldValueForbidden", "field": "allowWatchBookmarks",
            "message": "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"}));
        let e = list("watch=true&resourceVersionMatch=NotOlderThan").validate().unwrap_err();
        assert!(e.message.contains("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"), "{}", e.message);
        let e = list("resourceVersion=3&resourceVersionMatch=Exact&continue=t").validate().unwrap_err();
        assert!(e.message.contains("resourceVersionMatch is forbidden when continue is provided"), "{}", e.message);
    }

    #[test]
    fn dry_run_accepts_only_all_and_may_repeat() {
        assert!(!WriteParams::parse("").unwrap().dry_run().unwrap());
        assert!(WriteParams::parse("dryRun=All").unwrap().dry_run().unwrap());
        assert!(WriteParams::parse("dryRun=All&dryRun=All").unwrap().dry_run().unwrap());
        for q in ["dryRun=Some", "dryRun=All&dryRun=all", "dryRun="] {
            let e = WriteParams::parse(q).unwrap().dry_run().unwrap_err();
            assert_eq!((e.code, e.reason), (400, "BadRequest"), "{q}");
        }
        assert_eq!(WriteParams::parse("dryRun=Some").unwrap().dry_run().unwrap_err().message,
            r#"Invalid dry run value: "Some": supported values: "All""#);
    }

    #[test]
    fn force_is_a_boolean() {
        for (q, want) in [("", false), ("force=false", false), ("force=0", false), ("force=true", true), ("force=1", true), ("force=", true)] {
            assert_eq!(WriteParams::parse(q).unwrap().force().unwrap(), want, "{q}");
        }
        assert_eq!(WriteParams::parse("force=yes").unwrap().force().unwrap_err().message,
            r#"invalid force value "yes": must be true or false"#);
    }

    #[test]
    fn field_manager_comes_from_the_parameter_else_the_user_agent() {
        let p = WriteParams::parse("fieldManager=ci").unwrap();
        assert_eq!(p.manager_or_agent("kubectl/v1.32").unwrap(), "ci");
        let p = WriteParams::parse("").unwrap();
        assert_eq!(p.manager_or_agent("kubectl/v1.32.0 (linux/amd64) kubernetes/abc").unwrap(), "kubectl");
        assert_eq!(p.manager_or_agent("").unwrap(), "unknown");
        let long = "m".repeat(129);
        let e = WriteParams::parse(&format!("fieldManager={long}")).unwrap().manager_or_agent("").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (422, "fieldManager: Too long: may not be longer than 128"));
        assert_eq!(WriteParams::parse(&format!("fieldManager={}", "m".repeat(128))).unwrap().manager_or_agent("").unwrap().len(), 128);
        let req = actix_web::test::TestRequest::default().insert_header(("User-Agent", "python-requests/2")).to_http_request();
        assert_eq!(WriteParams::default().manager(&req).unwrap(), "python-requests");
    }

    #[test]
    fn apply_requires_a_field_manager() {
        assert_eq!(WriteParams::parse("fieldManager=me").unwrap().apply_manager().unwrap(), "me");
        for q in ["", "fieldManager="] {
            let e = WriteParams::parse(q).unwrap().apply_manager().unwrap_err();
            assert_eq!(e.code, 400);
            assert_eq!(e.message, "PATCH request with apply content type requires a fieldManager: fieldManager is required for apply requests");
        }
    }

    #[test]
    fn field_validation_values() {
        assert_eq!(FieldValidation::from_query("").unwrap(), FieldValidation::Warn);
        assert_eq!(FieldValidation::from_query("fieldValidation=").unwrap(), FieldValidation::Warn);
        assert_eq!(FieldValidation::from_query("fieldValidation=Strict").unwrap(), FieldValidation::Strict);
        assert_eq!(FieldValidation::from_query("fieldValidation=strict").unwrap(), FieldValidation::Strict);
        assert_eq!(FieldValidation::from_query("fieldValidation=Warn").unwrap(), FieldValidation::Warn);
        assert_eq!(FieldValidation::from_query("fieldValidation=Ignore&dryRun=All").unwrap(), FieldValidation::Ignore);
        let e = FieldValidation::from_query("fieldValidation=Loud").unwrap_err();
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
        assert_eq!(e.message, r#"fieldValidation: Unsupported value: "Loud": supported values: "Ignore", "Warn", "Strict""#);
    }

    #[test]
    fn field_validation_turns_problems_into_warnings_or_a_400() {
        let dups = vec!["spec.replicas".to_string()];
        let unknown = vec!["spec.foo".to_string(), "spec.bar".to_string()];
        let e = FieldValidation::Strict.check("Deployment", "v1", &dups, &unknown).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: duplicate field "spec.replicas", unknown field "spec.foo", unknown field "spec.bar""#
        );
        assert!(FieldValidation::Strict.check("Pod", "v1", &[], &[]).unwrap().is_empty());
        let w = FieldValidation::Warn.check("Pod", "v1", &dups, &unknown).unwrap();
        assert_eq!(w, vec![r#"299 - "duplicate field \"spec.replicas\"""#.to_string(),
            r#"299 - "unknown field \"spec.foo\"""#.into(), r#"299 - "unknown field \"spec.bar\"""#.into()]);
        assert!(FieldValidation::Ignore.check("Pod", "v1", &dups, &unknown).unwrap().is_empty());
    }

    #[test]
    fn delete_request_prefers_the_body_and_defaults_to_background() {
        let q = |p: Option<&str>| DeleteParams { propagation_policy: p.map(str::to_string), grace_period_seconds: None };
        let r = DeleteRequest::resolve(DeleteOptions::default(), &q(None)).unwrap();
        assert_eq!(r.propagation, Propagation::Background);
        assert!(r.preconditions.uid.is_none() && r.preconditions.resource_version.is_none());
        let r = DeleteRequest::resolve(DeleteOptions::default(), &q(Some("Orphan"))).unwrap();
        assert_eq!(r.propagation, Propagation::Orphan);
        let body = DeleteOptions {
            propagation_policy: Some("Foreground".into()),
            preconditions: Some(PreconditionsBody { uid: Some("u1".into()), resource_version: Some("7".into()) }),
            dry_run: vec!["All".into()],
            ..Default::default()
        };
        let r = DeleteRequest::resolve(body, &q(Some("Orphan"))).unwrap();
        assert_eq!(r.propagation, Propagation::Foreground);
        assert_eq!((r.preconditions.uid.as_deref(), r.preconditions.resource_version.as_deref()), (Some("u1"), Some("7")));
        assert_eq!(r.dry_run, vec!["All".to_string()]);
        let e = DeleteRequest::resolve(DeleteOptions::default(), &q(Some("Sideways"))).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert_eq!(e.message, r#"propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan""#);
    }

    #[test]
    fn delete_request_takes_the_grace_period_from_the_body_then_the_query() {
        let q = |g: Option<i64>| DeleteParams { propagation_policy: None, grace_period_seconds: g };
        let r = DeleteRequest::resolve(DeleteOptions::default(), &q(None)).unwrap();
        assert_eq!(r.grace_period_seconds, None, "the kind's default");
        let r = DeleteRequest::resolve(DeleteOptions::default(), &q(Some(0))).unwrap();
        assert_eq!(r.options(false).grace_period_seconds, Some(0));
        let body = DeleteOptions { grace_period_seconds: Some(5), ..Default::default() };
        let r = DeleteRequest::resolve(body, &q(Some(0))).unwrap();
        let opts = r.options(true);
        assert_eq!((opts.grace_period_seconds, opts.dry_run), (Some(5), true));
    }
}
