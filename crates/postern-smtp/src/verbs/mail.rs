//! MAIL FROM: start a transaction. Checks order (HELO first, no nesting), parameters
//! (SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH) and the reverse path; then, with a directory
//! that may decide (`451 4.3.0` while a cluster node is behind its shared store), the
//! account's limits and the policy.

use postern_core::{Address, AddressError, BodyType, DsnRet, EventKind, QueueId, Reply, Stage, Verdict};

use std::sync::Arc;

use postern_policy::Attribution;

use crate::command::Param;
use crate::session::{Session, Transaction};

#[derive(Default)]
struct MailParams {
    size: Option<u64>,
    body: BodyType,
    smtputf8: bool,
    ret: Option<DsnRet>,
    envid: Option<String>,
}

impl Session {
    pub(crate) async fn mail(&mut self, path: &str, params: &[Param]) -> Reply {
        if self.client.helo.is_none() {
            return Reply::new(503, "5.5.1", "Error: send HELO/EHLO first");
        }
        if self.tx.is_some() {
            return Reply::new(503, "5.5.1", "Error: nested MAIL command");
        }
        let p = match self.mail_params(params) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        if p.size.is_some_and(|s| s > self.listener.limits.max_message_size) {
            let reply = Reply::new(552, "5.3.4", "Message size exceeds fixed limit");
            self.refused(Stage::Mail, &reply, "declared SIZE exceeds the message size limit", None).await;
            return reply;
        }
        let sender = if path.is_empty() {
            None
        } else {
            match Address::parse(path, p.smtputf8) {
                Ok(a) => Some(a),
                Err(e) => return address_error(&e, false),
            }
        };
        if let Some(reply) = self.sender_protocol_checks(sender.as_ref()).await {
            return reply;
        }
        if let Some(Verdict::Refuse { reply, reason }) = self.services.policy.stale_directory() {
            self.refused(Stage::Mail, &reply, &reason, None).await;
            return reply;
        }
        self.attribution = self.services.policy.refresh(&self.attribution, self.client.ip);
        if let Some(reply) = self.account_limits_at_mail(p.size).await {
            return reply;
        }
        let policy = &self.services.policy;
        let helo = self.client.helo.clone().unwrap_or_default();
        let queue_id = QueueId::generate();
        if let Verdict::Refuse { reply, reason } =
            policy.mail_from(&self.attribution, self.client.ip, &helo, sender.as_ref()).await
        {
            let kind = EventKind::Refused {
                stage: Stage::Mail,
                reply: reply.summary(),
                reason: format!("{reason} ({})", self.attribution.describe()),
                sender: Some(sender.as_ref().map(|a| a.to_string()).unwrap_or_default()),
                recipient: None,
                account: None,
                domain: None,
            };
            self.emit(Some(queue_id), kind).await;
            return reply;
        }
        self.tx = Some(Transaction {
            queue_id,
            sender,
            body: p.body,
            smtputf8: p.smtputf8,
            ret: p.ret,
            envid: p.envid,
            recipients: Vec::new(),
            bdat: None,
            lists: Default::default(),
        });
        Reply::new(250, "2.1.0", "Ok")
    }

    /// The account's limits that a new transaction meets: its session limit, messages per
    /// session, and the declared size against the account's size limit.
    async fn account_limits_at_mail(&mut self, declared: Option<u64>) -> Option<Reply> {
        if let Some((reply, reason)) = self.limit_refusal.clone() {
            self.refused(Stage::Mail, &reply, &format!("account session limit: {reason}"), None).await;
            return Some(reply);
        }
        let Attribution::Account { entry, .. } = &self.attribution else { return None };
        let account = Arc::clone(entry);
        let limits = &account.account.settings.limits;
        let monitor = account.account.settings.monitor_only;
        let mut verdicts = Vec::new();
        if limits.messages_per_session > 0 && self.messages >= limits.messages_per_session {
            let text = format!("Error: too many messages in this session (limit {})", limits.messages_per_session);
            let reason = format!(
                "messages per session: limit {} of account {}",
                limits.messages_per_session, account.account.name
            );
            verdicts.push((Reply::new(451, "4.7.1", text), reason));
        }
        if limits.max_message_size > 0 && declared.is_some_and(|s| s > limits.max_message_size) {
            let reason = format!("declared SIZE exceeds the account's limit of {} octets", limits.max_message_size);
            verdicts.push((Reply::new(552, "5.3.4", "Message size exceeds fixed limit"), reason));
        }
        for (reply, reason) in verdicts {
            if monitor {
                self.would_refuse(Stage::Mail, &reply, &reason, None).await;
            } else {
                self.refused(Stage::Mail, &reply, &reason, None).await;
                return Some(reply);
            }
        }
        None
    }

