//! `postern account add|list|show|set|password|lock|unlock|remove`: outgoing accounts
//! (SPEC.md §1–§3) through the admin API. An account is named by its id or by its exact
//! name (the CIDR, the address or the domain). Passwords come from a prompt or stdin, never
//! from argv (see `password`).

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use postern_core::tenancy::{AccountKind, AccountSettings, parse_network};
use serde_json::{Value, json};

use super::client::{ApiClient, ClientArgs, PageArgs, encode, query};
use super::output;
use super::password;
use super::setting::{self, Assignment};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern account add ip --domain example.com 192.0.2.0/24
  echo 'a long secret' | postern account add user alice@example.com
  postern account add domain example.com        (asks for the password twice)
  postern account list --domain example.com
  postern account set alice@example.com limits.recipients_per_message=50
  postern account set 192.0.2.0/24 identification.method=header identification.headers=X-Client-ID,X-AuthUser
  postern account lock alice@example.com")]
pub struct AccountArgs {
    #[command(subcommand)]
    pub command: AccountCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Add an account: an IP range (ip), an address with a password (user), or the domain
    /// name with a password (domain).
    #[command(subcommand)]
    Add(AddCommand),
    /// List accounts.
    List {
        #[arg(long)]
        domain: Option<String>,
        #[arg(long, value_parser = ["ip", "user", "domain"])]
        kind: Option<String>,
        /// Only names containing this.
        #[arg(long)]
        name: Option<String>,
        /// Only locked accounts.
        #[arg(long)]
        locked: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one account with all its settings.
    Show {
        /// The account's id, or its exact name (range, address or domain).
        #[arg(value_name = "ID|NAME")]
        account: String,
    },
    /// Change settings: KEY is a dotted path into the settings `account show` lists.
    #[command(after_help = SET_HELP)]
    Set {
        /// The account's id, or its exact name (range, address or domain).
        #[arg(value_name = "ID|NAME")]
        account: String,
        #[arg(value_name = "KEY=VALUE", required = true, value_parser = setting::parse_assignment)]
        settings: Vec<Assignment>,
    },
    /// Set a new password (user and domain accounts): asked twice on a terminal, else the
    /// first line of stdin.
    #[command(after_help = "Example:\n  printf '%s\\n' \"$NEW\" | postern account password alice@example.com")]
    Password {
        /// The account's id, or its exact name (range, address or domain).
        #[arg(value_name = "ID|NAME")]
        account: String,
    },
    /// Lock an account: its mail is refused until it is unlocked.
    Lock {
        /// The account's id, or its exact name (range, address or domain).
        #[arg(value_name = "ID|NAME")]
        account: String,
    },
    /// Unlock an account (also resets its count of automatic unlocks).
    Unlock {
        /// The account's id, or its exact name (range, address or domain).
        #[arg(value_name = "ID|NAME")]
        account: String,
    },
    /// Live counter values: sessions per window, recipients today, spam count, lock.
    Counters {
        /// The account's id, or its exact name (range, address or domain).
        #[arg(value_name = "ID|NAME")]
        account: String,
    },
    /// Remove an account and its identities.
    Remove {
        /// The account's id, or its exact name (range, address or domain).
        #[arg(value_name = "ID|NAME")]
        account: String,
    },
}

const SET_HELP: &str = "VALUE takes the shape of the setting: a comma list for a list (X-Client-ID,X-AuthUser),
text for a text, JSON for numbers and booleans (50, true); null clears an optional text.

Examples:
  postern account set 7 limits.recipients_per_message=50 limits.recipients_per_day=2000
  postern account set alice@example.com identification.method=header identification.headers=X-Client-ID,X-AuthUser
  postern account set 192.0.2.0/24 allow_reauthentication=true dkim_selector=mail2024";

const PASSWORD_NOTE: &str = "The password is asked twice on a terminal; otherwise it is the first line of stdin:
  echo 'a long secret' | postern account add user alice@example.com
There is deliberately no flag taking the password: argv is visible to every user.";

#[derive(Subcommand, Debug)]
pub enum AddCommand {
    /// An address or CIDR range of a smarthost; no password, no AUTH. A domain admin's
    /// range must lie inside one delegated to the domain (`postern domain ip-range`).
    #[command(
        after_help = "Example:\n  postern account add ip --domain example.com 192.0.2.0/24 --set allow_reauthentication=true"
    )]
    Ip {
        /// The domain the account belongs to.
        #[arg(long)]
        domain: String,
        /// An address or range: 192.0.2.7, 192.0.2.0/24, 2001:db8::/48.
        #[arg(value_name = "CIDR")]
        network: String,
        /// Superadmin only: the range may overlap a trusted network (it then takes those
        /// clients from the trusted networks).
        #[arg(long)]
        cover_trusted: bool,
        #[command(flatten)]
        settings: InitialSettings,
    },
    /// An address of the domain plus a password, for SMTP AUTH.
    #[command(after_help = PASSWORD_NOTE)]
    User {
        /// The address (alice@example.com); its domain is the account's domain.
        #[arg(value_name = "ADDRESS", value_parser = parse_address)]
        address: String,
        #[command(flatten)]
        settings: InitialSettings,
    },
    /// The domain name itself as user name plus a password (at most one per domain).
    #[command(after_help = PASSWORD_NOTE)]
    Domain {
        /// The domain (it must exist: `postern domain add`).
        domain: String,
        #[command(flatten)]
        settings: InitialSettings,
    },
}

