//! What list and form pages share: paging links ([`Pager`], 50 rows a page), a form's
//! state after a refused post ([`FormState`]: the operation's message next to the field it
//! names), how an operation's error decides between showing the form again and an error
//! page ([`Refusal`]), and times as text ([`when`]).
//!
//! Defends against: page numbers that ask the store for absurd offsets (at most
//! [`LAST_PAGE`]), and query strings that put text of their own on a page (a pager's links
//! are built from the parsed filters, encoded).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use postern_ops::{ErrorKind, OpError};

use crate::PanelError;

/// Rows on one page of a list.
pub const PER_PAGE: u32 = 50;
/// The last page a list goes to (50,000 rows deep).
pub const LAST_PAGE: u64 = 1000;

/// The 1-based page number a query string asked for: anything else than 1 to
/// [`LAST_PAGE`] is the first page.
pub fn page_number(text: Option<&str>) -> u64 {
    text.and_then(|t| t.trim().parse::<u64>().ok()).filter(|n| (1..=LAST_PAGE).contains(n)).unwrap_or(1)
}

/// The offset of a page's first row.
pub fn offset_of(page: u64) -> u64 {
    page.saturating_sub(1) * u64::from(PER_PAGE)
}

/// A list page's position and the links to its neighbours (their query strings keep the
/// list's filters).
pub struct Pager {
    /// 1-based numbers of the first and last row shown; `0, 0` when there are none.
    pub first: u64,
    pub last: u64,
    /// How many rows match, when the operation says.
    pub total: Option<u64>,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `path` with `filters` (empty values left out), on page `page` showing `shown` rows
    /// of which `more` says whether another page follows.
    pub fn new(path: &str, filters: &[(&str, &str)], page: u64, shown: usize, total: Option<u64>, more: bool) -> Pager {
        let to_page = |number: u64| {
            let text = number.to_string();
            let mut pairs = filters.to_vec();
            if number > 1 {
                pairs.push(("page", &text));
            }
            link(path, &pairs)
        };
        let first = if shown == 0 { 0 } else { offset_of(page) + 1 };
        Pager {
            first,
            last: if shown == 0 { 0 } else { offset_of(page) + shown as u64 },
            total,
            previous: (page > 1).then(|| to_page(page - 1)),
            next: (more && page < LAST_PAGE).then(|| to_page(page + 1)),
        }
    }

    /// For a paged operation's answer.
    pub fn of<T>(path: &str, filters: &[(&str, &str)], page: u64, list: &postern_store::Paged<T>) -> Pager {
        let more = offset_of(page) + (list.items.len() as u64) < list.total;
        Pager::new(path, filters, page, list.items.len(), Some(list.total), more)
    }
}

/// `path` with the non-empty `pairs` as its query string (URL-encoded; the template
/// HTML-escapes the whole).
pub fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
    }
    let query = query.finish();
    if query.is_empty() { path.to_string() } else { format!("{path}?{query}") }
}

/// An operation's refusal of a form, shown next to the field it names.
#[derive(Debug, Clone, Default)]
pub struct FormState {
    pub message: Option<String>,
    pub field: Option<String>,
    /// The form's own field names: a refusal naming none of them shows above the form.
    pub fields: &'static [&'static str],
}

impl FormState {
    pub fn new(fields: &'static [&'static str]) -> FormState {
        FormState { message: None, field: None, fields }
    }

    pub fn refused(fields: &'static [&'static str], e: &OpError) -> FormState {
        FormState { message: Some(e.message.clone()), field: e.field.clone(), fields }
    }

    /// The message, if the refusal names `name` (or an element of it: `domains[2]`,
    /// `sender_security.allowed_ips`).
    pub fn on(&self, name: &str) -> Option<&str> {
        let field = self.field.as_deref()?;
        let rest =
            field.strip_prefix(name).or_else(|| field.rsplit_once('.').and_then(|(_, f)| f.strip_prefix(name)))?;
        (rest.is_empty() || rest.starts_with('[')).then_some(self.message.as_deref()).flatten()
    }

    /// The message, if it names no field of this form.
    pub fn general(&self) -> Option<&str> {
        let message = self.message.as_deref()?;
        match &self.field {
            Some(_) if self.fields.iter().any(|f| self.on(f).is_some()) => None,
            _ => Some(message),
        }
    }
}

