//! What the sweep tests share: the binary, a scratch directory, and two small scenarios whose
//! verdicts do not depend on the seed, one passing and one failing.

#![allow(dead_code)] // Each test file uses some of these.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn detcd_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_detcd-sim"))
        .args(args)
        .output()
        .expect("detcd-sim starts")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh directory of its own for the test `name`, removed when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("detcd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("the scratch directory can be made");
        Scratch(path)
    }

    pub fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }

    /// Write the passing and the failing scenario here; their paths, in that order.
    pub fn scenarios(&self) -> (String, String) {
        let passes = self.write("passes.txt", &script("10s"));
        // No cluster serves again within 0 ms of the heal: a liveness failure on every seed.
        let fails = self.write("fails.txt", &script("0s"));
        (passes, fails)
    }

    fn write(&self, file: &str, text: &str) -> String {
        std::fs::write(self.0.join(file), text).expect("the scratch file can be written");
        self.path(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Three members on a healthy network for two seconds, then the recovery check within `recover`.
fn script(recover: &str) -> String {
    format!("# A short healthy run.\n\ncluster 3\nclients 2\n\nrun 2s\ncheck recover={recover}\n")
}

pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).expect("the file was written")
}
