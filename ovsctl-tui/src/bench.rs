//! Frame-time and memory measurements: every view rendered to a ratatui `TestBackend`, with a
//! synthetic switch of N flows ([`render`]) or with live data from a real bridge ([`live`]).

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::app::{App, View};
use crate::collect::{self, Config};
use crate::fixtures;
use crate::state::{State, Update};
use crate::ui;

/// Percentiles of a set of durations.
#[derive(Debug, Clone)]
pub struct Timing {
    pub what: String,
    pub samples: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Timing {
    pub fn from(what: impl Into<String>, mut samples: Vec<Duration>) -> Timing {
        samples.sort_unstable();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Timing {
            what: what.into(),
            samples: samples.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "{:<34} n={:<5} p50 {:>7.3} ms   p99 {:>7.3} ms   max {:>7.3} ms",
            self.what,
            self.samples,
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// The machine-readable result of a benchmark run: the p50 and p99 of the slowest single
/// frame timing (every view, and a flow sample applied plus its frame: the frame budget must
/// hold for each), memory, and every timing. Timings that span several frames or keystrokes
/// (a filter typed word by word) are listed in `views` but not in the frame figures.
pub fn summary_json(
    flows: usize,
    timings: &[Timing],
    rss_mib: f64,
    peak_rss_mib: f64,
) -> serde_json::Value {
    let ms = |d: Duration| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let worst = |pick: fn(&Timing) -> Duration| {
        timings
            .iter()
            .filter(|t| is_single_frame(t))
            .map(pick)
            .max()
            .map_or(0.0, ms)
    };
    serde_json::json!({
        "flows": flows,
        "frame_p50_ms": worst(|t| t.p50),
        "frame_p99_ms": worst(|t| t.p99),
        "rss_mib": (rss_mib * 10.0).round() / 10.0,
        "peak_rss_mib": (peak_rss_mib * 10.0).round() / 10.0,
        "views": timings
            .iter()
            .map(|t| serde_json::json!({
                "what": t.what,
                "frames": t.samples,
                "p50_ms": ms(t.p50),
                "p99_ms": ms(t.p99),
                "max_ms": ms(t.max),
            }))
            .collect::<Vec<_>>(),
    })
}

/// Whether a timing measures one frame each (a view drawn, or an update applied and drawn).
fn is_single_frame(timing: &Timing) -> bool {
    timing.what.starts_with("frame ") || timing.what == "flow sample applied + frame"
}

/// Resident and peak resident memory of this process in KiB (`VmRSS`, `VmHWM`).
pub fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn draw(terminal: &mut Terminal<TestBackend>, app: &mut App) -> Duration {
    let start = Instant::now();
    terminal
        .draw(|frame| ui::render(frame, app))
        .expect("drawing to a test backend cannot fail");
    start.elapsed()
}

/// Frame times of each view scrolling through `app`'s lists.
fn frames_per_view(app: &mut App, width: u16, height: u16, frames: usize) -> Vec<Timing> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    let mut timings = Vec::new();
    for view in View::ALL {
        app.view = view;
        let mut samples = Vec::with_capacity(frames);
        for frame in 0..frames {
            let key = if frame % 50 == 49 { 'g' } else { 'j' };
            app.handle_key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char(key),
            ));
            samples.push(draw(&mut terminal, app));
        }
        timings.push(Timing::from(
            format!("frame {} ({width}x{height})", view.title()),
            samples,
        ));
    }
    timings
}

/// Synthetic benchmark: a switch with about `flows` flows on one bridge.
/// The extra synthetic flows that bring the sample switch to at least `flows` flows, and the
/// number of flows it then has (its own pipeline flows come on top of the synthetic ones).
pub fn sample_size(flows: usize) -> (usize, usize) {
    let base: usize = fixtures::state(0)
        .flows
        .values()
        .map(|bridge| bridge.rows.len())
        .sum();
    let extra = flows.saturating_sub(base);
    (extra, base + extra)
}

pub fn render(flows: usize, frames: usize, width: u16, height: u16) -> Vec<Timing> {
    let (extra, _) = sample_size(flows);
    let mut app = App::new(fixtures::state(extra));
    let mut timings = frames_per_view(&mut app, width, height, frames);

    // A new flow sample (rates, highlight, filter and sort of every row) plus one frame.
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    app.view = View::Flows;
    let mut samples = Vec::new();
    let start = Instant::now() + Duration::from_secs(100);
    for i in 0..20u64 {
        let (bridge, flows) = fixtures::web_flows_sample(extra, 12 + i);
        let begin = Instant::now();
        app.on_update(Update::Flows {
            bridge,
            at: start + Duration::from_secs(i),
            flows,
        });
        draw(&mut terminal, &mut app);
        samples.push(begin.elapsed());
    }
    timings.push(Timing::from("flow sample applied + frame", samples));

    // Filtering 10k flows as the user types.
    let mut samples = Vec::new();
    for text in ["n", "nw", "nw_", "nw_dst=10.100.1.7", "output:2", ""] {
        app.handle_key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('/'),
        ));
        let begin = Instant::now();
        for c in text.chars() {
            app.handle_key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char(c),
            ));
        }
        app.handle_key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Enter,
        ));
        draw(&mut terminal, &mut app);
        samples.push(begin.elapsed());
        app.handle_key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Esc,
        ));
    }
    timings.push(Timing::from("filter typed + frame", samples));
    timings
}

