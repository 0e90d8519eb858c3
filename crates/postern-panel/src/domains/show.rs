//! One domain's page (`/domains/{name}`), and the posts that change its settings: the
//! outgoing filter (a superadmin's switch), the abuse contact, sender security (seed 003:
//! allowed senders, and the client IP's check by an allowlist or SPF), and deleting the
//! domain (superadmin). DKIM, rules and ranges post from their own modules and come back
//! here ([`DomainPage::load`]) when refused.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use postern_core::tenancy::{IpCheck, ListAction, ListKind, SenderSecurity, parse_network};
use postern_ops::delegations::{self, DelegationQuery};
use postern_ops::dkim::{self, DomainKeyQuery};
use postern_ops::dkim_dns::{self, DkimCheckQuery};
use postern_ops::domains::{self, DomainPatch};
use postern_ops::rules::{self, RuleQuery};
use postern_ops::{ErrorKind, OpError};
use serde::Deserialize;

use super::ip_check_name;
use crate::chrome::Chrome;
use crate::error::render;
use crate::session::{Form, Session};
use crate::view::{FormState, PER_PAGE, Pager, Refusal, items, offset_of, page_number, when, with_status};
use crate::{PanelError, PanelState};

/// The most lines the sender security lists take (the operation's own limit is 1000).
const MOST_LINES: usize = 1001;

pub struct KeyRow {
    pub selector: String,
    pub algorithm: &'static str,
    pub state: &'static str,
    pub created: String,
    pub activated: String,
    pub retires: String,
    /// Where and what to publish (retired keys: nothing).
    pub published: bool,
    pub dns_name: String,
    pub dns_value: String,
    pub zone_line: String,
}

pub struct CheckRow {
    pub selector: String,
    pub state: &'static str,
    pub name: String,
    pub status: &'static str,
    pub detail: String,
    pub found: Vec<String>,
}

pub struct CheckView {
    pub all_published: bool,
    pub rows: Vec<CheckRow>,
}

pub struct RuleRow {
    pub id: i64,
    pub domain: String,
    pub kind: &'static str,
    pub value: String,
    pub action: &'static str,
    pub comment: String,
    pub created: String,
}

pub struct RangeRow {
    pub id: i64,
    pub range: String,
    pub comment: String,
    pub created: String,
}

/// The forms' values, as the domain has them or as they were typed before a refusal.
#[derive(Default)]
pub struct Values {
    pub abuse_contact: String,
    pub allowed_senders: String,
    pub ip_check: &'static str,
    pub allowed_ips: String,
    pub selector: String,
    pub key_type: String,
    pub rotate_selector: String,
    pub grace_days: String,
    pub rule_kind: &'static str,
    pub rule_value: String,
    pub rule_action: &'static str,
    pub rule_comment: String,
    pub range: String,
    pub range_comment: String,
}

/// Which forms a refusal is shown in.
pub struct States {
    pub filter: FormState,
    pub abuse: FormState,
    pub sender: FormState,
    pub key: FormState,
    pub rotate: FormState,
    pub keys: FormState,
    pub rule: FormState,
    pub rules: FormState,
    pub range: FormState,
    pub ranges: FormState,
    pub domain: FormState,
}

pub const FILTER_FIELDS: &[&str] = &["filter_enabled"];
pub const ABUSE_FIELDS: &[&str] = &["abuse_contact"];
pub const SENDER_FIELDS: &[&str] = &["allowed_senders", "ip_check", "allowed_ips"];
pub const KEY_FIELDS: &[&str] = &["selector", "key_type", "algorithm", "bits", "private_key_pem"];
pub const ROTATE_FIELDS: &[&str] = &["selector", "grace_secs", "grace_days", "force"];
pub const RULE_FIELDS: &[&str] = &["kind", "value", "action", "comment"];
pub const RANGE_FIELDS: &[&str] = &["range", "comment"];

impl Default for States {
    fn default() -> States {
        States {
            filter: FormState::new(FILTER_FIELDS),
            abuse: FormState::new(ABUSE_FIELDS),
            sender: FormState::new(SENDER_FIELDS),
            key: FormState::new(KEY_FIELDS),
            rotate: FormState::new(ROTATE_FIELDS),
            keys: FormState::new(&[]),
            rule: FormState::new(RULE_FIELDS),
            rules: FormState::new(&[]),
            range: FormState::new(RANGE_FIELDS),
            ranges: FormState::new(&[]),
            domain: FormState::new(&[]),
        }
    }
}

#[derive(Template)]
#[template(path = "domain.html")]
pub struct DomainPage {
    pub chrome: Chrome,
    pub name: String,
    pub filter_enabled: bool,
    pub created: String,
    pub updated: String,
    /// `None`: DKIM is not available on this server (the reason instead).
    pub keys: Option<Vec<KeyRow>>,
    pub dkim_unavailable: String,
    pub check: Option<CheckView>,
    pub rules: Vec<RuleRow>,
    pub rules_pager: Pager,
    pub ranges: Vec<RangeRow>,
    pub ranges_total: u64,
    pub kinds: Vec<&'static str>,
    pub actions: Vec<&'static str>,
    pub values: Values,
    pub states: States,
}

