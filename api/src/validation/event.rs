//! Event validation (Kubernetes' `ValidateEventCreate`, the parts that matter here).

use super::meta::*;
use super::FieldError;
use crate::model::{Event, EventV1};

pub const EVENT_TYPES: &[&str] = &["Normal", "Warning"];

pub fn validate_event(e: &Event) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&e.metadata, true, NameFormat::Dns1123Subdomain);
    let ns = e.metadata.namespace.as_deref().unwrap_or("");
    if let Some(ino) = e.involved_object.namespace.as_deref().filter(|n| !n.is_empty()) {
        if !ns.is_empty() && ino != ns {
            errs.push(FieldError::invalid("involvedObject.namespace", ino, "does not match event.namespace"));
        }
    }
    if let Some(t) = e.type_.as_deref() {
        if !EVENT_TYPES.contains(&t) {
            errs.push(FieldError::not_supported("type", t, EVENT_TYPES));
        }
    }
    if e.reason.as_deref().is_some_and(|r| r.len() > 128) {
        errs.push(FieldError::too_long("reason", 128));
    }
    if e.count.is_some_and(|c| c < 0) {
        errs.push(FieldError::invalid("count", e.count.unwrap_or(0), "must be greater than or equal to 0"));
    }
    errs
}

pub fn validate_event_v1(e: &EventV1) -> Vec<FieldError> {
    let mut errs = validate_event(&Event::from(e.clone()));
    for fe in &mut errs {
        fe.field = match fe.field.as_str() {
            "involvedObject.namespace" => "regarding.namespace".into(),
            "count" => "deprecatedCount".into(),
            other => other.to_string(),
        };
    }
    if e.note.as_deref().is_some_and(|n| n.len() > 1024) {
        errs.push(FieldError::too_long("note", 1024));
    }
    errs
}
