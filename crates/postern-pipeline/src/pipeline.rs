//! [`Pipeline`]: the stages between the end of DATA and the spool, in their fixed order
//! (see the crate documentation), the verdict trace and the events.
//!
//! In: a [`Submission`] from the session. Out: an [`Outcome`] (disposition and reply),
//! events (`refused`, `dkim`, `checked`, `queued`) and, for `Deliver`, the spooled message.
//! `250` for a delivered message is said only once the spool has it durable.

use std::sync::Arc;
use std::time::Instant;

use postern_core::event::now_ms;
use postern_core::tenancy::ContentChecks;
use postern_core::{
    Archiver, BoxFuture, CheckRecord, Disposition, Enqueue, Event, EventKind, EventSink, MessageFacts, MessagePipeline,
    Outcome, QueueId, Reply, Stage, Submission, SystemMailer,
};
use postern_dkim::Signer;
use postern_policy::behaviour::Detector;
use postern_policy::{Limits, Locks};

use crate::gtube::GtubeScanner;
use crate::parsed::Parsed;
use crate::scanner::{Block, OnFailure, ScanInput, ScanResult, Scanner};

pub struct Pipeline {
    pub(crate) spool: Arc<dyn Enqueue>,
    pub(crate) events: Arc<dyn EventSink>,
    pub(crate) dkim: Option<Arc<Signer>>,
    pub(crate) limits: Option<Arc<Limits>>,
    pub(crate) locks: Option<Arc<Locks>>,
    /// Compromise detection by behaviour; `None`: not judged.
    pub(crate) behaviour: Option<Arc<Detector>>,
    pub(crate) quarantine: Option<Arc<crate::quarantine::Quarantine>>,
    scanners: Vec<Arc<dyn Scanner>>,
    /// Lock notices go out through it; `None`: none are sent.
    pub(crate) system_mail: Option<Arc<dyn SystemMailer>>,
    /// Copies of archived accounts' messages; `None`: such a message gets `451 4.3.0`.
    pub(crate) archiver: Option<Arc<dyn Archiver>>,
}

impl Pipeline {
    /// A pipeline with the GTUBE scanner, no counters (no daily limits, no locks) and no
    /// signer.
    pub fn new(spool: Arc<dyn Enqueue>, events: Arc<dyn EventSink>) -> Pipeline {
        Pipeline {
            spool,
            events,
            dkim: None,
            limits: None,
            locks: None,
            behaviour: None,
            system_mail: None,
            quarantine: None,
            archiver: None,
            scanners: vec![Arc::new(GtubeScanner)],
        }
    }

    /// DKIM signing at stage 5; without it nothing is signed.
    pub fn with_dkim(mut self, signer: Option<Arc<Signer>>) -> Pipeline {
        self.dkim = signer;
        self
    }

    /// The identity's daily recipients and spam counts with automatic locks.
    pub fn with_counters(mut self, limits: Option<Arc<Limits>>, locks: Option<Arc<Locks>>) -> Pipeline {
        self.limits = limits;
        self.locks = locks;
        self
    }

    /// Compromise detection by behaviour (stage 4b, `behaviour.rs`).
    pub fn with_behaviour(mut self, detector: Option<Arc<Detector>>) -> Pipeline {
        self.behaviour = detector;
        self
    }

    /// The system mailer lock notices go out through (From the postmaster, copies to the
    /// external postmasters); without it no notice is sent.
    pub fn with_system_mail(mut self, mailer: Option<Arc<dyn SystemMailer>>) -> Pipeline {
        self.system_mail = mailer;
        self
    }

    /// Where spam is held; without it spam cannot be held (see `disposition.rs`).
    pub fn with_quarantine(mut self, quarantine: Option<Arc<crate::quarantine::Quarantine>>) -> Pipeline {
        self.quarantine = quarantine;
        self
    }

    /// Where copies go for accounts with `archive.enabled` (stage 6, `archive.rs`).
    pub fn with_archiver(mut self, archiver: Option<Arc<dyn Archiver>>) -> Pipeline {
        self.archiver = archiver;
        self
    }

    /// Adds a content check after those already there.
    pub fn with_scanner(mut self, scanner: Arc<dyn Scanner>) -> Pipeline {
        self.scanners.push(scanner);
        self
    }

