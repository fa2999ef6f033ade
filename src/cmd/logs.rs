//! `shoal logs POD [-c C] [-f] [--tail N] [--since D] [--timestamps] [--previous]`: the
//! pod's `log` subresource, printed as it arrives (as `kubectl logs`).

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Result};

use super::Client;

#[derive(clap::Args)]
pub struct LogsArgs {
    /// The pod (`NAME` or `pod/NAME`).
    pod: String,
    #[arg(short = 'c', long)]
    container: Option<String>,
    #[arg(short = 'f', long)]
    follow: bool,
    /// The last N lines only.
    #[arg(long)]
    tail: Option<u64>,
    /// Only lines newer than this (`30s`, `5m`, `2h`).
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    timestamps: bool,
    /// The previous run of the container.
    #[arg(short = 'p', long)]
    previous: bool,
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
}

/// `30s`, `5m`, `2h`, `1h30m` in whole seconds (Go's durations as kubectl takes them).
pub fn parse_since(s: &str) -> Result<u64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut any = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => bail!("invalid duration {s:?}"),
            }
        };
        let n: f64 = num.parse().map_err(|_| anyhow::anyhow!("invalid duration {s:?}"))?;
        total += n * unit;
        num.clear();
        any = true;
    }
    if !any || !num.is_empty() {
        bail!("invalid duration {s:?}: a unit (s, m, h) is needed");
    }
    Ok(total.ceil().max(1.0) as u64)
}

/// The query of the `log` request.
pub fn query(args: &LogsArgs) -> Result<Vec<(String, String)>> {
    let mut q = Vec::new();
    if let Some(c) = &args.container {
        q.push(("container".into(), c.clone()));
    }
    if args.follow {
        q.push(("follow".into(), "true".into()));
    }
    if let Some(n) = args.tail {
        q.push(("tailLines".into(), n.to_string()));
    }
    if let Some(s) = &args.since {
        q.push(("sinceSeconds".into(), parse_since(s)?.to_string()));
    }
    if args.timestamps {
        q.push(("timestamps".into(), "true".into()));
    }
    if args.previous {
        q.push(("previous".into(), "true".into()));
    }
    Ok(q)
}

pub fn run(client: &Client, args: &LogsArgs) -> Result<()> {
    let pod = args.pod.strip_prefix("pod/").or_else(|| args.pod.strip_prefix("pods/")).unwrap_or(&args.pod);
    let mut path = format!("/api/v1/namespaces/{}/pods/{pod}/log", args.namespace);
    let q = query(args)?;
    if !q.is_empty() {
        path.push('?');
        path.push_str(&serde_urlencoded_pairs(&q));
    }
    let out = std::io::stdout();
    if !args.follow {
        let body = client.send(client::Request::get(&path))?;
        out.lock().write_all(&body)?;
        return Ok(());
    }
    // Following: a line at a time, for as long as the container runs.
    for line in client.lines(client::Request::get(&path), Duration::from_secs(365 * 24 * 3600))? {
        let line = line?;
        let mut o = out.lock();
        o.write_all(&line)?;
        o.write_all(b"\n")?;
        o.flush()?;
    }
    Ok(())
}

fn serde_urlencoded_pairs(q: &[(String, String)]) -> String {
    q.iter()
        .map(|(k, v)| format!("{k}={}", v.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>()))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [("30s", Some(30)), ("5m", Some(300)), ("1h30m", Some(5400)), ("500ms", Some(1)), ("10", None), ("x", None)];
        for (s, want) in cases {
            assert_eq!(parse_since(s).ok(), want, "{s}");
        }
    }

    #[test]
    fn query_of_flags() {
        let args = LogsArgs {
            pod: "web".into(),
            container: Some("app".into()),
            follow: true,
            tail: Some(5),
            since: Some("1m".into()),
            timestamps: true,
            previous: false,
            namespace: "default".into(),
        };
        let q = query(&args).unwrap();
        assert_eq!(
            serde_urlencoded_pairs(&q),
            "container=app&follow=true&tailLines=5&sinceSeconds=60&timestamps=true"
        );
    }
}
