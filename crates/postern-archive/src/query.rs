//! Searching the local SQLite index: a [`Filter`] and the caller's scope become a WHERE clause with
//! bound parameters; `text` becomes an FTS5 MATCH over subject and body.
//!
//! In: filter values from the admin API (already parsed), the domains a domain admin may
//! see. Out: SQL whose column names come only from this file, every caller value bound as
//! a parameter, and the FTS5 query string built by [`fts_query`].
//!
//! Defends against: FTS5 syntax injection (every term becomes a quoted string, `"` doubled;
//! operators, column filters, `NEAR` and parentheses in the input are plain words), queries
//! with nothing to search for (a clear error, never an SQLite syntax error reaching the
//! caller as a 500), and unbounded input (terms, lengths and pages are capped).

use postern_store::archive::text_terms;
use rusqlite::types::Value;

use crate::{ArchiveError, Filter, Result};

/// Conditions joined with AND, and their parameters in order.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    clauses: Vec<String>,
    pub params: Vec<Value>,
}

impl Conditions {
    fn push(&mut self, clause: impl Into<String>, params: impl IntoIterator<Item = Value>) {
        self.clauses.push(clause.into());
        self.params.extend(params);
    }

    /// A case-insensitive (ASCII) substring of `column`.
    fn contains(&mut self, column: &'static str, needle: &str) {
        self.push(format!("instr(lower({column}), ?) > 0"), [text(needle.to_ascii_lowercase())]);
    }

    /// Rows after `(ms, id)` in newest-first order (keyset paging for exports).
    pub fn before(&mut self, ms: i64, id: i64) {
        self.push(
            "(received_at_ms < ? OR (received_at_ms = ? AND id < ?))",
            [Value::Integer(ms), Value::Integer(ms), Value::Integer(id)],
        );
    }

