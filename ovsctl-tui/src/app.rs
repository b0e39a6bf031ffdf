//! The interactive application state: which view is shown, selections, filters, sort orders,
//! the navigation stack and the trace form; key handling. Pure: the terminal loop feeds it keys
//! and collector updates and draws it with [`crate::ui`].

use std::cmp::Ordering;
use std::net::IpAddr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::filter::{Filter, Filterable};
use crate::flows::FlowRow;
use crate::model::{Endpoint, Network};
use crate::state::{State, Update};
use crate::trace::{self, Destination, Protocol};

/// The main views, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Networks,
    Endpoints,
    Flows,
    Trace,
}

impl View {
    pub const ALL: [View; 4] = [View::Networks, View::Endpoints, View::Flows, View::Trace];

    pub fn title(self) -> &'static str {
        match self {
            View::Networks => "Networks",
            View::Endpoints => "Endpoints",
            View::Flows => "Flows",
            View::Trace => "Trace",
        }
    }

    fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    /// The sortable columns of the view's list, the first being the default order.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            View::Networks => &["bridge", "network", "endpoints", "flows", "rx", "tx"],
            View::Endpoints => &[
                "network",
                "container",
                "ofport",
                "address",
                "rx",
                "tx",
                "drops",
            ],
            View::Flows => &["table", "packets", "bytes", "pkt/s", "age", "owner"],
            View::Trace => &[],
        }
    }
}

/// Selection, scrolling, filter and sort of one list.
#[derive(Debug, Clone, Default)]
pub struct ListView<R> {
    /// The rows shown, in order: references into the state.
    pub rows: Vec<R>,
    pub selected: usize,
    /// First row drawn (kept by the renderer so that the selection stays visible).
    pub offset: usize,
    pub filter_text: String,
    pub filter: Filter,
    pub sort: usize,
    pub reverse: bool,
}

impl<R: Copy> ListView<R> {
    pub fn selected_row(&self) -> Option<R> {
        self.rows.get(self.selected).copied()
    }

    fn move_by(&mut self, delta: isize) {
        if self.rows.is_empty() {
            self.selected = 0;
            return;
        }
        let last = self.rows.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    fn set_filter(&mut self, text: String) {
        self.filter = Filter::parse(&text);
        self.filter_text = text;
        self.selected = 0;
        self.offset = 0;
    }

    /// Keeps `offset` such that the selection is within `height` rows.
    pub fn scroll_into_view(&mut self, height: usize) {
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let max_offset = self.rows.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }
}

/// A row of the endpoints list: network index and endpoint index in the inventory.
pub type EndpointRef = (usize, usize);
/// A row of the flows list: index into [`App::flow_bridges`] and flow index.
pub type FlowRef = (u32, u32);

/// What the terminal loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    /// Run `ofproto/trace` on the bridge with this flow.
    Trace {
        bridge: String,
        flow: String,
    },
    /// Live refresh was paused or resumed.
    Paused(bool),
}

/// The text field being edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Filter,
    TraceDestination,
    TracePort,
}

/// The fields of the trace form, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceField {
    Source,
    Destination,
    Protocol,
    Port,
}

impl TraceField {
    pub const ALL: [TraceField; 4] = [
        TraceField::Source,
        TraceField::Destination,
        TraceField::Protocol,
        TraceField::Port,
    ];
}

/// A destination choice of the trace form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceTarget {
    pub label: String,
    pub address: Option<IpAddr>,
    pub mac: Option<String>,
}

/// The trace form and its last result.
#[derive(Debug, Clone)]
pub struct TraceForm {
    pub field: TraceField,
    /// Index into [`App::trace_sources`].
    pub source: usize,
    /// Index into [`App::trace_targets`]; the last target is the typed address.
    pub destination: usize,
    pub custom_address: String,
    pub protocol: Protocol,
    pub port: String,
    /// The bridge and flow of the last trace run.
    pub last_run: Option<(String, String)>,
    pub running: bool,
    pub result: Option<Result<String, String>>,
    pub scroll: u16,
}

impl Default for TraceForm {
    fn default() -> Self {
        TraceForm {
            field: TraceField::Source,
            source: 0,
            destination: 0,
            custom_address: String::new(),
            protocol: Protocol::Icmp,
            port: "80".to_string(),
            last_run: None,
            running: false,
            result: None,
            scroll: 0,
        }
    }
}

/// Where Esc goes back to.
#[derive(Debug, Clone)]
struct Place {
    view: View,
    endpoint_scope: Option<String>,
    flow_scope: Option<String>,
    endpoints_filter: String,
    flows_filter: String,
}

/// The whole interactive state.
#[derive(Debug)]
pub struct App {
    pub state: State,
    pub view: View,
    pub networks: ListView<usize>,
    pub endpoints: ListView<EndpointRef>,
    pub flows: ListView<FlowRef>,
    /// Bridges the flow refs point into.
    pub flow_bridges: Vec<String>,
    /// Endpoints of only this bridge (else all).
    pub endpoint_scope: Option<String>,
    /// Flows of only this bridge (else all).
    pub flow_scope: Option<String>,
    /// Characters the match and actions columns are scrolled by.
    pub flow_hscroll: usize,
    /// How many of the listed flows moved since the previous sample.
    pub flows_moving: usize,
    pub trace: TraceForm,
    pub input: Option<Input>,
    /// The filter text before editing started (restored by Esc).
    input_backup: String,
    pub help: bool,
    pub detail: bool,
    pending_g: bool,
    back: Vec<Place>,
    /// Rows of the list area at the last draw (for page up/down).
    pub page: usize,
    listed_generation: Option<u64>,
    lists_stale: bool,
}

