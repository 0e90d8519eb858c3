//! `postern dkim generate|import|list|show|show-dns|check|rotate|remove`: DKIM keys per
//! domain through the admin API (SPEC.md §6, docs/DKIM.md). The private key never comes
//! back: `import` reads it from a file and sends it once, over the API.
//!
//! `check` exits 1 unless every listed record is published, so scripts can wait on it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{ApiClient, ClientArgs, PageArgs, encode, query};
use super::{output, progress};

const ALGORITHMS: [&str; 2] = ["rsa", "ed25519"];
/// The largest PEM file read for `import`.
const LARGEST_PEM: u64 = 32 * 1024;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern dkim generate example.com --selector s2025
  postern dkim generate example.com --selector ed2025 --algorithm ed25519
  postern dkim import example.com --selector old ./old-key.pem
  postern dkim show-dns example.com          # the TXT records to publish
  postern dkim check example.com             # exit 1 until all are published
  postern dkim rotate example.com s2025      # s2025 signs; the previous key retires
  postern dkim rotate example.com s2026 --grace 14d
  postern dkim remove example.com s2024

A new key is pending: it signs once `rotate` made it active (rotate checks DNS first).
The key it replaces stays published for the grace period (default 7d), then is retired.")]
pub struct DkimArgs {
    #[command(subcommand)]
    pub command: DkimCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum DkimCommand {
    /// Generate a key (pending until rotated in): RSA-2048 by default.
    Generate {
        domain: String,
        /// The selector: one DNS label, e.g. s2025.
        #[arg(long)]
        selector: String,
        #[arg(long, value_parser = ALGORITHMS, default_value = "rsa")]
        algorithm: String,
        /// RSA key size: 2048 to 4096.
        #[arg(long)]
        bits: Option<u32>,
    },
    /// Import a private key from a PEM file (PKCS#1 or PKCS#8, RSA or Ed25519).
    Import {
        domain: String,
        #[arg(long)]
        selector: String,
        /// The PEM file.
        file: PathBuf,
    },
    /// List keys (of one domain, or of every domain you may see).
    List {
        domain: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one key and its DNS record.
    Show { domain: String, selector: String },
    /// Print the TXT records to publish (every key but the retired).
    ShowDns { domain: String },
    /// Check in DNS that the records are published.
    Check {
        domain: String,
        /// Only this key.
        #[arg(long)]
        selector: Option<String>,
    },
    /// Make SELECTOR the signing key; the previous key of its algorithm retires.
    Rotate {
        domain: String,
        selector: String,
        /// How long the previous key stays published: e.g. 7d, 36h, 0 [default: 7d].
        #[arg(long, value_parser = parse_duration)]
        grace: Option<u64>,
        /// Do not check DNS first.
        #[arg(long)]
        force: bool,
    },
    /// Remove a key (an active key only with --force: mail goes unsigned).
    Remove {
        domain: String,
        selector: String,
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: DkimArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let keys = |domain: &str| format!("/domains/{}/dkim", encode(domain));
    let (answer, human) = match args.command {
        DkimCommand::Generate { domain, selector, algorithm, bits } => {
            let what = match (algorithm.as_str(), bits) {
                ("rsa", bits) => format!("RSA-{}", bits.unwrap_or(2048)),
                _ => "Ed25519".to_string(),
            };
            let spinner = progress::spinner(
                format!("generating the {what} key {selector} for {domain}"),
                progress::wanted(args.client.json),
            );
            let body = json!({"selector": selector, "algorithm": algorithm, "bits": bits});
            let key = api.post_json(&format!("{}/keys", keys(&domain)), &body);
            spinner.finish_and_clear();
            let key = key?;
            let human = created(&key, "generated");
            (key, human)
        }
        DkimCommand::Import { domain, selector, file } => {
            let pem = read_pem(&file)?;
            let body = json!({"selector": selector, "private_key_pem": pem});
            let key = api.post_json(&format!("{}/keys", keys(&domain)), &body)?;
            let human = created(&key, "imported");
            (key, human)
        }
        DkimCommand::List { domain, page } => {
            let list = api.get(&format!("/dkim{}", query([("domain", domain)].into_iter().chain(page.pairs()))))?;
            let human = table(&list);
            (list, human)
        }
        DkimCommand::Show { domain, selector } => {
            let key = api.get(&format!("{}/keys/{}", keys(&domain), encode(&selector)))?;
            let human = output::detail(&key, &["domain", "selector", "algorithm", "state", "public_key"]);
            (key, human)
        }
        DkimCommand::ShowDns { domain } => {
            let records = api.get(&format!("{}/dns", keys(&domain)))?;
            let human = zone(&records);
            (records, human)
        }
        DkimCommand::Check { domain, selector } => {
            let answer = api.get(&format!("{}/check{}", keys(&domain), query([("selector", selector)])))?;
            let human = checks(&answer);
            print!("{}", if args.client.json { output::json(&answer) } else { human });
            if answer.get("all_published").and_then(Value::as_bool) != Some(true) {
                bail!("not every DKIM record of {domain} is published");
            }
            return Ok(());
        }
        DkimCommand::Rotate { domain, selector, grace, force } => {
            let body = json!({"selector": selector, "grace_secs": grace, "force": force});
            let answer = api.post_json(&format!("{}/rotate", keys(&domain)), &body)?;
            let human = rotated(&answer);
            (answer, human)
        }
        DkimCommand::Remove { domain, selector, force } => {
            let path =
                format!("{}/keys/{}{}", keys(&domain), encode(&selector), if force { "?force=true" } else { "" });
            let answer = api.delete(&path)?;
            (answer, format!("removed DKIM key {selector} of {domain}\n"))
        }
    };
    print!("{}", if args.client.json { output::json(&answer) } else { human });
    Ok(())
}

fn read_pem(file: &PathBuf) -> Result<String> {
    let size = std::fs::metadata(file).with_context(|| format!("{}", file.display()))?.len();
    if size > LARGEST_PEM {
        bail!("{}: {size} bytes is too large for a PEM key", file.display());
    }
    std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))
}

/// `7d`, `36h`, `90m`, `600s` or plain seconds, as seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let value: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration like 7d, 36h, 90m"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    value.checked_mul(unit).ok_or_else(|| format!("{text:?} is too long"))
}

