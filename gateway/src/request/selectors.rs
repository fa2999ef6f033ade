//! `labelSelector` and `fieldSelector` of lists, watches and deletecollection, parsed into
//! one predicate; fields are the kind's selectable fields (see `fields`), as upstream.

use api::model::selector::{matches, parse_selector_string, LabelSelector};
use api::model::Resource;

use crate::error::ApiError;
use crate::fields;
use crate::request::params::ListParams;

/// The objects a request's selectors select.
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Vec<fields::Requirement>,
    /// The selectors as given, identifying the filtered list (for snapshots).
    key: String,
}

impl Filter {
    pub fn for_kind<T: Resource>(p: &ListParams) -> Result<Self, ApiError> {
        Self::new(T::INFO.kind, p.label_selector.as_deref(), p.field_selector.as_deref())
    }

    /// Parses the selectors (absent or blank selects everything); a label selector that
    /// does not parse is a 400, a field selector as `fields::parse` says.
    pub fn new(kind: &'static str, label_selector: Option<&str>, field_selector: Option<&str>) -> Result<Self, ApiError> {
        let ls = label_selector.map(str::trim).unwrap_or("");
        let fs = field_selector.map(str::trim).unwrap_or("");
        let labels = if ls.is_empty() {
            None
        } else {
            Some(parse_selector_string(ls).map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?)
        };
        let fields = fields::parse(kind, fs)?;
        Ok(Filter { labels, fields, key: format!("l={ls}\u{0}f={fs}") })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_empty()
    }

    /// The selectors, as one string (equal strings select the same objects).
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn accepts<T: Resource>(&self, obj: &T) -> bool {
        if let Some(sel) = &self.labels {
            if !matches(sel, &obj.meta().labels) {
                return false;
            }
        }
        if self.fields.is_empty() {
            return true;
        }
        fields::matches_typed(obj, &self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::Pod;

    fn pod(labels: &[(&str, &str)], node: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = "p".into();
        p.metadata.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        p.spec.node_name = Some(node.into());
        p
    }

    #[test]
    fn label_and_field_selectors_select_together() {
        let all = Filter::new("Pod", None, Some("  ")).unwrap();
        assert!(all.is_empty() && all.accepts(&pod(&[], "")));
        let f = Filter::new("Pod", Some("app=web,tier!=db"), Some("spec.nodeName=n1")).unwrap();
        assert!(!f.is_empty());
        assert!(f.accepts(&pod(&[("app", "web")], "n1")));
        assert!(!f.accepts(&pod(&[("app", "web")], "n2")));
        assert!(!f.accepts(&pod(&[("app", "web"), ("tier", "db")], "n1")));
        assert!(!f.accepts(&pod(&[], "n1")));
        // Blanks around a selector do not make it another list.
        assert_eq!(Filter::new("Pod", Some(" app=web "), None).unwrap().key(), Filter::new("Pod", Some("app=web"), None).unwrap().key());
        assert_ne!(Filter::new("Pod", Some("metadata.name=p"), None).unwrap().key(), Filter::new("Pod", None, Some("metadata.name=p")).unwrap().key());
    }

    #[test]
    fn selectors_that_do_not_parse_are_a_400() {
        let e = Filter::new("Pod", Some("app in (web"), None).err().expect("a bad label selector");
        assert_eq!(e.code, 400);
        assert!(e.message.starts_with("unable to parse requirement: "), "{}", e.message);
        let e = Filter::new("Pod", None, Some("spec.colour=red")).err().expect("an unknown field");
        assert_eq!(e.code, 400);
    }
}
