//! RCPT TO: add a recipient. Checks order, parameters (NOTIFY, ORCPT), syntax, the
//! per-message recipient limit (`452 4.5.3`, the first N still go), that the directory may
//! decide (`451 4.3.0` while a cluster node is behind its shared store), and asks the block
//! and allow lists (`verbs/lists.rs`), then the relay policy. Duplicate recipients are accepted
//! and stored once.

use postern_core::{Address, Notify, Recipient, Reply, Stage, Verdict};
use postern_policy::{Attribution, LimitVerdict};

use crate::command::Param;
use crate::session::Session;
use crate::verbs::mail::{address_error, is_xtext, unsupported};

impl Session {
    pub(crate) async fn rcpt(&mut self, path: &str, params: &[Param]) -> Reply {
        let Some(tx) = &self.tx else {
            return Reply::new(503, "5.5.1", "Error: need MAIL command");
        };
        let smtputf8 = tx.smtputf8;
        let count = tx.recipients.len();
        let (notify, orcpt) = match self.rcpt_params(params) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let address = match Address::parse(path, smtputf8) {
            Ok(a) => a,
            Err(e) => return address_error(&e, true),
        };
        if let Some(reply) = self.client_protocol_checks(&address).await {
            return reply;
        }
        let account_max = match &self.attribution {
            Attribution::Account { entry, .. } if entry.account.settings.limits.recipients_per_message > 0 => {
                entry.account.settings.limits.recipients_per_message as usize
            }
            _ => usize::MAX,
        };
        if count >= self.listener.limits.max_recipients.min(account_max) {
            let reply = Reply::new(452, "4.5.3", "Error: too many recipients");
            self.refused(Stage::Rcpt, &reply, "recipient limit per message reached", Some(address.to_string())).await;
            return reply;
        }
        if let Some(Verdict::Refuse { reply, reason }) = self.services.policy.stale_directory() {
            self.refused(Stage::Rcpt, &reply, &reason, Some(address.to_string())).await;
            return reply;
        }
        let listed = match self.check_lists(&address).await {
            Ok(verdict) => verdict,
            Err(reply) => return reply,
        };
        if let Verdict::Refuse { reply, reason } = self.services.policy.rcpt(&self.attribution, &address) {
            self.refused(Stage::Rcpt, &reply, &reason, Some(address.to_string())).await;
            return reply;
        }
        match self.services.policy.recipient_limit(&self.attribution).await {
            LimitVerdict::Allowed => {}
            LimitVerdict::Refuse { reply, reason } => {
                self.refused(Stage::Rcpt, &reply, &reason, Some(address.to_string())).await;
                return reply;
            }
            LimitVerdict::WouldRefuse { reply, reason } => {
                self.would_refuse(Stage::Rcpt, &reply, &reason, Some(address.to_string())).await;
            }
        }
        if let Some(tx) = &mut self.tx {
            tx.lists.accepted(&listed);
            let duplicate = tx.recipients.iter().any(|r| {
                r.address.local_part == address.local_part && r.address.domain.eq_ignore_case(address.domain.as_str())
            });
            if !duplicate {
                tx.recipients.push(Recipient { address, notify, orcpt });
            }
        }
        Reply::new(250, "2.1.5", "Ok")
    }

    fn rcpt_params(&self, params: &[Param]) -> Result<(Option<Notify>, Option<String>), Reply> {
        let (mut notify, mut orcpt) = (None, None);
        for param in params {
            if !self.esmtp {
                return Err(unsupported(&param.key));
            }
            match (param.key.as_str(), param.value.as_deref()) {
                ("NOTIFY", Some(v)) => {
                    notify =
                        Some(parse_notify(v).ok_or_else(|| Reply::new(501, "5.5.4", "Bad NOTIFY parameter syntax"))?);
                }
                ("ORCPT", Some(v)) if valid_orcpt(v) => orcpt = Some(v.to_string()),
                ("ORCPT", _) => return Err(Reply::new(501, "5.5.4", "Bad ORCPT parameter syntax")),
                (key, _) => return Err(unsupported(key)),
            }
        }
        Ok((notify, orcpt))
    }
}

/// `NEVER`, or a comma list of `SUCCESS`, `FAILURE`, `DELAY` (RFC 3461 §4.1).
fn parse_notify(value: &str) -> Option<Notify> {
    let mut n = Notify::default();
    for word in value.split(',') {
        match word.to_ascii_uppercase().as_str() {
            "NEVER" => n.never = true,
            "SUCCESS" => n.success = true,
            "FAILURE" => n.failure = true,
            "DELAY" => n.delay = true,
            _ => return None,
        }
    }
    (!(n.never && (n.success || n.failure || n.delay))).then_some(n)
}

/// `addr-type ";" xtext` (RFC 3461 §4.2), bounded.
fn valid_orcpt(value: &str) -> bool {
    match value.split_once(';') {
        Some((kind, addr)) => {
            value.len() <= 500
                && !kind.is_empty()
                && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !addr.is_empty()
                && is_xtext(addr)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_and_orcpt() {
        assert_eq!(parse_notify("never"), Some(Notify { never: true, ..Notify::default() }));
        assert_eq!(parse_notify("SUCCESS,DELAY"), Some(Notify { success: true, delay: true, ..Notify::default() }));
        assert_eq!(parse_notify("NEVER,SUCCESS"), None);
        assert_eq!(parse_notify("sometimes"), None);
        assert!(valid_orcpt("rfc822;a+40b.example"));
        assert!(!valid_orcpt("rfc822"));
        assert!(!valid_orcpt(";a"));
    }
}
