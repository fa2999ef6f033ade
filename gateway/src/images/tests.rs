//! The image endpoints over a real embedded store: import, list, get, blob streaming, and
//! Status errors for bad archives, unknown names and oversized bodies.

use std::sync::Arc;

use actix_web::{test, web, App};
use api::image::{ImageImport, ImageList, ImageRecord};
use images::write::{write_archive, ImageSpec, Layer};

use super::{ImageLimits, CHUNK};
use crate::AppState;

fn archive(names: &[&str], layer_bytes: usize) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let data: Vec<u8> = (0..layer_bytes).map(|i| (i * 7 % 251) as u8).collect();
    let mut h = tar::Header::new_gnu();
    h.set_path("big").unwrap();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append(&h, data.as_slice()).unwrap();
    let spec = ImageSpec { names: names.iter().map(|s| s.to_string()).collect(), config: serde_json::json!({}), layers: vec![Layer::plain(tar.into_inner().unwrap())] };
    let mut out = Vec::new();
    write_archive(&[spec], &mut out).unwrap();
    out
}

fn state(dir: &std::path::Path) -> AppState {
    let store = actors::store::embedded::EmbeddedStore::open(dir).unwrap();
    AppState::new(Arc::new(store))
}

macro_rules! app {
    ($state:expr, $cap:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($state))
                .app_data(web::Data::new(ImageLimits { max_archive: $cap }))
                .configure(crate::routes::configure),
        )
        .await
    };
}

async fn status_of(resp: actix_web::dev::ServiceResponse) -> (u16, serde_json::Value) {
    let code = resp.status().as_u16();
    let body: serde_json::Value = test::read_body_json(resp).await;
    (code, body)
}

#[actix_web::test]
async fn an_imported_archive_is_listed_and_its_blobs_stream_back() {
    let dir = tempfile::tempdir().unwrap();
    let app = app!(state(dir.path()), 64 << 20);
    // A layer over two chunks: the store keeps it in pieces, the blob comes back whole.
    let bytes = archive(&["busybox", "hello:v1"], CHUNK + 4096);
    let req = test::TestRequest::post().uri("/apis/images.shoal.io/v1/imports").set_payload(bytes).to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status().as_u16(), 201);
    let imported: ImageImport = test::read_body_json(resp).await;
    let names: Vec<_> = imported.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["docker.io/library/busybox:latest", "docker.io/library/hello:v1"]);

    let req = test::TestRequest::get().uri("/apis/images.shoal.io/v1/images").to_request();
    let list: ImageList = test::call_and_read_body_json(&app, req).await;
    assert_eq!(list.items.len(), 2);
    assert_eq!(list.kind, "ImageList");

    for spelling in ["busybox", "busybox:latest", "docker.io/library/busybox:latest"] {
        let req = test::TestRequest::get().uri(&format!("/apis/images.shoal.io/v1/images/{spelling}")).to_request();
        let rec: ImageRecord = test::call_and_read_body_json(&app, req).await;
        assert_eq!(rec.name, "docker.io/library/busybox:latest", "{spelling}");
    }
    let rec = &imported.images[0];
    let req = test::TestRequest::get().uri(&format!("/apis/images.shoal.io/v1/images/busybox@{}", rec.manifest_digest)).to_request();
    let by_digest: ImageRecord = test::call_and_read_body_json(&app, req).await;
    assert_eq!(by_digest.manifest_digest, rec.manifest_digest);

    for digest in &rec.blobs {
        let req = test::TestRequest::get().uri(&format!("/apis/images.shoal.io/v1/blobs/{digest}")).to_request();
        let body = test::call_and_read_body(&app, req).await;
        assert_eq!(&images::sha256_digest(&body), digest);
    }
    assert!(rec.size_bytes > CHUNK as u64);

    // A second server on the same store sees the images.
    drop(app);
    let app = app!(state(dir.path()), 64 << 20);
    let req = test::TestRequest::get().uri("/apis/images.shoal.io/v1/images").to_request();
    let list: ImageList = test::call_and_read_body_json(&app, req).await;
    assert_eq!(list.items.len(), 2);
}

#[actix_web::test]
async fn bad_archives_unknown_names_and_big_bodies_are_status_errors() {
    let dir = tempfile::tempdir().unwrap();
    let app = app!(state(dir.path()), 8 << 20);
    let post = |body: Vec<u8>| test::TestRequest::post().uri("/apis/images.shoal.io/v1/imports").set_payload(body).to_request();

    let (code, s) = status_of(test::call_service(&app, post(b"not a tar archive".repeat(64))).await).await;
    assert_eq!((code, s["kind"].as_str(), s["reason"].as_str()), (400, Some("Status"), Some("BadRequest")), "{s}");

    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("README").unwrap();
    h.set_size(2);
    h.set_cksum();
    t.append(&h, &b"hi"[..]).unwrap();
    let (code, s) = status_of(test::call_service(&app, post(t.into_inner().unwrap())).await).await;
    assert_eq!(code, 400);
    assert!(s["message"].as_str().unwrap().contains("index.json"), "{s}");

    // A blob whose bytes are not its name: 422 naming the file.
    let mut good = archive(&["x:1"], 10);
    let at = good.windows(5).position(|w| w == b"big\0\0").expect("layer tar inside");
    good[at + 600] ^= 0xff;
    let (code, s) = status_of(test::call_service(&app, post(good)).await).await;
    assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")), "{s}");
    assert!(s["message"].as_str().unwrap().contains("digest"), "{s}");

    let (code, s) = status_of(test::call_service(&app, post(vec![0u8; 9 << 20])).await).await;
    assert_eq!((code, s["reason"].as_str()), (413, Some("RequestEntityTooLarge")), "{s}");

    let req = test::TestRequest::get().uri("/apis/images.shoal.io/v1/images/nobody:v9").to_request();
    let (code, s) = status_of(test::call_service(&app, req).await).await;
    assert_eq!(code, 404);
    assert!(s["message"].as_str().unwrap().contains("shoal image import"), "{s}");
    let req = test::TestRequest::get().uri("/apis/images.shoal.io/v1/blobs/sha256:nothex").to_request();
    assert_eq!(test::call_service(&app, req).await.status().as_u16(), 400);
    let req = test::TestRequest::get().uri(&format!("/apis/images.shoal.io/v1/blobs/sha256:{}", "0".repeat(64))).to_request();
    assert_eq!(test::call_service(&app, req).await.status().as_u16(), 404);
}
