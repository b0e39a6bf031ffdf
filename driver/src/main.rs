//! ovs-driver entry point.
fn main() {}