    async fn run(&self, mut sub: Submission) -> Outcome {
        let mut trace = Vec::new();
        // 1. Account and identity checks.
        if let Some(reply) = self.account_checks(&sub, &mut trace).await {
            return self.finish(&sub, Outcome { disposition: Disposition::Reject, reply }, trace).await;
        }
        // 2. Content checks, 3. verdict.
        let finding = match self.content_checks(&sub, &mut trace).await {
            Ok(finding) => finding,
            Err(reply) => return self.finish(&sub, Outcome { disposition: Disposition::Reject, reply }, trace).await,
        };
        // 4. Disposition.
        if let Some(finding) = finding {
            let monitor = sub.account.as_ref().is_some_and(|a| a.settings.monitor_only);
            if !monitor {
                let outcome = self.quarantine(&mut sub, &finding, &mut trace).await;
                return self.finish(&sub, outcome, trace).await;
            }
            self.would_refuse(&sub, &finding.reply(), &finding.reason()).await;
        }
        // 4b. Behaviour.
        if let Some(outcome) = self.behaviour_check(&mut sub, &mut trace).await {
            return self.finish(&sub, outcome, trace).await;
        }
        // 5. DKIM signing.
        let (head, message) = (std::mem::take(&mut sub.head), std::mem::take(&mut sub.message));
        let (head, message) = self.dkim_sign(&sub, head, message, &mut trace).await;
        // 6. Archive (the account's `archive.enabled`) and 7. spool.
        self.spool(sub, head, message, trace).await
    }

