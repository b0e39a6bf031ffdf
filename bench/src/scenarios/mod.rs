//! The benchmark scenarios; each returns a [`crate::report::Report`] with the keys the issue
//! names.

pub mod endpoints;
pub mod flows;
pub mod ovsdb;
pub mod restart;
pub mod tui;
