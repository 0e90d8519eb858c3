//! The `[postmaster]` section: who the mail Postern writes itself (lock notices, DSNs, abuse
//! reports) comes from, and which external postmasters get copies (SPEC.md §7).
//!
//! In: the raw section and the host name. Out: a [`Postmaster`], every address parsed with
//! the strict RFC 5321 parser (ASCII only: these addresses are written into headers and
//! envelopes of messages that must reach any server), or an error naming the key.

use postern_core::Address;
use postern_core::system_mail::{POSTMASTER_NAME, Postmaster, SystemMailKind};
use serde::Deserialize;

use crate::ConfigError;

/// Most external postmaster addresses.
const MAX_EXTERNAL: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPostmaster {
    /// The `From:` address; default `postmaster@<hostname>`.
    pub address: Option<String>,
    /// Its display name; default "Mail Delivery System".
    pub name: Option<String>,
    /// External postmaster addresses that receive copies.
    pub external: Option<Vec<String>>,
    /// Which kinds are copied: `lock_notice`, `dsn`, `abuse_report` (default: all).
    pub copies: Option<Vec<String>>,
}

pub fn validate(raw: RawPostmaster, hostname: &str) -> Result<Postmaster, ConfigError> {
    let mut postmaster = Postmaster::for_host(hostname);
    if let Some(text) = &raw.address {
        postmaster.address = address("postmaster.address", text)?;
    }
    if let Some(name) = raw.name {
        if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ConfigError::key("postmaster.name", "must be one line of 1 to 100 characters"));
        }
        postmaster.name = name;
    } else {
        postmaster.name = POSTMASTER_NAME.into();
    }
    let external = raw.external.unwrap_or_default();
    if external.len() > MAX_EXTERNAL {
        return Err(ConfigError::key("postmaster.external", format!("at most {MAX_EXTERNAL} addresses")));
    }
    postmaster.external = external
        .iter()
        .enumerate()
        .map(|(i, text)| address(&format!("postmaster.external[{i}]"), text))
        .collect::<Result<_, _>>()?;
    if let Some(names) = raw.copies {
        let mut kinds = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let key = format!("postmaster.copies[{i}]");
            let kind = SystemMailKind::from_name(name).ok_or_else(|| {
                ConfigError::key(&key, format!("{name:?} is not one of \"lock_notice\", \"dsn\", \"abuse_report\""))
            })?;
            if kinds.contains(&kind) {
                return Err(ConfigError::key(key, format!("{name:?} is listed twice")));
            }
            kinds.push(kind);
        }
        postmaster.copies = kinds;
    }
    Ok(postmaster)
}

/// A bare address (`postmaster@example.com`, no angle brackets, no display name).
fn address(key: &str, text: &str) -> Result<Address, ConfigError> {
    Address::parse(text, false)
        .map_err(|e| ConfigError::key(key, format!("{text:?} is not an address such as postmaster@example.com ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawPostmaster {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_are_postmaster_at_the_host_name_and_no_copies() {
        let p = validate(RawPostmaster::default(), "gw.example").unwrap();
        assert_eq!(p.address.to_string(), "postmaster@gw.example");
        assert_eq!(p.name, "Mail Delivery System");
        assert!(p.external.is_empty());
        assert_eq!(p.copies, SystemMailKind::ALL.to_vec(), "every kind, once external addresses are set");
    }

    #[test]
    fn every_key_is_read() {
        let p = validate(
            raw("address = \"noreply@ops.example\"\nname = \"Ops, Inc.\"\nexternal = [\"pm@ops.example\", \"noc@ops.example\"]\ncopies = [\"dsn\"]\n"),
            "gw.example",
        )
        .unwrap();
        assert_eq!(p.address.to_string(), "noreply@ops.example");
        assert_eq!(p.name, "Ops, Inc.");
        assert_eq!(p.external.len(), 2);
        assert_eq!(p.copies, vec![SystemMailKind::Dsn]);
        assert!(validate(raw("copies = []\n"), "gw.example").unwrap().copies.is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("address = \"<pm@ops.example>\"\n", "postmaster.address"),
            ("address = \"pm\"\n", "postmaster.address"),
            ("address = \"pm@ops.example\\r\\nBcc: x@y\"\n", "postmaster.address"),
            ("address = \"pöst@ops.example\"\n", "postmaster.address"),
            ("external = [\"pm@ops.example\", \"Ops <noc@ops.example>\"]\n", "postmaster.external[1]"),
            ("external = [\"@route:pm@ops.example\"]\n", "postmaster.external[0]"),
            ("name = \"\"\n", "postmaster.name"),
            ("name = \"a\\nb\"\n", "postmaster.name"),
            ("copies = [\"bounce\"]\n", "postmaster.copies[0]"),
            ("copies = [\"dsn\", \"dsn\"]\n", "postmaster.copies[1]"),
        ];
        for (text, key) in cases {
            let e = validate(raw(text), "gw.example").unwrap_err();
            assert_eq!(e.key, key, "{text}");
        }
        let many = format!("external = [{}]\n", vec!["\"a@b.example\""; 101].join(", "));
        assert_eq!(validate(raw(&many), "gw.example").unwrap_err().key, "postmaster.external");
        assert!(toml::from_str::<RawPostmaster>("adress = \"x@y.example\"\n").is_err(), "unknown keys refused");
    }
}
