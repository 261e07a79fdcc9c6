//! Runs two copies of the `chat` example and checks that they chat both ways, over TCP and over
//! QUIC on 127.0.0.1, without mDNS.
//!
//! The example binary must be built: plain `cargo test` builds examples before running tests;
//! with `cargo test --test chat_example`, run `cargo build --example chat` first.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long each test may take in total.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a line is re-sent while the peers do not know each other's subscription yet.
const RETRY: Duration = Duration::from_millis(300);

/// target/<profile>/examples/chat, next to target/<profile>/deps/<this test>.
fn chat_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "example binary {} not found: run `cargo build --example chat` first \
         (plain `cargo test` builds it)",
        bin.display()
    );
    bin
}

/// A running copy of the example. Killed when dropped, also when a test fails.
struct ChatProcess {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl ChatProcess {
    fn spawn(name: &'static str, args: &[&str]) -> Self {
        let mut child = Command::new(chat_binary())
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the chat example");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");

        let (tx, rx) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        ChatProcess {
            name,
            child,
            stdin,
            stdout: rx,
            stderr,
        }
    }

    /// Panics with the process's stderr attached.
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: {what}\n--- stderr of {} ---\n{}",
            self.name,
            self.name,
            self.stderr.lock().unwrap()
        )
    }

    /// Waits for the next stdout line until `deadline`; `None` on timeout.
    fn next_line(&self, deadline: Instant) -> Option<String> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.stdout.recv_timeout(wait) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => self.fail("exited early"),
        }
    }

    /// Reads stdout up to the first `listening on <addr>` line; returns the address (which ends
    /// in `/p2p/<peer id>`) and the peer id.
    fn listen_addr(&self, deadline: Instant) -> (String, String) {
        loop {
            let Some(line) = self.next_line(deadline) else {
                self.fail("no `listening on` line in time")
            };
            if let Some(addr) = line.strip_prefix("listening on ") {
                let peer_id = addr
                    .rsplit_once("/p2p/")
                    .unwrap_or_else(|| self.fail(&format!("no /p2p/ in {line:?}")))
                    .1;
                return (addr.to_owned(), peer_id.to_owned());
            }
        }
    }

    fn send(&mut self, text: &str) {
        if writeln!(self.stdin, "{text}")
            .and_then(|()| self.stdin.flush())
            .is_err()
        {
            self.fail("stdin closed");
        }
    }
}

impl Drop for ChatProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `text` to `from` every [`RETRY`] until `to` prints `<from_id>: <text>`.
fn deliver(from: &mut ChatProcess, from_id: &str, to: &ChatProcess, text: &str, deadline: Instant) {
    let expected = format!("{from_id}: {text}");
    loop {
        if Instant::now() >= deadline {
            panic!(
                "{} never printed {expected:?}\n--- stderr of {} ---\n{}\n--- stderr of {} ---\n{}",
                to.name,
                from.name,
                from.stderr.lock().unwrap(),
                to.name,
                to.stderr.lock().unwrap()
            );
        }
        from.send(text);
        let retry_at = (Instant::now() + RETRY).min(deadline);
        while let Some(line) = to.next_line(retry_at) {
            if line == expected {
                return;
            }
        }
    }
}

fn two_copies_chat(listen: &str) {
    let deadline = Instant::now() + TIMEOUT;
    let mut a = ChatProcess::spawn("A", &["--listen", listen, "--no-mdns"]);
    let (a_addr, a_id) = a.listen_addr(deadline);
    assert!(
        a_addr.starts_with("/ip4/127.0.0.1/"),
        "unexpected address {a_addr}"
    );

    let mut b = ChatProcess::spawn("B", &["--listen", listen, "--dial", &a_addr, "--no-mdns"]);
    let (_b_addr, b_id) = b.listen_addr(deadline);
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

    /// Reads stdout up to the `metrics at http://<addr>/metrics` line; returns `<addr>`.
    fn metrics_addr(process: &ChatProcess, deadline: Instant) -> String {
        loop {
            let Some(line) = process.next_line(deadline) else {
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
        let mut a = ChatProcess::spawn(
            "A",
            &["--listen", listen, "--no-mdns", "--metrics", "127.0.0.1:0"],
        );
        let metrics = metrics_addr(&a, deadline);
        let (a_addr, a_id) = a.listen_addr(deadline);
        let mut b = ChatProcess::spawn("B", &["--listen", listen, "--dial", &a_addr, "--no-mdns"]);
        let (_b_addr, b_id) = b.listen_addr(deadline);
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
