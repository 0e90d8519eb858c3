//! The log search's pages (SPEC.md §7): messages and refusals by domain, time range (the
//! last hour unless given) and every filter of the API, newest first, 50 a page with the
//! cursor of the next (older) page; and one message's timeline — each step's time, kind,
//! summary, the check that decided and how long a delivery took.
//!
//! In: GET filters (`before`: the cursor), a key (queue id, or the row id of a refusal
//! without one). Out: pages. Every read is a [`postern_ops::log`] operation with the
//! session's caller: a domain admin finds only rows of its domains (as account or sender
//! domain), and another tenant's timeline is the HTML 404.
//!
//! Defends against: script injection from what clients sent (subjects, addresses,
//! Message-IDs, refusal reasons: every value is escaped by askama) and links that could
//! carry more than their filters (query strings are percent-encoded).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use postern_ops::log::{self, LogSearchQuery};
use postern_store::{LogMessage, MessageStatus};
use serde::Deserialize;

use crate::chrome::Chrome;
use crate::error::render;
use crate::format::{self, given};
use crate::session::Session;
use crate::view::{self, PER_PAGE};
use crate::{PanelError, PanelState};

/// Recipients a list row names.
const SHOWN_RECIPIENTS: usize = 3;
/// Where a refusal can happen (the operation checks the name).
const STAGES: [&str; 10] = ["connect", "helo", "tls", "auth", "mail", "rcpt", "data", "bdat", "queue", "command"];

/// The search's filters, as the form sends them (an empty field is no filter).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filters {
    domain: String,
    since: String,
    until: String,
    sender: String,
    recipient: String,
    identity: String,
    account: String,
    client_ip: String,
    status: String,
    stage: String,
    queue_id: String,
    message_id: String,
    subject: String,
    rule: String,
    before: String,
}

impl Filters {
    fn pairs(&self) -> [(&'static str, &str); 14] {
        [
            ("domain", &self.domain),
            ("since", &self.since),
            ("until", &self.until),
            ("sender", &self.sender),
            ("recipient", &self.recipient),
            ("identity", &self.identity),
            ("account", &self.account),
            ("client_ip", &self.client_ip),
            ("status", &self.status),
            ("stage", &self.stage),
            ("queue_id", &self.queue_id),
            ("message_id", &self.message_id),
            ("subject", &self.subject),
            ("rule", &self.rule),
        ]
    }

    fn query(&self) -> LogSearchQuery {
        LogSearchQuery {
            domain: given(&self.domain),
            since: format::rfc3339(&self.since),
            until: format::rfc3339(&self.until),
            sender: given(&self.sender),
            recipient: given(&self.recipient),
            identity: given(&self.identity),
            account: given(&self.account),
            client_ip: given(&self.client_ip),
            status: given(&self.status),
            stage: given(&self.stage),
            queue_id: given(&self.queue_id),
            message_id: given(&self.message_id),
            subject: given(&self.subject),
            rule: given(&self.rule),
            limit: PER_PAGE,
            before: given(&self.before),
        }
    }

    /// The link of the page after `cursor`, with the same filters.
    fn older(&self, cursor: &str) -> String {
        let mut pairs = self.pairs().to_vec();
        pairs.push(("before", cursor));
        format!("/log{}", format::query(&pairs))
    }

    /// The first page of the same search.
    fn newest(&self) -> String {
        format!("/log{}", format::query(&self.pairs()))
    }
}

fn status_class(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Delivered => "ok",
        MessageStatus::Received | MessageStatus::Queued | MessageStatus::Deferred => "warn",
        _ => "bad",
    }
}

/// One row, written for people.
struct Row {
    /// The timeline's key: the queue id, or the row id of a refusal without one.
    key: String,
    arrived: String,
    status: &'static str,
    status_class: &'static str,
    stage: String,
    sender: String,
    recipients: String,
    subject: String,
    account: String,
    identity: String,
    client_ip: String,
    rule: String,
}

