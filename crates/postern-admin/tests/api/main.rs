//! The admin API end to end, in process: real SQLite directory, real queue manager, the
//! real router driven with `tower::ServiceExt::oneshot`.

mod admin_users;
mod archive;
mod bad_input;
mod crud;
mod dkim;
mod harness;
mod inbound;
mod isolation;
mod lock_notices;
mod panel;
mod panel_accounts;
mod panel_dashboard;
mod panel_domains;
mod panel_messages;
mod rules;
mod status;
mod tenancy;
mod training;
