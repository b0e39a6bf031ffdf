//! The interactive loop: terminal setup and restore (also on error and panic), a thread that
//! reads keys, the collectors' update channel, and drawing. Nothing here waits for a daemon.

use std::io::{self, stdout};
use std::time::Duration;

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use crate::app::{Action, App};
use crate::collect::{self, Config};
use crate::state::State;
use crate::ui;

/// Puts the terminal back: cooked mode, main screen, visible cursor. Safe to call twice.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, cursor::Show);
}

/// Restores the terminal when dropped (normal exit and `?` errors).
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Restores the terminal before the panic message is printed.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Reads terminal events on a thread of its own (crossterm's reads block).
fn spawn_event_reader() -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("keys".to_string())
        .spawn(move || loop {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "reading terminal events");
                        return;
                    }
                },
                Ok(false) if tx.is_closed() => return,
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(%error, "polling terminal events");
                    return;
                }
            }
        })
        .expect("spawn the key reader thread");
    rx
}

/// Runs the TUI until the user quits.
pub async fn run(config: Config) -> io::Result<()> {
    install_panic_hook();
    let _guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    terminal.clear()?;
    let (mut updates, control) = collect::spawn(config);
    let mut events = spawn_event_reader();
    let mut app = App::new(State::default());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|frame| ui::render(frame, &mut app))?;
            dirty = false;
        }
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                    match app.handle_key(key) {
                        Action::Quit => break,
                        Action::Trace { bridge, flow } => {
                            tracing::info!(%bridge, %flow, "trace");
                            control.trace(bridge, flow);
                        }
                        Action::Paused(paused) => control.set_paused(paused),
                        Action::None => {}
                    }
                    dirty = true;
                }
                Some(Event::Resize(..)) => {
                    terminal.autoresize()?;
                    dirty = true;
                }
                Some(_) => {}
                None => break,
            },
            update = updates.recv() => {
                let Some(update) = update else { break };
                dirty |= app.on_update(update);
                // Apply whatever else is queued before drawing once.
                while let Ok(update) = updates.try_recv() {
                    dirty |= app.on_update(update);
                }
            }
            _ = tick.tick() => dirty = true,
        }
    }
    Ok(())
}