/// What [`live`] measured.
#[derive(Debug, Clone)]
pub struct LiveReport {
    pub flows: usize,
    pub samples_applied: usize,
    pub wait_for_flows: Duration,
    pub timings: Vec<Timing>,
}

/// Live benchmark: the real collectors against real daemons; waits until `bridge` shows at
/// least `min_flows` flows, then for `duration` applies updates as they come and draws every
/// view in turn, measuring each frame and each applied update.
pub async fn live(
    config: Config,
    bridge: &str,
    min_flows: usize,
    duration: Duration,
    width: u16,
    height: u16,
) -> Result<LiveReport, String> {
    let (mut updates, _control) = collect::spawn(config);
    let mut app = App::new(State::default());
    let started = Instant::now();
    while app.state.flow_count(bridge) < min_flows {
        let wait = Duration::from_secs(60).saturating_sub(started.elapsed());
        match tokio::time::timeout(wait, updates.recv()).await {
            Ok(Some(update)) => {
                app.on_update(update);
            }
            Ok(None) => return Err("collectors stopped".to_string()),
            Err(_) => {
                return Err(format!(
                    "after 60 s {bridge} shows {} flows, fewer than {min_flows}; status: {:?}",
                    app.state.flow_count(bridge),
                    app.state.status
                ))
            }
        }
    }
    let wait_for_flows = started.elapsed();
    app.flow_scope = Some(bridge.to_string());
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    let mut frames: Vec<Vec<Duration>> = vec![Vec::new(); View::ALL.len()];
    let mut applied = Vec::new();
    let mut flow_samples = 0;
    let end = Instant::now() + duration;
    let mut turn = 0usize;
    while Instant::now() < end {
        while let Ok(update) = updates.try_recv() {
            let is_flows = matches!(update, Update::Flows { .. });
            let begin = Instant::now();
            app.on_update(update);
            app.refresh_lists();
            if is_flows {
                applied.push(begin.elapsed());
                flow_samples += 1;
            }
        }
        let view = View::ALL[turn % View::ALL.len()];
        app.view = view;
        app.handle_key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('j'),
        ));
        frames[turn % View::ALL.len()].push(draw(&mut terminal, &mut app));
        turn += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut timings: Vec<Timing> = View::ALL
        .iter()
        .zip(frames)
        .map(|(view, samples)| {
            Timing::from(
                format!("live frame {} ({width}x{height})", view.title()),
                samples,
            )
        })
        .collect();
    timings.push(Timing::from("live flow sample applied", applied));
    Ok(LiveReport {
        flows: app.state.flow_count(bridge),
        samples_applied: flow_samples,
        wait_for_flows,
        timings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_the_slowest_view() {
        let ms = Duration::from_millis;
        let timings = vec![
            Timing::from("frame Networks (160x48)", vec![ms(1), ms(2), ms(3)]),
            Timing::from("frame Flows (160x48)", vec![ms(4), ms(5), ms(9)]),
            Timing::from("filter typed + frame", vec![ms(40), ms(50)]),
        ];
        let json = summary_json(10_000, &timings, 20.04, 25.0);
        assert_eq!(json["flows"], 10_000);
        assert_eq!(json["frame_p50_ms"], 5.0);
        assert_eq!(json["frame_p99_ms"], 9.0);
        assert_eq!(json["rss_mib"], 20.0);
        assert_eq!(json["views"].as_array().map(Vec::len), Some(3));
        assert_eq!(json["views"][2]["p99_ms"], 50.0);
    }

    #[test]
    fn the_sample_has_at_least_the_flows_asked_for() {
        let (extra, total) = sample_size(0);
        assert_eq!(extra, 0);
        assert!(total > 10, "{total}");
        let (extra, exact) = sample_size(total + 100);
        assert_eq!((extra, exact), (100, total + 100));
        let state = fixtures::state(extra);
        let counted: usize = state.flows.values().map(|b| b.rows.len()).sum();
        assert_eq!(counted, exact);
    }
}