impl App {
    pub fn new(state: State) -> App {
        App {
            state,
            view: View::Networks,
            networks: ListView::default(),
            endpoints: ListView::default(),
            flows: ListView::default(),
            flow_bridges: Vec::new(),
            endpoint_scope: None,
            flow_scope: None,
            flow_hscroll: 0,
            flows_moving: 0,
            trace: TraceForm::default(),
            input: None,
            input_backup: String::new(),
            help: false,
            detail: true,
            pending_g: false,
            back: Vec::new(),
            page: 10,
            listed_generation: None,
            lists_stale: true,
        }
    }

    /// Applies a collector update; returns whether a redraw is needed.
    pub fn on_update(&mut self, update: Update) -> bool {
        if let Update::Trace(result) = update {
            self.trace.running = false;
            self.trace.scroll = 0;
            self.trace.result = Some(result);
            return true;
        }
        self.state.apply(update)
    }

    pub fn paused(&self) -> bool {
        self.state.paused
    }

    // ------------------------------------------------------------------ lists

    /// Rebuilds the visible rows (filter and sort) if the data or the list settings changed.
    pub fn refresh_lists(&mut self) {
        if !self.lists_stale && self.listed_generation == Some(self.state.generation) {
            return;
        }
        self.lists_stale = false;
        self.listed_generation = Some(self.state.generation);
        self.list_networks();
        self.list_endpoints();
        self.list_flows();
        self.clamp_trace();
    }

    fn invalidate(&mut self) {
        self.lists_stale = true;
    }

    fn list_networks(&mut self) {
        let keep = self.selected_network().map(|n| n.bridge.clone());
        let state = &self.state;
        let networks = &state.inventory.networks;
        let list = &mut self.networks;
        list.rows = (0..networks.len())
            .filter(|&i| list.filter.matches(&NetworkFields(&networks[i])))
            .collect();
        let column = View::Networks.sort_columns()[list.sort];
        list.rows.sort_by(|&a, &b| {
            let (x, y) = (&networks[a], &networks[b]);
            let by = match column {
                "network" => x.label().cmp(&y.label()),
                // Counts and rates: largest first.
                "endpoints" => y.endpoints.len().cmp(&x.endpoints.len()),
                "flows" => state
                    .flow_count(&y.bridge)
                    .cmp(&state.flow_count(&x.bridge)),
                "rx" => cmp_f64(
                    state.bridge_rates(&y.bridge).0,
                    state.bridge_rates(&x.bridge).0,
                ),
                "tx" => cmp_f64(
                    state.bridge_rates(&y.bridge).1,
                    state.bridge_rates(&x.bridge).1,
                ),
                _ => Ordering::Equal,
            };
            by.then_with(|| x.bridge.cmp(&y.bridge))
        });
        if list.reverse {
            list.rows.reverse();
        }
        reselect(list, keep, |&i| Some(networks[i].bridge.clone()));
    }

    fn list_endpoints(&mut self) {
        let keep = self
            .selected_endpoint()
            .map(|e| (e.bridge.clone(), e.port.clone()));
        let state = &self.state;
        let networks = &state.inventory.networks;
        let list = &mut self.endpoints;
        list.rows = networks
            .iter()
            .enumerate()
            .filter(|(_, n)| self.endpoint_scope.as_ref().is_none_or(|b| *b == n.bridge))
            .flat_map(|(ni, n)| (0..n.endpoints.len()).map(move |ei| (ni, ei)))
            .filter(|&(ni, ei)| {
                list.filter
                    .matches(&EndpointFields(&networks[ni].endpoints[ei]))
            })
            .collect();
        let column = View::Endpoints.sort_columns()[list.sort];
        let rates = |e: &Endpoint| {
            state
                .port(&e.bridge, e.ofport)
                .map_or((0.0, 0.0, 0), |p| (p.rx_pps, p.tx_pps, p.drops()))
        };
        list.rows.sort_by(|&(an, ae), &(bn, be)| {
            let (x, y) = (&networks[an].endpoints[ae], &networks[bn].endpoints[be]);
            let by = match column {
                "network" => (!networks[an].managed, networks[an].label())
                    .cmp(&(!networks[bn].managed, networks[bn].label())),
                "container" => x.label().cmp(&y.label()),
                "ofport" => x.ofport.cmp(&y.ofport),
                "address" => address_key(x).cmp(&address_key(y)),
                // Rates and drops: largest first.
                "rx" => cmp_f64(rates(y).0, rates(x).0),
                "tx" => cmp_f64(rates(y).1, rates(x).1),
                "drops" => rates(y).2.cmp(&rates(x).2),
                _ => Ordering::Equal,
            };
            by.then_with(|| (an, x.ofport, &x.port).cmp(&(bn, y.ofport, &y.port)))
        });
        if list.reverse {
            list.rows.reverse();
        }
        reselect(list, keep, |&(ni, ei)| {
            let e = &networks[ni].endpoints[ei];
            Some((e.bridge.clone(), e.port.clone()))
        });
    }

