//! Running external commands with a deadline and capturing their output.
//!
//! Every command the harness runs goes through [`run`], so a hung `docker` or `ovs-vsctl` turns
//! into a readable failure instead of a test that never ends.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What a finished (or killed) command left behind.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit code; `None` when the command was killed by a signal or could not be spawned.
    pub code: Option<i32>,
    /// Captured standard output (lossy UTF-8).
    pub stdout: String,
    /// Captured standard error (lossy UTF-8); also holds the spawn error if spawning failed.
    pub stderr: String,
    /// True when the deadline passed and the command was killed.
    pub timed_out: bool,
    /// Wall time until exit (or kill).
    pub elapsed: Duration,
}

impl CmdOutput {
    /// Exit code 0 within the deadline.
    pub fn success(&self) -> bool {
        !self.timed_out && self.code == Some(0)
    }

    /// Standard output with surrounding whitespace removed.
    pub fn stdout_trimmed(&self) -> String {
        self.stdout.trim().to_string()
    }

    /// Trimmed standard output on success, else [`CmdOutput::describe`]: for polling and for
    /// checks that report rather than panic.
    pub fn result(&self) -> Result<String, String> {
        if self.success() {
            Ok(self.stdout_trimmed())
        } else {
            Err(self.describe())
        }
    }

    /// Standard output and standard error, joined, for "contains" checks on error messages.
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// One line: command, how it ended, how long it took.
    pub fn summary(&self) -> String {
        let ending = if self.timed_out {
            "TIMED OUT (killed)".to_string()
        } else {
            match self.code {
                Some(code) => format!("exit {code}"),
                None => "killed by a signal / not spawned".to_string(),
            }
        };
        format!(
            "`{}` -> {} after {:.1} s",
            self.command,
            ending,
            self.elapsed.as_secs_f64()
        )
    }

    /// Multi-line description with both output streams, for panic messages.
    pub fn describe(&self) -> String {
        let mut text = self.summary();
        for (name, stream) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let stream = stream.trim_end();
            if !stream.is_empty() {
                let _ = write!(text, "\n--- {name} ---\n{}", clip(stream, 6000));
            }
        }
        text
    }
}

/// Keeps the last `max` bytes of `text` (on a char boundary), marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[... {} bytes cut ...]{}", start, &text[start..])
}

/// Renders a command line for messages (arguments with spaces are quoted).
pub fn render_command(command: &Command) -> String {
    let quote = |part: &OsStr| {
        let part = part.to_string_lossy();
        if part.is_empty() || part.contains(|c: char| c.is_whitespace() || c == '"') {
            format!("'{part}'")
        } else {
            part.into_owned()
        }
    };
    std::iter::once(quote(command.get_program()))
        .chain(command.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` with stdin closed, capturing both streams; kills it once `timeout` has passed.
///
/// Never panics: a spawn failure is reported in `stderr` with `code: None`.
pub fn run(mut command: Command, timeout: Duration) -> CmdOutput {
    let rendered = render_command(&command);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            return CmdOutput {
                command: rendered,
                code: None,
                stdout: String::new(),
                stderr: format!("failed to spawn: {error}"),
                timed_out: false,
                elapsed: start.elapsed(),
            }
        }
    };
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());

    let mut timed_out = false;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(_) => break None,
        }
    };
    let elapsed = start.elapsed();
    // A daemon started by the command may still hold the pipes open: do not wait for it forever.
    let collect = |receiver: mpsc::Receiver<String>| {
        receiver
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_else(|_| "[output still held open by a background process]".to_string())
    };
    CmdOutput {
        command: rendered,
        code: status.and_then(|status| status.code()),
        stdout: collect(stdout),
        stderr: collect(stderr),
        timed_out,
        elapsed,
    }
}

fn read_in_background(stream: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_end(&mut bytes);
        }
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_exit_code() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let output = run(command, Duration::from_secs(10));
        assert_eq!(output.code, Some(3));
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");
        assert!(!output.success());
        assert!(output.describe().contains("exit 3"));
    }

    #[test]
    fn kills_commands_that_overrun_their_deadline() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let output = run(command, Duration::from_millis(200));
        assert!(output.timed_out);
        assert!(!output.success());
        assert!(output.elapsed < Duration::from_secs(10));
    }

    #[test]
    fn reports_spawn_failures_without_panicking() {
        let output = run(Command::new("/nonexistent/program"), Duration::from_secs(1));
        assert_eq!(output.code, None);
        assert!(output.stderr.contains("failed to spawn"));
    }

    #[test]
    fn clip_keeps_the_tail() {
        assert_eq!(clip("abc", 10), "abc");
        let clipped = clip("0123456789", 4);
        assert!(clipped.ends_with("6789"), "{clipped}");
    }
}
