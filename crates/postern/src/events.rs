//! The event sink sessions write to: each event becomes one structured log line and one
//! row in the store (through the batching writer).

use postern_core::{BoxFuture, Event, EventKind, EventSink};
use postern_store::EventWriter;

pub struct EventLog {
    writer: EventWriter,
}

impl EventLog {
    pub fn new(writer: EventWriter) -> EventLog {
        EventLog { writer }
    }

    /// Events stored, retried, dropped and waiting (for `/api/v1/status`).
    pub fn stats(&self) -> std::sync::Arc<postern_store::EventStats> {
        self.writer.stats()
    }

    /// Stores what was emitted so far; later events are only logged.
    pub async fn stop(&self) {
        self.writer.stop().await;
    }
}

impl EventSink for EventLog {
    fn emit(&self, event: Event) -> BoxFuture<'_, ()> {
        log(&event);
        Box::pin(self.writer.send(event))
    }
}

fn log(e: &Event) {
    let queue_id = e.queue_id.map(|q| q.to_string()).unwrap_or_default();
    let (session, client) = (e.session, e.client_ip);
    match &e.kind {
        EventKind::Connect { client_port, listener } => {
            tracing::info!(event = "connect", session, %client, client_port, listener = listener.as_str());
        }
        EventKind::Tls { version, cipher } => {
            tracing::info!(event = "tls", session, %client, version = version.as_str(), cipher = cipher.as_str());
        }
        EventKind::Refused { stage, reply, reason, sender, recipient, account, .. } => {
            tracing::info!(
                event = "refused", session, %client, stage = ?stage, reply = reply.as_str(), reason = reason.as_str(),
                sender = sender.as_deref().unwrap_or(""), recipient = recipient.as_deref().unwrap_or(""),
                account = account.as_deref().unwrap_or("")
            );
        }
        EventKind::Queued { size, sender, recipients, tls, message_id, account, identity, .. } => {
            tracing::info!(
                event = "queued", session, %client, queue_id, size, sender = sender.as_str(), recipients = recipients.join(",").as_str(),
                account = account.as_deref().unwrap_or(""), identity = identity.as_deref().unwrap_or(""),
                tls = tls.as_deref().unwrap_or("none"), message_id = message_id.as_deref().unwrap_or("")
            );
        }
        EventKind::Auth { mechanism, user, result, detail } => {
            tracing::info!(
                event = "auth", session, %client, mechanism = mechanism.as_str(), user = user.as_str(),
                result = result.as_str(), detail = detail.as_str()
            );
        }
        EventKind::Disconnect { messages, duration_ms, reason } => {
            tracing::info!(event = "disconnect", session, %client, messages, duration_ms, reason = reason.as_str());
        }
        EventKind::Delivery { recipient, result, status, reply, remote, attempt, destination, duration_ms, .. } => {
            tracing::info!(
                event = "delivery",
                queue_id,
                recipient = recipient.as_str(),
                result = result.as_str(),
                status = status.as_str(),
                reply = reply.as_str(),
                remote = remote.as_deref().unwrap_or(""),
                attempt,
                destination = destination.as_str(),
                duration_ms = duration_ms.unwrap_or(0)
            );
        }
        EventKind::Dsn { dsn_queue_id, action, to, recipients } => {
            tracing::info!(
                event = "dsn",
                queue_id,
                dsn_queue_id = dsn_queue_id.as_str(),
                action = action.as_str(),
                to = to.as_str(),
                recipients = recipients.join(",").as_str()
            );
        }
        EventKind::Dkim { result, domain, selectors, reason } => {
            tracing::info!(
                event = "dkim", session, %client, queue_id, result = result.as_str(),
                domain = domain.as_deref().unwrap_or(""), selectors = selectors.join(",").as_str(),
                reason = reason.as_deref().unwrap_or("")
            );
        }
        EventKind::Checked { disposition, checks, .. } => {
            let trace: Vec<String> = checks
                .iter()
                .map(|c| {
                    format!(
                        "{}:{}:{}{}",
                        c.stage,
                        c.engine,
                        c.result,
                        c.rule.as_ref().map(|r| format!("({r})")).unwrap_or_default()
                    )
                })
                .collect();
            tracing::info!(event = "checked", session, %client, queue_id, disposition = disposition.name(), checks = trace.join(",").as_str());
        }
        EventKind::Quarantine { action, id, by, domain, detail } => {
            tracing::info!(
                event = "quarantine",
                queue_id,
                action = action.as_str(),
                id,
                by = by.as_deref().unwrap_or(""),
                domain = domain.as_deref().unwrap_or(""),
                detail = detail.as_deref().unwrap_or("")
            );
        }
        EventKind::Behaviour { reason, done, account, identity, .. } => {
            tracing::warn!(
                event = "behaviour",
                queue_id,
                reason = reason.as_str(),
                done = done.as_str(),
                account = account.as_deref().unwrap_or(""),
                identity = identity.as_deref().unwrap_or("")
            );
        }
        EventKind::Discarded { rule, sender, recipients, account, identity, .. } => {
            tracing::info!(
                event = "discarded", session, %client, queue_id, rule, sender = sender.as_str(),
                recipients = recipients.join(",").as_str(), account = account.as_deref().unwrap_or(""),
                identity = identity.as_deref().unwrap_or("")
            );
        }
    }
}
