//! The Terminagent services: configuration, the HTTP API, and the wiring that
//! runs them. The `terminagent` binary (`main.rs`) is a thin shell over this.

pub mod app;
pub mod application;
pub mod audit;
pub mod config;
pub mod demo;
pub mod german;
pub mod http;
pub mod links;
pub mod mail;
pub mod matcher;
pub mod metrics;
pub mod migrate_log;
pub mod projections;
pub mod readiness;
pub mod simulate;
pub mod site;
pub mod staff_cli;
pub mod telemetry;
pub mod waitlist;
