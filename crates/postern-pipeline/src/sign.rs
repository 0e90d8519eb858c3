//! Stage 5, DKIM: the last edit before the spool, after content checks and our own header
//! edits (Received, Date/Message-ID, identity header stripping), so that the signature
//! covers exactly the bytes that are spooled and delivered.
//!
//! In: our headers and the message, and the account (its domain and `dkim_selector`).
//! Out: our headers with `DKIM-Signature:` fields on top, the message untouched, and one
//! `dkim` event per account message: `signed` (domain, selectors), `unsigned` (why: From
//! of another domain, no active key) or `failed`. Mail from trusted networks (no account,
//! no domain to sign for) is neither signed nor logged here.
//!
//! Defends against: losing a message to signing (a panic or a failure in the signer
//! leaves the message as it was, queued unsigned, with an error in the log; the bytes are
//! shared with the signing thread, never moved into it), and stalling the async threads
//! (an RSA-2048 signature costs about half a millisecond of CPU and hashing a large body
//! more: it runs on a blocking thread).

use std::sync::Arc;
use std::time::Instant;

use postern_core::{CheckRecord, EventKind, Submission};
use postern_dkim::{SignOutcome, SignRequest};

use crate::pipeline::{Pipeline, record};

impl Pipeline {
    /// Signs the message when its account's domain has an active key for its From domain.
    pub(crate) async fn dkim_sign(
        &self,
        sub: &Submission,
        head: String,
        body: Vec<u8>,
        trace: &mut Vec<CheckRecord>,
    ) -> (String, Vec<u8>) {
        let Some(signer) = self.dkim.clone() else { return (head, body) };
        // Only an account's mail is signed (for its domain); trusted networks never are,
        // and their messages get no `dkim` event.
        let Some(account) = &sub.account else { return (head, body) };
        let started = Instant::now();
        let account_domain = Some(account.domain.clone());
        let selector = account.settings.dkim_selector.clone();
        let (shared_head, shared_body) = (Arc::new(head), Arc::new(body));
        let (h, b) = (Arc::clone(&shared_head), Arc::clone(&shared_body));
        let joined = tokio::task::spawn_blocking(move || {
            let request = SignRequest {
                account_domain: account_domain.as_deref(),
                selector: selector.as_deref(),
                head: h.as_bytes(),
                message: &b,
            };
            signer.sign(&request)
        })
        .await;
        // The task is over (done, panicked or never run): its references are gone.
        let head = Arc::try_unwrap(shared_head).unwrap_or_else(|shared| shared.as_ref().clone());
        let body = Arc::try_unwrap(shared_body).unwrap_or_else(|shared| shared.as_ref().clone());
        let outcome = joined.unwrap_or_else(|e| SignOutcome::Failed { error: format!("signing task: {e}") });
        let event = |result: &str, domain: Option<String>, selectors: Vec<String>, reason: Option<String>| {
            EventKind::Dkim { result: result.into(), domain, selectors, reason }
        };
        let queue_id = sub.envelope.queue_id;
        let (head, kind) = match outcome {
            SignOutcome::Signed { domain, selectors, fields, note } => {
                (fields + &head, event("signed", Some(domain), selectors, note))
            }
            SignOutcome::Unsigned { reason } => (head, event("unsigned", None, Vec::new(), Some(reason))),
            SignOutcome::Failed { error } => {
                tracing::error!(session = sub.session, queue_id = %queue_id, error = error.as_str(), "DKIM signing failed; queued unsigned");
                (head, event("failed", None, Vec::new(), Some(error)))
            }
        };
        if let EventKind::Dkim { result, .. } = &kind {
            trace.push(record("dkim", "dkim", None, result, started));
        }
        self.emit(sub, Some(queue_id), kind).await;
        (head, body)
    }
}
