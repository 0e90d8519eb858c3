//! Domain settings: the domains a user may see (a superadmin adds them here), and one
//! domain's page — the outgoing filter, the abuse contact, sender security (seed 003),
//! DKIM keys with their DNS records, the DNS check and rotation, the domain's block and
//! allow lists, and its delegated IP ranges. The block and allow lists over every domain
//! (and the global ones, a superadmin's) are at `/rules`.
//!
//! In: a session, filters in the query string, form posts. Out: pages, and redirects
//! after every change. Every read and change is an operation of [`postern_ops::domains`],
//! [`postern_ops::dkim`], [`postern_ops::dkim_dns`], [`postern_ops::rules`] or
//! [`postern_ops::delegations`], with the user's caller.
//!
//! Defends against: a domain admin reaching another tenant's domain (the operations answer
//! "no such domain", shown as the 404 page for pages and posts alike; a refused post shows
//! its form again only after the domain page loaded, so another tenant's domain never
//! comes back as a form), private keys coming back to the browser (an imported key is never
//! echoed into the form again), and superadmin-only switches by a domain admin (the
//! operations refuse them: 403).
//!
//! # Layout
//! - this file: the list of domains and adding one.
//! - `show`: one domain's page and its settings (filter, abuse contact, sender security).
//! - `dkim`: adding, rotating and deleting DKIM keys.
//! - `rules`: the block and allow lists, on a domain's page and at `/rules`.
//! - `ranges`: delegated IP ranges.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use postern_ops::domains::{self, DomainCreate, DomainQuery};
use serde::Deserialize;

use crate::chrome::Chrome;
use crate::error::render;
use crate::session::{Form, Session};
use crate::view::{FormState, Pager, Refusal, offset_of, page_number, when, with_status};
use crate::{PanelError, PanelState};

mod dkim;
mod ranges;
mod rules;
mod show;

pub use dkim::{create_key, delete_key, rotate};
pub use ranges::{create_range, delete_range};
pub use rules::{create_domain_rule, create_rule, delete_rule, rules_page};
pub use show::{delete, show, update_abuse, update_filter, update_sender};

/// One row of the list.
struct DomainRow {
    name: String,
    filter_enabled: bool,
    ip_check: &'static str,
    allowed_senders: usize,
    abuse_contact: String,
    created: String,
}

/// What a superadmin typed into "add a domain".
#[derive(Default)]
struct NewDomainValues {
    name: String,
    filter_enabled: bool,
    abuse_contact: String,
}

#[derive(Template)]
#[template(path = "domains.html")]
struct DomainsPage {
    chrome: Chrome,
    rows: Vec<DomainRow>,
    pager: Pager,
    /// The filters, as typed.
    name: String,
    filter: String,
    new: NewDomainValues,
    form: FormState,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    name: Option<String>,
    /// `on`, `off` or empty.
    filter: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

const NEW_DOMAIN_FIELDS: &[&str] = &["name", "filter_enabled", "abuse_contact"];

pub fn ip_check_name(check: postern_core::tenancy::IpCheck) -> &'static str {
    use postern_core::tenancy::IpCheck;
    match check {
        IpCheck::None => "none",
        IpCheck::Allowlist => "allowlist",
        IpCheck::Spf => "spf",
    }
}

async fn list_page(state: &PanelState, session: &Session, q: &ListQuery) -> Result<DomainsPage, PanelError> {
    let page = page_number(q.page.as_deref());
    let name = q.name.as_deref().unwrap_or("").trim().to_string();
    let filter = q.filter.as_deref().unwrap_or("").to_string();
    let query = DomainQuery {
        name: Some(name.clone()).filter(|n| !n.is_empty()),
        filter_enabled: match filter.as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        },
        limit: crate::view::PER_PAGE,
        offset: offset_of(page),
    };
    let list = domains::list(&state.ops, &session.caller, query).await?;
    let pager = Pager::of("/domains", &[("name", &name), ("filter", &filter)], page, &list);
    let rows = list
        .items
        .into_iter()
        .map(|d| DomainRow {
            filter_enabled: d.filter_enabled,
            ip_check: ip_check_name(d.sender_security.ip_check),
            allowed_senders: d.sender_security.allowed_senders.len(),
            abuse_contact: d.abuse_contact.unwrap_or_default(),
            created: when(d.created_at_ms),
            name: d.name,
        })
        .collect();
    Ok(DomainsPage {
        chrome: Chrome::new(session, "/domains").with_notice(q.done.as_deref()),
        rows,
        pager,
        name,
        filter,
        new: NewDomainValues::default(),
        form: FormState::new(NEW_DOMAIN_FIELDS),
    })
}

pub async fn list(State(state): State<PanelState>, session: Session, Query(q): Query<ListQuery>) -> Response {
    match list_page(&state, &session, &q).await {
        Ok(page) => render(&page),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct NewDomainForm {
    name: String,
    #[serde(default)]
    filter_enabled: bool,
    #[serde(default)]
    abuse_contact: String,
}

pub async fn create(State(state): State<PanelState>, form: Form<NewDomainForm>) -> Response {
    let Form { session, data } = form;
    let abuse_contact = Some(data.abuse_contact.trim().to_string()).filter(|a| !a.is_empty());
    let input = DomainCreate {
        name: data.name.clone(),
        filter_enabled: data.filter_enabled,
        sender_security: Default::default(),
        abuse_contact,
    };
    let e = match domains::create(&state.ops, &session.caller, input).await {
        Ok(domain) => return Redirect::to(&format!("/domains/{}?done=created", domain.name)).into_response(),
        Err(e) => e,
    };
    match Refusal::of(e) {
        Refusal::Page(e) => e.into_response(),
        Refusal::Form(status, e) => match list_page(&state, &session, &ListQuery::default()).await {
            Ok(mut page) => {
                page.new = NewDomainValues {
                    name: data.name,
                    filter_enabled: data.filter_enabled,
                    abuse_contact: data.abuse_contact,
                };
                page.form = FormState::refused(NEW_DOMAIN_FIELDS, &e);
                with_status(status, render(&page))
            }
            Err(e) => e.into_response(),
        },
    }
}
