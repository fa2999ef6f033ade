//! The health endpoints load balancers and kubelets-to-be ask: `/healthz` and `/livez`
//! (the process serves), `/readyz` (the store answers).

use actix_web::{web, HttpResponse};

use crate::AppState;

fn ok() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.registry.store().current_revision().await {
        Ok(_) => ok(),
        Err(e) => HttpResponse::ServiceUnavailable().content_type("text/plain").body(format!("store: {e}")),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(|| async { ok() }))
        .route("/livez", web::get().to(|| async { ok() }))
        .route("/readyz", web::get().to(readyz));
}
