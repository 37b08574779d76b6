//! A `detcd` child process: started with flags, its log kept, killed when dropped (so a failing
//! test leaves no member behind).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Process {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    ready: Receiver<Option<String>>,
}

impl Process {
    /// Start `detcd` with `flags`; it runs on while the returned value lives.
    pub fn spawn(flags: &[String]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_detcd"))
            .args(flags)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("detcd starts");
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut address = None;
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(found) = line.split("client requests on ").nth(1) {
                    address = Some(found.trim().to_string());
                }
                if line.contains("ready to serve client requests") {
                    let _ = ready_tx.send(address.clone());
                }
                lines.lock().unwrap().push(line);
            }
        });
        Process { child, log, ready }
    }

    /// Wait until the member says it serves clients (etcd's ready line); the first address it
    /// said it serves on.
    pub fn wait_ready(&self, timeout: Duration) -> String {
        match self.ready.recv_timeout(timeout) {
            Ok(address) => address.expect("the log names the client address"),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                panic!("detcd did not get ready:\n{}", self.log())
            }
        }
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the child is reaped");
    }

    /// Send SIGTERM and wait for the process to exit; its exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        self.child.wait().expect("the child is reaped")
    }

    /// Wait up to `timeout` for the process to exit by itself; its exit status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("the child can be polled") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Already reaped (killed, terminated or exited) when these fail.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
