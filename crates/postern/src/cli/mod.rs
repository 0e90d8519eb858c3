//! The command line. `serve` runs the gateway; every other subcommand is a client of the
//! admin API (SPEC.md §9), one file each.

pub mod client;
pub mod queue;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "postern", version, about = "Postern, an outbound mail gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway (with no flags and no file: embedded defaults on loopback ports).
    Serve(ServeArgs),
    /// Inspect and manage the queue of a running server.
    Queue(queue::QueueArgs),
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML configuration file (see docs/CONFIG.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: spool, database, certificate [default: ./postern-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Relay listener, STARTTLS offered ("" turns it off) [default: 127.0.0.1:2525].
    #[arg(long, value_name = "ADDR")]
    pub smtp: Option<String>,
    /// Submission listener, STARTTLS offered [default: 127.0.0.1:2587].
    #[arg(long, value_name = "ADDR")]
    pub submission: Option<String>,
    /// Implicit-TLS listener [default: 127.0.0.1:2465].
    #[arg(long, value_name = "ADDR")]
    pub smtps: Option<String>,
    /// Admin API listener (\"\" turns it off) [default: 127.0.0.1:8025].
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// Network allowed to relay without authentication; repeatable [default: 127.0.0.0/8, ::1].
    #[arg(long = "trusted-network", value_name = "CIDR")]
    pub trusted_networks: Vec<String>,
    /// Send all mail through this host (used by delivery).
    #[arg(long, value_name = "HOST:PORT")]
    pub relay_host: Option<String>,
    /// Our host name in the greeting, EHLO and Received headers [default: the system's].
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

impl ServeArgs {
    pub fn overrides(&self) -> postern_config::Overrides {
        postern_config::Overrides {
            data_dir: self.data_dir.clone(),
            smtp: self.smtp.clone(),
            submission: self.submission.clone(),
            smtps: self.smtps.clone(),
            admin: self.admin.clone(),
            trusted_networks: self.trusted_networks.clone(),
            relay_host: self.relay_host.clone(),
            hostname: self.hostname.clone(),
        }
    }
}
