//! Drawing the [`App`] with ratatui: header with the view tabs, banners for daemons that are
//! gone, the current view, the filter line and the status line. Lists draw only their visible
//! rows, so a frame costs the same with ten flows or ten thousand.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::Frame;

use crate::app::{App, Input, TraceField, View, KEYS};
use crate::format;
use crate::state::{Conn, Status};

/// A table column: header, width, and how important it is when space is short (0 = always).
#[derive(Debug, Clone, Copy)]
struct Column {
    title: &'static str,
    width: u16,
    priority: u8,
    /// Takes a share of the leftover width (`width` is its minimum).
    flex: u16,
    right: bool,
}

const fn col(title: &'static str, width: u16, priority: u8) -> Column {
    Column {
        title,
        width,
        priority,
        flex: 0,
        right: false,
    }
}

const fn num(title: &'static str, width: u16, priority: u8) -> Column {
    Column {
        right: true,
        ..col(title, width, priority)
    }
}

const fn flex(title: &'static str, width: u16, priority: u8, share: u16) -> Column {
    Column {
        flex: share,
        ..col(title, width, priority)
    }
}

/// The columns that fit in `available` cells, most important first, in their original order,
/// with their final widths.
fn fit(columns: &[Column], available: u16) -> Vec<(usize, u16)> {
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_key(|&i| (columns[i].priority, i));
    let mut chosen = Vec::new();
    let mut used: u16 = 0;
    for i in order {
        let need = columns[i].width + u16::from(!chosen.is_empty());
        if used + need <= available {
            used += need;
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    let spare = available.saturating_sub(used);
    let shares: u16 = chosen.iter().map(|&i| columns[i].flex).sum();
    let mut widths: Vec<(usize, u16)> = chosen.iter().map(|&i| (i, columns[i].width)).collect();
    let mut given = 0;
    let flexible: Vec<usize> = (0..widths.len())
        .filter(|&k| columns[widths[k].0].flex > 0)
        .collect();
    for (n, &k) in flexible.iter().enumerate() {
        let extra = if n + 1 == flexible.len() {
            spare - given
        } else {
            (spare * columns[widths[k].0].flex)
                .checked_div(shares)
                .unwrap_or(0)
        };
        given += extra;
        widths[k].1 += extra;
    }
    widths
}

/// Builds a table showing `rows` (already the visible window) under `columns`.
fn table<'a>(
    columns: &[Column],
    widths: &[(usize, u16)],
    rows: Vec<(Vec<String>, Style)>,
    block: Block<'a>,
) -> Table<'a> {
    let header = Row::new(widths.iter().map(|&(i, _)| {
        let c = &columns[i];
        let line = Line::from(c.title);
        Cell::from(if c.right { line.right_aligned() } else { line })
    }))
    .style(Style::new().add_modifier(Modifier::BOLD).fg(Color::Cyan));
    let body = rows.into_iter().map(|(cells, style)| {
        Row::new(widths.iter().map(|&(i, w)| {
            let text = cells.get(i).map(String::as_str).unwrap_or("");
            let text = format::clip(text, 0, usize::from(w));
            let line = Line::from(text);
            Cell::from(if columns[i].right {
                line.right_aligned()
            } else {
                line
            })
        }))
        .style(style)
    });
    Table::new(body, widths.iter().map(|&(_, w)| Constraint::Length(w)))
        .header(header)
        .column_spacing(1)
        .block(block)
}

fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

fn block(title: String) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Span::styled(title, Style::new().bold()))
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &mut App) {
    app.refresh_lists();
    let area = frame.area();
    let banners = app.state.status.banners();
    let filter_line = u16::from(app.input == Some(Input::Filter) || has_filter(app));
    let [header, banner_area, main, filter_area, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length((banners.len() as u16).min(area.height / 4)),
        Constraint::Min(3),
        Constraint::Length(filter_line),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, app, header);
    render_banners(frame, &banners, banner_area);
    match app.view {
        View::Networks => render_networks(frame, app, main),
        View::Endpoints => render_endpoints(frame, app, main),
        View::Flows => render_flows(frame, app, main),
        View::Trace => render_trace(frame, app, main),
    }
    if filter_line > 0 {
        render_filter(frame, app, filter_area);
    }
    render_status(frame, app, status);
    if app.help {
        render_help(frame, area);
    }
}

