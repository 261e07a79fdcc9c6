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
