//! Reads "not older than" a revision, for lists and watches: wait briefly until the store
//! has reached it, then answer upstream's 504 "Too large resource version".

use actors::registry::RegistryError;
use serde_json::json;

use crate::error::{from_registry, ApiError};
use crate::AppState;

/// How long a read "not older than" a future revision waits for the store (upstream's
/// watch cache waits 3 s before answering "Too large resource version").
const FRESHNESS_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// 504 "Too large resource version", as upstream answers a read newer than the store.
fn too_large_rv(want: i64, current: i64) -> ApiError {
    ApiError {
        details: Some(json!({
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        })),
        ..ApiError::new(504, "Timeout", format!("Too large resource version: {want}, current: {current}"))
    }
}

/// Waits (briefly) until the store has reached revision `want`.
pub async fn wait_until_fresh(state: &AppState, want: i64) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + FRESHNESS_WAIT;
    loop {
        let current = state
            .registry
            .store()
            .current_revision()
            .await
            .map_err(|e| from_registry(RegistryError::from(e), "", ""))?;
        if current >= want {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(too_large_rv(want, current));
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}
