//! Polling for a condition with a deadline, keeping the last reason it was not met.

use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::CmdOutput;

/// Why one attempt of [`poll`] did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Not yet: try again after the interval.
    Retry(String),
    /// Will never succeed (e.g. the daemon we wait for exited): stop now.
    Fatal(String),
}

impl From<String> for Attempt {
    fn from(reason: String) -> Self {
        Attempt::Retry(reason)
    }
}

/// Calls `check` until it returns `Ok` or a fatal error, every `interval`, for at most
/// `timeout`. Errors name `what` and carry the last reason `check` gave.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Result<T, Attempt>,
) -> Result<T, String> {
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match check() {
            Ok(value) => return Ok(value),
            Err(Attempt::Fatal(reason)) => {
                return Err(format!(
                    "gave up waiting for {what} after {:.1} s: {reason}",
                    start.elapsed().as_secs_f64()
                ))
            }
            Err(Attempt::Retry(reason)) if start.elapsed() >= timeout => {
                return Err(format!(
                    "gave up waiting for {what} after {:.1} s ({attempts} attempts); last error:\n{reason}",
                    start.elapsed().as_secs_f64()
                ))
            }
            Err(Attempt::Retry(_)) => thread::sleep(interval),
        }
    }
}

/// [`poll`] with a 300 ms interval, for checks whose every error is worth a retry.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    poll(what, timeout, Duration::from_millis(300), || {
        check().map_err(Attempt::Retry)
    })
}

/// [`wait_until`] for a command: runs `attempt` until its command succeeds; the error carries
/// the last failed run's description.
pub fn wait_for_success(
    what: &str,
    timeout: Duration,
    mut attempt: impl FnMut() -> CmdOutput,
) -> Result<(), String> {
    wait_until(what, timeout, || attempt().result().map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_success() {
        let mut calls = 0;
        let value = poll(
            "three calls",
            Duration::from_secs(5),
            Duration::ZERO,
            || {
                calls += 1;
                if calls == 3 {
                    Ok(calls)
                } else {
                    Err(format!("call {calls}").into())
                }
            },
        );
        assert_eq!(value, Ok(3));
    }

    #[test]
    fn reports_the_last_error_on_timeout() {
        let error = wait_until::<()>("never", Duration::from_millis(50), || {
            Err("still not".to_string())
        })
        .unwrap_err();
        assert!(
            error.contains("never") && error.contains("still not"),
            "{error}"
        );
    }

    #[test]
    fn stops_at_a_fatal_error() {
        let start = Instant::now();
        let error = poll::<()>(
            "doomed",
            Duration::from_secs(30),
            Duration::from_millis(10),
            || Err(Attempt::Fatal("exited".to_string())),
        )
        .unwrap_err();
        assert!(error.contains("exited"), "{error}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    fn exited(code: i32, stderr: &str) -> CmdOutput {
        CmdOutput {
            command: "ping 10.0.0.1".into(),
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
            timed_out: false,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn waits_for_a_command_to_succeed() {
        let mut runs = 0;
        let outcome = wait_for_success("a ping", Duration::from_secs(5), || {
            runs += 1;
            exited(if runs < 2 { 1 } else { 0 }, "unreachable")
        });
        assert_eq!((outcome, runs), (Ok(()), 2));
    }

    #[test]
    fn a_command_that_never_succeeds_reports_its_last_run() {
        let error = wait_for_success("a ping", Duration::from_millis(50), || {
            exited(1, "network unreachable")
        })
        .unwrap_err();
        assert!(
            error.contains("a ping")
                && error.contains("exit 1")
                && error.contains("network unreachable"),
            "{error}"
        );
    }
}
