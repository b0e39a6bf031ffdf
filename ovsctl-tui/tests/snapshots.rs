//! Snapshot tests of every view at 80x24 and 160x48, drawn from the sample switch in
//! `ovsctl_tui::fixtures` on a ratatui TestBackend.

use crossterm::event::{KeyCode, KeyEvent};
use ovsctl_tui::app::{App, View};
use ovsctl_tui::fixtures;
use ovsctl_tui::state::{Conn, Update};
use ovsctl_tui::ui::render_to_text;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn app() -> App {
    App::new(fixtures::state(0))
}

fn keys(app: &mut App, keys: &str) {
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            c => KeyCode::Char(c),
        };
        app.handle_key(KeyEvent::from(code));
    }
}

fn check(name: &str, setup: impl Fn(&mut App)) {
    for (width, height) in SIZES {
        let mut app = app();
        setup(&mut app);
        let text = render_to_text(&mut app, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), text);
    }
}

#[test]
fn networks_view() {
    check("networks", |_| {});
}

#[test]
fn endpoints_view_of_all_networks() {
    check("endpoints", |app| keys(app, "2"));
}

#[test]
fn endpoints_after_enter_on_a_network_and_a_sort() {
    // Enter on the first network (web), then five `s` from the default column (network):
    // container, ofport, address, rx, tx. So sorted by transmitted packets/s, largest first.
    check("endpoints_drilled_sorted", |app| keys(app, "\nsssss"));
}

#[test]
fn flows_view_of_one_bridge() {
    check("flows", |app| {
        keys(app, "3a");
        assert_eq!(app.view, View::Flows);
    });
}

#[test]
fn flows_filtered_by_field() {
    check("flows_filtered", |app| keys(app, "3/nw_src=10.20.0.2\n"));
}

#[test]
fn flows_of_an_endpoint_from_enter() {
    // Networks -> web -> first endpoint (web-1) -> its flows.
    check("flows_of_endpoint", |app| keys(app, "\n\n"));
}

#[test]
fn trace_view_with_a_result() {
    check("trace", |app| {
        keys(app, "4jlh");
        app.on_update(Update::Trace(Ok(fixtures::TRACE_RESULT.to_string())));
    });
}

#[test]
fn help_overlay() {
    check("help", |app| keys(app, "?"));
}

#[test]
fn banners_when_daemons_are_gone() {
    check("banners", |app| {
        app.on_update(Update::OvsdbStatus(Conn::Down(
            "connect unix:/run/openvswitch/db.sock: Connection refused".into(),
        )));
        let bridge = app.state.inventory.networks[0].bridge.clone();
        app.on_update(Update::OpenFlowStatus {
            bridge,
            status: Conn::Down("Connection refused".into()),
        });
        app.on_update(Update::Error("fdb/show br-ext: no such bridge".into()));
        keys(app, "p");
    });
}