fn has_filter(app: &App) -> bool {
    match app.view {
        View::Networks => !app.networks.filter_text.is_empty(),
        View::Endpoints => !app.endpoints.filter_text.is_empty(),
        View::Flows => !app.flows.filter_text.is_empty(),
        View::Trace => false,
    }
}

fn render_header(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::styled(
        " ovsctl-tui ",
        Style::new().bold().fg(Color::Black).bg(Color::Cyan),
    )];
    for (i, view) in View::ALL.iter().enumerate() {
        spans.push(Span::raw(" "));
        let text = format!("{} {}", i + 1, view.title());
        spans.push(if *view == app.view {
            Span::styled(text, Style::new().bold().add_modifier(Modifier::REVERSED))
        } else {
            Span::styled(text, Style::new().fg(Color::Gray))
        });
    }
    if app.paused() {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            " PAUSED ",
            Style::new().bold().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    frame.render_widget(Line::from(spans), area);
}

fn render_banners(frame: &mut Frame, banners: &[String], area: Rect) {
    let lines: Vec<Line> = banners
        .iter()
        .map(|b| Line::from(format!(" ⚠ {b}")))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).style(Style::new().fg(Color::White).bg(Color::Red).bold()),
        area,
    );
}

fn conn_span(name: &str, conn: &Conn) -> Vec<Span<'static>> {
    let color = match conn {
        Conn::Up => Color::Green,
        Conn::Down(_) => Color::Red,
        Conn::Connecting => Color::Yellow,
        Conn::Off => Color::DarkGray,
    };
    vec![
        Span::raw(format!("{name} ")),
        Span::styled(conn.label(), Style::new().fg(color).bold()),
    ]
}

/// One state for all bridges' OpenFlow connections: down if one is, up if all are, `off` when
/// OVSDB is up and lists no bridge (nothing to connect to), else connecting.
fn openflow_summary(status: &Status) -> Conn {
    if status.openflow.is_empty() {
        if status.ovsdb.is_up() {
            Conn::Off
        } else {
            Conn::Connecting
        }
    } else if let Some((_, reason)) = status.openflow_down().first() {
        Conn::Down(reason.to_string())
    } else if status.openflow.values().all(Conn::is_up) {
        Conn::Up
    } else {
        Conn::Connecting
    }
}

fn render_status(frame: &mut Frame, app: &App, area: Rect) {
    let status = &app.state.status;
    let openflow = openflow_summary(status);
    let mut spans = vec![Span::raw(" ")];
    spans.extend(conn_span("ovsdb", &status.ovsdb));
    spans.push(Span::raw(" │ "));
    spans.extend(conn_span("openflow", &openflow));
    spans.push(Span::raw(" │ "));
    spans.extend(conn_span("docker", &status.docker));
    let columns = app.view.sort_columns();
    let sort = match app.view {
        View::Networks => Some((app.networks.sort, app.networks.reverse)),
        View::Endpoints => Some((app.endpoints.sort, app.endpoints.reverse)),
        View::Flows => Some((app.flows.sort, app.flows.reverse)),
        View::Trace => None,
    };
    if let Some((column, reverse)) = sort {
        spans.push(Span::raw(format!(
            " │ sort {}{}",
            columns[column],
            if reverse { " ↕" } else { "" }
        )));
    }
    let help = Line::from(Span::styled(
        "? help  q quit ",
        Style::new().fg(Color::DarkGray),
    ));
    // The help goes right, after at least one blank. The error before it is cut short (with
    // `…`); when not even its first few characters would fit, the help makes room for it.
    const ERROR_MIN: usize = 16;
    let fixed: usize = spans.iter().map(Span::width).sum();
    let error_prefix = " │ error: ".chars().count();
    let shortest = fixed
        + status.last_error.as_ref().map_or(0, |error| {
            error_prefix + error.chars().count().min(ERROR_MIN)
        });
    let help_width = if shortest + 1 + help.width() <= usize::from(area.width) {
        help.width() as u16
    } else {
        0
    };
    let [left, _, right] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(u16::from(help_width > 0)),
        Constraint::Length(help_width),
    ])
    .areas(area);
    if let Some(error) = &status.last_error {
        let room = usize::from(left.width).saturating_sub(fixed + error_prefix);
        spans.push(Span::raw(" │ "));
        spans.push(Span::styled(
            format!("error: {}", format::clip(error, 0, room)),
            Style::new().fg(Color::Red),
        ));
    }
    frame.render_widget(Line::from(spans), left);
    if help_width > 0 {
        frame.render_widget(help.right_aligned(), right);
    }
}

