//! [`Parsed`]: one MIME parse of a message, shared by the content checks that read MIME (the
//! built-in scorer and the attachment checks), made by whichever asks first.
//!
//! In: the message as received, from inside a blocking task (parsing is CPU work: it decodes
//! every base64 part). Out: the `mail-parser` [`Message`] (owned, behind an [`Arc`]), or
//! `None` when the message does not parse as one; the same for every later caller.
//!
//! Defends against paying for the same decoding twice per message (each check parsing on
//! its own decoded every attachment once more), without making anyone pay for a parse
//! nobody wants: nothing is parsed until a check asks (the Rspamd, SpamAssassin and ClamAV
//! engines never do). The pipeline lets go of the parse after the last check that declares
//! it reads it ([`Scanner::shares_parse`](crate::Scanner::shares_parse)), so that it is not
//! held in memory while the later engines wait on the network; a check that asks afterwards
//! still gets a parse, made again.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mail_parser::{Message, MessageParser};

/// One message's parse: `None` when the message did not parse at all.
pub type Parse = Option<Arc<Message<'static>>>;

/// The lazily parsed message of one pass through the content checks (one per message, in
/// [`ScanInput::parsed`](crate::ScanInput::parsed)).
#[derive(Default)]
pub struct Parsed {
    /// `None`: not parsed yet (or let go of). Held for a moment only, never during a
    /// parse: the pipeline's task looks at it without waiting on a blocking thread.
    slot: Mutex<Option<Parse>>,
    /// Held during a parse: callers at the same time wait for the one parse.
    parsing: Mutex<()>,
}

impl Parsed {
    pub fn new() -> Parsed {
        Parsed::default()
    }

    /// The parse of `message` (the message this value belongs to), made on the first call:
    /// blocking, call it from a blocking task only. A parse that panics leaves nothing
    /// behind (the next caller tries again, as it would have on its own).
    pub fn get(&self, message: &[u8]) -> Parse {
        let _parsing = self.parsing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(parse) = self.made() {
            return parse;
        }
        let parse = MessageParser::default().parse(message).map(|m| Arc::new(m.into_owned()));
        *self.slot() = Some(parse.clone());
        parse
    }

    /// Whether the parse is there (made and not let go of).
    pub fn is_parsed(&self) -> bool {
        self.slot().is_some()
    }

    /// What a blocking task takes along to reach the parse of `message`: the parse itself
    /// when it is already made, else a copy of the message to make it from (the task cannot
    /// borrow the message).
    pub fn handle(self: &Arc<Parsed>, message: &[u8]) -> ParseHandle {
        match self.made() {
            Some(parse) => ParseHandle::Made(parse),
            None => ParseHandle::ToMake { parsed: Arc::clone(self), message: message.to_vec() },
        }
    }

    /// Lets go of the parse (the pipeline, after the last check that reads it).
    pub(crate) fn release(&self) {
        self.slot().take();
    }

    fn made(&self) -> Option<Parse> {
        self.slot().clone()
    }

    fn slot(&self) -> MutexGuard<'_, Option<Parse>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The way to the shared parse from a blocking task ([`Parsed::handle`]).
pub enum ParseHandle {
    Made(Parse),
    ToMake { parsed: Arc<Parsed>, message: Vec<u8> },
}

impl ParseHandle {
    /// The parse, made now when no check made it before (blocking).
    pub fn get(&self) -> Parse {
        match self {
            ParseHandle::Made(parse) => parse.clone(),
            ParseHandle::ToMake { parsed, message } => parsed.get(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] =
        b"From: a@example.com\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--B--\r\n";

    #[test]
    fn the_first_caller_parses_and_the_others_share_it() {
        let parsed = Arc::new(Parsed::new());
        assert!(!parsed.is_parsed(), "nothing is parsed before a check asks");
        let first = parsed.handle(MESSAGE);
        assert!(matches!(first, ParseHandle::ToMake { .. }));
        let a = first.get().expect("parses");
        let second = parsed.handle(MESSAGE);
        assert!(matches!(second, ParseHandle::Made(_)), "no copy of the message once parsed");
        let b = second.get().expect("parses");
        assert!(Arc::ptr_eq(&a, &b), "one parse");
        assert_eq!(a.attachments.len(), 1);
        assert_eq!(a.subject(), Some("hi"));
        // The parse owns its bytes: the part offsets still point into the raw message.
        let part = &a.parts[a.attachments[0] as usize];
        assert!(a.raw_message[part.offset_body as usize..part.offset_end as usize].starts_with(b"aGVsbG8="));
    }

    #[test]
    fn an_unparsable_message_is_parsed_once_too() {
        let parsed = Arc::new(Parsed::new());
        assert!(parsed.get(b"").is_none());
        assert!(parsed.is_parsed());
        assert!(matches!(parsed.handle(b""), ParseHandle::Made(None)));
    }

    #[test]
    fn a_released_parse_is_made_again_on_demand() {
        let parsed = Arc::new(Parsed::new());
        let a = parsed.get(MESSAGE).expect("parses");
        parsed.release();
        assert!(!parsed.is_parsed());
        let b = parsed.handle(MESSAGE).get().expect("parses");
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(a.parts.len(), b.parts.len());
    }
}