    fn mail_params(&self, params: &[Param]) -> Result<MailParams, Reply> {
        let mut p = MailParams::default();
        for param in params {
            if !self.esmtp {
                return Err(unsupported(&param.key));
            }
            let value = param.value.as_deref();
            match (param.key.as_str(), value) {
                ("SIZE", Some(v)) => {
                    let size =
                        (v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.parse().ok()).flatten();
                    p.size = Some(size.ok_or_else(|| Reply::new(501, "5.5.4", "Bad SIZE syntax"))?);
                }
                ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => p.body = BodyType::SevenBit,
                ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => p.body = BodyType::EightBitMime,
                ("BODY", _) => return Err(Reply::new(501, "5.5.4", "Bad BODY keyword syntax")),
                ("SMTPUTF8", None) => p.smtputf8 = true,
                ("RET", Some(v)) if v.eq_ignore_ascii_case("FULL") => p.ret = Some(DsnRet::Full),
                ("RET", Some(v)) if v.eq_ignore_ascii_case("HDRS") => p.ret = Some(DsnRet::Hdrs),
                ("RET", _) => return Err(Reply::new(501, "5.5.4", "Bad RET keyword syntax")),
                ("ENVID", Some(v)) if v.len() <= 100 && is_xtext(v) => p.envid = Some(v.to_string()),
                ("ENVID", _) => return Err(Reply::new(501, "5.5.4", "Bad ENVID parameter syntax")),
                // RFC 4954 §5: the submitter's identity; meaningless without AUTH, accepted.
                ("AUTH", Some(_)) => {}
                (key, _) => return Err(unsupported(key)),
            }
        }
        Ok(p)
    }
}

pub(crate) fn unsupported(key: &str) -> Reply {
    let key: String = key.chars().take(40).collect();
    Reply::new(555, "5.5.4", format!("Unsupported option: {key}"))
}

/// `xtext` (RFC 3461 §4): printable ASCII except `+` and `=`, or `+XX` in upper-case hex.
pub(crate) fn is_xtext(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
                if i + 2 >= b.len() || !(hex(b[i + 1]) && hex(b[i + 2])) {
                    return false;
                }
                i += 3;
            }
            b'=' => return false,
            33..=126 => i += 1,
            _ => return false,
        }
    }
    true
}

/// The reply for an unusable path, Postfix's wording.
pub(crate) fn address_error(error: &AddressError, rcpt: bool) -> Reply {
    match (error, rcpt) {
        (AddressError::NeedsSmtpUtf8, _) => {
            Reply::new(553, "5.6.7", "Error: SMTPUTF8 is required for a non-ASCII address")
        }
        (_, true) => Reply::new(501, "5.1.3", "Bad recipient address syntax"),
        (_, false) => Reply::new(501, "5.1.7", "Bad sender address syntax"),
    }
}

#[cfg(test)]
mod tests {
    use super::is_xtext;

    #[test]
    fn xtext() {
        assert!(is_xtext("abc+2Bdef"));
        assert!(is_xtext("QQ314159"));
        assert!(!is_xtext("a=b"));
        assert!(!is_xtext("a+2"));
        assert!(!is_xtext("a+zz"));
        assert!(!is_xtext("a b"));
    }
}