/// What to do with an operation's error after a form post: show the form again with the
/// message (bad input 400, a conflict 409, a named field that does not exist 404), or an error page
/// (another tenant's or a missing object is the 404 page, a superadmin's action 403).
pub enum Refusal {
    Form(StatusCode, OpError),
    Page(PanelError),
}

impl Refusal {
    pub fn of(e: OpError) -> Refusal {
        match e.kind {
            ErrorKind::BadInput | ErrorKind::TooLarge => Refusal::Form(StatusCode::BAD_REQUEST, e),
            ErrorKind::Conflict => Refusal::Form(StatusCode::CONFLICT, e),
            // "no such domain" for a domain the user typed (a user's, a token's or a rule's):
            // the form again, still a 404 (another tenant's domain answers exactly like one
            // that does not exist). Never for the object the page is about (no field).
            ErrorKind::NotFound if e.field.is_some() => Refusal::Form(StatusCode::NOT_FOUND, e),
            _ => Refusal::Page(PanelError::from(e)),
        }
    }
}

/// A page rendered with `status` (a refused form is shown again with 400 or 409).
pub fn with_status(status: StatusCode, page: Response) -> Response {
    if page.status() == StatusCode::OK { (status, page).into_response() } else { page }
}

/// A time as `2026-12-06 09:00:20 UTC`; "—" for none (0 or before) and for times out of range.
pub fn when(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms).filter(|_| ms > 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => "—".to_string(),
    }
}

/// A size in bytes as `512 B`, `3.4 kB`, `1.2 MB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Lines or comma-separated items of a text field, trimmed, without empty ones; at most
/// `most` (the operation refuses longer lists with its own message).
pub fn items(text: &str, most: usize) -> Vec<String> {
    text.split([',', '\n', '\r', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(most)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded_and_links_keep_filters() {
        assert_eq!(page_number(Some("3")), 3);
        for bad in [None, Some(""), Some("0"), Some("-1"), Some("x"), Some("1001")] {
            assert_eq!(page_number(bad), 1, "{bad:?}");
        }
        let p = Pager::new("/queue", &[("sender", "a b@x.example"), ("state", "")], 2, 50, None, true);
        assert_eq!((p.first, p.last), (51, 100));
        assert_eq!(p.previous.as_deref(), Some("/queue?sender=a+b%40x.example"));
        assert_eq!(p.next.as_deref(), Some("/queue?sender=a+b%40x.example&page=3"));
        let empty = Pager::new("/queue", &[], 1, 0, Some(0), false);
        assert_eq!((empty.first, empty.last, empty.previous, empty.next), (0, 0, None, None));
        let list = postern_store::Paged { items: vec![(); 30], total: 230, limit: PER_PAGE, offset: 200 };
        let last = Pager::of("/accounts", &[("name", "x&y=\"z")], 5, &list);
        assert_eq!((last.first, last.last, last.total, last.next), (201, 230, Some(230), None));
        assert_eq!(last.previous.as_deref(), Some("/accounts?name=x%26y%3D%22z&page=4"));
    }

    #[test]
    fn times() {
        assert_eq!(when(0), "—");
        assert_eq!(when(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn a_refusal_shows_next_to_its_field_or_above_the_form() {
        let e = OpError::bad_field("sender_security.allowed_ips", "at most 1000 networks");
        let f = FormState::refused(&["allowed_senders", "allowed_ips"], &e);
        assert_eq!(f.on("allowed_ips"), Some("at most 1000 networks"));
        assert_eq!((f.on("allowed_senders"), f.general()), (None, None));
        let e = OpError::bad_field("domains[1]", "no such domain");
        let f = FormState::refused(&["name", "domains"], &e);
        assert_eq!((f.on("domains"), f.on("name")), (Some("no such domain"), None));
        let f = FormState::refused(&["name"], &OpError::conflict("exists"));
        assert_eq!(f.general(), Some("exists"));
        assert_eq!(FormState::new(&["name"]).general(), None);
    }

    #[test]
    fn items_split_on_commas_and_lines() {
        assert_eq!(items(" a.example, b.example\r\n\nc.example ", 10), ["a.example", "b.example", "c.example"]);
        assert_eq!(items("a,b,c", 2), ["a", "b"]);
    }
}
