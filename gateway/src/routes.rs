//! The route table: Kubernetes REST paths for every kind, plus operational endpoints.

use actix_web::{web, HttpRequest, HttpResponse};
use api::model::Resource;

use crate::error::ApiError;
use crate::verbs as h;

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed(req.method().as_str()))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!("the server could not find the requested resource ({} {})", req.method(), req.path())))
}

/// Registers the collection, item and subresource paths of one kind.
fn kind_routes<T: Resource>(cfg: &mut web::ServiceConfig) {
    let info = T::INFO;
    let gv = info.group_version_path();
    let plural = info.plural;
    let base = if info.namespaced { format!("{gv}/namespaces/{{ns}}/{plural}") } else { format!("{gv}/{plural}") };
    cfg.service(
        web::resource(base.clone())
            .route(web::get().to(h::list::<T>))
            .route(web::post().to(h::create::<T>))
            .route(web::delete().to(h::delete_collection::<T>))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.service(
        web::resource(format!("{base}/{{name}}"))
            .route(web::get().to(h::get::<T>))
            .route(web::put().to(h::replace::<T>))
            .route(web::patch().to(h::patch::<T>))
            .route(web::delete().to(h::delete::<T>))
            .default_service(web::to(method_not_allowed)),
    );
    if info.has_status {
        cfg.service(
            web::resource(format!("{base}/{{name}}/status"))
                .route(web::get().to(h::get_status::<T>))
                .route(web::put().to(h::replace_status::<T>))
                .route(web::patch().to(h::patch_status::<T>))
                .default_service(web::to(method_not_allowed)),
        );
    }
    if info.has_scale {
        cfg.service(
            web::resource(format!("{base}/{{name}}/scale"))
                .route(web::get().to(h::get_scale::<T>))
                .route(web::put().to(h::replace_scale::<T>))
                .route(web::patch().to(h::patch_scale::<T>))
                .default_service(web::to(method_not_allowed)),
        );
    }
    if info.namespaced {
        // All-namespaces list and watch.
        cfg.service(
            web::resource(format!("{gv}/{plural}"))
                .route(web::get().to(h::list::<T>))
                .default_service(web::to(method_not_allowed)),
        );
    }
}

/// Registers every kind's routes, walking the one list of kinds in `api::kinds`.
struct KindRoutes<'a>(&'a mut web::ServiceConfig);

impl api::KindVisitor for KindRoutes<'_> {
    fn visit<T: Resource>(&mut self) {
        kind_routes::<T>(self.0);
    }
}

/// Every API and operational route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    crate::health::configure(cfg);
    cfg.route("/metrics", web::get().to(crate::metrics::endpoint));
    crate::debug::configure(cfg);
    crate::discovery::configure(cfg);
    crate::openapi::configure(cfg);
    crate::images::configure(cfg);
    crate::metrics_api::configure(cfg);
    api::for_each_kind(&mut KindRoutes(cfg));
    cfg.route("/api/v1/namespaces/{ns}/pods/{name}/eviction", web::post().to(crate::eviction::evict));
    let pods = "/api/v1/namespaces/{ns}/pods/{name}";
    cfg.route(&format!("{pods}/log"), web::get().to(crate::pod_proxy::log));
    for (sub, handler) in [("exec", 0), ("attach", 1), ("portforward", 2)] {
        let r = web::resource(format!("{pods}/{sub}"));
        let r = match handler {
            0 => r.route(web::get().to(crate::pod_proxy::exec)).route(web::post().to(crate::pod_proxy::exec)),
            1 => r.route(web::get().to(crate::pod_proxy::attach)).route(web::post().to(crate::pod_proxy::attach)),
            _ => r.route(web::get().to(crate::pod_proxy::portforward)).route(web::post().to(crate::pod_proxy::portforward)),
        };
        cfg.service(r.default_service(web::to(method_not_allowed)));
    }
    cfg.default_service(web::to(not_found));
}
