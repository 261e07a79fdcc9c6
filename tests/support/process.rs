//! A running example binary for the tests that start examples as processes
//! (`tests/chat_example.rs`, `tests/examples.rs`): stdout lines on a channel, stderr collected,
//! killed when dropped (also when a test fails).

// Each test uses part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

/// target/<profile>/examples/<name>, next to target/<profile>/deps/<this test>.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "example binary {} not found: run `cargo build --examples` first \
         (plain `cargo test` builds it)",
        bin.display()
    );
    bin
}

/// A running example.
pub struct ExampleProcess {
    /// Name used in failure messages.
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl ExampleProcess {
    /// Starts example `name` with `args` (stdin piped, `RUST_LOG` unset); `label` names it in
    /// failure messages.
    pub fn spawn(name: &str, label: &str, args: &[&str]) -> Self {
        let mut child = Command::new(example_binary(name))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start the {name} example: {e}"));
        let stdin = child.stdin.take();
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
        ExampleProcess {
            label: label.to_owned(),
            child,
            stdin,
            stdout: rx,
            stderr,
        }
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Panics with the process's stderr attached.
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: {what}\n--- stderr of {} ---\n{}",
            self.label,
            self.label,
            self.stderr()
        )
    }

    /// The next stdout line, or `None` once `deadline` has passed or stdout is closed.
    pub fn next_line(&self, deadline: Instant) -> Option<String> {
        self.next_line_or_exit(deadline).ok().flatten()
    }

    /// The next stdout line; `Ok(None)` on timeout, `Err(())` once stdout is closed.
    #[allow(clippy::result_unit_err)]
    pub fn next_line_or_exit(&self, deadline: Instant) -> Result<Option<String>, ()> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.stdout.recv_timeout(wait) {
            Ok(line) => Ok(Some(line)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        }
    }

    /// Writes one line to the process's stdin.
    pub fn send(&mut self, text: &str) {
        let written = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{text}")
                .and_then(|()| stdin.flush())
                .is_ok(),
            None => false,
        };
        if !written {
            self.fail("stdin closed");
        }
    }

    /// Closes the process's stdin (it reads end of file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait for the example")
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