fn render_filter(frame: &mut Frame, app: &App, area: Rect) {
    let (text, shown, total) = match app.view {
        View::Networks => (
            &app.networks.filter_text,
            app.networks.rows.len(),
            app.state.inventory.networks.len(),
        ),
        View::Endpoints => (
            &app.endpoints.filter_text,
            app.endpoints.rows.len(),
            app.state.inventory.endpoints().count(),
        ),
        _ => (
            &app.flows.filter_text,
            app.flows.rows.len(),
            app.flow_bridges
                .iter()
                .map(|b| app.state.flow_count(b))
                .sum(),
        ),
    };
    let editing = app.input == Some(Input::Filter);
    let mut spans = vec![
        Span::styled(" /", Style::new().fg(Color::Yellow).bold()),
        Span::raw(text.clone()),
    ];
    if editing {
        spans.push(Span::styled("▏", Style::new().fg(Color::Yellow)));
    }
    spans.push(Span::styled(
        format!("   {shown} of {total}"),
        Style::new().fg(Color::DarkGray),
    ));
    if editing {
        spans.push(Span::styled(
            "   Enter keep · Esc cancel",
            Style::new().fg(Color::DarkGray),
        ));
    }
    frame.render_widget(Line::from(spans), area);
}

/// The list area inside a bordered block minus the header row.
fn list_height(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(3))
}

// ---------------------------------------------------------------------- networks

const NETWORK_COLUMNS: [Column; 12] = [
    col("BRIDGE", 15, 0),
    col("NETWORK", 12, 0),
    flex("SUBNETS", 14, 1, 1),
    col("GATEWAY", 14, 2),
    col("DP", 6, 3),
    col("OWNER", 7, 4),
    num("EPS", 3, 1),
    num("FLOWS", 6, 2),
    num("RX PPS", 7, 1),
    num("TX PPS", 7, 1),
    num("RX BPS", 7, 3),
    num("TX BPS", 7, 3),
];

fn render_networks(frame: &mut Frame, app: &mut App, area: Rect) {
    let detail_height = if app.detail && area.height >= 14 {
        area.height * 2 / 5
    } else {
        0
    };
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(detail_height)]).areas(area);
    let height = list_height(list_area);
    app.page = height;
    app.networks.scroll_into_view(height);
    let list = &app.networks;
    let state = &app.state;
    let rows = list
        .rows
        .iter()
        .enumerate()
        .skip(list.offset)
        .take(height)
        .filter_map(|(pos, &i)| {
            let n = app.network_at(i)?;
            let (rx, tx, rx_bytes, tx_bytes) = state.bridge_rates(&n.bridge);
            let owner = n.owner();
            let cells = vec![
                n.bridge.clone(),
                if n.managed {
                    n.label()
                } else {
                    "(not docker)".to_string()
                },
                n.subnets.join(","),
                n.gateways
                    .iter()
                    .map(|g| g.split('/').next().unwrap_or(g))
                    .collect::<Vec<_>>()
                    .join(","),
                if n.datapath_type.is_empty() {
                    "system".to_string()
                } else {
                    n.datapath_type.clone()
                },
                owner.to_string(),
                n.endpoints.len().to_string(),
                format::count(state.flow_count(&n.bridge) as u64),
                format::rate(rx),
                format::rate(tx),
                format::bit_rate(rx_bytes),
                format::bit_rate(tx_bytes),
            ];
            let mut style = if n.managed {
                Style::new()
            } else {
                Style::new().fg(Color::DarkGray)
            };
            if pos == list.selected {
                style = style.patch(selected_style());
            }
            Some((cells, style))
        })
        .collect();
    let widths = fit(&NETWORK_COLUMNS, list_area.width.saturating_sub(2));
    let title = format!(" Networks ({}) ", list.rows.len());
    frame.render_widget(
        table(&NETWORK_COLUMNS, &widths, rows, block(title)),
        list_area,
    );
    if detail_height > 0 {
        render_network_detail(frame, app, detail_area);
    }
}

