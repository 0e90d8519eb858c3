//! [`Pager`]: the paging of a list page — 50 items a page, the page number from the query
//! string, and links to the previous and next pages that keep the list's filters. Also
//! [`when`], how a time is shown in lists.
//!
//! In: the filters as (name, value) pairs, the page asked for, the total the operation
//! counted. Out: links (local paths, query-encoded) and "51–100 of 230".
//!
//! Defends against: page numbers that are not numbers or would overflow an offset (taken
//! as the first page, or clamped), and filter values breaking out of a link (every value
//! is URL-encoded here and HTML-escaped by the template).

use chrono::DateTime;

/// Items per page of every list.
pub const PER_PAGE: u32 = 50;
/// The last page that may be asked for (an offset stays far inside an `i64`).
const LAST_PAGE: u64 = 1_000_000_000;

/// The page number in a query string: 1 for anything but a positive number.
pub fn page_number(text: Option<&str>) -> u64 {
    text.and_then(|t| t.trim().parse::<u64>().ok()).filter(|&p| p > 0).map_or(1, |p| p.min(LAST_PAGE))
}

/// The offset of the first item of `page`.
pub fn offset(page: u64) -> u64 {
    (page.clamp(1, LAST_PAGE) - 1) * u64::from(PER_PAGE)
}

/// A path with the non-empty `pairs` as its query string.
pub fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
        any = true;
    }
    if any { format!("{path}?{}", query.finish()) } else { path.to_string() }
}

/// Where a list page is and which items it shows.
pub struct Pager {
    /// 1-based numbers of the first and last item shown (0 and 0 for none).
    pub first: u64,
    pub last: u64,
    pub total: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `filters` are the list's query pairs without `page`; `shown` how many items this
    /// page has.
    pub fn new(path: &str, filters: &[(&str, &str)], page: u64, shown: usize, total: u64) -> Pager {
        let start = offset(page);
        let to_page = |p: u64| {
            let number = p.to_string();
            let mut pairs = filters.to_vec();
            if p > 1 {
                pairs.push(("page", &number));
            }
            link(path, &pairs)
        };
        let shown = shown as u64;
        Pager {
            first: if shown == 0 { 0 } else { start + 1 },
            last: start + shown,
            total,
            prev: (page > 1).then(|| to_page(page - 1)),
            next: (start + shown < total && shown > 0 && page < LAST_PAGE).then(|| to_page(page + 1)),
        }
    }
}

/// A time in milliseconds since the epoch as lists show it; "—" for none.
pub fn when(ms: i64) -> String {
    if ms <= 0 {
        return "—".to_string();
    }
    DateTime::from_timestamp_millis(ms).map_or_else(|| "—".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_are_lenient_and_bounded() {
        assert_eq!(page_number(None), 1);
        assert_eq!(page_number(Some("0")), 1);
        assert_eq!(page_number(Some("-3")), 1);
        assert_eq!(page_number(Some("x")), 1);
        assert_eq!(page_number(Some("3")), 3);
        assert_eq!(page_number(Some("99999999999999999999")), 1);
        assert_eq!(offset(page_number(Some("18446744073709551615"))), (LAST_PAGE - 1) * 50);
        assert_eq!(offset(3), 100);
    }

    #[test]
    fn links_keep_filters_encoded() {
        let p = Pager::new("/accounts", &[("domain", "a.example"), ("name", "x&y=\"z"), ("kind", "")], 2, 50, 230);
        assert_eq!((p.first, p.last, p.total), (51, 100, 230));
        assert_eq!(p.prev.as_deref(), Some("/accounts?domain=a.example&name=x%26y%3D%22z"));
        assert_eq!(p.next.as_deref(), Some("/accounts?domain=a.example&name=x%26y%3D%22z&page=3"));
        let last = Pager::new("/accounts", &[], 5, 30, 230);
        assert_eq!((last.first, last.last, last.next), (201, 230, None));
        let none = Pager::new("/accounts", &[], 1, 0, 0);
        assert_eq!((none.first, none.last, none.prev, none.next), (0, 0, None, None));
    }

    #[test]
    fn times() {
        assert_eq!(when(0), "—");
        assert_eq!(when(1_700_000_000_000), "2023-11-14 22:13 UTC");
    }
}