    fn list_flows(&mut self) {
        let keep = self
            .selected_flow()
            .map(|f| (f.bridge.clone(), f.sample.key));
        let state = &self.state;
        self.flow_bridges = state
            .flows
            .keys()
            .filter(|b| self.flow_scope.as_ref().is_none_or(|s| s == *b))
            .cloned()
            .collect();
        let tables: Vec<&[FlowRow]> = self
            .flow_bridges
            .iter()
            .map(|b| state.flows[b].rows.as_slice())
            .collect();
        let list = &mut self.flows;
        list.rows.clear();
        for (bi, rows) in tables.iter().enumerate() {
            for (fi, row) in rows.iter().enumerate() {
                if list.filter.is_empty() || list.filter.matches(row) {
                    list.rows.push((bi as u32, fi as u32));
                }
            }
        }
        let column = View::Flows.sort_columns()[list.sort];
        let get = |&(b, f): &FlowRef| &tables[b as usize][f as usize];
        let default_order = |x: &FlowRow, y: &FlowRow| {
            (
                &x.bridge,
                x.sample.table,
                std::cmp::Reverse(x.sample.priority),
            )
                .cmp(&(
                    &y.bridge,
                    y.sample.table,
                    std::cmp::Reverse(y.sample.priority),
                ))
                .then_with(|| x.sample.match_text.cmp(&y.sample.match_text))
        };
        list.rows.sort_unstable_by(|a, b| {
            let (x, y) = (get(a), get(b));
            let by = match column {
                "packets" => y.sample.packets.cmp(&x.sample.packets),
                "bytes" => y.sample.bytes.cmp(&x.sample.bytes),
                "pkt/s" => cmp_f64(y.packets_per_second, x.packets_per_second),
                "age" => x.sample.duration_sec.cmp(&y.sample.duration_sec),
                "owner" => x.owner_label.cmp(&y.owner_label),
                _ => Ordering::Equal,
            };
            by.then_with(|| default_order(x, y))
        });
        if list.reverse {
            list.rows.reverse();
        }
        self.flows_moving = list.rows.iter().filter(|r| get(r).moved).count();
        reselect(list, keep, |r| {
            let row = get(r);
            Some((row.bridge.clone(), row.sample.key))
        });
    }

    pub fn network_at(&self, index: usize) -> Option<&Network> {
        self.state.inventory.networks.get(index)
    }

    pub fn endpoint_at(&self, (ni, ei): EndpointRef) -> Option<&Endpoint> {
        self.state.inventory.networks.get(ni)?.endpoints.get(ei)
    }

    pub fn flow_at(&self, (bi, fi): FlowRef) -> Option<&FlowRow> {
        let bridge = self.flow_bridges.get(bi as usize)?;
        self.state.flows.get(bridge)?.rows.get(fi as usize)
    }

    pub fn selected_network(&self) -> Option<&Network> {
        self.network_at(self.networks.selected_row()?)
    }

    pub fn selected_endpoint(&self) -> Option<&Endpoint> {
        self.endpoint_at(self.endpoints.selected_row()?)
    }

    pub fn selected_flow(&self) -> Option<&FlowRow> {
        self.flow_at(self.flows.selected_row()?)
    }

    // ------------------------------------------------------------------ trace form

    /// Endpoints that can send a traced packet (they have an OpenFlow port and a MAC).
    pub fn trace_sources(&self) -> Vec<&Endpoint> {
        self.state
            .inventory
            .endpoints()
            .filter(|e| e.ofport.is_some_and(|p| p > 0) && e.mac.is_some())
            .collect()
    }

    /// Destinations for the selected source: the other endpoints of its bridge, the gateways
    /// and, last, the typed address.
    pub fn trace_targets(&self) -> Vec<TraceTarget> {
        let mut targets = Vec::new();
        if let Some(source) = self.trace_sources().get(self.trace.source) {
            if let Some(network) = self.state.inventory.network(&source.bridge) {
                for e in &network.endpoints {
                    if e.port == source.port {
                        continue;
                    }
                    for address in e.plain_addresses() {
                        targets.push(TraceTarget {
                            label: format!("{} {address}", e.label()),
                            address: address.parse().ok(),
                            mac: e.mac.clone(),
                        });
                    }
                }
                for gateway in &network.gateways {
                    let address = gateway.split('/').next().unwrap_or(gateway);
                    targets.push(TraceTarget {
                        label: format!("gateway {address}"),
                        address: address.parse().ok(),
                        mac: network.gateway_mac.clone(),
                    });
                }
            }
        }
        let typed = self.trace.custom_address.trim();
        targets.push(TraceTarget {
            label: if typed.is_empty() {
                "address: (press e to type one)".to_string()
            } else {
                format!("address {typed}")
            },
            address: typed.parse().ok(),
            mac: None,
        });
        targets
    }

