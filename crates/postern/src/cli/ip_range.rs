//! `postern domain ip-range add|list|remove`: the IP ranges a superadmin delegates to a
//! domain (SPEC.md §1). A domain admin may create ip accounts only inside its domains'
//! ranges, and may list them; only a superadmin adds or removes one.

use anyhow::{Result, bail};
use clap::Subcommand;
use postern_core::tenancy::parse_network;
use serde_json::{Value, json};

use super::client::{ApiClient, PageArgs, encode, query};
use super::output;

#[derive(Subcommand, Debug)]
pub enum IpRangeCommand {
    /// Delegate a range to a domain (superadmin): its admins may create ip accounts inside it.
    Add {
        domain: String,
        /// An address or CIDR range: 192.0.2.0/24, 2001:db8:7::/48.
        #[arg(value_name = "CIDR")]
        range: String,
        /// A note shown in lists (e.g. the customer's contract).
        #[arg(long)]
        comment: Option<String>,
    },
    /// List the ranges delegated to a domain.
    List {
        domain: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Remove a delegation (superadmin); the ip accounts inside it stay.
    Remove {
        domain: String,
        /// The delegated range (as listed) or its id.
        #[arg(value_name = "CIDR|ID")]
        range: String,
    },
}

pub fn run(api: &ApiClient, command: IpRangeCommand) -> Result<(Value, String)> {
    let base = |domain: &str| format!("/domains/{}/ip-ranges", encode(domain));
    match command {
        IpRangeCommand::Add { domain, range, comment } => {
            let d = api.post_json(&base(&domain), &json!({"range": range, "comment": comment}))?;
            let human = format!("delegated {} to {}\n", output::text(&d, "range"), output::text(&d, "domain"));
            Ok((d, human))
        }
        IpRangeCommand::List { domain, page } => {
            let list = api.get(&format!("{}{}", base(&domain), query(page.pairs())))?;
            let human = output::list(
                &list,
                &["ID", "RANGE", "COMMENT", "CREATED (UTC)"],
                output::Noun("range", "ranges"),
                |d| {
                    vec![
                        output::text(d, "id"),
                        output::text(d, "range"),
                        output::text(d, "comment"),
                        output::time(d, "created_at_ms"),
                    ]
                },
            );
            Ok((list, human))
        }
        IpRangeCommand::Remove { domain, range } => {
            let id = match range.parse::<u64>() {
                Ok(id) => id.to_string(),
                Err(_) => find(api, &base(&domain), &range)?,
            };
            let answer = api.delete(&format!("{}/{}", base(&domain), encode(&id)))?;
            Ok((answer, format!("removed the delegation {range} of {domain}\n")))
        }
    }
}

/// The id of the delegation of exactly `range` (canonical form compared).
fn find(api: &ApiClient, base: &str, range: &str) -> Result<String> {
    let Some(wanted) = parse_network(range) else { bail!("{range:?} is not an address or CIDR range") };
    let list = api.get(&format!("{base}?limit=1000"))?;
    for d in output::items(&list) {
        if d.get("range").and_then(Value::as_str).and_then(parse_network) == Some(wanted) {
            return Ok(output::text(d, "id"));
        }
    }
    bail!("{wanted} is not delegated to this domain (see `postern domain ip-range list`)")
}
