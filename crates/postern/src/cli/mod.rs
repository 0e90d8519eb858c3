//! The command line. `serve` runs the gateway; every other subcommand is a client of the
//! admin API (SPEC.md §9), one file per noun.
//!
//! # Layout
//! - `client`: where the API is, the token, the HTTP calls; errors as `STATUS: FIELD: MESSAGE`.
//! - `output`: tables, one-object views, UTC times, `--json`.
//! - `setting`: `KEY=VALUE` edits into nested JSON (`account set`, `domain set`).
//! - `password`: new passwords from a prompt or stdin, never argv.
//! - `queue`, `domain`, `account`, `identity`, `token`, `admin_user`, `rule`, `dkim`,
//!   `client_block`, `status`, `inbound_domain`, `quarantine`, `archive`, `log`: the
//!   subcommands; `ip_range` is `domain ip-range`.
//! - `train`: the built-in scorer trained from eml and mbox files.
//! - `generate`: `completions` and `man`, generated from this definition.
//! - `progress`: spinners and bars on stderr, only when it is a terminal.

pub mod account;
pub mod admin_user;
pub mod archive;
pub mod client;
pub mod client_block;
pub mod dkim;
pub mod domain;
pub mod generate;
pub mod identity;
pub mod inbound_domain;
pub mod ip_range;
pub mod log;
pub mod output;
pub mod password;
pub mod progress;
pub mod quarantine;
pub mod queue;
pub mod rule;
pub mod setting;
pub mod status;
pub mod token;
pub mod train;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "postern",
    version,
    about = "Postern, an outbound mail gateway",
    after_help = "Client subcommands find the admin API through --url, $POSTERN_URL or <--data-dir>/admin.url,
and their token through --token, $POSTERN_TOKEN or <--data-dir>/admin-token.

Examples:
  postern serve
  postern domain add example.com --enable
  echo 'a long secret' | postern account add user alice@example.com
  postern account list --domain example.com"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway (with no flags and no file: embedded defaults on loopback ports).
    Serve(ServeArgs),
    /// Check a configuration file as `serve --config FILE` would (exit 0 valid, 2 invalid).
    CheckConfig(CheckConfigArgs),
    /// The running server's status: queue size, events stored, retried and dropped (superadmin).
    Status(status::StatusArgs),
    /// Inspect and manage the queue of a running server.
    Queue(queue::QueueArgs),
    /// Customer domains: add, list, enable the outgoing filter, sender security.
    Domain(domain::DomainArgs),
    /// Outgoing accounts (ip, user, domain): add, list, settings, passwords, locks.
    Account(account::AccountArgs),
    /// The senders found behind each account: list, lock, unlock.
    Identity(identity::IdentityArgs),
    /// Admin API tokens for superadmins and domain admins.
    Token(token::TokenArgs),
    /// Web panel users: list, add, passwd, set (role, domains), delete (superadmin).
    AdminUser(admin_user::AdminUserArgs),
    /// Block and allow lists: reject, discard or allow by IP, network, sender, recipient, sender domain.
    Rule(rule::RuleArgs),
    /// DKIM keys: generate, import, list, show-dns, check, rotate, remove.
    Dkim(dkim::DkimArgs),
    /// Clients blocked after failed AUTHs or by a daily block: list, lift (superadmin).
    ClientBlock(client_block::ClientBlockArgs),
    /// Inbound relay domains: mail to them is accepted from anyone and goes to their internal server.
    InboundDomain(inbound_domain::InboundDomainArgs),
    /// Held (quarantined) spam: list, show, arf, release (superadmin), delete, confirm, request-release.
    Quarantine(quarantine::QuarantineArgs),
    /// Log search: messages and refusals by domain, time and filters; a message's timeline.
    Log(log::LogArgs),
    /// Train the built-in scorer from eml or mbox files: --ham or --spam (superadmin).
    Train(train::TrainArgs),
    /// Archived copies of outgoing mail: search, show, export (mbox or zip).
    Archive(archive::ArchiveArgs),
    /// Print the shell completion script: bash, zsh, fish, elvish or powershell.
    Completions(generate::CompletionsArgs),
    /// Print the manual page postern(1), or write every page into a directory (--out).
    Man(generate::ManArgs),
}

/// Runs a client subcommand (every one but `serve` and `check-config`), or prints what
/// `completions` and `man` generate.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) | Command::CheckConfig(_) => anyhow::bail!("not a client subcommand"),
        Command::Status(args) => status::run(args),
        Command::Queue(args) => queue::run(args),
        Command::Domain(args) => domain::run(args),
        Command::Account(args) => account::run(args),
        Command::Identity(args) => identity::run(args),
        Command::Token(args) => token::run(args),
        Command::AdminUser(args) => admin_user::run(args),
        Command::Rule(args) => rule::run(args),
        Command::Dkim(args) => dkim::run(args),
        Command::ClientBlock(args) => client_block::run(args),
        Command::InboundDomain(args) => inbound_domain::run(args),
        Command::Quarantine(args) => quarantine::run(args),
        Command::Log(args) => log::run(args),
        Command::Train(args) => train::run(args),
        Command::Archive(args) => archive::run(args),
        Command::Completions(args) => generate::completions(args),
        Command::Man(args) => generate::man(args),
    }
}

#[derive(Args, Debug)]
pub struct CheckConfigArgs {
    /// The TOML file to check (see docs/CONFIG.md).
    pub file: PathBuf,
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
    /// Submission listener, STARTTLS offered ("" turns it off) [default: 127.0.0.1:2587].
    #[arg(long, value_name = "ADDR")]
    pub submission: Option<String>,
    /// Implicit-TLS listener ("" turns it off) [default: 127.0.0.1:2465].
    #[arg(long, value_name = "ADDR")]
    pub smtps: Option<String>,
    /// Admin API listener ("" turns it off) [default: 127.0.0.1:8025].
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// Network allowed to relay without authentication; repeatable [default: 127.0.0.0/8, ::1].
    #[arg(long = "trusted-network", value_name = "CIDR")]
    pub trusted_networks: Vec<String>,
    /// Deliver through this host by default, whatever the file's delivery.default_route says
    /// (the file's routing rules still apply).
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_argument_takes_a_password() {
        fn walk(command: &clap::Command, path: &str, seen: &mut usize) {
            let path = format!("{path} {}", command.get_name());
            for arg in command.get_arguments().filter(|a| a.get_id().as_str().contains("password")) {
                // A switch (`--password-stdin`) says where the password comes from; none holds one.
                assert!(!arg.get_action().takes_values(), "{path} --{}", arg.get_id());
                *seen += 1;
            }
            for sub in command.get_subcommands() {
                walk(sub, &path, seen);
            }
        }
        let mut seen = 0;
        walk(&Cli::command(), "", &mut seen);
        assert_eq!(seen, 2, "admin-user add and passwd take --password-stdin");
    }

    #[test]
    fn serve_help_shows_plain_quotes() {
        let mut cli = Cli::command();
        let help = cli.find_subcommand_mut("serve").unwrap().render_help().to_string();
        assert!(!help.contains('\\'), "{help}");
        assert!(help.contains(r#"Admin API listener ("" turns it off)"#), "{help}");
    }
}