    fn clamp_trace(&mut self) {
        let sources = self.trace_sources().len();
        self.trace.source = self.trace.source.min(sources.saturating_sub(1));
        let targets = self.trace_targets().len();
        self.trace.destination = self.trace.destination.min(targets.saturating_sub(1));
    }

    /// The bridge and flow the trace form describes.
    pub fn trace_request(&self) -> Result<(String, String), String> {
        let sources = self.trace_sources();
        let source = sources
            .get(self.trace.source)
            .ok_or("no endpoint to trace from")?;
        let targets = self.trace_targets();
        let target = targets
            .get(self.trace.destination)
            .ok_or("no destination")?;
        let address = target
            .address
            .ok_or_else(|| format!("not an IP address: {:?}", self.trace.custom_address.trim()))?;
        let port = if self.trace.protocol.has_port() {
            self.trace
                .port
                .trim()
                .parse::<u16>()
                .map_err(|_| format!("not a port number: {:?}", self.trace.port))?
        } else {
            0
        };
        let gateway_mac = self
            .state
            .inventory
            .network(&source.bridge)
            .and_then(|n| n.gateway_mac.clone());
        let destination = Destination {
            address,
            mac: target.mac.clone(),
        };
        let flow = trace::flow(
            source,
            &destination,
            self.trace.protocol,
            port,
            gateway_mac.as_deref(),
        )?;
        Ok((source.bridge.clone(), flow))
    }

    fn cycle_trace_field(&mut self, delta: isize) {
        let form = &mut self.trace;
        match form.field {
            TraceField::Source => {
                let n = self.trace_sources().len();
                self.trace.source = cycle(self.trace.source, n, delta);
                self.trace.destination = 0;
            }
            TraceField::Destination => {
                let n = self.trace_targets().len();
                self.trace.destination = cycle(self.trace.destination, n, delta);
            }
            TraceField::Protocol => {
                let i = Protocol::ALL
                    .iter()
                    .position(|p| *p == form.protocol)
                    .unwrap_or(0);
                form.protocol = Protocol::ALL[cycle(i, Protocol::ALL.len(), delta)];
            }
            TraceField::Port => {}
        }
    }

    fn run_trace(&mut self) -> Action {
        match self.trace_request() {
            Ok((bridge, flow)) => {
                self.trace.running = true;
                self.trace.result = None;
                self.trace.last_run = Some((bridge.clone(), flow.clone()));
                Action::Trace { bridge, flow }
            }
            Err(error) => {
                self.trace.result = Some(Err(error));
                Action::None
            }
        }
    }

    // ------------------------------------------------------------------ navigation

    fn place(&self) -> Place {
        Place {
            view: self.view,
            endpoint_scope: self.endpoint_scope.clone(),
            flow_scope: self.flow_scope.clone(),
            endpoints_filter: self.endpoints.filter_text.clone(),
            flows_filter: self.flows.filter_text.clone(),
        }
    }

    fn go_back(&mut self) -> bool {
        let Some(place) = self.back.pop() else {
            return false;
        };
        self.view = place.view;
        self.endpoint_scope = place.endpoint_scope;
        self.flow_scope = place.flow_scope;
        if self.endpoints.filter_text != place.endpoints_filter {
            self.endpoints.set_filter(place.endpoints_filter);
        }
        if self.flows.filter_text != place.flows_filter {
            self.flows.set_filter(place.flows_filter);
        }
        self.invalidate();
        true
    }

    /// Enter: networks -> their endpoints -> the endpoint's flows.
    fn drill_down(&mut self) -> Action {
        match self.view {
            View::Networks => {
                let Some(bridge) = self.selected_network().map(|n| n.bridge.clone()) else {
                    return Action::None;
                };
                self.back.push(self.place());
                self.endpoint_scope = Some(bridge);
                self.view = View::Endpoints;
                self.endpoints.set_filter(String::new());
            }
            View::Endpoints => {
                let Some(endpoint) = self.selected_endpoint() else {
                    return Action::None;
                };
                let bridge = endpoint.bridge.clone();
                let filter = match (&endpoint.endpoint_id, endpoint.ofport) {
                    (Some(id), _) => format!("endpoint={}", crate::cookie::id_prefix(id)),
                    (None, Some(ofport)) => format!("in_port={ofport}"),
                    (None, None) => String::new(),
                };
                self.back.push(self.place());
                self.flow_scope = Some(bridge);
                self.view = View::Flows;
                self.flows.set_filter(filter);
            }
            View::Flows => {}
            View::Trace => return self.run_trace(),
        }
        self.invalidate();
        Action::None
    }

    fn switch_to(&mut self, view: View) {
        if view == View::Trace && self.view == View::Endpoints {
            // Start the trace from the endpoint the user was looking at.
            if let Some(port) = self.selected_endpoint().map(|e| e.port.clone()) {
                if let Some(i) = self.trace_sources().iter().position(|e| e.port == port) {
                    self.trace.source = i;
                    self.trace.destination = 0;
                }
            }
        }
        self.view = view;
        self.invalidate();
    }

