//! The archive's index and copies where every node of a cluster reaches them: the
//! [`ArchiveStore`] trait (PostgreSQL implements it: `postgres/archive.rs`), and the types
//! both archive backends share: a copy's row ([`ArchivedEntry`]), a search
//! ([`ArchiveFilter`]) with its checks, and the words of a full-text search
//! ([`text_terms`]).
//!
//! A single node keeps its archive in files and an SQLite index of its own
//! (`postern_archive`); a cluster's nodes keep rows and gzip copies here, so that an export
//! at any node holds every node's messages and no copy lives only on a node that can
//! vanish. Blocking, as every store trait.
//!
//! In: rows, the text to index and the gzip copy from the archive's write path; filters
//! already checked by [`ArchiveFilter::check`], with the caller's scope. Out: rows, gzip
//! copies (checked against their SHA-256 by the caller), purge counts.
//!
//! Defends against: search words that would be query syntax (a backend gets
//! [`TextTerm`]s, never the caller's text), unbounded input (lengths and word counts are
//! checked before any backend sees them), and diacritics and case making two spellings of
//! a word differ ([`fold`], applied to what is indexed and to what is searched).

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::Result;
use crate::directory::{Page, Paged};

/// The longest value of a filter field.
pub const LONGEST_VALUE: usize = 998;
/// The most words in a `text` search.
pub const MOST_TERMS: usize = 16;
/// The longest word in a `text` search.
pub const LONGEST_TERM: usize = 128;

/// One archived copy as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ArchivedEntry {
    pub id: i64,
    pub queue_id: String,
    /// When Postern received the message (Unix ms); retention counts from here.
    pub received_at_ms: i64,
    pub account_id: i64,
    pub account: String,
    /// The account's domain.
    pub domain: String,
    pub identity: String,
    /// The envelope sender (`""` for `<>`).
    pub sender: String,
    pub sender_domain: Option<String>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub message_id: Option<String>,
    /// Octets of the message as delivered (uncompressed).
    pub size: u64,
    /// SHA-256 of the message as delivered, lower-case hex.
    pub sha256: String,
    /// Where the copy is: a file relative to the node's archive directory, or
    /// [`SHARED_COPY`] when the copies are in the shared store.
    pub file: String,
}

/// [`ArchivedEntry::file`] of a copy kept in the shared store.
pub const SHARED_COPY: &str = "postgres:archive_bodies";

/// What to look for; every field set must match (AND). Text matches are case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveFilter {
    /// The account's domain or the sender's domain (a message is found under both).
    pub domain: Option<String>,
    /// The account's name, exactly.
    pub account: Option<String>,
    pub account_id: Option<i64>,
    /// Part of the identity.
    pub identity: Option<String>,
    /// Part of the envelope sender.
    pub sender: Option<String>,
    /// Part of a recipient.
    pub recipient: Option<String>,
    /// Part of the subject.
    pub subject: Option<String>,
    /// The Message-ID, with or without its angle brackets.
    pub message_id: Option<String>,
    pub queue_id: Option<String>,
    /// Words in the subject or the text body (all of them; `word*` for a prefix).
    pub text: Option<String>,
    /// Received at or after (Unix ms).
    pub since_ms: Option<i64>,
    /// Received before (Unix ms).
    pub until_ms: Option<i64>,
}

/// A search the archive refuses: `field` names the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadArchiveQuery {
    pub field: &'static str,
    pub reason: String,
}

fn bad(field: &'static str, reason: impl Into<String>) -> BadArchiveQuery {
    BadArchiveQuery { field, reason: reason.into() }
}

impl ArchiveFilter {
    /// Checks lengths, the time range and the words of `text`, before any backend runs it.
    pub fn check(&self) -> std::result::Result<(), BadArchiveQuery> {
        let fields: [(&'static str, &Option<String>); 9] = [
            ("domain", &self.domain),
            ("account", &self.account),
            ("identity", &self.identity),
            ("sender", &self.sender),
            ("recipient", &self.recipient),
            ("subject", &self.subject),
            ("message_id", &self.message_id),
            ("queue_id", &self.queue_id),
            ("text", &self.text),
        ];
        for (field, value) in fields {
            if value.as_ref().is_some_and(|v| v.chars().count() > LONGEST_VALUE) {
                return Err(bad(field, format!("at most {LONGEST_VALUE} characters")));
            }
        }
        if let (Some(since), Some(until)) = (self.since_ms, self.until_ms)
            && since > until
        {
            return Err(bad("since", "since is after until"));
        }
        if let Some(text) = &self.text {
            text_terms(text)?;
        }
        Ok(())
    }

    /// The domain to match, as stored: trimmed, without a final dot, lower case.
    pub fn domain_key(&self) -> Option<String> {
        self.domain.as_ref().map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
    }

    /// The Message-ID's two stored spellings: with and without its angle brackets.
    pub fn message_id_keys(&self) -> Option<[String; 2]> {
        self.message_id.as_ref().map(|id| {
            let bare = id.trim().trim_start_matches('<').trim_end_matches('>').to_string();
            [format!("<{bare}>"), bare]
        })
    }

    /// The queue id as stored (upper case).
    pub fn queue_id_key(&self) -> Option<String> {
        self.queue_id.as_ref().map(|q| q.trim().to_ascii_uppercase())
    }
}

/// One word of a full-text search: plain text (never syntax), and whether it is a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTerm {
    pub word: String,
    pub prefix: bool,
}

