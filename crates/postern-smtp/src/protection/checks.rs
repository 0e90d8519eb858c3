//! The checks of names: the HELO name (FQDN, resolves), the sender (FQDN, its domain can
//! receive mail), the client's hostname (forward-confirmed reverse DNS); and the message
//! rate at MAIL. Replies are Postfix's (`reject_non_fqdn_helo_hostname`,
//! `reject_unknown_helo_hostname`, `reject_non_fqdn_sender`, `reject_unknown_sender_domain`,
//! `reject_unknown_client_hostname`, `smtpd_client_message_rate_limit`).
//!
//! Address literals (`[192.0.2.1]`) pass the FQDN checks and are never looked up, as in
//! Postfix. The null sender is exempt from the sender checks (not from the message rate).

use postern_config::PolicyCheck;
use postern_core::{Address, Domain, Reply, Stage};
use postern_policy::dns_checks::{DnsFailure, DomainStatus, Found};

use super::{ClientHostname, Refusal};
use crate::session::Session;

impl Session {
    /// At HELO/EHLO, before the name is taken. `Some(reply)`: the command is refused.
    pub(crate) async fn helo_protocol_checks(&self, name: &str) -> Option<Reply> {
        let policy = &self.protection().policy;
        if is_address_literal(name) {
            return None;
        }
        let refused =
            |code, status, text: &str| Reply::new(code, status, format!("<{name}>: Helo command rejected: {text}"));
        if policy.helo_must_be_fqdn && !is_fqdn(name, false) {
            let reply = refused(504, "5.5.2", "need fully-qualified hostname");
            let refusal =
                Refusal::new(Stage::Helo, reply, format!("HELO name {name:?} is not a fully-qualified hostname"));
            if let Some(reply) = self.enforce(PolicyCheck::HeloMustBeFqdn, refusal).await {
                return Some(reply);
            }
        }
        if policy.helo_must_resolve {
            let found = match &self.protection().dns {
                Some(dns) => dns.helo_resolves(name.strip_suffix('.').unwrap_or(name)).await,
                None => Err(DnsFailure),
            };
            let (reply, reason) = match found {
                Ok(Found::Yes) => return None,
                Ok(Found::No) => {
                    (refused(450, "4.7.1", "Host not found"), format!("HELO name {name:?} has no A, AAAA or MX record"))
                }
                Err(DnsFailure) => (
                    refused(450, "4.4.3", "DNS lookup failed; try again later"),
                    format!("DNS lookup of HELO name {name:?} failed"),
                ),
            };
            return self.enforce(PolicyCheck::HeloMustResolve, Refusal::new(Stage::Helo, reply, reason)).await;
        }
        None
    }

    /// At MAIL, right after the sender is parsed: the client's message rate, then the
    /// sender's form and domain. `Some(reply)`: MAIL is refused.
    pub(crate) async fn sender_protocol_checks(&self, sender: Option<&Address>) -> Option<Reply> {
        let shown = sender.map(|a| a.to_string()).unwrap_or_default();
        if let Some(reply) = self.message_rate(&shown).await {
            return Some(reply);
        }
        let sender = sender?;
        let policy = &self.protection().policy;
        let domain = &sender.domain;
        let refused = |code, status, text: String| {
            Reply::new(code, status, format!("<{shown}>: Sender address rejected: {text}"))
        };
        if domain.is_address_literal() {
            return None;
        }
        if policy.sender_must_be_fqdn && !is_fqdn(domain.as_str(), true) {
            let reply = refused(504, "5.5.2", "need fully-qualified address".into());
            let refusal = Refusal::new(Stage::Mail, reply, format!("sender domain {domain} is not fully qualified"));
            if let Some(reply) = self.enforce(PolicyCheck::SenderMustBeFqdn, refusal.sender(shown.clone())).await {
                return Some(reply);
            }
        }
        if policy.sender_domain_must_resolve {
            let status = match &self.protection().dns {
                Some(dns) => dns.sender_domain(domain.as_str()).await,
                None => Err(DnsFailure),
            };
            let (reply, reason) = match status {
                Ok(DomainStatus::Exists) => return None,
                Ok(DomainStatus::NotFound) => (
                    refused(450, "4.1.8", "Domain not found".into()),
                    format!("sender domain {domain} has no MX, A or AAAA record"),
                ),
                Ok(DomainStatus::NullMx) => (
                    refused(550, "5.7.27", format!("Domain {domain} does not accept mail (nullMX)")),
                    format!("sender domain {domain} publishes a null MX"),
                ),
                Err(DnsFailure) => (
                    refused(450, "4.4.3", "DNS lookup failed; try again later".into()),
                    format!("DNS lookup of sender domain {domain} failed"),
                ),
            };
            let refusal = Refusal::new(Stage::Mail, reply, reason).sender(shown);
            return self.enforce(PolicyCheck::SenderDomainMustResolve, refusal).await;
        }
        None
    }

