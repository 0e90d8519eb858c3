//! The envelope: everything the SMTP transaction said about a message that is not in the
//! message itself. It is written to the spool next to the message and read back by every
//! later stage, so it is plain serde data.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{Address, QueueId};

/// `BODY=` of MAIL FROM (RFC 6152). BINARYMIME is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BodyType {
    #[default]
    #[serde(rename = "7BIT")]
    SevenBit,
    #[serde(rename = "8BITMIME")]
    EightBitMime,
}

/// `RET=` of MAIL FROM (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DsnRet {
    Full,
    Hdrs,
}

/// `NOTIFY=` of RCPT TO (RFC 3461 §4.1): `never`, or any of the three conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Notify {
    pub never: bool,
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// `ORCPT=` as received: `addr-type;xtext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcpt: Option<String>,
}

/// The negotiated TLS parameters of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
}

impl std::fmt::Display for TlsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} with cipher {}", self.version, self.cipher)
    }
}

/// Who handed us the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub port: u16,
    /// The listener's name (`smtp`, `submission`, `smtps`).
    pub listener: String,
    /// The HELO/EHLO argument, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub queue_id: QueueId,
    /// Unix time in milliseconds at which the message was accepted.
    pub received_at_ms: i64,
    /// `None` is the null reverse path `<>`.
    pub sender: Option<Address>,
    pub recipients: Vec<Recipient>,
    #[serde(default)]
    pub body: BodyType,
    #[serde(default)]
    pub smtputf8: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<DsnRet>,
    /// `ENVID=` as received (xtext).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envid: Option<String>,
    pub client: ClientInfo,
    /// Size of the spooled message in octets, our added headers included.
    pub size: u64,
    /// On whose behalf it was accepted. `None` in spool files older than accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// The account and identity a message is attributed to (SPEC.md §1). A message belongs to
/// the account's domain and to the sender's domain: it is found under both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// `None` for a trusted network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    /// The account's name, or `trusted-network <cidr>`.
    pub account: String,
    /// The account's domain; `None` for a trusted network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub identity: String,
    /// The AUTH user name, when the session authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_user: Option<String>,
}

/// [`Owner::account`] of mail from anyone to an inbound relay domain.
pub const INBOUND_RELAY_ACCOUNT: &str = "inbound-relay";

impl Owner {
    /// Mail accepted from anyone for an inbound relay domain: no account vouches for its
    /// sender, which may be forged.
    pub fn is_inbound_relay(&self) -> bool {
        self.account_id.is_none() && self.account == INBOUND_RELAY_ACCOUNT
    }
}

impl Envelope {
    pub fn sender_display(&self) -> String {
        self.sender.as_ref().map(|a| a.to_string()).unwrap_or_default()
    }

    /// The envelope sender's domain, lower-case; `None` for `<>`.
    pub fn sender_domain(&self) -> Option<String> {
        self.sender.as_ref().map(|a| a.domain.as_str().to_ascii_lowercase())
    }

    /// Whether a caller scoped to `domains` may see this message: the account's domain or
    /// the sender's domain is one of them.
    pub fn belongs_to_any(&self, domains: &[String]) -> bool {
        let account = self.owner.as_ref().and_then(|o| o.domain.as_deref());
        let sender = self.sender_domain();
        domains.iter().any(|d| account == Some(d.as_str()) || sender.as_deref() == Some(d.as_str()))
    }
}
