//! `ovsctl-tui`: a live terminal UI and scriptable commands for Open vSwitch networks made by
//! our Docker driver.
//!
//! Data flows one way: collector tasks ([`collect`]) talk to ovsdb-server (monitor), to every
//! bridge's OpenFlow management socket (flow and port statistics), to the vswitchd unixctl
//! socket ([`unixctl`]) and to Docker ([`docker`]), and send [`state::Update`]s over a channel.
//! The UI loop ([`terminal`]) applies them to the [`app::App`] ([`state::State`] plus view
//! state) and draws it with [`ui`]; it never waits for I/O. The `show`, `flows` and `trace`
//! subcommands ([`output`]) use the same model without a terminal.

pub mod app;
pub mod bench;
pub mod collect;
pub mod cookie;
pub mod docker;
pub mod filter;
pub mod fixtures;
pub mod flows;
pub mod format;
pub mod model;
pub mod output;
pub mod rates;
pub mod state;
pub mod terminal;
pub mod trace;
pub mod ui;
pub mod unixctl;