    /// Counts this MAIL; beyond the limit, refused for the rest of the minute window.
    async fn message_rate(&self, sender: &str) -> Option<Reply> {
        let protection = self.protection();
        let limit = protection.policy.messages_per_minute_per_ip;
        let ip = self.client_ip();
        if limit == 0 || protection.exempt(ip) {
            return None;
        }
        let count = protection.clients.message(ip, tokio::time::Instant::now());
        if count <= limit {
            return None;
        }
        let reply = Reply::new(450, "4.7.1", format!("Error: too many messages from {ip}"));
        let reason = format!("{count} messages this minute from {ip}, limit {limit}");
        let refusal = Refusal::new(Stage::Mail, reply, reason).sender(sender.to_string());
        self.enforce(PolicyCheck::MessagesPerMinutePerIp, refusal).await
    }

    /// At RCPT, right after the recipient is parsed: the client's FCrDNS, looked up since
    /// connect. `Some(reply)`: the recipient is refused.
    pub(crate) async fn client_protocol_checks(&mut self, recipient: &Address) -> Option<Reply> {
        let result = match self.protection.hostname.take()? {
            ClientHostname::Done(result) => result,
            ClientHostname::Pending(handle) => handle.await.unwrap_or(Err(DnsFailure)),
        };
        self.protection.hostname = Some(ClientHostname::Done(result.clone()));
        let ip = self.client_ip();
        let (reply, reason) = match result {
            Ok(Some(_)) => return None,
            Ok(None) => (
                Reply::new(450, "4.7.25", format!("Client host rejected: cannot find your hostname, [{ip}]")),
                format!("client address {ip} has no forward-confirmed reverse DNS name"),
            ),
            Err(DnsFailure) => (
                Reply::new(
                    450,
                    "4.4.3",
                    format!("Client host rejected: DNS lookup failed for [{ip}]; try again later"),
                ),
                format!("DNS lookup of the hostname of {ip} failed"),
            ),
        };
        let refusal = Refusal::new(Stage::Rcpt, reply, reason).recipient(recipient.to_string());
        self.enforce(PolicyCheck::RequireFcrdns, refusal).await
    }
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
fn is_address_literal(name: &str) -> bool {
    name.starts_with('[') && Domain::parse(name, false).is_ok_and(|d| d.is_address_literal())
}

/// A fully-qualified host name: at least two labels of letters, digits, `-` and `_` (no
/// label starts or ends with `-`), at most 253 octets, one final dot allowed, and not all
/// digits at the end (an unbracketed IP address is not a host name). `utf8`: non-ASCII
/// letters count as letters (an SMTPUTF8 sender's U-labels).
pub(crate) fn is_fqdn(name: &str, utf8: bool) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (utf8 && c.is_alphanumeric()))
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.len() >= 2
        && name.len() <= 253
        && labels.iter().all(label_ok)
        && labels.last().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_rules() {
        for good in ["mail.example.com", "mail.example.com.", "a_b.example", "xn--bcher-kva.example"] {
            assert!(is_fqdn(good, false), "{good}");
        }
        for bad in
            ["localhost", "localhost.", "", ".", "a..example", "-a.example", "192.0.2.1", "a.example..", "bü.example"]
        {
            assert!(!is_fqdn(bad, false), "{bad}");
        }
        assert!(is_fqdn("bücher.example", true));
        assert!(!is_fqdn("bücher", true));
        assert!(is_address_literal("[192.0.2.1]"));
        assert!(is_address_literal("[IPv6:2001:db8::1]"));
        assert!(!is_address_literal("[192.0.2]"));
        assert!(!is_address_literal("192.0.2.1"));
    }
}