const PORT_COLUMNS: [Column; 9] = [
    col("PORT", 15, 0),
    num("OFPORT", 6, 0),
    col("TYPE", 8, 2),
    col("LINK", 4, 1),
    num("MTU", 5, 3),
    num("RX PPS", 6, 1),
    num("TX PPS", 6, 1),
    num("DROPS", 5, 2),
    flex("ERROR", 5, 4, 1),
];

fn render_network_detail(frame: &mut Frame, app: &App, area: Rect) {
    let Some(network) = app.selected_network() else {
        frame.render_widget(block(" Ports ".to_string()), area);
        return;
    };
    let [ports_area, fdb_area] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
    let height = list_height(ports_area);
    let rows = network
        .ports
        .iter()
        .take(height)
        .map(|p| {
            let counters = app.state.port(&network.bridge, p.ofport);
            let ofport = match p.ofport {
                Some(65534) => "LOCAL".to_string(),
                Some(n) => n.to_string(),
                None => "-".to_string(),
            };
            let cells = vec![
                p.name.clone(),
                ofport,
                if p.kind.is_empty() {
                    "system".to_string()
                } else {
                    p.kind.clone()
                },
                p.link_state.clone().unwrap_or_else(|| "-".into()),
                p.mtu.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                format::rate(counters.map_or(0.0, |c| c.rx_pps)),
                format::rate(counters.map_or(0.0, |c| c.tx_pps)),
                format::count(counters.map_or(0, |c| c.drops())),
                p.error.clone().unwrap_or_default(),
            ];
            let style = if p.error.is_some() {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            };
            (cells, style)
        })
        .collect();
    let widths = fit(&PORT_COLUMNS, ports_area.width.saturating_sub(2));
    let title = format!(" Ports of {} ({}) ", network.bridge, network.ports.len());
    frame.render_widget(
        table(&PORT_COLUMNS, &widths, rows, block(title)),
        ports_area,
    );
    let fdb = app
        .state
        .fdb
        .get(&network.bridge)
        .map(String::as_str)
        .unwrap_or("(no fdb/show answer yet)");
    frame.render_widget(
        Paragraph::new(fdb.trim_end().to_string()).block(block(" FDB ".to_string())),
        fdb_area,
    );
}

// ---------------------------------------------------------------------- endpoints

const ENDPOINT_COLUMNS: [Column; 14] = [
    col("CONTAINER", 14, 0),
    col("NETWORK", 12, 2),
    col("ENDPOINT", 12, 3),
    col("PORT", 15, 4),
    num("OFPORT", 6, 1),
    col("MAC", 17, 2),
    col("IPV4", 15, 0),
    flex("IPV6", 12, 3, 1),
    col("LINK", 4, 1),
    num("RX PPS", 6, 1),
    num("TX PPS", 6, 1),
    num("RX BPS", 7, 3),
    num("TX BPS", 7, 3),
    num("DROPS", 5, 2),
];

