//! Training files: one message (eml) or an mbox of many, split into messages.
//!
//! In: the file's bytes. Out: the messages in it, in order, borrowed where nothing had to be
//! changed. A file is an mbox when its first line starts with `From ` (the mboxrd / mboxo
//! separator); each such line at the start of a line begins a new message and is not part
//! of it, and `>From `, `>>From `, ... lines lose one `>` (mboxrd unquoting). Anything else
//! is one message, as it is. CRLF and LF line ends are both accepted and kept.
//!
//! Defends against: files with more than [`MAX_MESSAGES`] messages (an error naming the
//! limit, nothing returned), empty messages between separators (skipped), and a file that
//! is empty or holds only separators (no messages; the caller says so).

use std::borrow::Cow;

/// The most messages one training file may hold.
pub const MAX_MESSAGES: usize = 20_000;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("the file holds more than {MAX_MESSAGES} messages")]
    TooManyMessages,
}

/// Whether `file` is an mbox (its first line is a `From ` separator).
pub fn is_mbox(file: &[u8]) -> bool {
    file.starts_with(b"From ")
}

/// The messages of a training file: the file itself, or the messages of an mbox.
pub fn split(file: &[u8]) -> Result<Vec<Cow<'_, [u8]>>, SplitError> {
    if !is_mbox(file) {
        return Ok(if is_blank(file) { Vec::new() } else { vec![Cow::Borrowed(file)] });
    }
    let mut messages = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset = 0;
    for line in file.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(s) = start {
                push(&mut messages, &file[s..offset])?;
            }
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    if let Some(s) = start {
        push(&mut messages, &file[s..])?;
    }
    Ok(messages)
}

fn push<'a>(messages: &mut Vec<Cow<'a, [u8]>>, raw: &'a [u8]) -> Result<(), SplitError> {
    if is_blank(raw) {
        return Ok(());
    }
    if messages.len() >= MAX_MESSAGES {
        return Err(SplitError::TooManyMessages);
    }
    messages.push(unquote(raw));
    Ok(())
}

fn is_blank(raw: &[u8]) -> bool {
    raw.iter().all(u8::is_ascii_whitespace)
}

/// Removes one `>` from every `>...>From ` line.
fn unquote(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.split_inclusive(|&b| b == b'\n').any(is_quoted_from) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(if is_quoted_from(line) { &line[1..] } else { line });
    }
    Cow::Owned(out)
}

fn is_quoted_from(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    quotes > 0 && line[quotes..].starts_with(b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(file: &[u8]) -> Vec<String> {
        split(file).unwrap().iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect()
    }

    #[test]
    fn a_plain_message_is_one_message() {
        assert_eq!(texts(b"Subject: hi\r\n\r\nFrom here on\r\n"), ["Subject: hi\r\n\r\nFrom here on\r\n"]);
    }

    #[test]
    fn an_mbox_splits_at_from_lines_and_unquotes() {
        let file = b"From a@example.com Sat Jan  3 01:05:34 1996\nSubject: one\n\n>From the start\n>>From deeper\n> From not quoted\n\nFrom b@example.com Sat Jan  3 01:05:35 1996\r\nSubject: two\r\n\r\nbody\r\n";
        assert_eq!(
            texts(file),
            ["Subject: one\n\nFrom the start\n>From deeper\n> From not quoted\n\n", "Subject: two\r\n\r\nbody\r\n"]
        );
    }

    #[test]
    fn empty_messages_and_files_give_nothing() {
        assert!(texts(b"").is_empty());
        assert!(texts(b"From x\nFrom y\n\n").is_empty());
        assert_eq!(texts(b"From x\n\nFrom y\nSubject: z\n"), ["Subject: z\n"]);
    }

    #[test]
    fn too_many_messages_are_refused() {
        let file = "From x\nSubject: s\n\n".repeat(MAX_MESSAGES + 1);
        assert_eq!(split(file.as_bytes()).unwrap_err(), SplitError::TooManyMessages);
        let file = "From x\nSubject: s\n\n".repeat(MAX_MESSAGES);
        assert_eq!(split(file.as_bytes()).unwrap().len(), MAX_MESSAGES);
    }
}
