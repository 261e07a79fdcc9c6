//! Runs two copies of the `chat` example and checks that they chat both ways, over TCP and over
//! QUIC on 127.0.0.1, without mDNS.
//!
//! The example binary must be built: plain `cargo test` builds examples before running tests;
//! with `cargo test --test chat_example`, run `cargo build --example chat` first.

#[path = "support/process.rs"]
mod process;

use std::time::{Duration, Instant};

use process::ExampleProcess as ChatProcess;

/// How long each test may take in total.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a line is re-sent while the peers do not know each other's subscription yet.
const RETRY: Duration = Duration::from_millis(300);

/// Starts a copy of the chat example named `label`.
fn spawn(label: &str, args: &[&str]) -> ChatProcess {
    ChatProcess::spawn("chat", label, args)
}

/// The next stdout line of `process` until `deadline`; `None` on timeout; fails if it exited.
fn next_line(process: &ChatProcess, deadline: Instant) -> Option<String> {
    process
        .next_line_or_exit(deadline)
        .unwrap_or_else(|()| process.fail("exited early"))
}

/// Reads stdout up to the first `listening on <addr>` line; returns the address (which ends in
/// `/p2p/<peer id>`) and the peer id.
fn listen_addr(process: &ChatProcess, deadline: Instant) -> (String, String) {
    loop {
        let Some(line) = next_line(process, deadline) else {
            process.fail("no `listening on` line in time")
        };
        if let Some(addr) = line.strip_prefix("listening on ") {
            let peer_id = addr
                .rsplit_once("/p2p/")
                .unwrap_or_else(|| process.fail(&format!("no /p2p/ in {line:?}")))
                .1;
            return (addr.to_owned(), peer_id.to_owned());
        }
    }
}

/// Writes `text` to `from` every [`RETRY`] until `to` prints `<from_id>: <text>`.
fn deliver(from: &mut ChatProcess, from_id: &str, to: &ChatProcess, text: &str, deadline: Instant) {
    let expected = format!("{from_id}: {text}");
    loop {
        if Instant::now() >= deadline {
            panic!(
                "{} never printed {expected:?}\n--- stderr of {} ---\n{}\n--- stderr of {} ---\n{}",
                to.label,
                from.label,
                from.stderr(),
                to.label,
                to.stderr()
            );
        }
        from.send(text);
        let retry_at = (Instant::now() + RETRY).min(deadline);
        while let Some(line) = next_line(to, retry_at) {
            if line == expected {
                return;
            }
        }
    }
}

fn two_copies_chat(listen: &str) {
    let deadline = Instant::now() + TIMEOUT;
    let mut a = spawn("A", &["--listen", listen, "--no-mdns"]);
    let (a_addr, a_id) = listen_addr(&a, deadline);
    assert!(
        a_addr.starts_with("/ip4/127.0.0.1/"),
        "unexpected address {a_addr}"
    );

    let mut b = spawn("B", &["--listen", listen, "--dial", &a_addr, "--no-mdns"]);
    let (_b_addr, b_id) = listen_addr(&b, deadline);
    assert_ne!(a_id, b_id);

    deliver(&mut b, &b_id, &a, "hello from B", deadline);
    deliver(&mut a, &a_id, &b, "hello from A", deadline);
}

#[test]
fn chat_over_tcp() {
    two_copies_chat("/ip4/127.0.0.1/tcp/0");
}

#[test]
fn chat_over_quic() {
    two_copies_chat("/ip4/127.0.0.1/udp/0/quic-v1");
}

/// The `--metrics` endpoint (needs the `metrics` feature).
#[cfg(feature = "metrics")]
mod metrics {
    use super::*;
    use std::io::{Read, Write};
    use std::path::PathBuf;
    use std::thread;

    /// Reads stdout up to the `metrics at http://<addr>/metrics` line; returns `<addr>`.
    fn metrics_addr(process: &ChatProcess, deadline: Instant) -> String {
        loop {
            let Some(line) = next_line(process, deadline) else {
                process.fail("no `metrics at` line in time")
            };
            if let Some(rest) = line.strip_prefix("metrics at http://") {
                return rest
                    .strip_suffix("/metrics")
                    .unwrap_or_else(|| process.fail(&format!("unexpected line {line:?}")))
                    .to_owned();
            }
        }
    }

