//! Runs the examples and checks what they print: each self-contained example (validation,
//! scoring, direct peers, subscription filter, metrics) must finish by itself, successfully,
//! within seconds; two copies of `usage` (the README's usage example, which the README must
//! show verbatim) must greet each other over TCP on 127.0.0.1.
//!
//! The example binaries must be built: plain `cargo test` builds examples before running tests;
//! with `cargo test --test examples`, run `cargo build --examples` first.

#[path = "support/process.rs"]
mod process;

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use process::ExampleProcess as Running;

/// How long one example may run.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Starts example `name` with `args` and its stdin closed.
fn spawn(name: &str, args: &[&str]) -> Running {
    let mut running = Running::spawn(name, name, args);
    running.close_stdin();
    running
}

/// Runs a self-contained example to its end; panics (with its output) unless it exits
/// successfully within [`TIMEOUT`]. Returns its stdout.
fn run(name: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    let mut running = spawn(name, &[]);
    let mut stdout = String::new();
    while let Some(line) = running.next_line(deadline) {
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let status = loop {
        if let Some(status) = running.try_wait() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stderr = running.stderr();
    drop(running);
    match status {
        Some(status) if status.success() => stdout,
        Some(status) => {
            panic!("{name} failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")
        }
        None => panic!(
            "{name} did not finish within {TIMEOUT:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        ),
    }
}

/// Panics unless `stdout` has a line equal to `line`.
fn assert_line(stdout: &str, line: &str) {
    assert!(
        stdout.lines().any(|l| l == line),
        "no line {line:?} in:\n{stdout}"
    );
}

/// The number after `prefix` on the line that starts with it.
fn number_after(stdout: &str, prefix: &str) -> f64 {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{stdout}"));
    line.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {prefix:?} in:\n{stdout}"))
}

#[test]
fn validation_example_forwards_only_accepted_messages() {
    let out = run("validation");
    assert_line(&out, r#"bob: Accept "reading 2: 21.5 C" (21.5 degrees)"#);
    assert_line(
        &out,
        r#"bob: Reject "reading 3: hot" (not a temperature reading)"#,
    );
    assert_line(
        &out,
        r#"bob: Ignore "reading 1: 20.0 C" (stale: reading 2 already accepted)"#,
    );
    assert_line(
        &out,
        r#"carol received 1 message(s): ["reading 2: 21.5 C"]"#,
    );
    assert_line(&out, "bob's counters: 1 rejected, 1 ignored");
}

#[test]
fn scoring_example_explains_both_scores() {
    let out = run("scoring");
    for threshold in ["Zero", "Gossip", "Publish"] {
        assert!(
            out.lines().any(|l| l.starts_with("bob: mallory's score")
                && l.ends_with(&format!("below the {threshold} threshold"))),
            "no {threshold} event for mallory in:\n{out}"
        );
    }
    assert!(!out.contains("alice's score"), "alice was reported:\n{out}");
    let alice = number_after(&out, "bob's view of alice: score ");
    let mallory = number_after(&out, "bob's view of mallory: score ");
    // Alice earned first-delivery credit; three rejected messages cost mallory about
    // -8 * 3^2 (decayed a little): below the default publish threshold of -50, above the
    // graylist threshold of -80.
    assert!(alice > 0.0, "alice scored {alice}:\n{out}");
    assert!(
        (-80.0..-50.0).contains(&mallory),
        "mallory scored {mallory}:\n{out}"
    );
    assert!(
        out.contains("P4  invalid messages"),
        "no breakdown table:\n{out}"
    );
}

#[test]
fn direct_peers_example_redials_and_forwards() {
    let out = run("direct_peers");
    let expected = [
        "alice: connected to bob (dialled by alice's gossipsub)",
        r#"alice: mesh of news: ["carol"] (bob is direct, never in a mesh)"#,
        r#"bob: received "hello from carol" from alice (written by carol)"#,
        "alice: connection to bob closed",
        "alice: connected to bob (dialled by alice's gossipsub)",
    ];
    // In this order.
    let mut lines = out.lines();
    for line in expected {
        assert!(
            lines.any(|l| l == line),
            "no line {line:?} (in order) in:\n{out}"
        );
    }
}

#[test]
fn subscription_filter_example_tracks_only_allowed_topics() {
    let out = run("subscription_filter");
    assert_line(
        &out,
        r#"bob: subscribing to "ads" failed: topic ads is not allowed by the subscription filter"#,
    );
    assert_line(
        &out,
        r#"bob: topics tracked for alice: ["/app/chat", "/app/news"]"#,
    );
    assert_line(&out, "bob: subscriptions ignored: 3");
    let reported: Vec<_> = out
        .lines()
        .filter(|l| l.starts_with("bob: alice subscribed to "))
        .collect();
    assert_eq!(reported.len(), 2, "{out}");
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_example_prints_a_scrape() {
    let out = run("metrics");
    assert_line(
        &out,
        "gossipsub_topic_msg_recv_counts_total{topic=\"chat\"} 3",
    );
    assert_line(&out, "gossipsub_mesh_peers{topic=\"chat\"} 1");
    assert_line(
        &out,
        "gossipsub_message_received_total{topic=\"chat\",validation_result=\"accepted\"} 3",
    );
}

/// The README's usage section shows `examples/usage.rs` verbatim, in a Rust code block.
#[test]
fn readme_shows_the_usage_example_verbatim() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let example = std::fs::read_to_string(root.join("examples/usage.rs")).expect("usage.rs");
    let block = format!("```rust,no_run\n{example}```\n");
    assert!(
        readme.contains(&block),
        "README.md does not contain examples/usage.rs verbatim in a ```rust,no_run block"
    );
}

/// Two copies of the README's usage example: the second dials the address the first prints,
/// and each prints the greeting the other sends it.
#[test]
fn usage_example_two_copies_greet_each_other() {
    let deadline = Instant::now() + TIMEOUT;
    let a = spawn("usage", &[]);
    let first = a.next_line(deadline).expect("a `listening on` line");
    let address = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    assert!(address.starts_with("/ip4/127.0.0.1/tcp/"), "{address}");
    let b = spawn("usage", &[address]);

    /// The first `<author>: hello <recipient>` line.
    fn greeting(process: &Running, deadline: Instant) -> (String, String) {
        while let Some(line) = process.next_line(deadline) {
            if let Some((from, to)) = line.split_once(": hello ") {
                return (from.to_owned(), to.to_owned());
            }
        }
        panic!("no greeting in time");
    }
    let (a_from, a_to) = greeting(&a, deadline);
    let (b_from, b_to) = greeting(&b, deadline);
    assert_eq!(
        (a_from, a_to),
        (b_to, b_from),
        "they did not greet each other"
    );
}

/// The strict accounting rule of `examples/compare` (its forward and overload tests), checked
/// here on crafted books: a run passes only if every message a feeder meant for the node under
/// test is received by it or counted as dropped on that link, exactly.
#[path = "../examples/compare/accounting.rs"]
mod compare_accounting;

mod compare_accounting_tests {
    use super::compare_accounting::{Accounting, Link, Verdict};

    fn link(published: u64, received: u64, dropped: u64) -> Link {
        Link {
            published,
            received,
            dropped: Some(dropped),
        }
    }

    fn books(links: Vec<Link>, nut_dropped: Option<u64>) -> Accounting {
        Accounting {
            links,
            nut_dropped,
            ..Accounting::default()
        }
    }

    #[test]
    fn balanced_books_pass() {
        let a = books(vec![link(100, 90, 10), link(50, 40, 0)], Some(10));
        assert_eq!(a.check(), Verdict::Ok, "{}", a.describe());
        assert_eq!(a.unaccounted(), Some(0));
    }

    /// The old check (`received + drops >= published`, drops summed over every destination)
    /// passed this run: more drops than messages, a negative "unaccounted".
    #[test]
    fn more_drops_than_messages_fail() {
        let a = books(vec![link(100, 90, 20)], Some(0));
        assert!(
            matches!(a.check(), Verdict::Violated(_)),
            "{}",
            a.describe()
        );
        assert_eq!(a.unaccounted(), Some(-10));
    }

    /// Drops that balance in total but not per link: one link lost messages uncounted while
    /// another counted drops of messages the NUT nevertheless received.
    #[test]
    fn drops_that_balance_only_in_total_fail() {
        let a = books(vec![link(100, 100, 5), link(100, 95, 0)], Some(0));
        assert_eq!(a.unaccounted(), Some(0));
        assert!(
            matches!(a.check(), Verdict::Violated(_)),
            "{}",
            a.describe()
        );
    }

    #[test]
    fn missing_messages_fail() {
        let a = books(vec![link(100, 95, 0)], Some(2));
        assert!(
            matches!(a.check(), Verdict::Violated(_)),
            "{}",
            a.describe()
        );
    }

    #[test]
    fn duplicates_and_strangers_fail() {
        let mut a = books(vec![link(10, 10, 0)], None);
        assert_eq!(a.check(), Verdict::Ok);
        a.received_twice = 1;
        assert!(matches!(a.check(), Verdict::Violated(_)));
        a.received_twice = 0;
        a.received_unattributed = 1;
        assert!(matches!(a.check(), Verdict::Violated(_)));
    }

    #[test]
    fn uncounted_feeder_drops_are_not_checkable() {
        let a = books(
            vec![Link {
                published: 10,
                received: 3,
                dropped: None,
            }],
            None,
        );
        assert_eq!(a.check(), Verdict::NotCheckable);
    }
}
