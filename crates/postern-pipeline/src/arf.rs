//! The abuse report of a held message (RFC 5965, ARF): what is sent to a domain's abuse
//! contact and shown through the admin API.
//!
//! In: the held message's row and bytes, and the other messages the same report covers
//! (a blast collected in one window, `abuse.rs`). Out: [`Report`]: the subject, the MIME
//! headers and the `multipart/report; report-type=feedback-report` body with three parts:
//! a human-readable text (which lists the other messages), the `message/feedback-report`
//! fields built by `mail-auth` (Feedback-Type `abuse`, User-Agent, Version, Source-IP,
//! Original-Mail-From, Original-Rcpt-To, Arrival-Date, Reported-Domain, Reporting-MTA,
//! Incidents when more than one), and the original message (`message/rfc822`).
//!
//! Field values come from the envelope and the store, which the SMTP session already
//! checked; CR and LF are still removed from every value that goes into a header.

use std::fmt::Write;

use mail_auth::report::{Feedback, FeedbackType};
use postern_queue::HeldFile;
use postern_store::HeldMessage;

/// The most other messages a report lists by name (the count covers them all).
pub const MOST_LISTED: usize = 200;

/// One report, ready for the system mailer.
#[derive(Debug, Clone)]
pub struct Report {
    pub subject: String,
    pub mime_headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Report {
    /// The whole message as the API shows it, with `From`, `To` and `Subject`.
    pub fn to_message(&self, from: &str, to: &str) -> Vec<u8> {
        let mut out = format!("From: {}\r\nTo: {}\r\nSubject: {}\r\n", one_line(from), one_line(to), self.subject);
        for h in &self.mime_headers {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The report on `held` (its bytes in `file`), covering `incidents` messages in all;
/// `others` are listed in the text part.
pub fn build(hostname: &str, held: &HeldMessage, file: &HeldFile, incidents: u32, others: &[HeldMessage]) -> Report {
    let m = &held.message;
    let fields = feedback_fields(hostname, held, file, incidents);

    let text = human_text(hostname, held, incidents, others);
    let mut original = file.head.clone();
    original.extend_from_slice(&file.message);
    let boundary = boundary_for(&held.message.queue_id, &[text.as_bytes(), fields.as_bytes(), &original]);
    let eight_bit = !original.is_ascii();

    let mut body = Vec::with_capacity(original.len() + text.len() + fields.len() + 512);
    let part = |body: &mut Vec<u8>, headers: &str| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n").as_bytes());
    };
    body.extend_from_slice(b"This is a multi-part message in MIME format.\r\n\r\n");
    part(&mut body, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n");
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(b"\r\n");
    part(&mut body, "Content-Type: message/feedback-report\r\nContent-Transfer-Encoding: 7bit\r\n");
    body.extend_from_slice(fields.as_bytes());
    body.extend_from_slice(b"\r\n");
    let cte = if eight_bit { "8bit" } else { "7bit" };
    part(
        &mut body,
        &format!("Content-Type: message/rfc822\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: {cte}\r\n"),
    );
    body.extend_from_slice(&original);
    if !original.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());

    let who = m.account.as_deref().unwrap_or("a trusted network");
    let subject = if incidents > 1 {
        format!("Abuse report: {incidents} messages from {} held as spam", one_line(who))
    } else {
        format!("Abuse report: a message from {} held as spam", one_line(who))
    };
    Report {
        subject,
        mime_headers: vec![
            "MIME-Version: 1.0".into(),
            format!("Content-Type: multipart/report; report-type=feedback-report; boundary=\"{boundary}\""),
            format!("Content-Transfer-Encoding: {}", if eight_bit { "8bit" } else { "7bit" }),
        ],
        body,
    }
}

/// The `message/feedback-report` fields of the report on `held` (CRLF line ends).
pub fn feedback_fields(hostname: &str, held: &HeldMessage, file: &HeldFile, incidents: u32) -> String {
    let m = &held.message;
    let arrival_ms = if file.envelope.received_at_ms > 0 { file.envelope.received_at_ms } else { m.held_at_ms };
    let arrival_s = arrival_ms / 1000;
    let mut feedback = Feedback::new(FeedbackType::Abuse)
        .with_version(1)
        .with_user_agent(format!("Postern/{}", env!("CARGO_PKG_VERSION")))
        .with_arrival_date(arrival_s)
        .with_reporting_mta(one_line(hostname))
        .with_original_mail_from(format!("<{}>", one_line(m.sender.trim_matches(['<', '>']))))
        .with_incidents(incidents.max(1));
    if let Ok(ip) = m.client_ip.parse() {
        feedback = feedback.with_source_ip(ip);
    }
    if let Some(first) = m.recipients.first() {
        feedback = feedback.with_original_rcpt_to(format!("<{}>", one_line(first)));
    }
    for domain in m.sender_domain.iter().chain(m.domain.iter().filter(|d| Some(*d) != m.sender_domain.as_ref())) {
        feedback = feedback.with_reported_domain(one_line(domain));
    }
    let mut fields = feedback.to_arf();
    // RFC 5965 allows one Original-Rcpt-To per recipient; mail-auth writes the first.
    for rcpt in m.recipients.iter().skip(1).take(MOST_LISTED) {
        let _ = write!(fields, "Original-Rcpt-To: <{}>\r\n", one_line(rcpt));
    }
    fields
}

fn human_text(hostname: &str, held: &HeldMessage, incidents: u32, others: &[HeldMessage]) -> String {
    let m = &held.message;
    let mut text = String::new();
    let _ = write!(
        text,
        "This is an email abuse report from Postern at {host}.\r\n\r\n\
         Postern held a message as spam (rule {rule}) instead of delivering it.\r\n\
         Account: {account}\r\nIdentity: {identity}\r\nSender: {sender}\r\nClient: {ip}\r\n\
         Recipients: {rcpts}\r\nSubject: {subject}\r\nQueue id: {qid}\r\n",
        host = one_line(hostname),
        rule = one_line(&m.rule),
        account = one_line(m.account.as_deref().unwrap_or("-")),
        identity = one_line(m.identity.as_deref().unwrap_or("-")),
        sender = one_line(&m.sender),
        ip = one_line(&m.client_ip),
        rcpts = m.recipients.len(),
        subject = one_line(&m.subject),
        qid = one_line(&m.queue_id),
    );
    if incidents > 1 {
        let _ = write!(
            text,
            "\r\nThis report covers {incidents} messages held from this account in one window; the first is \
             attached, the others are:\r\n"
        );
        for other in others.iter().take(MOST_LISTED) {
            let o = &other.message;
            let at = chrono::DateTime::from_timestamp_millis(o.held_at_ms).map(|t| t.to_rfc3339()).unwrap_or_default();
            let _ = write!(
                text,
                "- {at} queue id {} from {} to {} recipient(s), rule {}, subject {}\r\n",
                one_line(&o.queue_id),
                one_line(&o.sender),
                o.recipients.len(),
                one_line(&o.rule),
                one_line(&o.subject)
            );
        }
        if others.len() > MOST_LISTED {
            let _ = write!(text, "- and {} more\r\n", others.len() - MOST_LISTED);
        }
    }
    text
}

/// A boundary found in none of the parts.
fn boundary_for(queue_id: &str, parts: &[&[u8]]) -> String {
    let base: String = queue_id.chars().filter(char::is_ascii_alphanumeric).collect();
    (0u32..)
        .map(|n| format!("=_postern-arf-{base}-{n}"))
        .find(|b| !parts.iter().any(|p| p.windows(b.len()).any(|w| w == b.as_bytes())))
        .unwrap_or_default()
}

/// Without CR, LF and other control characters.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}
