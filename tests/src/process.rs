//! Processes of the tests' own binaries (a relay, a consumer, a partition worker) that the fault
//! tests kill with `kill -9` (or pause with `SIGSTOP`) at random moments, and the reproducible "random" moments themselves.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process, killed when dropped, so that a failing test leaves none behind.
pub struct Killable(Child);

impl Killable {
    /// Starts `command` with its standard input kept open (the test binaries end when it closes,
    /// that is when the test is gone) and waits until it prints `ready`.
    pub async fn start(mut command: Command) -> Self {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = Killable(command.spawn().expect("start the process"));
        let stdout = child.0.stdout.take().expect("its stdout");
        let ready = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .expect("the process is ready within 30 s")
            .expect("the reading thread")
            .expect("its first line");
        assert_eq!(line.trim(), "ready", "the process said {line:?}");
        child
    }

    /// Sends the signal `name` (`STOP`, `CONT`) with `kill -<name>`.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.0.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// `kill -9`, and reap it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small xorshift generator: the tests' "random" moments, reproducible from the printed seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `CHRONICLE_TEST_SEED` when it is set (to replay a failed run), else from the
    /// process id; printing the seed either way.
    pub fn seeded() -> Self {
        let seed = std::env::var("CHRONICLE_TEST_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| u64::from(std::process::id()) ^ 0x9E37_79B9_7F4A_7C15)
            .max(1);
        println!("kill moments seeded with {seed} (replay with CHRONICLE_TEST_SEED={seed})");
        Rng(seed)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// A pause of up to `longest`.
    pub fn pause(&mut self, longest: Duration) -> Duration {
        Duration::from_millis(self.below(u64::try_from(longest.as_millis()).unwrap_or(u64::MAX).max(1)))
    }
}

/// For the test binaries: ends the process when its standard input closes (the test that
/// started it is gone) or after `lifetime`, whichever comes first, so that none outlives its test.
pub fn end_with_the_test(lifetime: Duration) {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    std::thread::spawn(move || {
        std::thread::sleep(lifetime);
        std::process::exit(0);
    });
}

/// For the test binaries: the environment variable `name`, which the test must have set.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}