impl DomainPage {
    /// The page of a domain the caller may see (else "no such domain": the 404 page).
    pub async fn load(
        state: &PanelState,
        session: &Session,
        name: &str,
        page: u64,
        check: bool,
    ) -> Result<DomainPage, PanelError> {
        let (ops, caller) = (&state.ops, &session.caller);
        let domain = domains::show(ops, caller, name).await?;
        let name = domain.name.clone();
        let (keys, dkim_unavailable) =
            match dkim::list(ops, caller, &name, DomainKeyQuery { limit: 1000, offset: 0 }).await {
                Ok(list) => (Some(list.items.into_iter().map(key_row).collect()), String::new()),
                Err(e) if e.kind == ErrorKind::Unavailable => (None, e.message),
                Err(e) => return Err(e.into()),
            };
        let check = match check && keys.is_some() {
            true => Some(check_view(dkim_dns::check_dns(ops, caller, &name, DkimCheckQuery::default()).await?)),
            false => None,
        };
        let q =
            RuleQuery { domain: Some(name.clone()), limit: PER_PAGE, offset: offset_of(page), ..Default::default() };
        let rule_list = rules::list(ops, caller, q).await?;
        let rules_pager = Pager::of(&format!("/domains/{name}"), &[], page, &rule_list);
        let ranges = delegations::list(ops, caller, &name, DelegationQuery { limit: 1000, offset: 0 }).await?;
        let security = &domain.sender_security;
        let values = Values {
            abuse_contact: domain.abuse_contact.clone().unwrap_or_default(),
            allowed_senders: security.allowed_senders.join("\n"),
            ip_check: ip_check_name(security.ip_check),
            allowed_ips: security.allowed_ips.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("\n"),
            key_type: "rsa-2048".into(),
            grace_days: "7".into(),
            rule_kind: ListKind::Ip.name(),
            rule_action: ListAction::Reject.name(),
            ..Values::default()
        };
        Ok(DomainPage {
            chrome: Chrome::new(session, "/domains"),
            filter_enabled: domain.filter_enabled,
            created: when(domain.created_at_ms),
            updated: when(domain.updated_at_ms),
            keys,
            dkim_unavailable,
            check,
            rules: rule_list.items.into_iter().map(rule_row).collect(),
            rules_pager,
            ranges_total: ranges.total,
            ranges: ranges
                .items
                .into_iter()
                .map(|r| RangeRow {
                    id: r.id,
                    range: r.range,
                    comment: r.comment.unwrap_or_default(),
                    created: when(r.created_at_ms),
                })
                .collect(),
            kinds: ListKind::ALL.iter().map(|k| k.name()).collect(),
            actions: [ListAction::Reject, ListAction::Discard, ListAction::Allow].iter().map(|a| a.name()).collect(),
            values,
            states: States::default(),
            name,
        })
    }

    /// Keys a rotation may switch to: those neither active nor retired.
    pub fn rotatable(&self) -> Vec<&KeyRow> {
        self.keys.iter().flatten().filter(|k| k.state == "pending" || k.state == "retiring").collect()
    }
}

fn key_row(k: dkim::KeyView) -> KeyRow {
    KeyRow {
        algorithm: k.algorithm.name(),
        state: k.state.name(),
        created: when(k.created_at_ms),
        activated: k.activated_at_ms.map(when).unwrap_or_default(),
        retires: k.retire_at_ms.map(when).unwrap_or_default(),
        published: k.state.name() != "retired",
        dns_name: k.dns.name,
        dns_value: k.dns.strings.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(" "),
        zone_line: k.dns.zone_line,
        selector: k.selector,
    }
}

fn check_view(check: dkim_dns::DkimCheck) -> CheckView {
    let rows = check
        .results
        .into_iter()
        .map(|r| CheckRow {
            state: r.state.name(),
            status: r.result.status.name(),
            detail: r.result.detail,
            found: r.result.found,
            name: r.name,
            selector: r.selector,
        })
        .collect();
    CheckView { all_published: check.all_published, rows }
}

pub fn rule_row(r: postern_core::tenancy::ListRule) -> RuleRow {
    RuleRow {
        id: r.id,
        domain: r.domain.unwrap_or_default(),
        kind: r.kind.name(),
        value: r.value,
        action: r.action.name(),
        comment: r.comment.unwrap_or_default(),
        created: when(r.created_at_ms),
    }
}