    /// ` WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// The conditions of `filter` for a caller who may see `scope` (`None`: everything; a
/// domain admin: rows whose account domain or sender domain is one of its domains).
pub(crate) fn conditions(filter: &Filter, scope: Option<&[String]>) -> Result<Conditions> {
    filter.check().map_err(|b| bad(b.field, b.reason))?;
    let mut c = Conditions::default();
    match scope {
        None => {}
        Some([]) => c.push("0", []),
        Some(domains) => {
            let marks = vec!["?"; domains.len()].join(", ");
            let params = domains.iter().chain(domains).map(|d| text(d.clone()));
            c.push(format!("(domain IN ({marks}) OR sender_domain IN ({marks}))"), params);
        }
    }
    if let Some(domain) = filter.domain_key() {
        c.push("(domain = ? OR sender_domain = ?)", [text(domain.clone()), text(domain)]);
    }
    if let Some(account) = &filter.account {
        c.push("account = ?", [text(account.clone())]);
    }
    if let Some(id) = filter.account_id {
        c.push("account_id = ?", [Value::Integer(id)]);
    }
    for (column, value) in [
        ("identity", &filter.identity),
        ("sender", &filter.sender),
        ("recipients", &filter.recipient),
        ("subject", &filter.subject),
    ] {
        if let Some(value) = value {
            c.contains(column, value);
        }
    }
    if let Some([with, bare]) = filter.message_id_keys() {
        c.push("message_id IN (?, ?)", [text(with), text(bare)]);
    }
    if let Some(queue_id) = filter.queue_id_key() {
        c.push("queue_id = ?", [text(queue_id)]);
    }
    if let Some(words) = &filter.text {
        c.push("id IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ?)", [text(fts_query(words)?)]);
    }
    if let Some(since) = filter.since_ms {
        c.push("received_at_ms >= ?", [Value::Integer(since)]);
    }
    if let Some(until) = filter.until_ms {
        c.push("received_at_ms < ?", [Value::Integer(until)]);
    }
    Ok(c)
}

/// An SQLite error of a search: one the full-text engine raised about the query is the
/// caller's `text` (a 400), anything else the index's.
pub(crate) fn explain(e: rusqlite::Error) -> ArchiveError {
    match &e {
        rusqlite::Error::SqliteFailure(_, Some(message)) if message.contains("fts5") => {
            bad("text", "the words cannot be searched for; use letters and digits")
        }
        _ => ArchiveError::Index(e),
    }
}

fn bad(field: &'static str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::BadQuery { field, reason: reason.into() }
}

/// The FTS5 query for the words of `input` ([`text_terms`]: bounded, words without a
/// letter or digit dropped): each word a quoted string (so nothing in it is FTS5 syntax),
/// all of them required; a word ending in `*` matches as a prefix.
pub(crate) fn fts_query(input: &str) -> Result<String> {
    let terms = text_terms(input).map_err(|b| bad(b.field, b.reason))?;
    let quoted: Vec<String> = terms
        .iter()
        .map(|t| format!("\"{}\"{}", t.word.replace('"', "\"\""), if t.prefix { "*" } else { "" }))
        .collect();
    Ok(quoted.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_quoted_so_nothing_is_syntax() {
        assert_eq!(fts_query("invoice march").unwrap(), "\"invoice\" AND \"march\"");
        assert_eq!(fts_query("inv*").unwrap(), "\"inv\"*");
        assert_eq!(fts_query("a\"b OR c").unwrap(), "\"a\"\"b\" AND \"OR\" AND \"c\"");
        assert_eq!(fts_query("subject:x NEAR(a b)").unwrap(), "\"subject:x\" AND \"NEAR(a\" AND \"b)\"");
        assert_eq!(fts_query("  \"  ) * x ").unwrap(), "\"x\"");
        for bad in ["", "   ", "\" ( ) * -", &"w ".repeat(17)] {
            assert!(matches!(fts_query(bad), Err(ArchiveError::BadQuery { field: "text", .. })), "{bad:?}");
        }
        assert!(fts_query(&"x".repeat(129)).is_err());
    }

    #[test]
    fn fts_errors_are_the_callers_text() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5 (a)").unwrap();
        let e = conn.query_row("SELECT COUNT(*) FROM t WHERE t MATCH 'a AND'", [], |r| r.get::<_, i64>(0)).unwrap_err();
        assert!(matches!(explain(e), ArchiveError::BadQuery { field: "text", .. }));
        let e = conn.query_row("SELECT nope FROM t", [], |r| r.get::<_, i64>(0)).unwrap_err();
        assert!(matches!(explain(e), ArchiveError::Index(_)));
    }

    #[test]
    fn the_scope_is_the_account_domain_or_the_sender_domain() {
        let scope = ["a.example".to_string(), "b.example".to_string()];
        let c = conditions(&Filter::default(), Some(&scope)).unwrap();
        assert_eq!(c.sql(), " WHERE (domain IN (?, ?) OR sender_domain IN (?, ?))");
        assert_eq!(c.params.len(), 4);
        assert_eq!(conditions(&Filter::default(), Some(&[])).unwrap().sql(), " WHERE 0");
        assert_eq!(conditions(&Filter::default(), None).unwrap().sql(), "");
    }

    #[test]
    fn filters_bind_every_value() {
        let f = Filter {
            domain: Some("Example.COM.".into()),
            message_id: Some("<x@y>".into()),
            sender: Some("Alice".into()),
            since_ms: Some(5),
            ..Filter::default()
        };
        let c = conditions(&f, None).unwrap();
        assert_eq!(
            c.sql(),
            " WHERE (domain = ? OR sender_domain = ?) AND instr(lower(sender), ?) > 0 AND message_id IN (?, ?) \
             AND received_at_ms >= ?"
        );
        assert_eq!(c.params[0], Value::Text("example.com".into()));
        assert_eq!(c.params[2], Value::Text("alice".into()));
        assert_eq!(c.params[3], Value::Text("<x@y>".into()));
        assert_eq!(c.params[4], Value::Text("x@y".into()));
        let backwards = Filter { since_ms: Some(10), until_ms: Some(5), ..Filter::default() };
        assert!(matches!(conditions(&backwards, None), Err(ArchiveError::BadQuery { field: "since", .. })));
        let long = Filter { subject: Some("s".repeat(999)), ..Filter::default() };
        assert!(matches!(conditions(&long, None), Err(ArchiveError::BadQuery { field: "subject", .. })));
    }
}
