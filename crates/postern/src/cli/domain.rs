//! `postern domain add|list|show|enable|disable|set|remove|ip-range`: customer domains
//! (SPEC.md §1) through the admin API. A new domain's outgoing filter is off until it is enabled.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::{ApiClient, ClientArgs, PageArgs, encode, query};
use super::output;
use super::setting::{self, Assignment};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern domain add example.com --enable
  postern domain list --disabled
  postern domain set example.com sender_security.ip_check=allowlist sender_security.allowed_ips=192.0.2.0/24
  postern domain set example.com sender_security.allowed_senders=info@example.com,news@example.com
  postern domain ip-range add example.com 192.0.2.0/24 --comment 'contract 42'")]
pub struct DomainArgs {
    #[command(subcommand)]
    pub command: DomainCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Add a customer domain (its outgoing filter is off unless --enable).
    Add {
        name: String,
        /// Turn the outgoing filter on at once.
        #[arg(long)]
        enable: bool,
    },
    /// List domains.
    List {
        /// Only names containing this.
        #[arg(long)]
        name: Option<String>,
        /// Only domains whose filter is on.
        #[arg(long, conflicts_with = "disabled")]
        enabled: bool,
        /// Only domains whose filter is off.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one domain.
    Show { name: String },
    /// Turn the domain's outgoing filter on: its mail is accepted.
    Enable { name: String },
    /// Turn the domain's outgoing filter off: its mail is refused 550 5.7.1.
    Disable { name: String },
    /// Change settings: filter_enabled, abuse_contact, sender_security.allowed_senders
    /// (comma list), sender_security.ip_check (none|allowlist|spf), sender_security.allowed_ips
    /// (comma list of CIDRs).
    #[command(
        after_help = "Example:\n  postern domain set example.com sender_security.ip_check=spf abuse_contact=abuse@example.com"
    )]
    Set {
        name: String,
        #[arg(value_name = "KEY=VALUE", required = true, value_parser = setting::parse_assignment)]
        settings: Vec<Assignment>,
    },
    /// Remove a domain.
    Remove { name: String },
    /// IP ranges delegated to the domain: its admins' ip accounts must lie inside one.
    #[command(subcommand, name = "ip-range")]
    IpRange(super::ip_range::IpRangeCommand),
}

pub fn run(args: DomainArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let json = args.client.json;
    let path = |name: &str| format!("/domains/{}", encode(name));
    let (answer, human) = match args.command {
        DomainCommand::Add { name, enable } => {
            let d = api.post_json("/domains", &json!({"name": name, "filter_enabled": enable}))?;
            let human = format!("added domain {} (filter {})\n", output::text(&d, "name"), on_off(&d));
            (d, human)
        }
        DomainCommand::List { name, enabled, disabled, page } => {
            let filter = (enabled || disabled).then(|| enabled.to_string());
            let list = api.get(&format!(
                "/domains{}",
                query([("name", name), ("filter_enabled", filter)].into_iter().chain(page.pairs()))
            ))?;
            let human = table(&list);
            (list, human)
        }
        DomainCommand::Show { name } => {
            let d = api.get(&path(&name))?;
            let human = output::detail(&d, DOMAIN_FIELDS);
            (d, human)
        }
        DomainCommand::Enable { name } => switch(&api, &path(&name), true)?,
        DomainCommand::Disable { name } => switch(&api, &path(&name), false)?,
        DomainCommand::Set { name, settings } => {
            let current = api.get(&path(&name))?;
            let d = api.patch_json(&path(&name), &patch(&current, &settings)?)?;
            let human = output::detail(&d, DOMAIN_FIELDS);
            (d, human)
        }
        DomainCommand::Remove { name } => {
            let answer = api.delete(&path(&name))?;
            (answer, format!("removed domain {name}\n"))
        }
        DomainCommand::IpRange(command) => super::ip_range::run(&api, command)?,
    };
    print!("{}", if json { output::json(&answer) } else { human });
    Ok(())
}

/// The order `domain show` prints the fields in.
const DOMAIN_FIELDS: &[&str] = &["name", "filter_enabled", "sender_security", "abuse_contact"];

fn switch(api: &ApiClient, path: &str, on: bool) -> Result<(Value, String)> {
    let d = api.patch_json(path, &json!({"filter_enabled": on}))?;
    let human = format!("domain {}: filter {}\n", output::text(&d, "name"), on_off(&d));
    Ok((d, human))
}

fn on_off(domain: &Value) -> &'static str {
    if domain.get("filter_enabled").and_then(Value::as_bool).unwrap_or(false) { "enabled" } else { "disabled" }
}

/// The PATCH body: each top-level field an assignment touches, complete (the current value
/// with the assignments applied), so the server's answer does not depend on whether it
/// merges or replaces `sender_security`.
fn patch(current: &Value, assignments: &[Assignment]) -> Result<Value> {
    let mut doc = current.clone();
    for a in assignments {
        setting::set(&mut doc, &a.path, setting::parse_value(setting::lookup(current, &a.path), &a.value))?;
    }
    let touched: Map<String, Value> =
        assignments.iter().map(|a| (a.path[0].clone(), doc.get(&a.path[0]).cloned().unwrap_or(Value::Null))).collect();
    Ok(Value::Object(touched))
}

fn table(list: &Value) -> String {
    let header = ["NAME", "FILTER", "IP CHECK", "ALLOWED SENDERS", "ABUSE CONTACT", "CREATED (UTC)"];
    output::list(list, &header, output::Noun("domain", "domains"), |d| {
        let security = d.get("sender_security").cloned().unwrap_or(Value::Null);
        vec![
            output::text(d, "name"),
            on_off(d).to_string(),
            output::text(&security, "ip_check"),
            output::text(&security, "allowed_senders"),
            output::text(d, "abuse_contact"),
            output::time(d, "created_at_ms"),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_sends_whole_top_level_fields() {
        let current = json!({"name": "example.com", "filter_enabled": false,
            "sender_security": {"allowed_senders": [], "ip_check": "none", "allowed_ips": []}});
        let sets: Vec<Assignment> = ["sender_security.ip_check=allowlist", "sender_security.allowed_ips=192.0.2.0/24"]
            .iter()
            .map(|s| setting::parse_assignment(s).unwrap())
            .collect();
        assert_eq!(
            patch(&current, &sets).unwrap(),
            json!({"sender_security": {"allowed_senders": [], "ip_check": "allowlist", "allowed_ips": ["192.0.2.0/24"]}})
        );
        let abuse = [setting::parse_assignment("abuse_contact=abuse@example.com").unwrap()];
        assert_eq!(patch(&current, &abuse).unwrap(), json!({"abuse_contact": "abuse@example.com"}));
    }
}
