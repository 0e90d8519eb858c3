//! `postern identity list|show|lock|unlock`: the senders found behind each account
//! (SPEC.md §1, "Manage identities"). Identities are registered by the gateway on first
//! sight; here they are listed, locked and unlocked.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::account;
use super::client::{ApiClient, ClientArgs, PageArgs, query};
use super::output;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern identity list --account 192.0.2.0/24
  postern identity list --domain example.com --name newsletter
  postern identity lock 42")]
pub struct IdentityArgs {
    #[command(subcommand)]
    pub command: IdentityCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum IdentityCommand {
    /// List identities.
    List {
        /// Only the identities of this account.
        #[arg(long, value_name = "ID|NAME")]
        account: Option<String>,
        #[arg(long)]
        domain: Option<String>,
        /// Only names containing this.
        #[arg(long)]
        name: Option<String>,
        /// Only locked identities.
        #[arg(long)]
        locked: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one identity.
    Show { id: u64 },
    /// Lock an identity: its mail is refused until it is unlocked.
    Lock { id: u64 },
    /// Unlock an identity.
    Unlock { id: u64 },
    /// Live counter values: recipients today, spam count, lock.
    Counters { id: u64 },
}

pub fn run(args: IdentityArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let (answer, human) = match args.command {
        IdentityCommand::List { account, domain, name, locked, page } => {
            let account_id = match account {
                Some(account) => Some(output::text(&account::resolve(&api, &account)?, "id")),
                None => None,
            };
            let filters = [
                ("account_id", account_id),
                ("domain", domain),
                ("name", name),
                ("locked", locked.then(|| "true".into())),
            ];
            let list = api.get(&format!("/identities{}", query(filters.into_iter().chain(page.pairs()))))?;
            let human = table(&list);
            (list, human)
        }
        IdentityCommand::Show { id } => {
            let identity = api.get(&format!("/identities/{id}"))?;
            let human = output::detail(&identity, &["id", "name", "account_id", "domain", "messages", "lock"]);
            (identity, human)
        }
        IdentityCommand::Counters { id } => {
            let counters = api.get(&format!("/identities/{id}/counters"))?;
            let human = output::counters(&counters);
            (counters, human)
        }
        IdentityCommand::Lock { id } => lock(&api, id, true)?,
        IdentityCommand::Unlock { id } => lock(&api, id, false)?,
    };
    print!("{}", if args.client.json { output::json(&answer) } else { human });
    Ok(())
}

fn lock(api: &ApiClient, id: u64, locked: bool) -> Result<(Value, String)> {
    let identity = api.patch_json(&format!("/identities/{id}"), &json!({ "locked": locked }))?;
    let human =
        format!("identity {id} ({}) {}\n", output::text(&identity, "name"), if locked { "locked" } else { "unlocked" });
    Ok((identity, human))
}

fn table(list: &Value) -> String {
    let header = ["ID", "ACCOUNT", "DOMAIN", "NAME", "MESSAGES", "LOCKED", "FIRST SEEN (UTC)", "LAST SEEN (UTC)"];
    output::list(list, &header, output::Noun("identity", "identities"), |i| {
        vec![
            output::text(i, "id"),
            output::text(i, "account_id"),
            output::text(i, "domain"),
            output::text(i, "name"),
            output::text(i, "messages"),
            output::yes_no(i.get("lock")),
            output::time(i, "first_seen_ms"),
            output::time(i, "last_seen_ms"),
        ]
    })
}
