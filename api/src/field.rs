//! A problem with one field of an object, named as Kubernetes names fields; what
//! validation reports and what a 422 `Status` lists as causes.

use std::fmt;

/// What is wrong with a field, with Kubernetes' cause reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    Duplicate,
    NotSupported,
    TooLong,
    TooMany,
    Forbidden,
}

impl FieldErrorKind {
    /// The `reason` of a StatusCause (`FieldValueInvalid`, …).
    pub fn cause_reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::Forbidden => "Forbidden",
        }
    }
}

/// One problem with one field, e.g. `spec.replicas: Invalid value: -1: must be >= 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path in Kubernetes' notation: `spec.template.spec.containers[0].ports[1].containerPort`.
    pub field: String,
    pub kind: FieldErrorKind,
    /// The offending value as text, if it helps (empty otherwise).
    pub value: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(kind: FieldErrorKind, field: impl Into<String>, value: impl fmt::Display, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind, value: value.to_string(), detail: detail.into() }
    }
    pub fn invalid(field: impl Into<String>, value: impl fmt::Display, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Invalid, field, value, detail)
    }
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, "", detail)
    }
    pub fn duplicate(field: impl Into<String>, value: impl fmt::Display) -> Self {
        Self::new(FieldErrorKind::Duplicate, field, value, "")
    }
    pub fn not_supported(field: impl Into<String>, value: impl fmt::Display, supported: &[&str]) -> Self {
        let list = supported.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        Self::new(FieldErrorKind::NotSupported, field, value, format!("supported values: {list}"))
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(FieldErrorKind::TooLong, field, "", format!("must have at most {max} bytes"))
    }
    /// A list with more than `max` items (`Too many: 101: must have at most 100 items`).
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self::new(FieldErrorKind::TooMany, field, actual, format!("must have at most {max} items"))
    }
}

impl fmt::Display for FieldError {
    /// Kubernetes' rendering: `field: Invalid value: "v": detail`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.kind.phrase())?;
        if !self.value.is_empty() {
            write!(f, ": {:?}", self.value)?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}