/// The words of a `text` search: at most [`MOST_TERMS`], each at most [`LONGEST_TERM`]
/// characters; `word*` is a prefix; words without a letter or digit are dropped; at least
/// one must be left.
pub fn text_terms(input: &str) -> std::result::Result<Vec<TextTerm>, BadArchiveQuery> {
    let words: Vec<&str> = input.split_whitespace().collect();
    if words.len() > MOST_TERMS {
        return Err(bad("text", format!("at most {MOST_TERMS} words")));
    }
    let mut terms = Vec::new();
    for word in words {
        if word.chars().count() > LONGEST_TERM {
            return Err(bad("text", format!("a word has at most {LONGEST_TERM} characters")));
        }
        let core = word.trim_end_matches('*');
        if !core.chars().any(char::is_alphanumeric) {
            continue;
        }
        terms.push(TextTerm { word: core.to_string(), prefix: core.len() < word.len() });
    }
    if terms.is_empty() {
        return Err(bad("text", "give at least one word (letters or digits) to search for"));
    }
    Ok(terms)
}

/// Text as the shared full-text index sees it: lower case, diacritics removed (`Café` is
/// `cafe`), every character that is not a letter or a digit a space, so that words are
/// what SQLite's `unicode61 remove_diacritics 2` tokenizer makes of them on one node
/// (`alice@a.example` is three words on both backends).
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect()
}

/// What a purge batch removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivePurged {
    /// Rows removed with their copy.
    pub removed: u64,
    /// Rows removed whose copy was already gone.
    pub missing: u64,
    /// The account's name, from the rows.
    pub account: Option<String>,
}

/// The archive of a cluster: rows, their full-text words and their gzip copies in one
/// store every node reaches. Blocking.
pub trait ArchiveStore: Send + Sync + 'static {
    /// Stores a row (its `id` and `file` are ignored), the text its full-text search
    /// finds (subject and body), and the gzip copy, in one transaction: durable on return,
    /// or nothing is stored. Returns the row's id. Conflict: the queue id is archived.
    fn archive_insert(&self, entry: &ArchivedEntry, text: &str, gzip: &[u8]) -> Result<i64>;
    fn archived(&self, id: i64) -> Result<Option<ArchivedEntry>>;
    /// The gzip copy of row `id`: `Ok(None)` when it is missing; more than `max` octets
    /// is an error, not read.
    fn archived_copy(&self, id: i64, max: u64) -> Result<Option<Vec<u8>>>;
    /// Whether row `id` has its copy.
    fn archived_copy_present(&self, id: i64) -> Result<bool>;
    /// One page of the rows matching `filter` (checked) that `scope` may see (`None`: all;
    /// else rows whose account domain or sender domain is listed), newest first.
    fn archive_search(
        &self,
        filter: &ArchiveFilter,
        scope: Option<&[String]>,
        page: Page,
    ) -> Result<Paged<ArchivedEntry>>;
    fn archive_count(&self, filter: &ArchiveFilter, scope: Option<&[String]>) -> Result<u64>;
    /// At most `size` matching rows newest first, after `(received_at_ms, id)` when given
    /// (keyset paging for exports).
    fn archive_page(
        &self,
        filter: &ArchiveFilter,
        scope: Option<&[String]>,
        after: Option<(i64, i64)>,
        size: u32,
    ) -> Result<Vec<ArchivedEntry>>;
    /// Ids after `after` in order, at most `limit`, each with whether its copy is there.
    fn archive_copies_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, bool)>>;
    /// The smallest account id above `after` with archived rows.
    fn archive_next_account(&self, after: i64) -> Result<Option<i64>>;
    /// How many of the account's rows were received before `before_ms`, and its name.
    fn archive_count_before(&self, account_id: i64, before_ms: i64) -> Result<(u64, Option<String>)>;
    /// Removes the account's oldest `batch` rows received before `before_ms`, with their
    /// copies, in one transaction.
    fn archive_purge_batch(&self, account_id: i64, before_ms: i64, batch: u32) -> Result<ArchivePurged>;
    /// Takes the purge for `lease_ms` if no node holds it at `now_ms`: `true` for the one
    /// node that runs the purge; the others skip it.
    fn claim_archive_purge(&self, now_ms: i64, lease_ms: i64) -> Result<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_words_never_syntax() {
        let t = text_terms("inv* a\"b OR").unwrap();
        assert_eq!(t[0], TextTerm { word: "inv".into(), prefix: true });
        assert_eq!(t[1], TextTerm { word: "a\"b".into(), prefix: false });
        assert_eq!(t.len(), 3);
        for bad in ["", "  ", "\" ( ) * -", &"w ".repeat(17), &"x".repeat(129)] {
            assert_eq!(text_terms(bad).unwrap_err().field, "text", "{bad:?}");
        }
    }

    #[test]
    fn folding_removes_case_and_diacritics() {
        assert_eq!(fold("Résumé CAFÉ naïve"), "resume cafe naive");
        assert_eq!(fold("alice@a.example"), "alice a example");
    }

    #[test]
    fn filters_are_checked() {
        let backwards = ArchiveFilter { since_ms: Some(10), until_ms: Some(5), ..ArchiveFilter::default() };
        assert_eq!(backwards.check().unwrap_err().field, "since");
        let long = ArchiveFilter { subject: Some("s".repeat(999)), ..ArchiveFilter::default() };
        assert_eq!(long.check().unwrap_err().field, "subject");
        let text = ArchiveFilter { text: Some("( )".into()), ..ArchiveFilter::default() };
        assert_eq!(text.check().unwrap_err().field, "text");
    }
}
