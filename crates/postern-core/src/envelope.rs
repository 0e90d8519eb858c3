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
}

impl Envelope {
    pub fn sender_display(&self) -> String {
        self.sender.as_ref().map(|a| a.to_string()).unwrap_or_default()
    }
}
