//! The scorer's view of one message: what the rules and the classifier look at, decoded
//! from MIME by `mail-parser` (every transfer encoding, every charset it knows).
//!
//! In: the message as received, or its parse when the pipeline's content checks already made
//! it ([`MessageView::from_parsed`]). Out: a [`MessageView`] — subject, From/Reply-To, the
//! number of To/Cc addresses, the decoded plain text, the text and links of the HTML
//! parts, hidden HTML text, what the parts were and how they were encoded.
//!
//! Defends against hostile MIME with bounds, never by trusting the message: only the first
//! [`Bounds::message_bytes`] are parsed (a 50 MB message costs what its first megabytes
//! cost; a parse made by others is used only for a message within that bound), at most
//! [`Bounds::parts`] parts are walked, at most [`Bounds::text_bytes`] of decoded text and
//! HTML are examined, and attached messages are not descended into.
//! `mail-parser` walks nesting with its own stack (no recursion on the message's depth)
//! and returns what it can of broken encodings; a message it cannot parse at all becomes
//! an empty view (the rules and the classifier then see nothing to score).

use mail_parser::{Encoding, HeaderName, Message, MessageParser, MimeHeaders, PartType};

use crate::html::{self, Link};

/// How much of a message is examined.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Bytes of the raw message parsed.
    pub message_bytes: usize,
    /// MIME parts walked.
    pub parts: usize,
    /// Bytes of decoded plain text kept, and again of HTML.
    pub text_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds { message_bytes: 1 << 20, parts: 256, text_bytes: 256 << 10 }
    }
}

/// An address of a header: the display name and the address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mailbox {
    pub name: String,
    pub address: String,
}