    /// Stages 2 and 3: every scanner in order, each recorded in the trace. `Ok(Some(finding))`:
    /// spam or a block (the first scanner that found one decides); `Ok(None)`: neither;
    /// `Err(reply)`: `451 4.7.1`, an engine whose `on_failure` is `tempfail` failed and no
    /// other found anything (monitor mode: only logged). A failed engine with `skip` leaves
    /// the verdict to the others and is logged every time. A scanner whose account setting
    /// is off does not run (trace: `off`). The checks that read MIME share one parse of the
    /// message ([`Parsed`]), made by the first that asks and let go of after the last.
    async fn content_checks(&self, sub: &Submission, trace: &mut Vec<CheckRecord>) -> Result<Option<Finding>, Reply> {
        let input = ScanInput {
            envelope: &sub.envelope,
            account: sub.account.as_ref(),
            message: &sub.message,
            parsed: Arc::new(Parsed::new()),
        };
        let defaults = ContentChecks::default();
        let checks = sub.account.as_ref().map_or(&defaults, |a| &a.settings.checks);
        let mut finding = None;
        let mut tempfail: Option<(&'static str, String)> = None;
        let last_reader = self.scanners.iter().rposition(|s| s.shares_parse());
        for (at, scanner) in self.scanners.iter().enumerate() {
            if last_reader.is_some_and(|last| at > last) {
                input.parsed.release();
            }
            let started = Instant::now();
            let engine = scanner.engine();
            if let Some(setting) = scanner.setting().filter(|s| !s.is_on(checks)) {
                trace.push(record("content", engine, Some(setting.off()), "off", started));
                continue;
            }
            let result = scanner.scan(&input).await;
            let entry = match &result {
                ScanResult::Clean { score } => {
                    CheckRecord { score: *score, ..record("content", engine, None, "pass", started) }
                }
                ScanResult::Allowed { rule } => record("content", engine, Some(&bounded(rule)), "pass", started),
                ScanResult::Spam { rule, score } => {
                    CheckRecord { score: *score, ..record("content", engine, Some(rule), "spam", started) }
                }
                ScanResult::Blocked(block) => CheckRecord {
                    part: block.part.as_deref().map(bounded),
                    ..record("content", engine, Some(&block.rule), "blocked", started)
                },
                ScanResult::Failed { error } => {
                    let on_failure = scanner.on_failure();
                    tracing::warn!(
                        engine,
                        error = error.as_str(),
                        on_failure = on_failure.name(),
                        queue_id = %sub.envelope.queue_id,
                        "content check failed"
                    );
                    if on_failure == OnFailure::Tempfail && tempfail.is_none() {
                        tempfail = Some((engine, error.clone()));
                    }
                    record("content", engine, Some(&bounded(error)), "failed", started)
                }
                ScanResult::Skipped { reason } => {
                    tracing::info!(engine, reason = reason.as_str(), queue_id = %sub.envelope.queue_id, "content check skipped");
                    record("content", engine, Some(&bounded(reason)), "skipped", started)
                }
            };
            trace.push(entry);
            if finding.is_none() {
                finding = match result {
                    ScanResult::Spam { rule, .. } => Some(Finding::Spam { rule }),
                    ScanResult::Blocked(block) => Some(Finding::Blocked(block)),
                    _ => None,
                };
            }
        }
        if finding.is_some() {
            return Ok(finding);
        }
        if let Some((engine, error)) = tempfail {
            let reply = Reply::new(451, "4.7.1", "Try again later: the content check is unavailable");
            let reason = format!("content check {engine} failed (on_failure = tempfail): {}", bounded(&error));
            if !sub.account.as_ref().is_some_and(|a| a.settings.monitor_only) {
                self.refused(sub, &reply, &reason).await;
                return Err(reply);
            }
            self.would_refuse(sub, &reply, &reason).await;
        }
        Ok(None)
    }

    /// Stages 6 and 7: the archive copy first (when the account keeps one), then the spool;
    /// `250` only once both are durable.
    async fn spool(&self, sub: Submission, head: String, message: Vec<u8>, mut trace: Vec<CheckRecord>) -> Outcome {
        let size = (head.len() + message.len()) as u64;
        let mut envelope = sub.envelope.clone();
        envelope.size = size;
        envelope.received_at_ms = now_ms();
        let (head, message) = if Self::archives(&sub) {
            let (head, message, archived) = self.archive(&sub, &envelope, head.into_bytes(), message, &mut trace).await;
            if let Err(reply) = archived {
                let facts = MessageFacts { size, subject: subject(&message), ..facts(&sub) };
                return self.not_spooled(&sub, reply, "archive write failed", trace, facts).await;
            }
            (head, message)
        } else {
            (head.into_bytes(), message)
        };
        let owner = envelope.owner.as_ref();
        let subject = subject(&message);
        let queued = EventKind::Queued {
            size,
            sender: envelope.sender_display(),
            recipients: envelope.recipients.iter().map(|r| r.address.to_string()).collect(),
            tls: envelope.client.tls.as_ref().map(|t| t.to_string()),
            message_id: sub.message_id.clone(),
            account: owner.map(|o| o.account.clone()),
            account_id: owner.and_then(|o| o.account_id),
            domain: owner.and_then(|o| o.domain.clone()),
            sender_domain: envelope.sender_domain(),
            identity: owner.map(|o| o.identity.clone()),
            subject: subject.clone(),
        };
        let queue_id = envelope.queue_id;
        match self.spool.enqueue(envelope, head, message).await {
            Ok(()) => {
                let reply = Reply::new(250, "2.0.0", format!("Ok: queued as {queue_id}"));
                let outcome = self.finish(&sub, Outcome { disposition: Disposition::Deliver, reply }, trace).await;
                self.emit(&sub, Some(queue_id), queued).await;
                outcome
            }
            Err(reply) => {
                // The bytes went to the spool, which refused them: size and subject as queued.
                let message = MessageFacts { size, subject, ..facts(&sub) };
                self.not_spooled(&sub, reply, "spool write failed", trace, message).await
            }
        }
    }

    /// The message could not be made durable (`reason`): refused with the 4xx `reply`; its
    /// `checked` event carries its envelope, as for every message that is not queued.
    async fn not_spooled(
        &self,
        sub: &Submission,
        reply: Reply,
        reason: &str,
        trace: Vec<CheckRecord>,
        message: MessageFacts,
    ) -> Outcome {
        let (account, domain) = attribution(sub);
        let kind = EventKind::Refused {
            stage: Stage::Queue,
            reply: reply.summary(),
            reason: reason.into(),
            sender: None,
            recipient: None,
            account,
            domain,
        };
        self.emit(sub, None, kind).await;
        self.checked(sub, Outcome { disposition: Disposition::Reject, reply }, trace, Some(message)).await
    }

    /// Records the verdict trace (one `checked` event) and returns the outcome. A message
    /// that is not queued has no `queued` event: its `checked` event carries its envelope.
    async fn finish(&self, sub: &Submission, outcome: Outcome, checks: Vec<CheckRecord>) -> Outcome {
        let message = (outcome.disposition != Disposition::Deliver).then(|| facts(sub));
        self.checked(sub, outcome, checks, message).await
    }

    async fn checked(
        &self,
        sub: &Submission,
        outcome: Outcome,
        checks: Vec<CheckRecord>,
        message: Option<MessageFacts>,
    ) -> Outcome {
        let kind = EventKind::Checked { disposition: outcome.disposition, checks, message: message.map(Box::new) };
        self.emit(sub, Some(sub.envelope.queue_id), kind).await;
        outcome
    }

    pub(crate) async fn emit(&self, sub: &Submission, queue_id: Option<QueueId>, kind: EventKind) {
        let event = Event { at_ms: now_ms(), session: sub.session, client_ip: sub.envelope.client.ip, queue_id, kind };
        self.events.emit(event).await;
    }

    /// A refusal at the end of data, with the transaction's sender.
    pub(crate) async fn refused(&self, sub: &Submission, reply: &Reply, reason: &str) {
        let (account, domain) = attribution(sub);
        let kind = EventKind::Refused {
            stage: Stage::Data,
            reply: reply.summary(),
            reason: reason.to_string(),
            sender: Some(sub.envelope.sender.as_ref().map(|a| a.to_string()).unwrap_or_default()),
            recipient: None,
            account,
            domain,
        };
        self.emit(sub, None, kind).await;
    }

    /// Monitor mode: what a check would have refused, logged; the message goes on.
    pub(crate) async fn would_refuse(&self, sub: &Submission, reply: &Reply, reason: &str) {
        self.refused(sub, reply, &format!("would refuse (monitor): {reason}")).await;
    }
}

impl MessagePipeline for Pipeline {
    fn process(&self, submission: Submission) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run(submission))
    }
}

