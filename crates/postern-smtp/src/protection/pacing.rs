//! The pace of a conversation: unauthorized pipelining, junk commands, the soft error limit.
//!
//! Pipelining (Postfix `reject_unauth_pipelining`, 2.6+ semantics): a session is marked
//! once the client sends ahead of time where it may not — input waiting before our
//! greeting (Postfix "after CONNECT"), after a command of a client that did not say EHLO,
//! or after a command that must end a pipelined group even with EHLO (EHLO, HELO, DATA,
//! NOOP, VRFY; RFC 2920 §3.1). The mark stays for the session; DATA and BDAT are then
//! refused `503 5.5.0`, as Postfix does with the check in `smtpd_data_restrictions`.
//!
//! Junk commands (NOOP, VRFY, ETRN, RSET; Postfix `smtpd_junk_command_limit`): beyond the
//! limit each one counts as an error, and every tenth one waits a second. The count starts
//! over after each message, as Postfix's does. Soft errors (Postfix
//! `smtpd_soft_error_limit`, `smtpd_error_sleep_time`): from that many errors on, every
//! command waits before it is answered.

use std::time::Duration;

use postern_config::PolicyCheck;
use postern_core::{Reply, Stage};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Refusal;
use crate::command::Command;
use crate::io::SmtpStream;
use crate::session::Session;

/// What each tenth junk command costs.
pub(crate) const JUNK_DELAY: Duration = Duration::from_secs(1);

impl Session {
    /// Before the greeting: input already waiting is pipelining "after CONNECT".
    pub(crate) async fn watch_pregreet<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut SmtpStream<S>) {
        if self.protection().policy.reject_unauth_pipelining && stream.input_pending().await {
            self.mark_pipelining("CONNECT", stream);
        }
    }

    /// After a command line was read: was more input sent where the client may not pipeline?
    pub(crate) async fn watch_pipelining<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        command: &Command,
        stream: &mut SmtpStream<S>,
    ) {
        if !self.protection().policy.reject_unauth_pipelining || self.protection.pipelining.is_some() {
            return;
        }
        let (name, ends_group) = match command {
            // The chunk follows the command by design.
            Command::Bdat { .. } => return,
            Command::Ehlo(_) => ("EHLO", true),
            Command::Helo(_) => ("HELO", true),
            Command::Data => ("DATA", true),
            Command::Noop => ("NOOP", true),
            Command::Vrfy => ("VRFY", true),
            Command::Mail { .. } => ("MAIL", false),
            Command::Rcpt { .. } => ("RCPT", false),
            Command::Rset => ("RSET", false),
            Command::Quit => ("QUIT", false),
            Command::StartTls => ("STARTTLS", false),
            Command::Auth { .. } => ("AUTH", false),
            _ => ("a command", false),
        };
        if (!self.esmtp || ends_group) && stream.input_pending().await {
            self.mark_pipelining(name, stream);
        }
    }

    fn mark_pipelining<S: AsyncRead + AsyncWrite + Unpin>(&mut self, after: &str, stream: &SmtpStream<S>) {
        let waiting = stream.buffered();
        let shown: String = String::from_utf8_lossy(&waiting[..waiting.len().min(100)]).escape_debug().collect();
        tracing::info!(session = self.id, client = %self.client.ip, "improper command pipelining after {after}: {shown}");
        self.protection.pipelining = Some(format!("after {after}: {shown}"));
    }

    /// At DATA and BDAT (`verb`), once the transaction is in order. `Some(reply)`: refused.
    pub(crate) async fn data_protocol_checks(&self, verb: &'static str) -> Option<Reply> {
        let seen = self.protection.pipelining.as_ref()?;
        if !self.protection().policy.reject_unauth_pipelining {
            return None;
        }
        let stage = if verb == "BDAT" { Stage::Bdat } else { Stage::Data };
        let reply = Reply::new(
            503,
            "5.5.0",
            format!("<{verb}>: Data command rejected: Improper use of SMTP command pipelining"),
        );
        let refusal = Refusal::new(stage, reply, format!("improper command pipelining {seen}"));
        self.enforce(PolicyCheck::RejectUnauthPipelining, refusal).await
    }

    /// Before a command is carried out: the soft error delay, then the junk count and its delay.
    pub(crate) async fn pace(&mut self, command: &Command) {
        let policy = &self.listener.protection.policy;
        let hard = self.listener.limits.hard_error_limit;
        let mut wait = Duration::ZERO;
        if policy.soft_error_limit > 0 && self.errors >= policy.soft_error_limit && self.errors < hard {
            wait += policy.error_sleep;
        }
        let junk = matches!(command, Command::Noop | Command::Vrfy | Command::Etrn | Command::Rset);
        if junk && policy.junk_command_limit > 0 {
            self.protection.junk = self.protection.junk.saturating_add(1);
            if self.protection.junk > policy.junk_command_limit {
                self.errors = self.errors.saturating_add(1);
            }
            if self.protection.junk.is_multiple_of(10) {
                wait += JUNK_DELAY;
            }
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// After a command: a message was accepted, so the junk count starts over.
    pub(crate) fn paced(&mut self, messages_before: u32) {
        if self.messages > messages_before {
            self.protection.junk = 0;
        }
    }
}