fn render_endpoints(frame: &mut Frame, app: &mut App, area: Rect) {
    let spark_height = if area.height >= 12 { 5 } else { 0 };
    let [list_area, spark_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(spark_height)]).areas(area);
    let height = list_height(list_area);
    app.page = height;
    app.endpoints.scroll_into_view(height);
    let list = &app.endpoints;
    let rows = list
        .rows
        .iter()
        .enumerate()
        .skip(list.offset)
        .take(height)
        .filter_map(|(pos, &r)| {
            let e = app.endpoint_at(r)?;
            let counters = app.state.port(&e.bridge, e.ofport);
            let cells = vec![
                e.label(),
                e.network_name
                    .clone()
                    .or_else(|| e.network_id.as_deref().map(crate::cookie::id_prefix))
                    .unwrap_or_else(|| e.bridge.clone()),
                e.endpoint_id
                    .as_deref()
                    .map(crate::cookie::id_prefix)
                    .unwrap_or_else(|| "-".into()),
                e.port.clone(),
                e.ofport
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                e.mac.clone().unwrap_or_else(|| "-".into()),
                e.ipv4.join(","),
                e.ipv6.join(","),
                e.link_state.clone().unwrap_or_else(|| "-".into()),
                format::rate(counters.map_or(0.0, |c| c.rx_pps)),
                format::rate(counters.map_or(0.0, |c| c.tx_pps)),
                format::bit_rate(counters.map_or(0.0, |c| c.rx_bps)),
                format::bit_rate(counters.map_or(0.0, |c| c.tx_bps)),
                format::count(counters.map_or(0, |c| c.drops())),
            ];
            let mut style = if e.error.is_some() || e.link_state.as_deref() == Some("down") {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            };
            if pos == list.selected {
                style = style.patch(selected_style());
            }
            Some((cells, style))
        })
        .collect();
    let widths = fit(&ENDPOINT_COLUMNS, list_area.width.saturating_sub(2));
    let scope = match &app.endpoint_scope {
        Some(bridge) => app
            .state
            .inventory
            .network(bridge)
            .map_or(bridge.clone(), |n| n.label()),
        None => "all networks".to_string(),
    };
    let title = format!(" Endpoints of {scope} ({}) ", list.rows.len());
    frame.render_widget(
        table(&ENDPOINT_COLUMNS, &widths, rows, block(title)),
        list_area,
    );
    if spark_height > 0 {
        render_sparkline(frame, app, spark_area);
    }
}

fn render_sparkline(frame: &mut Frame, app: &App, area: Rect) {
    let Some(endpoint) = app.selected_endpoint() else {
        frame.render_widget(block(" Traffic ".to_string()), area);
        return;
    };
    let width = usize::from(area.width.saturating_sub(2));
    let data = app
        .state
        .port(&endpoint.bridge, endpoint.ofport)
        .map(|c| c.history.last(width))
        .unwrap_or_default();
    let now = data.last().copied().unwrap_or(0);
    let max = data.iter().copied().max().unwrap_or(0);
    let title = format!(
        " Traffic of {}: packets/s, rx+tx, now {now}, max {max} ",
        endpoint.label()
    );
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .style(Style::new().fg(Color::Green))
            .block(block(title)),
        area,
    );
}

// ---------------------------------------------------------------------- flows

const FLOW_COLUMNS: [Column; 10] = [
    col("BRIDGE", 15, 4),
    num("TBL", 3, 0),
    num("PRIO", 5, 0),
    num("PACKETS", 7, 0),
    num("BYTES", 7, 2),
    num("PKT/S", 5, 1),
    num("AGE", 6, 3),
    col("OWNER", 13, 1),
    flex("MATCH", 14, 0, 3),
    flex("ACTIONS", 10, 0, 2),
];

