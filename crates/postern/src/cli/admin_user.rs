//! `postern admin-user list|show|add|passwd|set|delete`: the users of the web panel
//! (superadmin only, through `/api/v1/admin-users`). A user is named by its login name
//! (without regard to case) or its id. Passwords come from a prompt or stdin, never argv
//! (see `password`); the server keeps only an argon2id hash and never shows it. Any change
//! of a user ends its panel sessions; the last superadmin can be neither deleted nor
//! demoted.

use anyhow::{Result, bail};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::{ApiClient, ClientArgs, PageArgs, query};
use super::output;
use super::password;
use super::token::RoleArg;

/// Name lookups read at most this many pages of users.
const MOST_PAGES: usize = 100;

const PASSWORD_NOTE: &str = "The password is asked twice on a terminal; otherwise (or with --password-stdin) it is
the first line of stdin:
  printf '%s\\n' \"$PASSWORD\" | postern admin-user add alice --role superadmin
There is deliberately no flag taking the password: argv is visible to every user.";

#[derive(Args, Debug)]
#[command(after_help = "The first start of `postern serve` creates the superadmin `admin` and writes its
password to <data-dir>/admin-password (mode 0600): log in, set another with
`postern admin-user passwd admin`, then delete the file.

Examples:
  postern admin-user list
  postern admin-user add alice --role superadmin
  postern admin-user add support --role domain-admin --domain example.com --domain example.net
  postern admin-user passwd admin
  postern admin-user set support --domain example.org
  postern admin-user delete support")]