    // ------------------------------------------------------------------ keys

    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        // Keys act on what is on screen, which may be older than the data.
        self.refresh_lists();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if self.help {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter
            ) {
                self.help = false;
            }
            return Action::None;
        }
        if let Some(input) = self.input {
            self.edit(input, key);
            return Action::None;
        }
        let pending_g = std::mem::take(&mut self.pending_g);
        let page = self.page.max(1) as isize;
        if ctrl {
            match key.code {
                KeyCode::Char('f') => self.move_by(page),
                KeyCode::Char('b') => self.move_by(-page),
                KeyCode::Char('d') => self.move_by(page / 2),
                KeyCode::Char('u') => self.move_by(-page / 2),
                _ => {}
            }
            return Action::None;
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('p') => {
                let paused = !self.state.paused;
                self.state.set_paused(paused);
                return Action::Paused(paused);
            }
            KeyCode::Tab => self.switch_to(View::ALL[(self.view.index() + 1) % View::ALL.len()]),
            KeyCode::BackTab => self
                .switch_to(View::ALL[(self.view.index() + View::ALL.len() - 1) % View::ALL.len()]),
            KeyCode::Char(c @ '1'..='4') => {
                self.switch_to(View::ALL[c as usize - '1' as usize]);
            }
            KeyCode::Esc if !self.go_back() => self.clear_filter(),
            KeyCode::Enter => return self.drill_down(),
            KeyCode::Char('/') if self.view != View::Trace => {
                self.input_backup = self.current_filter_text();
                self.input = Some(Input::Filter);
            }
            KeyCode::Char('s') => self.cycle_sort(),
            KeyCode::Char('S') => {
                if let Some(list) = self.sort_target() {
                    *list.1 = !*list.1;
                }
                self.invalidate();
            }
            KeyCode::Char('d') => self.detail = !self.detail,
            KeyCode::Char('a') => self.toggle_scope(),
            KeyCode::Char('g') if pending_g => self.move_to(0),
            KeyCode::Char('g') => self.pending_g = true,
            KeyCode::Char('G') | KeyCode::End => self.move_to(usize::MAX),
            KeyCode::Home => self.move_to(0),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::Left | KeyCode::Char('h') => return self.left_right(-1),
            KeyCode::Right | KeyCode::Char('l') => return self.left_right(1),
            KeyCode::Char('e') | KeyCode::Char('i') if self.view == View::Trace => {
                match self.trace.field {
                    TraceField::Destination => {
                        self.trace.destination = self.trace_targets().len().saturating_sub(1);
                        self.input = Some(Input::TraceDestination);
                    }
                    TraceField::Port => self.input = Some(Input::TracePort),
                    _ => {}
                }
            }
            _ => {}
        }
        Action::None
    }

    fn left_right(&mut self, delta: isize) -> Action {
        match self.view {
            View::Trace => self.cycle_trace_field(delta),
            View::Flows => {
                self.flow_hscroll = self.flow_hscroll.saturating_add_signed(delta * 8);
            }
            View::Networks | View::Endpoints if delta > 0 => return self.drill_down(),
            View::Networks | View::Endpoints => {
                self.go_back();
            }
        }
        Action::None
    }

    fn edit(&mut self, input: Input, key: KeyEvent) {
        let text = match input {
            Input::Filter => match self.view {
                View::Networks => self.networks.filter_text.clone(),
                View::Endpoints => self.endpoints.filter_text.clone(),
                _ => self.flows.filter_text.clone(),
            },
            Input::TraceDestination => self.trace.custom_address.clone(),
            Input::TracePort => self.trace.port.clone(),
        };
        let mut text = text;
        let mut done = false;
        match key.code {
            KeyCode::Enter => done = true,
            KeyCode::Esc => {
                if input == Input::Filter {
                    text = self.input_backup.clone();
                }
                done = true;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => text.clear(),
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        match input {
            Input::Filter => self.set_current_filter(text),
            Input::TraceDestination => self.trace.custom_address = text,
            Input::TracePort => self.trace.port = text,
        }
        if done {
            self.input = None;
        }
    }

    fn current_filter_text(&self) -> String {
        match self.view {
            View::Networks => self.networks.filter_text.clone(),
            View::Endpoints => self.endpoints.filter_text.clone(),
            View::Flows => self.flows.filter_text.clone(),
            View::Trace => String::new(),
        }
    }

    fn set_current_filter(&mut self, text: String) {
        match self.view {
            View::Networks if text != self.networks.filter_text => self.networks.set_filter(text),
            View::Endpoints if text != self.endpoints.filter_text => {
                self.endpoints.set_filter(text)
            }
            View::Flows if text != self.flows.filter_text => self.flows.set_filter(text),
            _ => return,
        }
        self.invalidate();
    }

    fn clear_filter(&mut self) {
        self.set_current_filter(String::new());
    }

    fn sort_target(&mut self) -> Option<(&mut usize, &mut bool)> {
        match self.view {
            View::Networks => Some((&mut self.networks.sort, &mut self.networks.reverse)),
            View::Endpoints => Some((&mut self.endpoints.sort, &mut self.endpoints.reverse)),
            View::Flows => Some((&mut self.flows.sort, &mut self.flows.reverse)),
            View::Trace => None,
        }
    }

    fn cycle_sort(&mut self) {
        let columns = self.view.sort_columns().len();
        if let Some((sort, reverse)) = self.sort_target() {
            *sort = (*sort + 1) % columns.max(1);
            *reverse = false;
        }
        self.invalidate();
    }

    fn toggle_scope(&mut self) {
        let selected = self
            .selected_network()
            .map(|n| n.bridge.clone())
            .or_else(|| {
                self.state
                    .inventory
                    .networks
                    .first()
                    .map(|n| n.bridge.clone())
            });
        match self.view {
            View::Endpoints => {
                self.endpoint_scope = match self.endpoint_scope {
                    Some(_) => None,
                    None => selected,
                }
            }
            View::Flows => {
                self.flow_scope = match self.flow_scope {
                    Some(_) => None,
                    None => selected,
                }
            }
            _ => return,
        }
        self.invalidate();
    }

    fn move_by(&mut self, delta: isize) {
        match self.view {
            View::Networks => self.networks.move_by(delta),
            View::Endpoints => self.endpoints.move_by(delta),
            View::Flows => self.flows.move_by(delta),
            View::Trace => {
                if self.trace.result.is_some() && matches!(delta.abs(), 2..) {
                    self.trace.scroll = self.trace.scroll.saturating_add_signed(delta as i16);
                } else {
                    let i = TraceField::ALL
                        .iter()
                        .position(|f| *f == self.trace.field)
                        .unwrap_or(0);
                    let i = i
                        .saturating_add_signed(delta)
                        .min(TraceField::ALL.len() - 1);
                    self.trace.field = TraceField::ALL[i];
                }
            }
        }
    }

    fn move_to(&mut self, index: usize) {
        let clamp = |len: usize| index.min(len.saturating_sub(1));
        match self.view {
            View::Networks => self.networks.selected = clamp(self.networks.rows.len()),
            View::Endpoints => self.endpoints.selected = clamp(self.endpoints.rows.len()),
            View::Flows => self.flows.selected = clamp(self.flows.rows.len()),
            View::Trace => {
                self.trace.scroll = if index == 0 { 0 } else { u16::MAX / 2 };
            }
        }
    }
}

fn cycle(index: usize, len: usize, delta: isize) -> usize {
    if len == 0 {
        return 0;
    }
    (index as isize + delta).rem_euclid(len as isize) as usize
}

fn cmp_f64(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

fn address_key(e: &Endpoint) -> (u8, Option<IpAddr>) {
    let first = e.plain_addresses().next().and_then(|a| a.parse().ok());
    (u8::from(first.is_none()), first)
}

/// After a recompute, selects the row that was selected before (by identity), else keeps the
/// position.
fn reselect<R: Copy, K: PartialEq>(
    list: &mut ListView<R>,
    keep: Option<K>,
    identity: impl Fn(&R) -> Option<K>,
) {
    if let Some(keep) = keep {
        if let Some(i) = list
            .rows
            .iter()
            .position(|r| identity(r).as_ref() == Some(&keep))
        {
            list.selected = i;
            return;
        }
    }
    list.selected = list.selected.min(list.rows.len().saturating_sub(1));
}

/// A network's filterable columns.
pub struct NetworkFields<'a>(pub &'a Network);

impl Filterable for NetworkFields<'_> {
    fn any_field(&self, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        let n = self.0;
        visit("bridge", &n.bridge)
            || visit("network", &n.label())
            || n.network_id
                .as_deref()
                .is_some_and(|id| visit("network_id", id))
            || visit("datapath", &n.datapath_type)
            || n.subnets.iter().any(|s| visit("subnet", s))
            || n.gateways.iter().any(|g| visit("gateway", g))
            || visit("owner", n.owner())
    }
}

