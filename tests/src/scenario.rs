//! Running several scenarios in one environment (environments are expensive on a 2-core
//! machine) while still reporting every failing scenario, not only the first.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::env::Env;

/// A named test step that gets the shared environment.
pub type Scenario = (&'static str, fn(&Env));

/// Runs each scenario, catching its panic; resets the environment after each one (containers,
/// networks, bridges, extra links). Panics at the end listing every failed scenario.
pub fn run_scenarios(env: &Env, scenarios: &[Scenario]) {
    let mut failures = Vec::new();
    for (name, scenario) in scenarios {
        let start = Instant::now();
        eprintln!("[e2e] ---- scenario {name} (environment {}) ----", env.id());
        let diagnostics_before = env.take_diagnostics_shown();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| scenario(env)));
        let elapsed = start.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => eprintln!("[e2e] scenario {name}: ok ({elapsed:.1} s)"),
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                if !env.take_diagnostics_shown() {
                    eprintln!("{}", env.diagnostics());
                }
                eprintln!("[e2e] scenario {name}: FAILED ({elapsed:.1} s)");
                let first_line = message.lines().next().unwrap_or_default().to_string();
                failures.push(format!("{name}: {first_line}"));
            }
        }
        if diagnostics_before {
            env.mark_diagnostics_shown();
        }
        for problem in env.reset() {
            eprintln!("[e2e] reset after {name}: {problem}");
        }
    }
    if !failures.is_empty() {
        env.mark_diagnostics_shown();
        panic!(
            "{} of {} scenarios failed (full messages and logs above):\n  - {}",
            failures.len(),
            scenarios.len(),
            failures.join("\n  - ")
        );
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".to_string()
    }
}
