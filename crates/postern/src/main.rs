//! `postern`: the one binary. `main` parses arguments and hands over; `serve` wires
//! config -> stores -> listeners and runs the gateway. Later subcommands are clients of the
//! admin API.
//!
//! # Layout
//! - `cli`: the command line (clap); `cli/` holds the API client and one file per client subcommand.
//! - `serve`: start-up, the running gateway, graceful shutdown.
//! - `tls`: the server certificate: load it, or generate a self-signed one on first start.
//! - `admin_tls`: the admin listener (API and web panel) over TLS (`admin.tls`).
//! - `dkim`: the DKIM master key, the signer's keys loaded from the store, their reload.
//! - `events`: the event sink sessions write to: a log line, and a row in the store.
//! - `directory`: the SMTP policy's in-memory directory: loaded, patched per change, locks.
//! - `convergence`: a cluster's nodes on one PostgreSQL: changes published to its change
//!   feed and followed from it; `451 4.3.0` while a node cannot keep up.
//! - `health`: the checks behind `/health` (spool, store, PostgreSQL's feed, Redis, engines).
//! - `logging`: the `tracing` subscriber (text or JSON on stdout).
//! - `log_retention`: events and log search rows past `log.retention_days` removed in
//!   small batches, at start and every ten minutes.
//! - `config_file`: file + flags -> a checked `Config` (serve, reload, `check-config`).
//! - `reload`: `SIGHUP`: read the file again, apply what can change live, name the rest.
//! - `memory`: how glibc's allocator gives memory back (set once at start-up).
//! - `archive`: the archive at start-up (recovery, a background check) and its purge task.

mod admin_tls;
mod archive;
mod cli;
mod config_file;
mod convergence;
mod directory;
mod dkim;
mod domain_age;
mod events;
mod health;
mod log_retention;
mod logging;
mod memory;
mod reload;
mod reload_plan;
mod serve;
mod tls;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => serve::main(args),
        cli::Command::CheckConfig(args) => check_config(&args.file),
        command => match cli::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("postern: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `postern check-config FILE`: exit 0 and say so when `serve --config FILE` would accept
/// it; exit 2 with the one error line otherwise (the same line `serve` prints).
fn check_config(file: &std::path::Path) -> ExitCode {
    match config_file::load(Some(file), &postern_config::Overrides::default()) {
        Ok(_) => {
            println!("{}: valid", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("postern: config error: {e}");
            ExitCode::from(2)
        }
    }
}