/// What the content checks found: the verdict of stage 3.
#[derive(Debug, Clone)]
pub(crate) enum Finding {
    Spam {
        rule: String,
    },
    Blocked(Block),
    /// A behaviour finding held by the `quarantine` action (`behaviour.rs`).
    Behaviour {
        reason: String,
    },
}

impl Finding {
    /// The rule as the quarantine and the log name it: `GTUBE`, `OLE2_VBA_MACRO in a.zip/b.doc`.
    pub(crate) fn rule(&self) -> String {
        match self {
            Finding::Spam { rule } => rule.clone(),
            Finding::Blocked(block) => bounded(&block.describe()),
            Finding::Behaviour { reason } => bounded(&format!("BEHAVIOUR: {reason}")),
        }
    }

    /// The refusal the finding earns (the `reject` reaction, or what monitor mode logs).
    pub(crate) fn reply(&self) -> Reply {
        match self {
            Finding::Spam { rule } => {
                Reply::new(550, "5.7.1", format!("Error: message content rejected as spam ({rule})"))
            }
            Finding::Blocked(block) => Reply::new(
                550,
                "5.7.1",
                format!("Error: message rejected: {} ({})", block.kind.words(), reply_safe(&self.rule())),
            ),
            Finding::Behaviour { .. } => {
                Reply::new(550, "5.7.1", "Error: message held: this sender's traffic is far above its usual")
            }
        }
    }

    /// The start of the refusal's reason in the log: `spam (rule GTUBE)`,
    /// `attachment with macros (rule OLE2_VBA_MACRO in invoice.doc)`.
    pub(crate) fn reason(&self) -> String {
        match self {
            Finding::Spam { rule } => format!("spam (rule {rule})"),
            Finding::Blocked(block) => format!("{} (rule {})", block.kind.words(), self.rule()),
            Finding::Behaviour { reason } => format!("behaviour: {reason}"),
        }
    }

    /// Whether it counts toward the account's automatic lock like spam.
    pub(crate) fn counts_as_spam(&self) -> bool {
        match self {
            Finding::Spam { .. } => true,
            Finding::Blocked(block) => block.kind.counts_as_spam(),
            Finding::Behaviour { .. } => false,
        }
    }
}

/// A part's name as it may appear in a reply line: printable ASCII only (a file name is
/// the sender's text and may hold anything, CR and LF included).
fn reply_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
}

/// One entry of the verdict trace, timed from `started`.
pub(crate) fn record(stage: &str, engine: &str, rule: Option<&str>, result: &str, started: Instant) -> CheckRecord {
    CheckRecord {
        stage: stage.to_string(),
        engine: engine.to_string(),
        rule: rule.map(str::to_string),
        result: result.to_string(),
        score: None,
        part: None,
        micros: started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64,
    }
}

/// The message's decoded `Subject:` for events (see [`postern_core::event::printable_line`]).
pub(crate) fn subject(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(message)?;
    postern_core::event::printable_line(parsed.subject()?, postern_core::event::MAX_SUBJECT)
}

/// The submission's account and its domain, as a refusal names them.
fn attribution(sub: &Submission) -> (Option<String>, Option<String>) {
    let owner = sub.envelope.owner.as_ref();
    (owner.map(|o| o.account.clone()), owner.and_then(|o| o.domain.clone()))
}

/// What the `queued` event would have said of a message that is not queued.
fn facts(sub: &Submission) -> MessageFacts {
    let envelope = &sub.envelope;
    let owner = envelope.owner.as_ref();
    MessageFacts {
        sender: envelope.sender_display(),
        recipients: envelope.recipients.iter().map(|r| r.address.to_string()).collect(),
        size: (sub.head.len() + sub.message.len()) as u64,
        message_id: sub.message_id.clone(),
        subject: subject(&sub.message),
        account: owner.map(|o| o.account.clone()),
        domain: owner.and_then(|o| o.domain.clone()),
        sender_domain: envelope.sender_domain(),
        identity: owner.map(|o| o.identity.clone()),
    }
}

/// An engine's error or reason, at most 300 characters, for the trace and events.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}
