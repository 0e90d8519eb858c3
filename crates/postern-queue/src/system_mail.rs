//! The one way mail Postern writes itself is sent (SPEC.md §7): lock notices, DSNs, ARF
//! reports. Every writer builds a [`SystemMail`] (kind, recipients, subject, the body's
//! MIME headers and the body) and hands it here.
//!
//! In: a [`SystemMail`], the tenant it concerns (`Owner`, optional) and the current
//! [`Postmaster`] settings. Out: the message in the spool (durable, like any message) and
//! its queue id; and, for a kind that is copied, one more spooled message with the same
//! bytes to the external postmasters. Log lines name the kind, the recipients and the
//! queue ids.
//!
//! What it writes: `From:` the postmaster address with its display name, `To:`, `Subject:`
//! (CR and LF become spaces, RFC 2047 encoded when not ASCII), `Date:`, `Message-ID:`,
//! `Auto-Submitted:` (`auto-replied` for a DSN, which answers a message; `auto-generated`
//! otherwise, RFC 3834), then the body's MIME headers.
//!
//! Defends against loops: every system message has the null envelope sender, so nothing
//! bounces back to us and no DSN is ever written about a system message (the scheduler
//! never reports to the null sender); copies go straight to the spool, never through the
//! mailer again, so a copy is never copied; an external postmaster that is already a
//! recipient gets no second message. Header injection: CR and LF from any caller's text
//! are replaced before they reach a header.

use std::sync::Arc;

use base64::Engine as _;
use postern_core::event::now_ms;
use postern_core::system_mail::Postmaster;
use postern_core::{
    Address, BodyType, BoxFuture, ClientInfo, Enqueue, Envelope, Live, Owner, QueueId, Recipient, Reply, SystemMail,
    SystemMailKind, SystemMailer,
};

/// Longest subject kept, in characters (before encoding).
const MAX_SUBJECT: usize = 200;

/// Composes system mail and spools it through any [`Enqueue`]; cheap to clone. The queue
/// manager keeps one (for DSNs) and [`SpoolMailer`] wraps one for everyone else, so both
/// read the same [`Postmaster`] settings, which a reload replaces.
#[derive(Clone)]
pub struct SystemMailWriter {
    hostname: String,
    postmaster: Arc<Live<Postmaster>>,
}

impl SystemMailWriter {
    pub fn new(hostname: impl Into<String>, postmaster: Arc<Live<Postmaster>>) -> SystemMailWriter {
        SystemMailWriter { hostname: hostname.into(), postmaster }
    }

    /// The settings in use (replace them with `.store(...)` to reconfigure).
    pub fn postmaster(&self) -> &Arc<Live<Postmaster>> {
        &self.postmaster
    }

    /// Spools `mail` to its recipients, then its copy to the external postmasters. The
    /// answer is the first message's: a copy that cannot be spooled is logged, and the
    /// message itself stays queued.
    pub async fn send(&self, spool: &dyn Enqueue, mail: SystemMail, owner: Option<Owner>) -> Result<QueueId, Reply> {
        if mail.to.is_empty() {
            return Err(Reply::new(554, "5.5.1", "Error: a system message needs a recipient"));
        }
        let postmaster = self.postmaster.load();
        let queue_id = QueueId::generate();
        let head = self.head(&postmaster, &mail, queue_id, now_ms());
        let copies = postmaster.copies_for(mail.kind, &mail.to);
        let to: Vec<String> = mail.to.iter().map(Address::to_string).collect();
        let first = envelope(queue_id, &mail, &mail.to, owner, head.len() + mail.body.len());
        if let Err(reply) = spool.enqueue(first, head.clone(), mail.body.clone()).await {
            tracing::error!(kind = mail.kind.name(), to = to.join(", ").as_str(), reply = %reply.summary(),
                "cannot queue system mail");
            return Err(reply);
        }
        tracing::info!(kind = mail.kind.name(), queue_id = %queue_id, to = to.join(", ").as_str(),
            from = %postmaster.address, "system mail queued");
        if copies.is_empty() {
            return Ok(queue_id);
        }
        let copy_id = QueueId::generate();
        let copy_to: Vec<String> = copies.iter().map(Address::to_string).collect();
        let copy = envelope(copy_id, &mail, &copies, None, head.len() + mail.body.len());
        match spool.enqueue(copy, head, mail.body).await {
            Ok(()) => tracing::info!(kind = mail.kind.name(), queue_id = %copy_id, copy_of = %queue_id,
                to = copy_to.join(", ").as_str(), "system mail copy to the external postmasters queued"),
            Err(reply) => tracing::error!(kind = mail.kind.name(), copy_of = %queue_id,
                to = copy_to.join(", ").as_str(), reply = %reply.summary(),
                "cannot queue the copy to the external postmasters"),
        }
        Ok(queue_id)
    }

