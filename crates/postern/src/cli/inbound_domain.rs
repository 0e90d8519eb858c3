//! `postern inbound-domain add|list|show|remove`: inbound relay domains (SPEC.md §4, seed
//! 004) through the admin API. Mail to such a domain is accepted from anyone and delivered
//! only to its internal server; adding and removing is for superadmins.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{ApiClient, ClientArgs, PageArgs, encode, query};
use super::output;

const TLS_MODES: [&str; 3] = ["none", "starttls", "implicit"];

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern inbound-domain add example.org --host 10.0.0.25
  postern inbound-domain add example.net --host mail.internal.example --port 465 --tls implicit
  postern inbound-domain list
  postern inbound-domain remove example.org

Mail from any client to <anything>@example.org (exactly that domain, not its subdomains) is
accepted, checked like all mail (protocol policy, lists) and delivered only to the internal
server; every other recipient of an unattributed client stays 554 Relay access denied.")]
pub struct InboundDomainArgs {
    #[command(subcommand)]
    pub command: InboundDomainCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum InboundDomainCommand {
    /// Add an inbound relay domain and its internal server (superadmin).
    Add {
        /// The domain (exact: a subdomain needs its own entry).
        name: String,
        /// The internal server: a host name or an IP address.
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 25)]
        port: u16,
        /// How delivery to the internal server is secured.
        #[arg(long, value_parser = TLS_MODES, default_value = "starttls")]
        tls: String,
        /// Never deliver without TLS (implied by --tls implicit).
        #[arg(long)]
        require_tls: bool,
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// List inbound relay domains.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one inbound relay domain.
    Show { name: String },
    /// Remove an inbound relay domain (superadmin).
    Remove { name: String },
}

pub fn run(args: InboundDomainArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let (answer, human) = match args.command {
        InboundDomainCommand::Add { name, host, port, tls, require_tls, comment } => {
            let mut body = json!({"name": name, "host": host, "port": port, "tls": tls, "comment": comment});
            if require_tls {
                body["require_tls"] = json!(true);
            }
            let added = api.post_json("/inbound-domains", &body)?;
            let human = format!("added {}\n", describe(&added));
            (added, human)
        }
        InboundDomainCommand::List { page } => {
            let list = api.get(&format!("/inbound-domains{}", query(page.pairs())))?;
            let human = table(&list);
            (list, human)
        }
        InboundDomainCommand::Show { name } => {
            let found = api.get(&format!("/inbound-domains/{}", encode(&name)))?;
            let human = output::detail(&found, &["name", "host", "port", "tls", "require_tls", "comment"]);
            (found, human)
        }
        InboundDomainCommand::Remove { name } => {
            let answer = api.delete(&format!("/inbound-domains/{}", encode(&name)))?;
            let human = format!("removed inbound domain {}\n", output::text(&answer, "name"));
            (answer, human)
        }
    };
    print!("{}", if args.client.json { output::json(&answer) } else { human });
    Ok(())
}

/// `inbound domain example.org -> 10.0.0.25:25 (starttls)`.
fn describe(entry: &Value) -> String {
    format!("inbound domain {} -> {} ({})", output::text(entry, "name"), server(entry), tls(entry))
}

/// `host:port`, IPv6 addresses in brackets.
fn server(entry: &Value) -> String {
    let host = output::text(entry, "host");
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    format!("{host}:{}", output::text(entry, "port"))
}

/// The TLS mode, `required` added when it is.
fn tls(entry: &Value) -> String {
    let mode = output::text(entry, "tls");
    match (mode.as_str(), entry.get("require_tls").and_then(Value::as_bool)) {
        ("starttls", Some(true)) => "starttls, required".to_string(),
        _ => mode,
    }
}

fn table(list: &Value) -> String {
    let header = ["NAME", "SERVER", "TLS", "COMMENT", "CREATED (UTC)"];
    output::list(list, &header, output::Noun("inbound domain", "inbound domains"), |e| {
        vec![output::text(e, "name"), server(e), tls(e), output::text(e, "comment"), output::time(e, "created_at_ms")]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_as_one_line_and_a_table() {
        let entry = json!({"name": "example.org", "host": "::1", "port": 2525, "tls": "starttls",
            "require_tls": true, "created_at_ms": 0});
        assert_eq!(describe(&entry), "inbound domain example.org -> [::1]:2525 (starttls, required)");
        let list = json!({"items": [entry], "total": 1, "limit": 100, "offset": 0});
        let text = table(&list);
        assert!(text.starts_with("NAME"), "{text}");
        assert!(text.contains("example.org  [::1]:2525  starttls, required  -"), "{text}");
        assert!(text.ends_with("-- 1 inbound domain\n"), "{text}");
    }
}
