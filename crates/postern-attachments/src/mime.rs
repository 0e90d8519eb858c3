//! The MIME walk: every attachment of a message, decoded (base64, quoted-printable, any
//! transfer encoding `mail-parser` knows), and every attached message (`message/rfc822`)
//! walked in turn as a container.
//!
//! In: a message's bytes, or its parse ([`Walk::parsed`]: the message itself, parsed once
//! for the pipeline's content checks). Out: a [`Step`]. What is looked at: every part
//! `mail-parser` counts as an attachment (binary parts, text parts that are not the
//! message's body, attached messages). A text attachment is decoded again from its raw
//! bytes: the parser's text went through a charset decoder, which would mangle an
//! executable or a zip sent as `text/plain`. The message's own body text is not an
//! attachment and is not judged.

use std::borrow::Cow;
use std::ops::ControlFlow;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessageParser, MimeHeaders, PartType};

use crate::path::PartPath;
use crate::walk::{Content, Step, Walk};

impl Walk<'_> {
    /// Walks the message `raw` (an attached message at `depth`, or the message itself at 0).
    pub fn message(&mut self, raw: &[u8], path: &PartPath, depth: usize) -> Step {
        let Some(message) = MessageParser::default().parse(raw) else { return ControlFlow::Continue(()) };
        self.parts(&message, path, depth)
    }

    /// Walks a message already parsed (the pipeline's shared parse of the message itself).
    pub fn parsed(&mut self, message: &Message<'_>, path: &PartPath, depth: usize) -> Step {
        self.parts(message, path, depth)
    }

    fn parts(&mut self, message: &Message<'_>, path: &PartPath, depth: usize) -> Step {
        let mut attachment = vec![false; message.parts.len()];
        for &id in &message.attachments {
            if let Some(a) = attachment.get_mut(id as usize) {
                *a = true;
            }
        }
        for (id, part) in message.parts.iter().enumerate() {
            if !attachment[id] {
                continue;
            }
            let name = part.attachment_name().unwrap_or("");
            let child = path.child(if name.is_empty() { default_name(part) } else { name });
            match &part.body {
                PartType::Message(inner) => {
                    let depth = self.enter(&child, depth)?;
                    self.parts(inner, &child, depth)?;
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) if is_message(part) => {
                    // Nested deeper than the parser follows encoded messages: our own depth decides.
                    let depth = self.enter(&child, depth)?;
                    self.message(bytes, &child, depth)?;
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                    self.file(&child, name, &Content::whole(bytes), depth, true)?;
                }
                PartType::Text(text) | PartType::Html(text) => {
                    let bytes = raw_body(message, part).unwrap_or(Cow::Borrowed(text.as_bytes()));
                    self.file(&child, name, &Content::whole(&bytes), depth, true)?;
                }
                PartType::Multipart(_) => {}
            }
        }
        ControlFlow::Continue(())
    }
}

fn is_message(part: &mail_parser::MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("message")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("rfc822") || s.eq_ignore_ascii_case("global"))
    })
}

fn default_name(part: &mail_parser::MessagePart<'_>) -> &'static str {
    match part.body {
        PartType::Message(_) => "attached message",
        _ => "unnamed",
    }
}

/// A part's body decoded from the raw message, before any charset conversion.
fn raw_body<'m>(message: &'m Message<'_>, part: &mail_parser::MessagePart<'_>) -> Option<Cow<'m, [u8]>> {
    let raw = message.raw_message.get(part.offset_body as usize..part.offset_end as usize)?;
    match part.encoding {
        Encoding::Base64 => base64_decode(raw).map(Cow::Owned),
        Encoding::QuotedPrintable => quoted_printable_decode(raw).map(Cow::Owned),
        Encoding::None => Some(Cow::Borrowed(raw)),
    }
}