fn render_flows(frame: &mut Frame, app: &mut App, area: Rect) {
    let height = list_height(area);
    app.page = height;
    app.flows.scroll_into_view(height);
    let list = &app.flows;
    let hscroll = app.flow_hscroll;
    let columns: Vec<Column> = if app.flow_bridges.len() > 1 {
        FLOW_COLUMNS.to_vec()
    } else {
        FLOW_COLUMNS[1..].to_vec()
    };
    let offset = usize::from(app.flow_bridges.len() <= 1);
    let rows = list
        .rows
        .iter()
        .enumerate()
        .skip(list.offset)
        .take(height)
        .filter_map(|(pos, &r)| {
            let f = app.flow_at(r)?;
            let s = &f.sample;
            let cells = vec![
                f.bridge.clone(),
                s.table.to_string(),
                s.priority.to_string(),
                format::count(s.packets),
                format::bytes(s.bytes),
                format::rate(f.packets_per_second),
                format::age(u64::from(s.duration_sec)),
                f.owner_label.clone(),
                s.match_text.chars().skip(hscroll).collect(),
                s.actions_text.chars().skip(hscroll).collect(),
            ];
            let mut style = if f.moved {
                Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
            } else if !f.owner.is_driver() {
                Style::new().fg(Color::Gray)
            } else {
                Style::new()
            };
            if pos == list.selected {
                style = style.patch(selected_style());
            }
            Some((cells[offset..].to_vec(), style))
        })
        .collect();
    let widths = fit(&columns, area.width.saturating_sub(2));
    let scope = match &app.flow_scope {
        Some(bridge) => bridge.clone(),
        None => "all bridges".to_string(),
    };
    let total: usize = app
        .flow_bridges
        .iter()
        .map(|b| app.state.flow_count(b))
        .sum();
    let moving = app.flows_moving;
    let title = format!(
        " Flows of {scope} ({} of {total}, {moving} moving) ",
        list.rows.len()
    );
    frame.render_widget(table(&columns, &widths, rows, block(title)), area);
}

// ---------------------------------------------------------------------- trace

fn render_trace(frame: &mut Frame, app: &mut App, area: Rect) {
    let sources = app.trace_sources();
    let targets = app.trace_targets();
    let form = &app.trace;
    let source = sources
        .get(form.source)
        .map(|e| {
            format!(
                "{} {} (port {}, ofport {})",
                e.label(),
                e.plain_addresses().next().unwrap_or("-"),
                e.port,
                e.ofport.unwrap_or(-1)
            )
        })
        .unwrap_or_else(|| "(no endpoints)".to_string());
    let destination = targets
        .get(form.destination)
        .map(|t| t.label.clone())
        .unwrap_or_default();
    let editing = |input| app.input == Some(input);
    let destination = if editing(Input::TraceDestination) {
        format!("address {}▏", form.custom_address)
    } else {
        destination
    };
    let port = if editing(Input::TracePort) {
        format!("{}▏", form.port)
    } else if form.protocol.has_port() {
        form.port.clone()
    } else {
        format!("{} (tcp and udp only)", form.port)
    };
    let fields = [
        (TraceField::Source, "Source", format!("◀ {source} ▶")),
        (
            TraceField::Destination,
            "Destination",
            format!("◀ {destination} ▶"),
        ),
        (
            TraceField::Protocol,
            "Protocol",
            format!("◀ {} ▶", form.protocol.name()),
        ),
        (TraceField::Port, "Port", port),
    ];
    let mut lines: Vec<Line> = fields
        .into_iter()
        .map(|(field, name, value)| {
            let style = if field == form.field {
                selected_style()
            } else {
                Style::new()
            };
            Line::from(vec![
                Span::styled(format!(" {name:<12}"), Style::new().fg(Color::Cyan)),
                Span::styled(value, style),
            ])
        })
        .collect();
    let flow = match app.trace_request() {
        Ok((bridge, flow)) => format!("ofproto/trace {bridge} {flow}"),
        Err(error) => format!("({error})"),
    };
    lines.push(Line::from(vec![
        Span::styled(" Flow        ", Style::new().fg(Color::Cyan)),
        Span::styled(flow, Style::new().fg(Color::DarkGray)),
    ]));
    lines.push(Line::from(Span::styled(
        " j/k field · h/l change · e edit · Enter run",
        Style::new().fg(Color::DarkGray),
    )));
    let form_widget = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(block(" Trace ".to_string()));
    // As tall as the lines once wrapped (the Flow line takes several on narrow screens), so
    // that the key hint stays visible. `line_count` adds the top and bottom border but wraps
    // at the width it is given: the inner one.
    let wrapped = form_widget.line_count(area.width.saturating_sub(2));
    let form_height = u16::try_from(wrapped)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(3));
    let [form_area, result_area] =
        Layout::vertical([Constraint::Length(form_height), Constraint::Min(3)]).areas(area);
    frame.render_widget(form_widget, form_area);
    let (text, style, title) = match (&form.result, form.running) {
        (_, true) => ("running…".to_string(), Style::new(), " Result ".to_string()),
        (None, _) => (
            "Press Enter to run ofproto/trace.".to_string(),
            Style::new().fg(Color::DarkGray),
            " Result ".to_string(),
        ),
        (Some(Ok(text)), _) => {
            let title = match &form.last_run {
                Some((bridge, _)) => format!(" Result on {bridge} "),
                None => " Result ".to_string(),
            };
            (text.clone(), Style::new(), title)
        }
        (Some(Err(error)), _) => (
            format!("trace failed: {error}"),
            Style::new().fg(Color::Red),
            " Result ".to_string(),
        ),
    };
    let visible = result_area.height.saturating_sub(2);
    let lines = text.lines().count() as u16;
    let scroll = form.scroll.min(lines.saturating_sub(visible));
    app.trace.scroll = scroll;
    app.page = usize::from(visible);
    frame.render_widget(
        Paragraph::new(Text::from(text))
            .style(style)
            .scroll((scroll, 0))
            .block(block(title)),
        result_area,
    );
}