#[derive(Args, Debug)]
pub struct InitialSettings {
    /// A setting to start with (as `account set` takes it); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = setting::parse_assignment)]
    pub settings: Vec<Assignment>,
}

fn parse_address(text: &str) -> Result<String, String> {
    match text.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(text.to_string()),
        _ => Err(format!("{text:?} is not an address like alice@example.com")),
    }
}

pub fn run(args: AccountArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let (answer, human) = match args.command {
        AccountCommand::Add(add) => add_account(&api, add)?,
        AccountCommand::List { domain, kind, name, locked, page } => {
            let filters =
                [("domain", domain), ("kind", kind), ("name", name), ("locked", locked.then(|| "true".into()))];
            let list = api.get(&format!("/accounts{}", query(filters.into_iter().chain(page.pairs()))))?;
            let human = table(&list);
            (list, human)
        }
        AccountCommand::Show { account } => {
            let a = resolve(&api, &account)?;
            let human = show(&a);
            (a, human)
        }
        AccountCommand::Set { account, settings } => {
            let a = resolve(&api, &account)?;
            let settings: Vec<Assignment> = settings.into_iter().map(strip_settings_prefix).collect();
            let patch = setting::patch(a.get("settings").unwrap_or(&Value::Null), &settings)?;
            let a = api.patch_json(&path(&a), &json!({ "settings": patch }))?;
            let human = show(&a);
            (a, human)
        }
        AccountCommand::Password { account } => {
            let a = resolve(&api, &account)?;
            if a.get("kind").and_then(Value::as_str) == Some("ip") {
                bail!("{} is an ip account: ip accounts have no password", label(&a));
            }
            let secret = password::read_new(&label(&a))?;
            let a = api.patch_json(&path(&a), &json!({ "password": secret }))?;
            let human = format!("changed the password of {}\n", label(&a));
            (a, human)
        }
        AccountCommand::Counters { account } => {
            let a = resolve(&api, &account)?;
            let counters = api.get(&format!("{}/counters", path(&a)))?;
            let human = output::counters(&counters);
            (counters, human)
        }
        AccountCommand::Lock { account } => lock(&api, &account, true)?,
        AccountCommand::Unlock { account } => lock(&api, &account, false)?,
        AccountCommand::Remove { account } => {
            let a = resolve(&api, &account)?;
            let answer = api.delete(&path(&a))?;
            (answer, format!("removed {}\n", label(&a)))
        }
    };
    print!("{}", if args.client.json { output::json(&answer) } else { human });
    Ok(())
}

fn add_account(api: &ApiClient, add: AddCommand) -> Result<(Value, String)> {
    let mut cover = false;
    let (kind, domain, name, initial) = match add {
        AddCommand::Ip { domain, network, cover_trusted, settings } => {
            cover = cover_trusted;
            (AccountKind::Ip, domain, Some(network), settings)
        }
        AddCommand::User { address, settings } => {
            let domain = address.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
            (AccountKind::User, domain, Some(address), settings)
        }
        AddCommand::Domain { domain, settings } => (AccountKind::Domain, domain, None, settings),
    };
    let mut body = json!({ "domain": domain, "kind": kind.name() });
    if let Some(name) = &name {
        body["name"] = json!(name);
    }
    if cover {
        body["cover_trusted"] = json!(true);
    }
    if !initial.settings.is_empty() {
        let defaults = serde_json::to_value(AccountSettings::for_kind(kind))?;
        let settings: Vec<Assignment> = initial.settings.into_iter().map(strip_settings_prefix).collect();
        body["settings"] = setting::patch(&defaults, &settings)?;
    }
    if kind != AccountKind::Ip {
        let whose = name.as_deref().unwrap_or(&domain);
        body["password"] = json!(password::read_new(whose)?);
    }
    let a = api.post_json("/accounts", &body)?;
    let human = format!("added {}\n", label(&a));
    Ok((a, human))
}