/// Shows the page again with a refusal in one of its forms (`fill` puts the typed values
/// and the form's state in), or the error page if the operation's error is not a form's.
pub async fn refused(
    state: &PanelState,
    session: &Session,
    name: &str,
    e: OpError,
    fill: impl FnOnce(&mut DomainPage, &OpError),
) -> Response {
    match Refusal::of(e) {
        Refusal::Page(e) => e.into_response(),
        Refusal::Form(status, e) => match DomainPage::load(state, session, name, 1, false).await {
            Ok(mut page) => {
                fill(&mut page, &e);
                with_status(status, render(&page))
            }
            Err(e) => e.into_response(),
        },
    }
}

/// Where a change goes back to: the domain's page at `section`, with a notice.
pub fn back(name: &str, done: &str, section: &str) -> Response {
    let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    Redirect::to(&format!("/domains/{name}?done={done}#{section}")).into_response()
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    page: Option<String>,
    check: Option<String>,
    done: Option<String>,
}

pub async fn show(
    State(state): State<PanelState>,
    session: Session,
    Path(name): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let check = q.check.is_some();
    match DomainPage::load(&state, &session, &name, page_number(q.page.as_deref()), check).await {
        Ok(mut page) => {
            page.chrome = page.chrome.with_notice(q.done.as_deref());
            render(&page)
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct FilterForm {
    filter_enabled: bool,
}

pub async fn update_filter(
    State(state): State<PanelState>,
    Path(name): Path<String>,
    form: Form<FilterForm>,
) -> Response {
    let Form { session, data } = form;
    let patch = DomainPatch { filter_enabled: Some(data.filter_enabled), ..DomainPatch::default() };
    match domains::update(&state.ops, &session.caller, &name, patch).await {
        Ok(d) => back(&d.name, "saved", "settings"),
        Err(e) => {
            refused(&state, &session, &name, e, |p, e| p.states.filter = FormState::refused(FILTER_FIELDS, e)).await
        }
    }
}

#[derive(Deserialize)]
pub struct AbuseForm {
    #[serde(default)]
    abuse_contact: String,
}

pub async fn update_abuse(
    State(state): State<PanelState>,
    Path(name): Path<String>,
    form: Form<AbuseForm>,
) -> Response {
    let Form { session, data } = form;
    let contact = Some(data.abuse_contact.trim().to_string()).filter(|c| !c.is_empty());
    let patch = DomainPatch { abuse_contact: Some(contact), ..DomainPatch::default() };
    match domains::update(&state.ops, &session.caller, &name, patch).await {
        Ok(d) => back(&d.name, "saved", "settings"),
        Err(e) => {
            refused(&state, &session, &name, e, |p, e| {
                p.values.abuse_contact = data.abuse_contact;
                p.states.abuse = FormState::refused(ABUSE_FIELDS, e);
            })
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct SenderForm {
    #[serde(default)]
    allowed_senders: String,
    ip_check: IpCheck,
    #[serde(default)]
    allowed_ips: String,
}

/// The settings as typed: addresses and networks one a line (or separated by commas); a
/// line that is no network is refused naming it, as the API names its index.
fn security(data: &SenderForm) -> Result<SenderSecurity, OpError> {
    let allowed_ips = items(&data.allowed_ips, MOST_LINES)
        .iter()
        .enumerate()
        .map(|(i, line)| {
            parse_network(line).ok_or_else(|| {
                let field = format!("sender_security.allowed_ips[{i}]");
                OpError::bad_field(&field, format!("{line:?} is not an IP address or CIDR"))
            })
        })
        .collect::<Result<Vec<_>, OpError>>()?;
    Ok(SenderSecurity {
        allowed_senders: items(&data.allowed_senders, MOST_LINES),
        ip_check: data.ip_check,
        allowed_ips,
    })
}

pub async fn update_sender(
    State(state): State<PanelState>,
    Path(name): Path<String>,
    form: Form<SenderForm>,
) -> Response {
    let Form { session, data } = form;
    let result = match security(&data) {
        Ok(security) => {
            let patch = DomainPatch { sender_security: Some(security), ..DomainPatch::default() };
            domains::update(&state.ops, &session.caller, &name, patch).await
        }
        // The domain first: another tenant's is the 404 page, whatever was typed.
        Err(e) => domains::show(&state.ops, &session.caller, &name).await.and(Err(e)),
    };
    match result {
        Ok(d) => back(&d.name, "saved", "sender-security"),
        Err(e) => {
            refused(&state, &session, &name, e, |p, e| {
                p.values.allowed_senders = data.allowed_senders;
                p.values.ip_check = ip_check_name(data.ip_check);
                p.values.allowed_ips = data.allowed_ips;
                p.states.sender = FormState::refused(SENDER_FIELDS, e);
            })
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn delete(State(state): State<PanelState>, Path(name): Path<String>, form: Form<Nothing>) -> Response {
    let Form { session, data: Nothing {} } = form;
    match domains::delete(&state.ops, &session.caller, &name).await {
        Ok(_) => Redirect::to("/domains?done=deleted").into_response(),
        Err(e) => refused(&state, &session, &name, e, |p, e| p.states.domain = FormState::refused(&[], e)).await,
    }
}
