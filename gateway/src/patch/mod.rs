//! Writes as clients send them: the four patch formats (JSON merge, JSON patch, strategic
//! merge, server-side apply) and managed fields.
//!
//! - [`strategic`]: strategic merge patch and the table of list merge keys.
//! - [`fields`]: field sets and their `FieldsV1` form.
//! - [`apply`]: server-side apply (conflicts, force, removal) and the `Update` entries
//!   every other write records.

use serde_json::Value;

use crate::error::ApiError;

pub mod apply;
pub mod fields;
pub mod strategic;

/// The patch formats shoal understands, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_media(media: &str) -> Result<Self, ApiError> {
        match media {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            other => Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: \
                     application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, \
                     application/apply-patch+yaml (got {other:?})"
                ),
            )),
        }
    }
}

/// Applies a merge, JSON or strategic merge patch to an object's JSON form.
pub fn apply_patch(kind: PatchKind, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    match kind {
        PatchKind::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(target, patch);
            Ok(())
        }
        PatchKind::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a strategic merge patch must be a JSON object"));
            }
            *target = strategic::merge(target, patch).map_err(|e| ApiError::new(422, "Invalid", e))?;
            Ok(())
        }
        PatchKind::Json => {
            let ops: json_patch::Patch =
                serde_json::from_value(patch.clone()).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(target, &ops).map_err(|e| {
                let msg = match &e.kind {
                    json_patch::PatchErrorKind::TestFailed => {
                        format!("the server rejected our request due to an error in our request: testing value at {} failed", e.path)
                    }
                    _ => format!("the server rejected our request due to an error in our request: {e}"),
                };
                ApiError::new(422, "Invalid", msg)
            })
        }
        PatchKind::Apply => Err(ApiError::internal("apply is not a patch of the object's JSON")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_test_failure_is_422_with_the_path() {
        let mut doc = json!({"spec": {"replicas": 1}});
        let patch = json!([{"op": "test", "path": "/spec/replicas", "value": 2}, {"op": "replace", "path": "/spec/replicas", "value": 5}]);
        let e = apply_patch(PatchKind::Json, &mut doc, &patch).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("testing value at /spec/replicas failed"), "{}", e.message);
    }

    #[test]
    fn media_types() {
        assert_eq!(PatchKind::from_media("application/strategic-merge-patch+json").unwrap(), PatchKind::Strategic);
        assert_eq!(PatchKind::from_media("application/apply-patch+yaml").unwrap(), PatchKind::Apply);
        assert_eq!(PatchKind::from_media("text/plain").unwrap_err().code, 415);
    }
}
