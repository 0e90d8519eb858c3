//! The web admin panel at `/` on the admin listener: server-rendered HTML pages over the
//! operations layer ([`postern_ops`]), for a provider's support team (superadmins) and its
//! customers' domain admins.
//!
//! In: an [`Ops`] context shared with the JSON API, and browser requests. Out: HTML pages,
//! redirects after every successful form post (post/redirect/get), and one stylesheet.
//! Pages hold no logic of their own: every read and every change is an operation, called
//! with the logged-in user's [`Caller`](postern_ops::Caller), so scope, role and
//! validation are exactly the API's.
//!
//! Defends against: cross-site request forgery (every form carries the session's token,
//! checked by [`session::Form`]; cross-site posts are refused by their `Sec-Fetch-Site`
//! and `Origin` headers; the session cookie is `SameSite=Strict`), script injection
//! (askama escapes every value by default; no message HTML is ever rendered as HTML; the
//! Content-Security-Policy allows no inline script and no other origin), session theft
//! (`HttpOnly` cookie, `Secure` over TLS, server-side idle and absolute expiry),
//! clickjacking (`frame-ancestors 'none'`), open redirects after login (only local paths),
//! and a domain admin reaching another tenant's objects (the operations answer 404).
//!
//! # Layout
//! - [`session`]: the session cookie, the logged-in [`session::Session`], and forms with
//!   their CSRF check.
//! - [`error`]: [`error::PanelError`], an operation's error as an HTML page.
//! - `chrome`: what every page shows around its content (menu, user, logout form).
//! - `login`: log in and out, change one's own password.
//! - `dashboard`: the start page: messages per hour, spam rate, top senders, locks, the
//!   queue by state; `chart`: its charts, SVG drawn here.
//! - `quarantine`: held messages, their detail and actions.
//! - `log`: log search and a message's timeline.
//! - `archive`: archive search, a copy's view, exports.
//! - `format`: what the message pages add to `view`: precise times, address lists, filters.
//! - `domains`: domain settings (filter, abuse contact, sender security, DKIM keys and
//!   their DNS, block and allow lists, delegated IP ranges) and the lists at `/rules`.
//! - `queue`: the queue: list, one message, retry, hold, release, delete, retry all.
//! - `users`: the panel's users and the API tokens (superadmin).
//! - `view`: what list and form pages share: paging (50 a page, one pager template),
//!   a refused form's state, times.
//! - `accounts`: Outgoing > Manage accounts (list, add, one page per account with every
//!   setting, counters, lock, unlock, delete).
//! - `identities`: Outgoing > Manage identities (list, lock, unlock).
//! - `forms`: a refusal shown next to its form field; checkboxes.
//! - `assets`: the stylesheet, compiled into the binary.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use postern_ops::Ops;

mod accounts;
mod archive;
mod assets;
mod chart;
mod chrome;
mod dashboard;
mod domains;
pub mod error;
mod format;
mod forms;
mod identities;
mod log;
mod login;
mod quarantine;
mod queue;
pub mod session;
mod users;
mod view;

pub use chrome::Chrome;
pub use error::PanelError;
pub use session::{Form, Session};

/// What the panel's handlers are given.
#[derive(Clone)]
pub struct PanelState {
    pub ops: Arc<Ops>,
    /// Session cookies carry `Secure` (the admin listener is served over TLS).
    pub secure_cookies: bool,
}

/// The panel's routes (no fallback: the caller's router has one).
pub fn router<S>(state: PanelState) -> Router<S> {
    Router::new()
        .route("/", get(dashboard::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/password", get(login::password_form).post(login::password_submit))
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/new", get(accounts::new_form))
        .route("/accounts/{id}", get(accounts::show).post(accounts::save))
        .route("/accounts/{id}/lock", post(accounts::lock))
        .route("/accounts/{id}/unlock", post(accounts::unlock))
        .route("/accounts/{id}/delete", post(accounts::delete))
        .route("/identities", get(identities::list))
        .route("/identities/{id}/lock", post(identities::lock))
        .route("/identities/{id}/unlock", post(identities::unlock))
        .route("/quarantine", get(quarantine::list))
        .route("/quarantine/{id}", get(quarantine::show))
        .route("/quarantine/{id}/arf", get(quarantine::report))
        .route("/quarantine/{id}/release", post(quarantine::release))
        .route("/quarantine/{id}/request-release", post(quarantine::request_release))
        .route("/quarantine/{id}/confirm", post(quarantine::confirm))
        .route("/quarantine/{id}/delete", post(quarantine::delete))
        .route("/log", get(log::search))
        .route("/log/{key}", get(log::timeline))
        .route("/archive", get(archive::search))
        .route("/archive/export", get(archive::export))
        .route("/archive/{id}", get(archive::show))
        .route("/archive/{id}/message", get(archive::message))
        .route("/static/{file}", get(assets::file))
        .route("/domains", get(domains::list).post(domains::create))
        .route("/domains/{name}", get(domains::show))
        .route("/domains/{name}/filter", post(domains::update_filter))
        .route("/domains/{name}/abuse-contact", post(domains::update_abuse))
        .route("/domains/{name}/sender-security", post(domains::update_sender))
        .route("/domains/{name}/delete", post(domains::delete))
        .route("/domains/{name}/dkim", post(domains::create_key))
        .route("/domains/{name}/dkim/rotate", post(domains::rotate))
        .route("/domains/{name}/dkim/{selector}/delete", post(domains::delete_key))
        .route("/domains/{name}/rules", post(domains::create_domain_rule))
        .route("/domains/{name}/ip-ranges", post(domains::create_range))
        .route("/domains/{name}/ip-ranges/{id}/delete", post(domains::delete_range))
        .route("/rules", get(domains::rules_page).post(domains::create_rule))
        .route("/rules/{id}/delete", post(domains::delete_rule))
        .route("/queue", get(queue::list))
        .route("/queue/retry", post(queue::retry_all))
        .route("/queue/{id}", get(queue::show))
        .route("/queue/{id}/retry", post(queue::retry))
        .route("/queue/{id}/hold", post(queue::hold))
        .route("/queue/{id}/release", post(queue::release))
        .route("/queue/{id}/delete", post(queue::delete))
        .route("/admin-users", get(users::list).post(users::create))
        .route("/admin-users/{id}", get(users::show).post(users::update))
        .route("/admin-users/{id}/delete", post(users::delete))
        .route("/tokens", get(users::tokens_list).post(users::tokens_create))
        .route("/tokens/{id}/delete", post(users::tokens_delete))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// The Content-Security-Policy of every panel answer: our own styles and scripts only, no
/// inline script, no frames, forms post only here.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