// ---------------------------------------------------------------------- help

fn render_help(frame: &mut Frame, area: Rect) {
    let width = area.width.saturating_sub(4).min(86);
    let height = (KEYS.len() as u16 + 4).min(area.height.saturating_sub(2));
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let key_width = KEYS
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {key:<key_width$}  "),
                    Style::new().fg(Color::Yellow).bold(),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(Span::styled(
        " Read-only: nothing here changes the switch. Esc closes.",
        Style::new().fg(Color::DarkGray),
    )));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Left)
            .block(block(" Keys ".to_string()).border_style(Style::new().fg(Color::Yellow))),
        popup,
    );
}

/// Draws `app` on a `width`×`height` test backend and returns the screen as text (one line
/// per row, trailing spaces removed): for snapshot tests and the README captures.
pub fn render_to_text(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height))
        .expect("test backend");
    terminal
        .draw(|frame| render(frame, app))
        .expect("drawing to a test backend cannot fail");
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::state::Update;

    #[test]
    fn openflow_is_off_when_ovsdb_lists_no_bridge() {
        let mut status = Status::default();
        assert_eq!(
            openflow_summary(&status),
            Conn::Connecting,
            "no snapshot yet"
        );
        status.ovsdb = Conn::Up;
        assert_eq!(openflow_summary(&status), Conn::Off);
        status.openflow.insert("br0".into(), Conn::Connecting);
        assert_eq!(openflow_summary(&status), Conn::Connecting);
        status.openflow.insert("br0".into(), Conn::Up);
        assert_eq!(openflow_summary(&status), Conn::Up);
        status
            .openflow
            .insert("br1".into(), Conn::Down("refused".into()));
        assert_eq!(openflow_summary(&status), Conn::Down("refused".into()));
    }

    fn status_line(width: u16, error: &str) -> String {
        let mut app = App::new(fixtures::state(0));
        app.on_update(Update::Error(error.to_string()));
        let text = render_to_text(&mut app, width, 24);
        text.lines().last().unwrap_or_default().to_string()
    }

    #[test]
    fn status_line_cuts_the_error_before_the_help() {
        let error = "fdb/show br-ext: no such bridge";
        let wide = status_line(160, error);
        assert!(wide.contains(&format!("error: {error} ")), "{wide}");
        assert!(wide.ends_with("? help  q quit"), "{wide}");
        // Room for part of the error: it ends in `…`, then a blank, then the help.
        let narrow = status_line(100, error);
        assert!(narrow.ends_with("… ? help  q quit"), "{narrow}");
        assert!(narrow.contains("error: fdb/show"), "{narrow}");
        // Not even 16 characters of it: the help gives way.
        let tight = status_line(80, error);
        assert!(tight.contains("error: fdb/show br-ext:"), "{tight}");
        assert!(tight.ends_with('…'), "{tight}");
        assert!(!tight.contains("? help"), "{tight}");
    }
}
