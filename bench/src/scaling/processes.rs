//! Worker processes as the harness sees them: started, waited for, stopped, killed, paused.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::worker::Worker;
use crate::Result;

/// How long a worker may take to start and take a slot, or to stop and report.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// What a worker said when it stopped.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Finished {
    /// Events its handlers were given.
    pub(crate) handled: u64,
    /// CPU time it used, user and system.
    pub(crate) cpu: Duration,
}

/// A running worker process (killed when dropped).
pub(crate) struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Process {
    /// Starts `worker` as a process of `exe` (the harness binary).
    pub(crate) fn start(worker: &Worker, exe: &Path) -> Result<Self> {
        let mut child = worker
            .command(exe)
            .spawn()
            .map_err(|error| format!("starting a worker process ({}): {error}", exe.display()))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or("a worker process without its standard output")?;
        Ok(Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The process id, for signals.
    pub(crate) fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The next line the worker prints.
    async fn line(&mut self) -> Result<String> {
        match tokio::time::timeout(STEP_TIMEOUT, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => {
                let status = self.child.wait().await?;
                Err(format!("a worker process ended ({status}); its errors are above").into())
            }
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(format!("a worker process said nothing for {} s", STEP_TIMEOUT.as_secs()).into()),
        }
    }

    /// Waits until the worker has its slot among the workers.
    pub(crate) async fn ready(&mut self) -> Result<()> {
        while self.line().await? != "ready" {}
        Ok(())
    }

    /// Asks the worker to stop, closing its standard input.
    fn ask_to_stop(&mut self) {
        drop(self.stdin.take());
    }

    /// Asks the worker to stop and returns what it reports.
    pub(crate) async fn finish(mut self) -> Result<Finished> {
        self.ask_to_stop();
        loop {
            let line = self.line().await?;
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let ["handled", handled, "cpu_ms", cpu] = fields.as_slice() {
                let finished = Finished {
                    handled: handled.parse()?,
                    cpu: Duration::from_millis(cpu.parse()?),
                };
                let status = self.child.wait().await?;
                if !status.success() {
                    return Err(format!("a worker process ended with {status}").into());
                }
                return Ok(finished);
            }
        }
    }

    /// `kill -9`, and reaps it.
    pub(crate) async fn kill(mut self) -> Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Sends the signal `name` (`STOP`, `CONT`).
    pub(crate) async fn signal(&self, name: &str) -> Result<()> {
        let pid = self.id().ok_or("the worker process has ended")?;
        let status = tokio::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .await?;
        if !status.success() {
            return Err(format!("kill -{name} {pid} failed").into());
        }
        Ok(())
    }
}

/// Starts `count` copies of `worker` and waits until each has its slot.
pub(crate) async fn start_all(worker: &Worker, exe: &Path, count: usize) -> Result<Vec<Process>> {
    let mut processes = Vec::with_capacity(count);
    for _ in 0..count {
        processes.push(Process::start(worker, exe)?);
    }
    for process in &mut processes {
        process.ready().await?;
    }
    Ok(processes)
}

/// Stops every worker (all at once) and returns their reports, in order.
pub(crate) async fn finish_all(mut processes: Vec<Process>) -> Result<Vec<Finished>> {
    processes.iter_mut().for_each(Process::ask_to_stop);
    let mut finished = Vec::with_capacity(processes.len());
    for process in processes {
        finished.push(process.finish().await?);
    }
    Ok(finished)
}