impl Mailbox {
    /// The domain of the address, lower case; empty when there is none.
    pub fn domain(&self) -> String {
        self.address.rsplit_once('@').map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct MessageView {
    pub subject: String,
    pub from: Option<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    /// Addresses in To and Cc together.
    pub to_cc: usize,
    /// The first word of X-Mailer or User-Agent, lower case.
    pub mailer: String,
    /// Charsets declared by the text parts, lower case.
    pub charsets: Vec<String>,
    /// The decoded text/plain parts, joined.
    pub text: String,
    /// The visible text of the text/html parts.
    pub html_text: String,
    /// Characters of HTML text a reader does not see (display:none, font-size:0, ...).
    pub hidden_chars: usize,
    pub links: Vec<Link>,
    pub images: usize,
    pub has_plain: bool,
    pub has_html: bool,
    /// Text parts (plain or HTML) sent base64-encoded.
    pub base64_text_parts: usize,
    pub attachments: Vec<String>,
    /// Parts walked; `truncated` when a bound cut the walk or the text short.
    pub parts: usize,
    pub truncated: bool,
    /// The message did not parse as a message at all.
    pub unparsable: bool,
    /// Distinct known spam phrases in the text (filled by [`crate::phrases::Phrases`]).
    pub spam_phrases: usize,
    /// A spam word disguised with digits, symbols or separators (filled likewise).
    pub obfuscated: bool,
}

impl MessageView {
    pub fn parse(message: &[u8]) -> MessageView {
        MessageView::parse_bounded(message, Bounds::default())
    }

    /// The view of the first [`Bounds::message_bytes`] of `message` (`truncated` when there
    /// was more).
    pub fn parse_bounded(message: &[u8], bounds: Bounds) -> MessageView {
        let raw = &message[..message.len().min(bounds.message_bytes)];
        let mut view = MessageView::from_parsed(MessageParser::default().parse(raw).as_ref(), bounds);
        view.truncated |= message.len() > bounds.message_bytes;
        view
    }

    /// The view of a message parsed by someone else (the pipeline's shared parse; `None`: it
    /// did not parse at all, an `unparsable` view). The caller keeps to
    /// [`Bounds::message_bytes`]: a longer message is for [`MessageView::parse_bounded`].
    pub fn from_parsed(parsed: Option<&Message<'_>>, bounds: Bounds) -> MessageView {
        let mut view = MessageView::default();
        let Some(parsed) = parsed else {
            view.unparsable = true;
            return view;
        };
        view.subject = parsed.subject().map(|s| bounded(s, 1024)).unwrap_or_default();
        view.from = parsed.from().and_then(|a| a.first()).map(mailbox);
        view.reply_to = parsed.reply_to().map(|a| a.iter().take(16).map(mailbox).collect()).unwrap_or_default();
        view.to_cc = parsed.to().map_or(0, |a| a.iter().count()) + parsed.cc().map_or(0, |a| a.iter().count());
        let mailer = parsed
            .header(HeaderName::Other("X-Mailer".into()))
            .or_else(|| parsed.header(HeaderName::Other("User-Agent".into())))
            .and_then(|h| h.as_text());
        view.mailer = mailer
            .and_then(|m| m.split(|c: char| !c.is_ascii_alphanumeric()).find(|w| !w.is_empty()))
            .map(|w| bounded(&w.to_ascii_lowercase(), 32))
            .unwrap_or_default();
        let mut html_source = String::new();
        for part in parsed.parts.iter() {
            if view.parts >= bounds.parts {
                view.truncated = true;
                break;
            }
            view.parts += 1;
            let attachment = part.content_disposition().is_some_and(|d| d.is_attachment());
            let base64 = part.encoding == Encoding::Base64
                || part.content_transfer_encoding().is_some_and(|e| e.trim().eq_ignore_ascii_case("base64"));
            if let Some(charset) = part.content_type().and_then(|ct| ct.attribute("charset"))
                && view.charsets.len() < 8
            {
                let charset = bounded(&charset.to_ascii_lowercase(), 32);
                if !view.charsets.contains(&charset) {
                    view.charsets.push(charset);
                }
            }
            match &part.body {
                PartType::Text(text) if !attachment => {
                    view.has_plain |= !text.trim().is_empty();
                    view.base64_text_parts += usize::from(base64);
                    view.truncated |= append(&mut view.text, text, bounds.text_bytes);
                }
                PartType::Html(text) if !attachment => {
                    view.has_html = true;
                    view.base64_text_parts += usize::from(base64);
                    view.truncated |= append(&mut html_source, text, bounds.text_bytes);
                }
                PartType::Multipart(_) => {}
                _ => {
                    if view.attachments.len() < 64 {
                        let name = part.attachment_name().unwrap_or("");
                        let ct = part
                            .content_type()
                            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")))
                            .unwrap_or_default();
                        view.attachments.push(bounded(&format!("{} {}", ct.to_ascii_lowercase(), name), 128));
                    }
                }
            }
        }
        let html = html::read(&html_source);
        view.html_text = html.text;
        view.hidden_chars = html.hidden_chars;
        view.links = html.links;
        view.images = html.images;
        view
    }

    /// Every text a reader sees (and the hidden text too: it is what the sender wrote).
    pub fn all_text(&self) -> impl Iterator<Item = &str> {
        [self.subject.as_str(), self.text.as_str(), self.html_text.as_str()].into_iter()
    }
}

fn mailbox(addr: &mail_parser::Addr<'_>) -> Mailbox {
    Mailbox {
        name: addr.name().map(|n| bounded(n, 256)).unwrap_or_default(),
        address: addr.address().map(|a| bounded(a, 256)).unwrap_or_default(),
    }
}

/// Appends `text` to `out` up to `limit` bytes in all; true when something was cut.
fn append(out: &mut String, text: &str, limit: usize) -> bool {
    let room = limit.saturating_sub(out.len());
    if room == 0 {
        return !text.is_empty();
    }
    if !out.is_empty() {
        out.push('\n');
    }
    let taken = floor_char_boundary(text, room);
    out.push_str(&text[..taken]);
    taken < text.len()
}

fn bounded(text: &str, limit: usize) -> String {
    text[..floor_char_boundary(text, limit)].to_string()
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    let mut i = at;
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}
