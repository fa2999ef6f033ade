//! Operational endpoints of the supervision tree: `GET /debug/actors` and the kill verbs.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use supervision::KillError;

use crate::error::ApiError;
use crate::AppState;

fn control(state: &AppState) -> Result<&supervision::ControlHandle, ApiError> {
    state
        .control
        .as_ref()
        .ok_or_else(|| ApiError::new(503, "ServiceUnavailable", "this server runs no control plane actors"))
}

pub async fn tree(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let c = control(&state)?;
    Ok(HttpResponse::Ok().content_type("application/json").body(c.tree.to_json().to_string()))
}

/// `POST /debug/actors/{kind}/kill` (the supervisor) and
/// `POST /debug/actors/{kind}/{namespace}/{name}/kill` (one actor; namespace `_` for none).
/// `{kind}` is any spelling kubectl accepts (`Deployment`, `deployments`, `deploy`) or a
/// singleton's name; unknown names are 404, kills while the tree restarts 503.
pub async fn kill(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let c = control(&state)?;
    let kind = req.match_info().get("kind").unwrap_or("");
    let key = match (req.match_info().get("ns"), req.match_info().get("name")) {
        (Some("_"), Some(name)) => Some(name.to_string()),
        (ns, Some(name)) => Some(api::model::object_key(ns, name)),
        _ => None,
    };
    match c.kill(kind, key).await {
        Ok(killed) => Ok(HttpResponse::Ok().content_type("application/json").body(json!({"killed": killed}).to_string())),
        Err(e @ KillError::TreeRestarting(_)) => Err(ApiError::new(503, "ServiceUnavailable", e.to_string())),
        Err(e) => Err(ApiError::not_found(e.to_string())),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/debug/actors", web::get().to(tree))
        .route("/debug/actors/{kind}/kill", web::post().to(kill))
        .route("/debug/actors/{kind}/{ns}/{name}/kill", web::post().to(kill));
}
