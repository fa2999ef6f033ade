//! The hello server of the example images (`hello:v1`, `hello:v2`): listens on `$PORT`
//! (8080 by default) and answers `GET /` with `{"version","hostname","podIP"}` — the
//! version from `$HELLO_VERSION` (the images set it), the pod IP from `$POD_IP` or else
//! the local address of the connection. `GET /healthz` answers `ok` (for probes).
//! std only, so that it links statically (`-C target-feature=+crt-static`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A JSON string literal.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn body(version: &str, hostname: &str, pod_ip: &str) -> String {
    format!("{{\"version\":{},\"hostname\":{},\"podIP\":{}}}\n", quoted(version), quoted(hostname), quoted(pod_ip))
}

fn respond(mut s: TcpStream, status: &str, content_type: &str, body: &str) {
    let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

fn serve(s: TcpStream) {
    let mut reader = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Skip the headers.
    let mut h = String::new();
    while reader.read_line(&mut h).is_ok_and(|n| n > 0) && h != "\r\n" && h != "\n" {
        h.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/") => {
            let version = std::env::var("HELLO_VERSION").unwrap_or_else(|_| "dev".into());
            let pod_ip = std::env::var("POD_IP").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| s.local_addr().map(|a| a.ip().to_string()).unwrap_or_default());
            respond(s, "200 OK", "application/json", &body(&version, &hostname(), &pod_ip));
        }
        ("GET", "/healthz") => respond(s, "200 OK", "text/plain", "ok\n"),
        ("GET", _) => respond(s, "404 Not Found", "text/plain", "not found\n"),
        _ => respond(s, "405 Method Not Allowed", "text/plain", "method not allowed\n"),
    }
}

fn main() {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(8080);
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello: listening on port {port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("hello: version {} listening on port {port}", std::env::var("HELLO_VERSION").unwrap_or_else(|_| "dev".into()));
    for s in listener.incoming().flatten() {
        std::thread::spawn(move || serve(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_json_with_the_three_fields() {
        assert_eq!(body("v1", "web-\"1", "10.244.0.5"), "{\"version\":\"v1\",\"hostname\":\"web-\\\"1\",\"podIP\":\"10.244.0.5\"}\n");
    }
}
