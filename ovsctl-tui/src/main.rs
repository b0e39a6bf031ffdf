//! `ovsctl-tui`: live terminal UI for Open vSwitch networks made by our Docker driver.

fn main() {}
