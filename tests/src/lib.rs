//! Test harness: private OVS, dockerd and driver inside a network namespace.