/// An endpoint's filterable columns.
pub struct EndpointFields<'a>(pub &'a Endpoint);

impl Filterable for EndpointFields<'_> {
    fn any_field(&self, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        let e = self.0;
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        visit("container", &e.label())
            || visit("network", &opt(&e.network_name))
            || visit("bridge", &e.bridge)
            || visit("endpoint", &opt(&e.endpoint_id))
            || visit("port", &e.port)
            || visit(
                "ofport",
                &e.ofport.map(|p| p.to_string()).unwrap_or_default(),
            )
            || visit("mac", &opt(&e.mac))
            || visit("link", &opt(&e.link_state))
            || e.ipv4.iter().any(|a| visit("ipv4", a) || visit("ip", a))
            || e.ipv6.iter().any(|a| visit("ipv6", a) || visit("ip", a))
    }
}

/// Every key, as the help overlay and the README list them.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous view"),
    ("1 2 3 4", "Networks, Endpoints, Flows, Trace"),
    ("↑ ↓  k j", "move the selection"),
    ("PgUp PgDn  ^b ^f", "page up / down (^u ^d: half a page)"),
    ("g g Home  /  G End", "first / last row"),
    (
        "Enter  l →",
        "drill down (network → endpoints → flows); run trace",
    ),
    ("Esc  h ←", "back; Esc also clears the filter"),
    (
        "h l  ← →",
        "Flows: scroll match/actions; Trace: change the value",
    ),
    ("/", "filter: text, or field=value like nw_src=10.0.0.2"),
    ("s  /  S", "cycle the sort column / reverse the order"),
    ("a", "Endpoints, Flows: all networks or the selected one"),
    ("d", "Networks: show or hide the ports and FDB pane"),
    ("e  i", "Trace: type a destination address or port"),
    ("p", "pause / resume live refresh"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn app() -> App {
        let mut app = App::new(fixtures::state(0));
        app.refresh_lists();
        app
    }

    fn press(app: &mut App, keys: &str) -> Action {
        let mut last = Action::None;
        for c in keys.chars() {
            let code = match c {
                '\n' => KeyCode::Enter,
                '\x1b' => KeyCode::Esc,
                '\t' => KeyCode::Tab,
                c => KeyCode::Char(c),
            };
            last = app.handle_key(KeyEvent::from(code));
        }
        app.refresh_lists();
        last
    }

    fn endpoint_labels(app: &App) -> Vec<String> {
        app.endpoints
            .rows
            .iter()
            .map(|&r| app.endpoint_at(r).unwrap().label())
            .collect()
    }

    #[test]
    fn views_by_tab_and_number() {
        let mut app = app();
        assert_eq!(app.view, View::Networks);
        press(&mut app, "\t");
        assert_eq!(app.view, View::Endpoints);
        press(&mut app, "4");
        assert_eq!(app.view, View::Trace);
        app.handle_key(KeyEvent::from(KeyCode::BackTab));
        assert_eq!(app.view, View::Flows);
        press(&mut app, "\t\t");
        assert_eq!(app.view, View::Networks);
    }

    #[test]
    fn enter_drills_down_and_esc_goes_back() {
        let mut app = app();
        assert_eq!(app.selected_network().unwrap().label(), "web");
        press(&mut app, "\n");
        assert_eq!(app.view, View::Endpoints);
        assert_eq!(endpoint_labels(&app), ["web-1", "web-2", "web-3"]);
        press(&mut app, "j\n");
        assert_eq!(app.view, View::Flows);
        assert_eq!(app.flows.filter_text, "endpoint=02a1b2c3d4e5");
        assert_eq!(app.flows.rows.len(), 4);
        assert!(app
            .flows
            .rows
            .iter()
            .all(|&r| app.flow_at(r).unwrap().owner_label == "ep:web-2"));
        press(&mut app, "\x1b");
        assert_eq!(app.view, View::Endpoints);
        assert_eq!(app.flows.filter_text, "", "the drill-down filter is undone");
        assert_eq!(app.selected_endpoint().unwrap().label(), "web-2");
        press(&mut app, "h");
        assert_eq!(app.view, View::Networks);
        assert_eq!(app.endpoint_scope, None);
        // Esc with nowhere to go back to: nothing happens.
        press(&mut app, "\x1b");
        assert_eq!(app.view, View::Networks);
    }

    #[test]
    fn filter_narrows_live_and_esc_restores() {
        let mut app = app();
        press(&mut app, "2");
        assert_eq!(app.endpoints.rows.len(), 5);
        press(&mut app, "/web");
        assert_eq!(app.input, Some(Input::Filter));
        assert_eq!(endpoint_labels(&app), ["web-1", "web-2", "web-3"]);
        press(&mut app, "-2\n");
        assert_eq!(app.input, None);
        assert_eq!(endpoint_labels(&app), ["web-2"]);
        // Editing again and cancelling keeps the previous filter.
        press(&mut app, "/x\x1b");
        assert_eq!(app.endpoints.filter_text, "web-2");
        assert_eq!(endpoint_labels(&app), ["web-2"]);
        // field=value filters.
        app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        press(&mut app, "/");
        app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        press(&mut app, "ip=10.20.0.4\n");
        assert_eq!(endpoint_labels(&app), ["web-3"]);
        press(&mut app, "\x1b");
        assert_eq!(app.endpoints.rows.len(), 5, "Esc clears the filter");
        // Keys typed into the filter are not commands.
        press(&mut app, "/q");
        assert_eq!(app.endpoints.filter_text, "q");
    }

    #[test]
    fn network_owner_filter_uses_the_owner_column() {
        let network = |managed, driver_owned| Network {
            bridge: "br0".into(),
            managed,
            driver_owned,
            ..Default::default()
        };
        for (managed, owned, owner) in [
            (true, true, "driver"),
            (true, false, "attached"),
            (false, false, "foreign"),
        ] {
            let n = network(managed, owned);
            assert_eq!(n.owner(), owner);
            for candidate in ["driver", "attached", "foreign"] {
                let filter = Filter::parse(&format!("owner={candidate}"));
                assert_eq!(
                    filter.matches(&NetworkFields(&n)),
                    candidate == owner,
                    "owner={candidate} on a {owner} bridge"
                );
            }
        }
    }

    #[test]
    fn sort_cycles_and_reverses() {
        let mut app = app();
        press(&mut app, "2");
        assert_eq!(
            endpoint_labels(&app),
            ["db-1", "web-1", "web-2", "web-3", "eth1"]
        );
        press(&mut app, "s");
        assert_eq!(
            View::Endpoints.sort_columns()[app.endpoints.sort],
            "container"
        );
        assert_eq!(
            endpoint_labels(&app),
            ["db-1", "eth1", "web-1", "web-2", "web-3"]
        );
        press(&mut app, "S");
        assert_eq!(
            endpoint_labels(&app),
            ["web-3", "web-2", "web-1", "eth1", "db-1"]
        );
        press(&mut app, "sss");
        assert_eq!(View::Endpoints.sort_columns()[app.endpoints.sort], "rx");
        assert!(
            !app.endpoints.reverse,
            "a new column starts in its natural order"
        );
        let labels = endpoint_labels(&app);
        assert_eq!(
            labels.last().map(String::as_str),
            Some("web-3"),
            "{labels:?}"
        );
        press(&mut app, "3s");
        assert_eq!(View::Flows.sort_columns()[app.flows.sort], "packets");
        let packets: Vec<u64> = app
            .flows
            .rows
            .iter()
            .map(|&r| app.flow_at(r).unwrap().sample.packets)
            .collect();
        assert!(packets.windows(2).all(|w| w[0] >= w[1]), "{packets:?}");
    }

    #[test]
    fn movement_and_jumps() {
        let mut app = app();
        press(&mut app, "3");
        let last = app.flows.rows.len() - 1;
        press(&mut app, "G");
        assert_eq!(app.flows.selected, last);
        press(&mut app, "j");
        assert_eq!(app.flows.selected, last, "clamped at the end");
        press(&mut app, "gg");
        assert_eq!(app.flows.selected, 0);
        press(&mut app, "k");
        assert_eq!(app.flows.selected, 0);
        press(&mut app, "jjjg");
        assert_eq!(app.flows.selected, 3, "a single g does nothing");
        app.page = 5;
        app.handle_key(KeyEvent::from(KeyCode::PageDown));
        assert_eq!(app.flows.selected, 8);
        app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(app.flows.selected, 6);
    }

    #[test]
    fn selection_follows_the_row_across_updates() {
        let mut app = app();
        press(&mut app, "2jj");
        assert_eq!(app.selected_endpoint().unwrap().label(), "web-2");
        // Docker names go away: rows re-sort, the selection stays on the same port.
        app.on_update(Update::Docker(crate::model::DockerNames::default()));
        press(&mut app, "s");
        assert_eq!(app.selected_endpoint().unwrap().port, "ovs02a1b2c3d4e5");
    }

    #[test]
    fn help_pause_and_quit() {
        let mut app = app();
        press(&mut app, "?");
        assert!(app.help);
        assert_eq!(press(&mut app, "2"), Action::None);
        assert_eq!(app.view, View::Networks, "keys do nothing under the help");
        press(&mut app, "\x1b");
        assert!(!app.help);
        assert_eq!(press(&mut app, "p"), Action::Paused(true));
        assert!(app.paused());
        assert_eq!(press(&mut app, "p"), Action::Paused(false));
        assert_eq!(press(&mut app, "q"), Action::Quit);
        assert_eq!(
            app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
    }

    #[test]
    fn trace_form_builds_the_request() {
        let mut app = app();
        // Start from web-2 in the endpoints view.
        press(&mut app, "2jj4");
        assert_eq!(app.view, View::Trace);
        assert_eq!(app.trace_sources()[app.trace.source].label(), "web-2");
        let action = press(&mut app, "\n");
        let Action::Trace { bridge, flow } = action else {
            panic!("{action:?}")
        };
        assert_eq!(bridge, "br-3f2a9c1d7e4b");
        assert!(flow.starts_with("icmp,in_port=2,dl_src=02:42:0a:14:00:03,dl_dst=02:42:0a:14:00:02,nw_src=10.20.0.3,nw_dst=10.20.0.2"), "{flow}");
        assert!(app.trace.running);
        app.on_update(Update::Trace(Ok("Datapath actions: 1".into())));
        assert!(!app.trace.running);
        assert_eq!(
            app.trace.result,
            Some(Ok("Datapath actions: 1".to_string()))
        );
        // Protocol tcp, port 8080, to a typed address outside the network.
        press(&mut app, "jjl");
        assert_eq!(app.trace.protocol, Protocol::Tcp);
        press(&mut app, "je");
        app.handle_key(KeyEvent::from(KeyCode::Backspace));
        app.handle_key(KeyEvent::from(KeyCode::Backspace));
        press(&mut app, "8080\nkke1.1.1.1\n");
        let Action::Trace { flow, .. } = press(&mut app, "\n") else {
            panic!()
        };
        assert!(flow.starts_with("tcp,in_port=2,"), "{flow}");
        assert!(
            flow.contains("dl_dst=aa:54:0a:14:00:01"),
            "to the gateway MAC: {flow}"
        );
        assert!(
            flow.ends_with("nw_dst=1.1.1.1,nw_ttl=64,tp_src=40000,tp_dst=8080"),
            "{flow}"
        );
        // A bad address is reported, nothing is run.
        press(&mut app, "e");
        press(&mut app, "x\n");
        assert_eq!(press(&mut app, "\n"), Action::None);
        assert!(matches!(&app.trace.result, Some(Err(e)) if e.contains("not an IP address")));
    }
}