pub struct AdminUserArgs {
    #[command(subcommand)]
    pub command: AdminUserCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum AdminUserCommand {
    /// List the web panel's users (never their passwords).
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one user.
    Show {
        /// The login name or the id.
        #[arg(value_name = "NAME_OR_ID")]
        user: String,
    },
    /// Add a user: a superadmin, or a domain admin of its --domain(s).
    #[command(after_help = PASSWORD_NOTE)]
    Add {
        /// The login name: 1 to 64 letters, digits and `.-_@`, unique without regard to case.
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
        /// Read the password from the first line of stdin, even on a terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (ends its sessions).
    #[command(after_help = PASSWORD_NOTE)]
    Passwd {
        /// The login name or the id.
        #[arg(value_name = "NAME_OR_ID")]
        user: String,
        /// Read the password from the first line of stdin, even on a terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role or domains (ends its sessions). `--role superadmin` drops the
    /// domains; `--domain` replaces them all.
    #[command(group(ArgGroup::new("change").args(["role", "domains"]).required(true).multiple(true)))]
    Set {
        /// The login name or the id.
        #[arg(value_name = "NAME_OR_ID")]
        user: String,
        #[arg(long)]
        role: Option<RoleArg>,
        /// A domain the (domain admin) user manages; repeatable: the list replaces the old one.
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// Delete a user and end its sessions (not the last superadmin).
    Delete {
        /// The login name or the id.
        #[arg(value_name = "NAME_OR_ID")]
        user: String,
    },
}

pub fn run(args: AdminUserArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let (answer, human) = match args.command {
        AdminUserCommand::List { page } => {
            let list = api.get(&format!("/admin-users{}", query(page.pairs())))?;
            let human = table(&list);
            (list, human)
        }
        AdminUserCommand::Show { user } => {
            let u = resolve(&api, &user)?;
            let human = output::detail(&u, &["id", "name", "role", "domains"]);
            (u, human)
        }
        AdminUserCommand::Add { name, role, domains, password_stdin } => {
            let secret = password::read(&name, password_stdin)?;
            let body = json!({"name": name, "password": secret, "role": role.api_name(), "domains": domains});
            let u = api.post_json("/admin-users", &body)?;
            let human = format!("added {}\n", label(&u));
            (u, human)
        }
        AdminUserCommand::Passwd { user, password_stdin } => {
            let u = resolve(&api, &user)?;
            let secret = password::read(&output::text(&u, "name"), password_stdin)?;
            let u = api.patch_json(&path(&u), &json!({ "password": secret }))?;
            let human = format!("changed the password of {}; its panel sessions are ended\n", label(&u));
            (u, human)
        }
        AdminUserCommand::Set { user, role, domains } => {
            let u = resolve(&api, &user)?;
            let mut change = Map::new();
            if let Some(role) = role {
                change.insert("role".into(), json!(role.api_name()));
            }
            if !domains.is_empty() {
                change.insert("domains".into(), json!(domains));
            }
            let u = api.patch_json(&path(&u), &Value::Object(change))?;
            let human = format!("changed {}\n", label(&u));
            (u, human)
        }
        AdminUserCommand::Delete { user } => {
            let u = resolve(&api, &user)?;
            let answer = api.delete(&path(&u))?;
            (answer, format!("deleted {}\n", label(&u)))
        }
    };
    print!("{}", if args.client.json { output::json(&answer) } else { human });
    Ok(())
}

/// A user named by its login name (without regard to case), else by its id.
fn resolve(api: &ApiClient, user: &str) -> Result<Value> {
    let wanted = user.trim();
    let mut seen = 0usize;
    for _ in 0..MOST_PAGES {
        let offset = (seen > 0).then(|| seen.to_string());
        let page = api.get(&format!("/admin-users{}", query([("limit", Some("1000".into())), ("offset", offset)])))?;
        let items = output::items(&page);
        if let Some(found) =
            items.iter().find(|u| u.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(wanted)))
        {
            return Ok(found.clone());
        }
        seen += items.len();
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
        if items.is_empty() || seen as u64 >= total {
            break;
        }
    }
    match wanted.parse::<u64>() {
        Ok(id) => api.get(&format!("/admin-users/{id}")),
        Err(_) => bail!("no admin user named {wanted:?} (see `postern admin-user list`)"),
    }
}

fn path(user: &Value) -> String {
    format!("/admin-users/{}", output::text(user, "id"))
}

/// "admin user support (id 3, domain_admin: example.com)".
fn label(u: &Value) -> String {
    let domains = match u.get("domains").and_then(Value::as_array) {
        Some(d) if !d.is_empty() => format!(": {}", output::text(u, "domains")),
        _ => String::new(),
    };
    format!(
        "admin user {} (id {}, {}{domains})",
        output::text(u, "name"),
        output::text(u, "id"),
        output::text(u, "role")
    )
}

fn table(list: &Value) -> String {
    output::list(
        list,
        &["ID", "NAME", "ROLE", "DOMAINS", "CREATED (UTC)", "LAST LOGIN (UTC)"],
        output::Noun("admin user", "admin users"),
        |u| {
            vec![
                output::text(u, "id"),
                output::text(u, "name"),
                output::text(u, "role"),
                output::text(u, "domains"),
                output::time(u, "created_at_ms"),
                output::time(u, "last_login_ms"),
            ]
        },
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<AdminUserCommand, clap::Error> {
        match Cli::try_parse_from(args)?.command {
            Command::AdminUser(a) => Ok(a.command),
            _ => unreachable!("admin-user parses to AdminUser"),
        }
    }

    #[test]
    fn roles_domains_and_changes_parse() {
        let add = parse(&["postern", "admin-user", "add", "s", "--role", "domain-admin", "--domain", "a.example"]);
        assert!(
            matches!(add, Ok(AdminUserCommand::Add { role: RoleArg::DomainAdmin, ref domains, .. }) if domains == &["a.example"])
        );
        assert!(parse(&["postern", "admin-user", "add", "s", "--role", "domain_admin"]).is_err(), "needs a domain");
        assert!(parse(&["postern", "admin-user", "add", "s", "--role", "god"]).is_err());
        assert!(parse(&["postern", "admin-user", "set", "s"]).is_err(), "set changes something");
        let set = parse(&["postern", "admin-user", "set", "7", "--role", "superadmin"]);
        assert!(matches!(set, Ok(AdminUserCommand::Set { role: Some(RoleArg::Superadmin), .. })));
        let passwd = parse(&["postern", "admin-user", "passwd", "admin", "--password-stdin"]);
        assert!(matches!(passwd, Ok(AdminUserCommand::Passwd { password_stdin: true, .. })));
        assert!(parse(&["postern", "admin-user", "add", "s", "--role", "superadmin", "--password", "x"]).is_err());
    }

    #[test]
    fn lists_show_no_password_and_label_the_scope() {
        let list = json!({"items": [
            {"id": 1, "name": "admin", "role": "superadmin", "domains": [], "created_at_ms": 0},
            {"id": 2, "name": "support", "role": "domain_admin", "domains": ["a.example", "b.example"],
             "created_at_ms": 0, "last_login_ms": 86_400_000}],
            "total": 2, "limit": 100, "offset": 0});
        let text = table(&list);
        assert!(
            text.contains("2   support  domain_admin  a.example,b.example  1970-01-01 00:00:00  1970-01-02"),
            "{text}"
        );
        assert!(text.ends_with("-- 2 admin users\n"), "{text}");
        assert_eq!(label(&list["items"][0]), "admin user admin (id 1, superadmin)");
        assert_eq!(label(&list["items"][1]), "admin user support (id 2, domain_admin: a.example,b.example)");
    }
}