    /// One HTTP/1.1 GET of `path`; returns the status line and the body.
    fn http_get(addr: &str, path: &str) -> (String, String) {
        let mut stream =
            std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .expect("a response head and body");
        let status = head.lines().next().unwrap_or_default().to_owned();
        (status, body.to_owned())
    }

    /// The value of the sample `series` (name and labels exactly as encoded), or 0 if absent.
    fn sample(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().unwrap_or(0.0))
    }

    /// Every sample name in an OpenMetrics exposition.
    fn sample_names(text: &str) -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every metric name a Grafana dashboard's queries use (identifiers starting `gossipsub_`).
    fn dashboard_metric_names(json: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut rest = json;
        while let Some(i) = rest.find("gossipsub_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
        names
    }

    /// A chat process started with `--metrics` serves OpenMetrics text at `/metrics`; after a
    /// message exchange its families carry plausible values, and every metric the Grafana
    /// dashboard in the repository queries exists in that scrape.
    #[test]
    fn chat_serves_metrics() {
        let deadline = Instant::now() + TIMEOUT;
        let listen = "/ip4/127.0.0.1/tcp/0";
        let mut a = spawn(
            "A",
            &["--listen", listen, "--no-mdns", "--metrics", "127.0.0.1:0"],
        );
        let metrics = metrics_addr(&a, deadline);
        let (a_addr, a_id) = listen_addr(&a, deadline);
        let mut b = spawn("B", &["--listen", listen, "--dial", &a_addr, "--no-mdns"]);
        let (_b_addr, b_id) = listen_addr(&b, deadline);
        deliver(&mut b, &b_id, &a, "hello from B", deadline);
        deliver(&mut a, &a_id, &b, "hello from A", deadline);

        let (status, _) = http_get(&metrics, "/nothing");
        assert!(status.contains(" 404 "), "{status}");
        // Gauges are sampled at the (1 s) heartbeat: scrape until they show the mesh.
        let topic = "topic=\"chat\"";
        let body = loop {
            let (status, body) = http_get(&metrics, "/metrics");
            assert!(status.contains(" 200 "), "{status}");
            assert!(body.ends_with("# EOF\n"), "not OpenMetrics text: {body}");
            if sample(&body, &format!("gossipsub_mesh_peers{{{topic}}}")) == 1.0 {
                break body;
            }
            if Instant::now() >= deadline {
                a.fail(&format!("the scrape never showed a mesh of one:\n{body}"));
            }
            thread::sleep(Duration::from_millis(200));
        };
        let published = sample(
            &body,
            &format!("gossipsub_topic_msg_published_total{{{topic}}}"),
        );
        assert!(published >= 1.0, "{body}");
        let bytes = sample(
            &body,
            &format!("gossipsub_topic_msg_published_bytes_total{{{topic}}}"),
        );
        assert!(bytes >= published * "hello from A".len() as f64, "{body}");
        assert!(
            sample(
                &body,
                &format!("gossipsub_topic_msg_recv_counts_total{{{topic}}}")
            ) >= 1.0
        );
        assert!(
            sample(
                &body,
                &format!(
                    "gossipsub_message_received_total{{{topic},validation_result=\"accepted\"}}"
                )
            ) >= 1.0
        );
        assert_eq!(
            sample(&body, &format!("gossipsub_topics_active_total{{{topic}}}")),
            1.0
        );
        assert_eq!(sample(&body, "gossipsub_topics_no_peers"), 0.0);
        assert!(sample(&body, "gossipsub_heartbeat_duration_seconds_count") >= 1.0);

        let dashboard = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboards/gossipsub.json"),
        )
        .expect("dashboards/gossipsub.json");
        let queried = dashboard_metric_names(&dashboard);
        assert!(queried.len() >= 10, "too few queries: {queried:?}");
        let scraped = sample_names(&body);
        let missing: Vec<&String> = queried.iter().filter(|n| !scraped.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "the dashboard queries metrics the scrape lacks: {missing:?}"
        );
    }
}
