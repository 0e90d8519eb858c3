//! `postern rule add|list|show|remove`: the block and allow lists (SPEC.md §4, seed 004)
//! through the admin API. Without `--domain` a rule is global (superadmin only); with it,
//! the rule applies to that domain's mail.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{ApiClient, ClientArgs, PageArgs, query};
use super::output;

const KINDS: [&str; 5] = ["ip", "network", "sender", "recipient", "sender-domain"];
const ACTIONS: [&str; 3] = ["reject", "discard", "allow"];

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern rule add --kind ip --action reject 192.0.2.7
  postern rule add --kind network --action allow --domain example.com 192.0.2.0/255.255.255.0
  postern rule add --kind sender-domain --action discard --comment 'newsletter loop' bulk.example
  postern rule list --domain example.com --action allow
  postern rule remove 12

reject answers 554 5.7.1; discard answers 250 and drops the message; allow skips checks
(ip: DNSBL, SPF, virus, DKIM, DMARC; network: all but virus; sender, recipient: SPF, virus;
sender-domain: SPF, virus, DKIM, DMARC) and never lets a client relay.")]
pub struct RuleArgs {
    #[command(subcommand)]
    pub command: RuleCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum RuleCommand {
    /// Add a rule (global unless --domain).
    Add {
        /// What VALUE is compared with.
        #[arg(long, value_parser = KINDS)]
        kind: String,
        #[arg(long, value_parser = ACTIONS)]
        action: String,
        /// The domain whose mail the rule applies to [default: every domain's (global)].
        #[arg(long)]
        domain: Option<String>,
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
        /// An address (ip), a CIDR or ADDRESS/DOTTED-MASK (network), an address (sender,
        /// recipient), a domain (sender-domain).
        value: String,
    },
    /// List rules.
    List {
        /// Only this domain's rules.
        #[arg(long, conflicts_with = "global")]
        domain: Option<String>,
        /// Only global rules.
        #[arg(long)]
        global: bool,
        #[arg(long, value_parser = KINDS)]
        kind: Option<String>,
        #[arg(long, value_parser = ACTIONS)]
        action: Option<String>,
        /// Only values containing this.
        #[arg(long)]
        value: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one rule.
    Show { id: u64 },
    /// Remove a rule.
    Remove { id: u64 },
}

/// The API's name of a kind (`sender-domain` is `sender_domain`).
fn api_kind(kind: &str) -> String {
    kind.replace('-', "_")
}

pub fn run(args: RuleArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let (answer, human) = match args.command {
        RuleCommand::Add { kind, action, domain, comment, value } => {
            let body = json!({"domain": domain, "kind": api_kind(&kind), "value": value, "action": action,
                "comment": comment});
            let rule = api.post_json("/rules", &body)?;
            let human = format!("added {}\n", describe(&rule));
            (rule, human)
        }
        RuleCommand::List { domain, global, kind, action, value, page } => {
            let filters = [
                ("domain", domain),
                ("global", global.then(|| "true".into())),
                ("kind", kind.as_deref().map(api_kind)),
                ("action", action),
                ("value", value),
            ];
            let list = api.get(&format!("/rules{}", query(filters.into_iter().chain(page.pairs()))))?;
            let human = table(&list);
            (list, human)
        }
        RuleCommand::Show { id } => {
            let rule = api.get(&format!("/rules/{id}"))?;
            let human = output::detail(&rule, &["id", "domain", "kind", "value", "action", "comment"]);
            (rule, human)
        }
        RuleCommand::Remove { id } => {
            let answer = api.delete(&format!("/rules/{id}"))?;
            (answer, format!("removed rule {id}\n"))
        }
    };
    print!("{}", if args.client.json { output::json(&answer) } else { human });
    Ok(())
}

/// `rule 12 (global): reject ip 192.0.2.7`.
fn describe(rule: &Value) -> String {
    format!(
        "rule {} ({}): {} {} {}",
        output::text(rule, "id"),
        scope(rule),
        output::text(rule, "action"),
        output::text(rule, "kind"),
        output::text(rule, "value")
    )
}

/// The rule's domain, or `global`.
fn scope(rule: &Value) -> String {
    rule.get("domain").and_then(Value::as_str).unwrap_or("global").to_string()
}

fn table(list: &Value) -> String {
    let header = ["ID", "DOMAIN", "KIND", "VALUE", "ACTION", "COMMENT", "CREATED (UTC)"];
    output::list(list, &header, output::Noun("rule", "rules"), |r| {
        vec![
            output::text(r, "id"),
            scope(r),
            output::text(r, "kind"),
            output::text(r, "value"),
            output::text(r, "action"),
            output::text(r, "comment"),
            output::time(r, "created_at_ms"),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_one_line_and_a_table() {
        let rule = json!({"id": 12, "domain": null, "kind": "sender_domain", "value": "spam.example",
            "action": "discard", "created_at_ms": 0});
        assert_eq!(describe(&rule), "rule 12 (global): discard sender_domain spam.example");
        let list = json!({"items": [rule], "total": 1, "limit": 100, "offset": 0});
        let text = table(&list);
        assert!(text.starts_with("ID  DOMAIN  KIND"), "{text}");
        assert!(text.contains("12  global  sender_domain  spam.example  discard  -"), "{text}");
        assert!(text.ends_with("-- 1 rule\n"), "{text}");
        assert_eq!(api_kind("sender-domain"), "sender_domain");
    }
}
