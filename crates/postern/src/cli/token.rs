//! `postern token create|list|remove`: admin API tokens (SPEC.md §1 roles). A superadmin
//! sees everything; a domain admin only its domains. The secret is printed once, at
//! creation, alone on stdout (so `TOKEN=$(postern token create ...)` works); the server
//! keeps only its hash.

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::client::{ApiClient, ClientArgs, PageArgs, query};
use super::output;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern token create support --role superadmin
  postern token create acme-admin --role domain_admin --domain acme.example --domain acme-mail.example
  POSTERN_TOKEN=pst_... postern domain list      (what that token sees)
  postern token remove 3")]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown this once only).
    Create {
        /// What the token is for (shown in lists).
        name: String,
        #[arg(long)]
        role: RoleArg,
        /// A domain a domain admin manages; repeatable.
        #[arg(
            long = "domain",
            value_name = "DOMAIN",
            required_if_eq_any([("role", "domain_admin"), ("role", "domain-admin")])
        )]
        domains: Vec<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Remove a token: requests with it are refused from now on.
    Remove { id: u64 },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// Sees and manages everything.
    Superadmin,
    /// Sees and manages its --domain(s) only. `domain_admin` is the one spelling the API
    /// and the CLI print; `domain-admin` is accepted too.
    #[value(name = "domain_admin", alias = "domain-admin")]
    DomainAdmin,
}

impl RoleArg {
    pub fn api_name(self) -> &'static str {
        match self {
            RoleArg::Superadmin => "superadmin",
            RoleArg::DomainAdmin => "domain_admin",
        }
    }
}

pub fn run(args: TokenArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let (answer, human) = match args.command {
        TokenCommand::Create { name, role, domains } => {
            let created =
                api.post_json("/tokens", &json!({"name": name, "role": role.api_name(), "domains": domains}))?;
            if !args.client.json {
                let token = created.get("token").cloned().unwrap_or(Value::Null);
                eprintln!(
                    "created token {} ({}, {}{}); its secret follows and is not shown again: store it now",
                    output::text(&token, "id"),
                    output::text(&token, "name"),
                    output::text(&token, "role"),
                    scope(&token),
                );
            }
            let human = format!("{}\n", output::text(&created, "secret"));
            (created, human)
        }
        TokenCommand::List { page } => {
            let list = api.get(&format!("/tokens{}", query(page.pairs())))?;
            let human = output::list(
                &list,
                &["ID", "NAME", "ROLE", "DOMAINS", "CREATED (UTC)"],
                output::Noun("token", "tokens"),
                |t| {
                    vec![
                        output::text(t, "id"),
                        output::text(t, "name"),
                        output::text(t, "role"),
                        output::text(t, "domains"),
                        output::time(t, "created_at_ms"),
                    ]
                },
            );
            (list, human)
        }
        TokenCommand::Remove { id } => {
            let answer = api.delete(&format!("/tokens/{id}"))?;
            (answer, format!("removed token {id}\n"))
        }
    };
    print!("{}", if args.client.json { output::json(&answer) } else { human });
    Ok(())
}

fn scope(token: &Value) -> String {
    match token.get("domains").and_then(Value::as_array) {
        Some(domains) if !domains.is_empty() => format!(": {}", output::text(token, "domains")),
        _ => String::new(),
    }
}
