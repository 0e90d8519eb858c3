//! The end of a message (DATA or BDAT LAST): hop check, size and hops of the account, the
//! 998-octet line limit (`550 5.6.0`, `lines.rs`), our headers, identity and spam,
//! DKIM (`sign.rs`, over the final bytes), the spool, the reply.
//! `250` is answered only when the spool says the message is durable, or when a block list
//! rule discards the message (`verbs/lists.rs`: answered as queued, never spooled).

use postern_core::event::now_ms;
use postern_core::{Envelope, EventKind, Reply, Stage};

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
        if let Some(reply) = self.identity_and_spam(&tx, &owner, &body).await {
            return reply;
        }
        let body = stripped.unwrap_or(body);
        let (head, body) = self.dkim_sign(&tx, head, body).await;
        let size = (head.len() + body.len()) as u64;
        let envelope = Envelope {
            queue_id: tx.queue_id,
            received_at_ms: now_ms(),
            sender: tx.sender,
            recipients: tx.recipients,
            body: tx.body,
            smtputf8: tx.smtputf8,
            ret: tx.ret,
            envid: tx.envid,
            client: self.client.clone(),
            size,
            owner: Some(owner),
        };
        let queued = EventKind::Queued {
            size,
            sender: envelope.sender_display(),
            recipients: envelope.recipients.iter().map(|r| r.address.to_string()).collect(),
            tls: self.client.tls.as_ref().map(|t| t.to_string()),
            message_id,
            account: envelope.owner.as_ref().map(|o| o.account.clone()),
            account_id: envelope.owner.as_ref().and_then(|o| o.account_id),
            domain: envelope.owner.as_ref().and_then(|o| o.domain.clone()),
            sender_domain: envelope.sender_domain(),
            identity: envelope.owner.as_ref().map(|o| o.identity.clone()),
        };
        let queue_id = envelope.queue_id;
        match self.services.spool.enqueue(envelope, head.into_bytes(), body).await {
            Ok(()) => {
                self.emit(Some(queue_id), queued).await;
                self.messages += 1;
                self.errors = 0;
                Reply::new(250, "2.0.0", format!("Ok: queued as {queue_id}"))
            }
            Err(reply) => {
                let kind = EventKind::Refused {
                    stage: Stage::Queue,
                    reply: reply.summary(),
                    reason: "spool write failed".into(),
                    sender: None,
                    recipient: None,
                };
                self.emit(Some(queue_id), kind).await;
                reply
            }
        }
    }
}
