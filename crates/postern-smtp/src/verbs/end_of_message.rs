//! The end of a message (DATA or BDAT LAST): the listener's hop check, the account's size
//! and hop limits (`account_limits.rs`), the 998-octet line limit (`550 5.6.0`, `lines.rs`), our headers, the owner; then the message pipeline
//! ([`postern_core::MessagePipeline`]: account and identity checks, content checks,
//! disposition, DKIM, spool) says what becomes of it and what the client hears.
//! `250` is answered only when the spool says the message is durable, when the account's
//! quarantine reaction is `accept`, or when a block list rule discards the message
//! (`verbs/lists.rs`: answered as queued, never spooled).

use postern_core::event::now_ms;
use postern_core::{Disposition, Envelope, Reply, Stage, Submission};
use postern_policy::Attribution;

use crate::lines::line_length_refusal;
use crate::message::{Trace, received_header, rfc5322_now, scan_headers};
use crate::session::Session;

impl Session {
    pub(crate) async fn end_of_message(&mut self, body: Vec<u8>) -> Reply {
        if self.tx.as_ref().is_some_and(|tx| tx.lists.discard.is_some()) {
            return self.discard(&body).await;
        }
        let facts = scan_headers(&body);
        if facts.received >= self.listener.limits.max_hops {
            let reply = Reply::new(554, "5.4.6", "Error: too many hops");
            let reason = format!("{} Received headers, limit {}", facts.received, self.listener.limits.max_hops);
            self.refused(Stage::Data, &reply, &reason, None).await;
            self.tx = None;
            return reply;
        }
        if let Some(reply) = self.account_limits_at_end(body.len() as u64, facts.received).await {
            self.tx = None;
            return reply;
        }
        if let Some((reply, reason)) = line_length_refusal(&body) {
            self.refused(Stage::Data, &reply, &reason, None).await;
            self.tx = None;
            return reply;
        }
        let Some(tx) = self.tx.take() else {
            return Reply::new(503, "5.5.1", "Error: need MAIL command");
        };
        let date = rfc5322_now();
        let mut head = received_header(&Trace {
            client: &self.client,
            hostname: &self.listener.hostname,
            queue_id: tx.queue_id,
            recipients: &tx.recipients,
            smtputf8: tx.smtputf8,
            esmtp: self.esmtp,
            date: &date,
        });
        let mut message_id = facts.message_id.clone();
        if self.listener.add_missing_headers {
            if !facts.has_date {
                head.push_str(&format!("Date: {date}\r\n"));
            }
            if message_id.is_none() {
                let id = format!("<{}@{}>", tx.queue_id, self.listener.hostname);
                head.push_str(&format!("Message-ID: {id}\r\n"));
                message_id = Some(id);
            }
        }
        let (owner, stripped) =
            self.services.policy.owner(&self.attribution, tx.sender.as_ref(), &tx.recipients, &body);
        let account = match &self.attribution {
            Attribution::Account { entry, .. } => Some(entry.account.clone()),
            _ => None,
        };
        let submission = Submission {
            session: self.id,
            hostname: self.listener.hostname.clone(),
            account,
            envelope: Envelope {
                queue_id: tx.queue_id,
                received_at_ms: now_ms(),
                sender: tx.sender,
                recipients: tx.recipients,
                body: tx.body,
                smtputf8: tx.smtputf8,
                ret: tx.ret,
                envid: tx.envid,
                client: self.client.clone(),
                size: 0,
                owner: Some(owner),
            },
            head,
            message: stripped.unwrap_or(body),
            message_id,
        };
        let outcome = self.services.pipeline.process(submission).await;
        if outcome.disposition == Disposition::Deliver && outcome.reply.is_positive() {
            self.messages += 1;
            self.errors = 0;
        }
        outcome.reply
    }
}
