//! Prometheus metrics for Postern: counters fed from the event stream (so that they match
//! the log event for event), values read at scrape time (the queue by state, open
//! sessions, the event writer's counts), and who may read them.
//!
//! In: [`Event`](postern_core::Event)s through [`MetricsSink`], a [`Scraped`] snapshot per
//! scrape. Out: the Prometheus text format ([`Metrics::render`], [`CONTENT_TYPE`]) and the
//! access decision for a request ([`check_access`]). No HTTP here: the admin API
//! serves the text at `/metrics`. Defends against: label values without bound (rules,
//! engines, mechanisms come from text others write; see `labels.rs`) and a token compared
//! in a time that would tell where it differs.
//!
//! # Layout
//! - `registry.rs`: [`Metrics`], every metric's name and help, [`Scraped`], the rendering.
//! - `observe.rs`: [`Metrics::observe`], one event to its counters.
//! - `labels.rs`: bounded label values, and the rule a refusal's reason names.
//! - `sink.rs`: [`MetricsSink`], the tee in the event sink chain.
//! - `access.rs`: [`check_access`] under `[metrics]` (`allow`, `token`), and [`Access`].

mod access;
mod labels;
mod observe;
mod registry;
mod sink;

pub use access::{Access, check as check_access};
pub use labels::{OTHER, refusal_rule};
pub use registry::{CONTENT_TYPE, EventFigures, MAX_RULES, MAX_VALUES, Metrics, Scraped};
pub use sink::MetricsSink;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot encode the metrics: {0}")]
    Encode(std::fmt::Error),
}

pub type Result<T> = std::result::Result<T, MetricsError>;