    /// The header section, ending with the empty line before the body.
    fn head(&self, postmaster: &Postmaster, mail: &SystemMail, queue_id: QueueId, now: i64) -> Vec<u8> {
        let mut head = String::new();
        let from = format!("{} <{}>", display_name(&postmaster.name), postmaster.address);
        field(&mut head, "From", &from);
        let to: Vec<String> = mail.to.iter().map(|a| format!("<{a}>")).collect();
        // One address per line, so that many recipients never make an over-long line.
        field(&mut head, "To", &to.join(",\r\n "));
        field(&mut head, "Subject", &encode_words(&one_line(&mail.subject, MAX_SUBJECT)));
        field(&mut head, "Date", &crate::bounce::rfc5322_date(now));
        field(&mut head, "Message-ID", &format!("<{queue_id}.{}@{}>", mail.kind.name(), self.hostname));
        let auto = if mail.kind == SystemMailKind::Dsn { "auto-replied" } else { "auto-generated" };
        field(&mut head, "Auto-Submitted", auto);
        for mime in &mail.mime_headers {
            crate::bounce::push_mime_field(&mut head, &one_line(mime, 900));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// The [`SystemMailer`] every writer outside the queue manager is given: the writer and the
/// spool (the queue manager, so that the message is scheduled at once).
pub struct SpoolMailer {
    writer: SystemMailWriter,
    spool: Arc<dyn Enqueue>,
}

impl SpoolMailer {
    pub fn new(writer: SystemMailWriter, spool: Arc<dyn Enqueue>) -> SpoolMailer {
        SpoolMailer { writer, spool }
    }
}

impl SystemMailer for SpoolMailer {
    fn send(&self, mail: SystemMail) -> BoxFuture<'_, Result<QueueId, Reply>> {
        self.send_for(mail, None)
    }

    fn send_for(&self, mail: SystemMail, owner: Option<Owner>) -> BoxFuture<'_, Result<QueueId, Reply>> {
        Box::pin(async move { self.writer.send(self.spool.as_ref(), mail, owner).await })
    }
}

/// The envelope of a system message: the null sender, from the local host.
fn envelope(queue_id: QueueId, mail: &SystemMail, to: &[Address], owner: Option<Owner>, size: usize) -> Envelope {
    Envelope {
        queue_id,
        received_at_ms: now_ms(),
        sender: None,
        recipients: to.iter().map(|a| Recipient { address: a.clone(), notify: None, orcpt: None }).collect(),
        body: BodyType::EightBitMime,
        smtputf8: to.iter().chain(&mail.to).any(Address::is_utf8),
        ret: None,
        envid: None,
        client: ClientInfo {
            ip: std::net::IpAddr::from([127, 0, 0, 1]),
            port: 0,
            listener: mail.kind.name().into(),
            helo: None,
            tls: None,
        },
        size: size as u64,
        owner,
    }
}

fn field(head: &mut String, name: &str, value: &str) {
    head.push_str(name);
    head.push_str(": ");
    head.push_str(value);
    head.push_str("\r\n");
}

/// Control characters (CR and LF included) become spaces; at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect()
}

