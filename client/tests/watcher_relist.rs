//! The watcher against a scripted HTTP server on 127.0.0.1: it pages through the list,
//! watches from the list's version, relists after an ERROR 410, and resumes from bookmarks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::model::Pod;
use client::{Client, ListParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn pod(name: &str, rv: u32) -> String {
    format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"default","uid":"u-{name}","resourceVersion":"{rv}"}}}}"#)
}

fn list(items: &[String], rv: u32, cont: Option<&str>) -> String {
    let cont = cont.map(|c| format!(r#","continue":"{c}""#)).unwrap_or_default();
    format!(r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"{rv}"{cont}}},"items":[{}]}}"#, items.join(","))
}

/// What the server answers to the `n`th request (its path given): the body lines, and
/// whether the connection then stays open (a live watch).
fn script(n: usize, path: &str) -> (String, bool) {
    let event = |t: &str, obj: String| format!(r#"{{"type":"{t}","object":{obj}}}"#) + "\n";
    match n {
        0 => {
            assert!(path.contains("limit=500") && !path.contains("continue="), "{path}");
            (list(&[pod("a", 3)], 5, Some("tok")), false)
        }
        1 => {
            assert!(path.contains("continue=tok"), "{path}");
            (list(&[pod("b", 4)], 5, None), false)
        }
        2 => {
            assert!(path.contains("watch=true") && path.contains("resourceVersion=5"), "{path}");
            assert!(path.contains("allowWatchBookmarks=true") && path.contains("fieldSelector=spec.nodeName%3Dn1"), "{path}");
            let gone = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 5 (8)","reason":"Expired","code":410}"#;
            (event("ADDED", pod("c", 6)) + &event("ERROR", gone.to_string()), false)
        }
        3 => {
            assert!(!path.contains("watch=true"), "a 410 relists: {path}");
            (list(&[pod("c", 7)], 9, None), false)
        }
        4 => {
            assert!(path.contains("watch=true") && path.contains("resourceVersion=9"), "{path}");
            let bookmark = r#"{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}"#;
            (event("MODIFIED", pod("c", 11)) + &event("BOOKMARK", bookmark.to_string()), true)
        }
        _ => panic!("unexpected request {n}: {path}"),
    }
}

async fn serve(listener: TcpListener, seen: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { return };
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => head.extend_from_slice(&buf[..k]),
                }
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let path = text.split_whitespace().nth(1).unwrap_or_default().to_string();
            let n = {
                let mut s = seen.lock().unwrap();
                s.push(path.clone());
                s.len() - 1
            };
            let (body, stay) = script(n, &path);
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{body}");
            let _ = conn.write_all(reply.as_bytes()).await;
            if stay {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        });
    }
}

#[tokio::test]
async fn pages_then_relists_after_gone_and_follows_bookmarks() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(listener, seen.clone()));

    let client = Client::new(&format!("http://{addr}")).unwrap();
    let lp = ListParams::default().fields("spec.nodeName=n1");
    let (cache, task) = client::watcher::start(client.api::<Pod>(None), lp, 64);
    let caught_up = cache.wait_for_revision(12, Duration::from_secs(10)).await;
    let paths = seen.lock().unwrap().clone();
    assert!(caught_up, "revision {} after {paths:?}", cache.revision());
    assert_eq!(paths.len(), 5, "{paths:?}");
    let names: Vec<String> = cache.list(None).iter().map(|p| p.metadata.name.clone()).collect();
    assert_eq!(names, ["c"], "the relist dropped a and b");
    assert_eq!(cache.get(Some("default"), "c").unwrap().metadata.resource_version, "11");
    task.abort();
}