fn created(key: &Value, verb: &str) -> String {
    let domain = output::text(key, "domain");
    let selector = output::text(key, "selector");
    let zone_line = key.get("dns").map(|d| output::text(d, "zone_line")).unwrap_or_default();
    format!(
        "{verb} {} key {selector} of {domain} ({})\npublish this TXT record:\n{zone_line}\n\
         then: postern dkim check {domain} && postern dkim rotate {domain} {selector}\n",
        output::text(key, "algorithm"),
        output::text(key, "state"),
    )
}

fn table(list: &Value) -> String {
    let header = ["DOMAIN", "SELECTOR", "ALGORITHM", "STATE", "CREATED (UTC)", "RETIRES (UTC)"];
    output::list(list, &header, output::Noun("key", "keys"), |k| {
        vec![
            output::text(k, "domain"),
            output::text(k, "selector"),
            output::text(k, "algorithm"),
            output::text(k, "state"),
            output::time(k, "created_at_ms"),
            output::time(k, "retire_at_ms"),
        ]
    })
}

/// The records as zone-file lines, each under a comment naming its key.
fn zone(answer: &Value) -> String {
    let records = answer.get("records").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if records.is_empty() {
        return format!("; {} has no DKIM key to publish\n", output::text(answer, "domain"));
    }
    records
        .iter()
        .map(|r| {
            format!(
                "; {} ({}, {})\n{}\n",
                output::text(r, "selector"),
                output::text(r, "algorithm"),
                output::text(r, "state"),
                output::text(r, "zone_line")
            )
        })
        .collect()
}

fn checks(answer: &Value) -> String {
    let mut table = output::Table::new(&["SELECTOR", "STATE", "STATUS", "DETAIL"]);
    for r in answer.get("results").and_then(Value::as_array).into_iter().flatten() {
        table.row(vec![
            output::text(r, "selector"),
            output::text(r, "state"),
            output::text(r, "status"),
            output::text(r, "detail"),
        ]);
    }
    table.render()
}

fn rotated(answer: &Value) -> String {
    let activated = answer.get("activated").unwrap_or(&Value::Null);
    let mut out = format!(
        "{} signs with {} ({}) from now on\n",
        output::text(activated, "domain"),
        output::text(activated, "selector"),
        output::text(activated, "algorithm")
    );
    for old in answer.get("retiring").and_then(Value::as_array).into_iter().flatten() {
        out.push_str(&format!(
            "{} retires: published until {} UTC, then remove its record\n",
            output::text(old, "selector"),
            output::time(old, "retire_at_ms")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("36h"), Ok(129_600));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("45s"), Ok(45));
        for bad in ["", "d", "7w", "-1d", "1.5d", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn records_read_as_zone_lines_and_checks_as_a_table() {
        let answer = json!({"domain": "example.com", "records": [
            {"selector": "s1", "algorithm": "rsa", "state": "active", "zone_line": "s1._domainkey.example.com. IN TXT ( \"v=DKIM1\" )"}]});
        assert_eq!(zone(&answer), "; s1 (rsa, active)\ns1._domainkey.example.com. IN TXT ( \"v=DKIM1\" )\n");
        assert_eq!(zone(&json!({"domain": "x.example", "records": []})), "; x.example has no DKIM key to publish\n");
        let check =
            json!({"results": [{"selector": "s1", "state": "pending", "status": "missing", "detail": "no TXT"}]});
        assert_eq!(checks(&check), "SELECTOR  STATE    STATUS   DETAIL\ns1        pending  missing  no TXT\n");
    }
}