/// A display name as an RFC 5322 phrase: atoms as they are, a quoted string when it has
/// specials, RFC 2047 encoded words when it is not ASCII.
fn display_name(name: &str) -> String {
    let name = one_line(name, 100);
    if !name.is_ascii() {
        return encode_words(&name);
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~ ".contains(c);
    if name.chars().all(atext) && !name.trim().is_empty() {
        name
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// ASCII text as it is; other text as RFC 2047 `B` encoded words of UTF-8, each at most
/// 75 characters and never splitting a character, separated by folding white space.
fn encode_words(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    // 75 - len("=?utf-8?B?") - len("?=") = 63 base64 characters: 45 bytes of text.
    const MAX_BYTES: usize = 45;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > MAX_BYTES {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    let encoded: Vec<String> = words
        .iter()
        .map(|w| format!("=?utf-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w.as_bytes())))
        .collect();
    encoded.join("\r\n ")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Keeps what is spooled.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(Envelope, Vec<u8>)>>);

    impl Enqueue for Recorder {
        fn enqueue(&self, envelope: Envelope, head: Vec<u8>, body: Vec<u8>) -> BoxFuture<'_, Result<(), Reply>> {
            let mut bytes = head;
            bytes.extend_from_slice(&body);
            self.0.lock().unwrap().push((envelope, bytes));
            Box::pin(async { Ok(()) })
        }
    }

    fn a(s: &str) -> Address {
        Address::parse(s, true).unwrap()
    }

    fn postmaster(external: &[&str], copies: Vec<SystemMailKind>) -> Arc<Live<Postmaster>> {
        Arc::new(Live::new(Postmaster {
            address: a("noreply@ops.example"),
            name: "Example Postmaster".into(),
            external: external.iter().map(|s| a(s)).collect(),
            copies,
        }))
    }

    fn mail(kind: SystemMailKind, subject: &str) -> SystemMail {
        SystemMail {
            kind,
            to: vec![a("alice@example.com")],
            subject: subject.into(),
            mime_headers: vec!["MIME-Version: 1.0".into(), "Content-Type: text/plain; charset=utf-8".into()],
            body: b"hello\r\n".to_vec(),
        }
    }

    fn owner() -> Owner {
        Owner {
            account_id: Some(7),
            account: "alice@example.com".into(),
            domain: Some("example.com".into()),
            identity: "<>".into(),
            auth_user: None,
        }
    }

    fn headers(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes).into_owned();
        text.split("\r\n\r\n").next().unwrap().to_string()
    }

    #[tokio::test]
    async fn headers_name_the_postmaster_and_the_envelope_has_the_null_sender() {
        let spool = Recorder::default();
        let writer = SystemMailWriter::new("gw.example", postmaster(&[], SystemMailKind::ALL.to_vec()));
        let owner = owner();
        let id = writer.send(&spool, mail(SystemMailKind::LockNotice, "Locked\r\nBcc: x@evil"), Some(owner.clone()));
        let id = id.await.unwrap();
        let sent = spool.0.lock().unwrap();
        assert_eq!(sent.len(), 1, "no external postmaster, no copy");
        let (envelope, bytes) = &sent[0];
        assert_eq!(envelope.queue_id, id);
        assert_eq!(envelope.sender, None, "the null sender: nothing bounces back");
        assert_eq!(envelope.recipients.len(), 1);
        assert_eq!(envelope.owner.as_ref(), Some(&owner));
        assert_eq!(envelope.size, bytes.len() as u64);
        let head = headers(bytes);
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "From: Example Postmaster <noreply@ops.example>");
        assert_eq!(lines[1], "To: <alice@example.com>");
        assert_eq!(lines[2], "Subject: Locked  Bcc: x@evil", "CR and LF never start a header");
        assert!(lines[3].starts_with("Date: ") && lines[3].ends_with(" +0000"), "{}", lines[3]);
        assert_eq!(lines[4], format!("Message-ID: <{id}.lock_notice@gw.example>"));
        assert_eq!(lines[5], "Auto-Submitted: auto-generated");
        assert_eq!(&lines[6..], ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]);
        assert!(bytes.ends_with(b"\r\n\r\nhello\r\n"));
    }

    #[tokio::test]
    async fn copies_go_to_the_external_postmasters_as_a_separate_message() {
        let spool = Recorder::default();
        let pm = postmaster(&["pm@ops.example", "alice@example.com", "noc@ops.example"], vec![SystemMailKind::Dsn]);
        let writer = SystemMailWriter::new("gw.example", pm);
        let owner = owner();
        let id = writer.send(&spool, mail(SystemMailKind::Dsn, "Undelivered"), Some(owner)).await.unwrap();
        let sent = spool.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        let (copy, copy_bytes) = &sent[1];
        assert_ne!(copy.queue_id, id);
        assert_eq!(copy.sender, None);
        let rcpts: Vec<String> = copy.recipients.iter().map(|r| r.address.to_string()).collect();
        assert_eq!(rcpts, ["pm@ops.example", "noc@ops.example"], "never twice to a recipient");
        assert_eq!(copy.owner, None, "a copy belongs to no tenant");
        assert_eq!(copy_bytes, &sent[0].1, "the same message");
        assert!(headers(copy_bytes).contains("\r\nAuto-Submitted: auto-replied\r\n"));
        // A kind that is not copied: one message only.
        writer.send(&spool, mail(SystemMailKind::LockNotice, "Locked"), None).await.unwrap();
        assert_eq!(spool.0.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_reload_changes_the_next_message() {
        let spool = Recorder::default();
        let pm = postmaster(&[], vec![]);
        let writer = SystemMailWriter::new("gw.example", Arc::clone(&pm));
        pm.store(Postmaster::for_host("gw.example"));
        writer.send(&spool, mail(SystemMailKind::AbuseReport, "Report"), None).await.unwrap();
        let head = headers(&spool.0.lock().unwrap()[0].1);
        assert!(head.starts_with("From: Mail Delivery System <postmaster@gw.example>\r\n"), "{head}");
    }

    #[tokio::test]
    async fn no_recipient_is_an_error() {
        let spool = Recorder::default();
        let writer = SystemMailWriter::new("gw.example", postmaster(&["pm@ops.example"], SystemMailKind::ALL.to_vec()));
        let mut m = mail(SystemMailKind::LockNotice, "x");
        m.to.clear();
        assert!(writer.send(&spool, m, None).await.is_err());
        assert!(spool.0.lock().unwrap().is_empty());
    }

    #[test]
    fn non_ascii_subjects_and_names_are_encoded_words() {
        let subject = "Gesperrt: Ihr Konto für den Versand – bitte melden Sie sich beim Administrator";
        let encoded = encode_words(subject);
        let words: Vec<&str> = encoded.split("\r\n ").collect();
        assert!(words.len() > 1);
        let mut decoded = Vec::new();
        for w in &words {
            assert!(w.len() <= 75 && w.starts_with("=?utf-8?B?") && w.ends_with("?="), "{w}");
            let inner = &w[10..w.len() - 2];
            let bytes = base64::engine::general_purpose::STANDARD.decode(inner).unwrap();
            assert!(std::str::from_utf8(&bytes).is_ok(), "no character split");
            decoded.extend(bytes);
        }
        assert_eq!(String::from_utf8(decoded).unwrap(), subject);
        assert_eq!(encode_words("plain"), "plain");
        assert_eq!(display_name("Mail Delivery System"), "Mail Delivery System");
        assert_eq!(display_name("Ops, Inc. \"NOC\""), "\"Ops, Inc. \\\"NOC\\\"\"");
        assert!(display_name("Postmeister Müller").starts_with("=?utf-8?B?"));
    }
}