fn lock(api: &ApiClient, account: &str, locked: bool) -> Result<(Value, String)> {
    let a = resolve(api, account)?;
    let a = api.patch_json(&path(&a), &json!({ "locked": locked }))?;
    let human = format!("{} {}\n", label(&a), if locked { "locked" } else { "unlocked" });
    Ok((a, human))
}

/// An account named by id (a number) or by its exact name. An address or range is also
/// tried in canonical form (`192.0.2.7` is stored as `192.0.2.7/32`).
pub fn resolve(api: &ApiClient, account: &str) -> Result<Value> {
    if let Ok(id) = account.parse::<i64>() {
        return api.get(&format!("/accounts/{id}"));
    }
    let mut names = vec![account.trim().to_string()];
    if let Some(net) = parse_network(account) {
        names.push(net.to_string());
    }
    names.dedup();
    let mut found: Vec<Value> = Vec::new();
    for name in &names {
        for a in search(api, name)? {
            let exact =
                a.get("name").and_then(Value::as_str).is_some_and(|n| names.iter().any(|m| n.eq_ignore_ascii_case(m)));
            if exact && !found.iter().any(|f| f.get("id") == a.get("id")) {
                found.push(a);
            }
        }
    }
    match found.len() {
        0 => bail!("no account named {account:?} (see `postern account list`)"),
        1 => Ok(found.remove(0)),
        n => {
            let ids: Vec<String> = found.iter().map(|a| output::text(a, "id")).collect();
            bail!("{n} accounts are named {account:?}: give the id ({})", ids.join(", "))
        }
    }
}

/// Every account the server lists for `?name=` (all pages, at most 100 of them).
fn search(api: &ApiClient, name: &str) -> Result<Vec<Value>> {
    let mut all = Vec::new();
    for _ in 0..100 {
        let offset = (!all.is_empty()).then(|| all.len().to_string());
        let page = api.get(&format!("/accounts{}", query([("name", Some(name.to_string())), ("offset", offset)])))?;
        let items = output::items(&page);
        all.extend(items.iter().cloned());
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
        if items.is_empty() || all.len() as u64 >= total {
            break;
        }
    }
    Ok(all)
}

/// `settings.limits.x` is accepted for `limits.x` (the path `--json` shows).
fn strip_settings_prefix(mut a: Assignment) -> Assignment {
    if a.path.len() > 1 && a.path[0] == "settings" {
        a.path.remove(0);
    }
    a
}

fn path(account: &Value) -> String {
    format!("/accounts/{}", encode(&output::text(account, "id")))
}

/// "account 7 (user alice@example.com)".
fn label(a: &Value) -> String {
    format!("account {} ({} {})", output::text(a, "id"), output::text(a, "kind"), output::text(a, "name"))
}

fn show(account: &Value) -> String {
    let mut head = account.clone();
    let settings = head.as_object_mut().and_then(|m| m.remove("settings")).unwrap_or(Value::Null);
    let id = output::text(account, "id");
    let settings = output::detail(&settings, &[]).lines().map(|l| format!("  {l}\n")).collect::<String>();
    format!(
        "{}\nsettings (change with: postern account set {id} KEY=VALUE)\n{settings}",
        output::detail(&head, &["id", "name", "kind", "domain", "has_password", "lock"])
    )
}

fn table(list: &Value) -> String {
    let header = ["ID", "DOMAIN", "KIND", "NAME", "PASSWORD", "LOCKED", "IDENTIFIED BY", "CREATED (UTC)"];
    output::list(list, &header, output::Noun("account", "accounts"), |a| {
        let method = a.get("settings").and_then(|s| s.get("identification")).cloned().unwrap_or(Value::Null);
        let password = match (output::text(a, "kind").as_str(), a.get("has_password").and_then(Value::as_bool)) {
            ("ip", _) => "-",
            (_, Some(true)) => "set",
            _ => "none",
        };
        vec![
            output::text(a, "id"),
            output::text(a, "domain"),
            output::text(a, "kind"),
            output::text(a, "name"),
            password.to_string(),
            output::yes_no(a.get("lock")),
            output::text(&method, "method"),
            output::time(a, "created_at_ms"),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_both_halves() {
        assert!(parse_address("alice@example.com").is_ok());
        assert!(parse_address("example.com").is_err());
        assert!(parse_address("@example.com").is_err());
        assert!(parse_address("alice@").is_err());
    }

    #[test]
    fn show_lists_settings_under_the_keys_set_takes() {
        let a = json!({"id": 7, "kind": "user", "name": "a@example.com",
                       "settings": {"limits": {"recipients_per_message": 50}}, "created_at_ms": 0});
        let text = show(&a);
        assert!(text.contains("postern account set 7 KEY=VALUE"), "{text}");
        assert!(text.contains("  limits.recipients_per_message  50\n"), "{text}");
        assert!(!text.contains("settings.limits"), "{text}");
    }
}