impl Row {
    fn of(m: &LogMessage) -> Row {
        Row {
            key: m.queue_id.clone().unwrap_or_else(|| m.id.to_string()),
            arrived: view::when(m.first_at_ms),
            status: m.status.name(),
            status_class: status_class(m.status),
            stage: m.stage.clone().unwrap_or_default(),
            sender: match m.sender.as_deref() {
                Some("") => "<>".to_string(),
                other => other.unwrap_or_default().to_string(),
            },
            recipients: format::addresses(&m.recipients, m.recipient_count as usize, SHOWN_RECIPIENTS),
            subject: m.subject.clone().unwrap_or_default(),
            account: m.account.clone().unwrap_or_default(),
            identity: m.identity.clone().unwrap_or_default(),
            client_ip: m.client_ip.clone(),
            rule: m.rule.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "log.html")]
struct SearchPage {
    chrome: Chrome,
    filters: Filters,
    domains: Vec<String>,
    statuses: Vec<&'static str>,
    stages: [&'static str; 10],
    rows: Vec<Row>,
    /// The next (older) page, when this one was full.
    older: Option<String>,
    /// The first page, when this is a later one.
    newest: Option<String>,
    error: Option<String>,
}

pub async fn search(State(state): State<PanelState>, session: Session, Query(filters): Query<Filters>) -> Response {
    let chrome = Chrome::new(&session, "/log");
    let domains = session.caller.domains().map(<[String]>::to_vec).unwrap_or_default();
    let (rows, older, error, status) = match log::search(&state.ops, &session.caller, filters.query()).await {
        Ok(page) => {
            let older = page.next.as_deref().map(|cursor| filters.older(cursor));
            (page.items.iter().map(Row::of).collect(), older, None, StatusCode::OK)
        }
        Err(e) => match PanelError::from(e) {
            // A filter the operation refuses is said on the form.
            e if e.status == StatusCode::BAD_REQUEST => (Vec::new(), None, Some(e.message), e.status),
            e => return e.into_response(),
        },
    };
    let newest = given(&filters.before).map(|_| filters.newest());
    let page = SearchPage {
        chrome,
        domains,
        statuses: MessageStatus::ALL.iter().map(|s| s.name()).collect(),
        stages: STAGES,
        rows,
        older,
        newest,
        error,
        filters,
    };
    (status, render(&page)).into_response()
}

/// One step of a timeline, written for people.
struct Step {
    at: String,
    kind: String,
    summary: String,
    decided_by: String,
    duration: String,
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    chrome: Chrome,
    row: Row,
    facts: Vec<(&'static str, String)>,
    steps: Vec<Step>,
    truncated: bool,
}

fn facts(m: &LogMessage) -> Vec<(&'static str, String)> {
    let counts = &m.counts;
    vec![
        ("Queue id", m.queue_id.clone().unwrap_or_default()),
        ("Message-ID", m.message_id.clone().unwrap_or_default()),
        ("Arrived", view::when(m.first_at_ms)),
        ("Last activity", view::when(m.last_at_ms)),
        ("Account", m.account.clone().unwrap_or_default()),
        ("Account domain", m.account_domain.clone().unwrap_or_default()),
        ("Sender domain", m.sender_domain.clone().unwrap_or_default()),
        ("Identity", m.identity.clone().unwrap_or_default()),
        ("Client IP", m.client_ip.clone()),
        ("Recipients", format::addresses(&m.recipients, m.recipient_count as usize, m.recipients.len())),
        ("Size", m.size.map(view::size).unwrap_or_default()),
        (
            "Recipients by state",
            format!(
                "{} pending, {} deferred, {} delivered, {} bounced, {} expired",
                counts.pending, counts.deferred, counts.delivered, counts.bounced, counts.expired
            ),
        ),
        ("Delivery attempts", m.attempts.to_string()),
        ("Last reply", m.reply.clone().unwrap_or_default()),
    ]
}

pub async fn timeline(
    State(state): State<PanelState>,
    session: Session,
    Path(key): Path<String>,
) -> Result<Response, PanelError> {
    let timeline = log::show(&state.ops, &session.caller, &key).await?;
    let steps = timeline
        .steps
        .iter()
        .map(|s| Step {
            at: format::when_precise(s.at_ms),
            kind: s.kind.clone(),
            summary: s.summary.clone(),
            decided_by: s.decided_by.clone().unwrap_or_default(),
            duration: s.duration_ms.map(|ms| format!("{ms} ms")).unwrap_or_default(),
        })
        .collect();
    let page = TimelinePage {
        chrome: Chrome::new(&session, "/log"),
        row: Row::of(&timeline.message),
        facts: facts(&timeline.message),
        steps,
        truncated: timeline.truncated,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_keeps_the_filters_and_empty_ones_are_none() {
        let f =
            Filters { sender: "a&b@x".into(), status: "delivered".into(), before: "1.2".into(), ..Filters::default() };
        assert_eq!(f.older("5.7"), "/log?sender=a%26b%40x&status=delivered&before=5.7");
        assert_eq!(f.newest(), "/log?sender=a%26b%40x&status=delivered");
        let q = Filters { since: "2026-01-31T10:00".into(), rule: " ".into(), ..Filters::default() }.query();
        assert_eq!((q.since.as_deref(), q.rule, q.limit), (Some("2026-01-31T10:00:00Z"), None, PER_PAGE));
    }
}
