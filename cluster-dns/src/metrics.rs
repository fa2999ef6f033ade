//! What the DNS server counts (responses by code, forwarded queries, upstream failures),
//! kept as atomics so that queries never wait on a lock, and rendered in the Prometheus
//! text format for the node's `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::ResponseCode;

/// The response codes counted by name; everything else is counted as `other`.
const RCODES: [(ResponseCode, &str); 6] = [
    (ResponseCode::NoError, "NOERROR"),
    (ResponseCode::NXDomain, "NXDOMAIN"),
    (ResponseCode::ServFail, "SERVFAIL"),
    (ResponseCode::FormErr, "FORMERR"),
    (ResponseCode::NotImp, "NOTIMP"),
    (ResponseCode::Refused, "REFUSED"),
];

#[derive(Debug, Default)]
pub struct Metrics {
    /// Indexed as [`RCODES`], then `other`.
    responses: [AtomicU64; RCODES.len() + 1],
    forwarded: AtomicU64,
    forward_failures: AtomicU64,
}

impl Metrics {
    /// Counts one response sent with `code`.
    pub fn record_response(&self, code: ResponseCode) {
        self.responses[index(code)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one query sent upstream on behalf of a client.
    pub fn record_forwarded(&self) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one forwarded query no upstream answered.
    pub fn record_forward_failure(&self) {
        self.forward_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Responses sent with `code` so far.
    pub fn responses(&self, code: ResponseCode) -> u64 {
        self.responses[index(code)].load(Ordering::Relaxed)
    }

    /// Queries forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Forwarded queries that failed so far.
    pub fn forward_failures(&self) -> u64 {
        self.forward_failures.load(Ordering::Relaxed)
    }

    /// Appends the counters to `out` in the Prometheus text exposition format.
    pub fn render_prometheus(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP shoal_dns_queries_total DNS queries answered, by response code.");
        let _ = writeln!(out, "# TYPE shoal_dns_queries_total counter");
        let labels = RCODES.iter().map(|(_, label)| *label).chain(["other"]);
        for (label, count) in labels.zip(&self.responses) {
            let _ = writeln!(out, "shoal_dns_queries_total{{rcode=\"{label}\"}} {}", count.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP shoal_dns_forwarded_queries_total DNS queries forwarded to an upstream server.");
        let _ = writeln!(out, "# TYPE shoal_dns_forwarded_queries_total counter");
        let _ = writeln!(out, "shoal_dns_forwarded_queries_total {}", self.forwarded());
        let _ = writeln!(out, "# HELP shoal_dns_forward_failures_total Forwarded DNS queries no upstream server answered.");
        let _ = writeln!(out, "# TYPE shoal_dns_forward_failures_total counter");
        let _ = writeln!(out, "shoal_dns_forward_failures_total {}", self.forward_failures());
    }
}

fn index(code: ResponseCode) -> usize {
    RCODES.iter().position(|(c, _)| *c == code).unwrap_or(RCODES.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_rcode_and_renders_prometheus_text() {
        let m = Metrics::default();
        m.record_response(ResponseCode::NoError);
        m.record_response(ResponseCode::NoError);
        m.record_response(ResponseCode::NXDomain);
        m.record_response(ResponseCode::BADVERS);
        m.record_forwarded();
        m.record_forward_failure();
        assert_eq!(m.responses(ResponseCode::NoError), 2);
        assert_eq!(m.responses(ResponseCode::YXDomain), 1, "other codes share one counter");

        let mut out = String::from("# earlier metrics\n");
        m.render_prometheus(&mut out);
        assert!(out.starts_with("# earlier metrics\n"), "appends: {out}");
        for line in [
            "# TYPE shoal_dns_queries_total counter",
            "shoal_dns_queries_total{rcode=\"NOERROR\"} 2",
            "shoal_dns_queries_total{rcode=\"NXDOMAIN\"} 1",
            "shoal_dns_queries_total{rcode=\"SERVFAIL\"} 0",
            "shoal_dns_queries_total{rcode=\"other\"} 1",
            "# TYPE shoal_dns_forwarded_queries_total counter",
            "shoal_dns_forwarded_queries_total 1",
            "shoal_dns_forward_failures_total 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
        }
        // Every sample line is `name{labels} value` or `name value`, names prefixed.
        for l in out.lines().skip(1).filter(|l| !l.starts_with('#')) {
            assert!(l.starts_with("shoal_dns_"), "{l}");
            assert!(l.rsplit(' ').next().is_some_and(|v| v.parse::<u64>().is_ok()), "{l}");
        }
    }
}
