//! The admin REST API under `/api/v1` (JSON, bearer tokens, roles), `/health`, `/metrics`,
//! and the OpenAPI document at `/api/v1/openapi.json`. The CLI (`postern ...`) is its client.
//! The web panel ([`postern_panel`]) is served beside it at `/`, on the same operations; an
//! unknown path outside `/api/` gets the panel's HTML 404.
//!
//! The API is a thin adapter over the operations layer ([`postern_ops`]): a handler
//! parses its input strictly ([`extract`]), calls the operation with the [`Caller`] its
//! token stands for, and turns the typed result into JSON and an [`postern_ops::OpError`]
//! into an [`ApiError`] with its HTTP status. The OpenAPI document is derived from the
//! handlers' `#[utoipa::path]` annotations and the operations' types ([`openapi`]).
//!
//! In: HTTP requests. Out: JSON answers over the directory (domains, accounts, identities,
//! tokens, web panel users, list rules) and the queue manager. Every change to domains,
//! accounts, identity locks or rules calls [`Ops::on_change`] with what changed, so that
//! the SMTP policy updates its in-memory index before the answer goes out.
//!
//! Defends against: requests without a known token (401, never saying why), a domain admin
//! reaching another tenant's objects (404 as if they did not exist, on every endpoint),
//! superadmin-only actions by a domain admin (403, only on objects it may see), malformed
//! input of any kind (4xx JSON naming the field; see [`extract`]), and store failures
//! leaking detail (500 with a generic text, the detail in the log).
//!
//! # Layout
//! - [`auth`]: bearer-token middleware, [`Caller`], [`new_token_secret`], [`secret_hash`].
//! - [`extract`]: strict JSON bodies, query strings and path ids.
//! - [`error`]: [`ApiError`], the one JSON error shape.
//! - [`domains`], [`accounts`], [`identities`], [`tokens`]: the tenancy endpoints.
//! - [`admin_users`]: the web panel's users (superadmin); never their password hashes.
//! - [`delegations`]: IP ranges a superadmin delegates to a domain; [`postern_ops::ip_rules`]: which
//!   `ip` account ranges a caller may use (delegation, prefix limit, protected ranges).
//! - [`client_blocks`]: AUTH failure and daily client blocks, listed and lifted.
//! - [`rules`]: the block and allow lists, global (superadmin) and per domain.
//! - [`inbound`]: inbound relay domains and their internal servers (superadmin).
//! - [`dkim`], [`dkim_dns`]: DKIM keys per domain (generate, import, list, remove), their
//!   DNS records, the DNS check, and rotation.
//! - [`queue`]: queue tools: list, show, retry, hold, release, delete, a message's content.
//! - [`quarantine`]: held messages: list, show (headers, preview, verdict trace, ARF),
//!   the ARF report, release (superadmin), delete, confirm, request release.
//! - [`training`]: training the built-in scorer from a message or an mbox (superadmin),
//!   and where the installation's samples stand.
//! - [`archive`]: the archive over [`postern_ops::archive`]: search, show, the `.eml`, and
//!   mbox and zip exports streamed into the body.
//! - [`log`]: log search and a message's timeline.
//! - [`status`]: the server's status (superadmin): queue size, events stored and dropped.
//! - [`openapi`]: the OpenAPI 3.1 document.
//! - [`health`]: `/health`, the spool, the store, Redis and the engines asked at once.
//! - [`metrics`]: `/metrics`, Prometheus text behind `[metrics]` (allowed peers or a token).

mod accounts;
mod admin_users;
mod archive;
mod auth;
mod client_blocks;
mod delegations;
mod dkim;
mod dkim_dns;
mod domains;
mod error;
mod extract;
pub mod health;
mod identities;
mod inbound;
mod limits;
mod log;
pub mod metrics;
mod openapi;
mod quarantine;
mod queue;
mod rules;
mod status;
mod tokens;
mod training;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

pub use auth::{new_token_secret, secret_hash, try_new_token_secret};
pub use error::ApiError;
pub use postern_ops::{Caller, DkimAdmin, IpAccountRules, Ops};

/// What handlers are given: the operations' context ([`Ops`]), shared with every other
/// front end. Handlers reach its parts through `Deref` (`state.queue`).
#[derive(Clone)]
pub struct AdminState {
    ops: Arc<Ops>,
    /// What `/health` asks; `None`: it answers `ok` without checks.
    pub health: Option<Arc<health::Health>>,
    /// What `/metrics` serves; `None`: it answers 404.
    pub metrics: Option<Arc<metrics::MetricsEndpoint>>,
    /// Served over TLS: the web panel's session cookie is `Secure`.
    pub tls: bool,
}

impl AdminState {
    /// The API over `ops`, without `/health` checks or `/metrics`.
    pub fn new(ops: Ops) -> AdminState {
        AdminState { ops: Arc::new(ops), health: None, metrics: None, tls: false }
    }

    /// `/health` asks `health`.
    pub fn with_health(mut self, health: Option<Arc<health::Health>>) -> AdminState {
        self.health = health;
        self
    }

    /// `/metrics` serves `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Arc<metrics::MetricsEndpoint>>) -> AdminState {
        self.metrics = metrics;
        self
    }

    /// Served over TLS (the panel's cookies are then `Secure`).
    pub fn with_tls(mut self, tls: bool) -> AdminState {
        self.tls = tls;
        self
    }

    /// The operations' context, for calls into [`postern_ops`].
    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    /// The operations' context, shared (the web panel runs on the same one).
    pub fn shared_ops(&self) -> Arc<Ops> {
        Arc::clone(&self.ops)
    }
}

impl std::ops::Deref for AdminState {
    type Target = Ops;

    fn deref(&self) -> &Ops {
        &self.ops
    }
}

pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/whoami", get(tokens::whoami))
        .route("/domains", get(domains::list).post(domains::create))
        .route("/domains/{name}", get(domains::show).patch(domains::update).delete(domains::delete))
        .route("/domains/{name}/ip-ranges", get(delegations::list).post(delegations::create))
        .route("/domains/{name}/ip-ranges/{id}", delete(delegations::delete))
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/{id}", get(accounts::show).patch(accounts::update).delete(accounts::delete))
        .route("/identities", get(identities::list).post(identities::create))
        .route("/identities/{id}", get(identities::show).patch(identities::update).delete(identities::delete))
        .route("/accounts/{id}/counters", get(limits::account_counters))
        .route("/identities/{id}/counters", get(limits::identity_counters))
        .route("/spam-events", post(limits::spam_event))
        .route("/rules", get(rules::list).post(rules::create))
        .route("/rules/{id}", get(rules::show).delete(rules::delete))
        .route("/inbound-domains", get(inbound::list).post(inbound::create))
        .route("/inbound-domains/{name}", get(inbound::show).delete(inbound::delete))
        .route("/dkim", get(dkim::list_all))
        .route("/domains/{name}/dkim/keys", get(dkim::list).post(dkim::create))
        .route("/domains/{name}/dkim/keys/{selector}", get(dkim::show).delete(dkim::delete))
        .route("/domains/{name}/dkim/dns", get(dkim_dns::records))
        .route("/domains/{name}/dkim/check", get(dkim_dns::check_dns))
        .route("/domains/{name}/dkim/rotate", post(dkim_dns::rotate))
        .route("/client-blocks", get(client_blocks::list))
        .route("/client-blocks/{ip}", delete(client_blocks::lift))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::delete))
        .route("/admin-users", get(admin_users::list).post(admin_users::create))
        .route("/admin-users/{id}", get(admin_users::show).patch(admin_users::update).delete(admin_users::delete))
        .route("/queue", get(queue::list))
        .route("/queue/retry", post(queue::retry_all))
        .route("/queue/{id}", get(queue::show).delete(queue::delete))
        .route("/queue/{id}/content", get(queue::content))
        .route("/status", get(status::show))
        .route("/queue/{id}/retry", post(queue::retry))
        .route("/queue/{id}/hold", post(queue::hold))
        .route("/queue/{id}/release", post(queue::release))
        .route("/quarantine", get(quarantine::list))
        .route("/quarantine/{id}", get(quarantine::show).delete(quarantine::delete))
        .route("/quarantine/{id}/arf", get(quarantine::report))
        .route("/quarantine/{id}/release", post(quarantine::release))
        .route("/quarantine/{id}/confirm", post(quarantine::confirm))
        .route("/quarantine/{id}/request-release", post(quarantine::request_release))
        .route("/training", get(training::show).post(training::learn))
        .route("/archive", get(archive::search))
        .route("/archive/export", get(archive::export))
        .route("/archive/{id}", get(archive::show))
        .route("/archive/{id}/message", get(archive::message))
        .route("/log", get(log::search))
        .route("/log/{key}", get(log::show))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        .route("/openapi.json", get(openapi::document))
        .method_not_allowed_fallback(method_not_allowed);
    let panel = postern_panel::router(postern_panel::PanelState { ops: state.shared_ops(), secure_cookies: state.tls });
    Router::new()
        .route("/health", get(health::show))
        .route("/metrics", get(metrics::show))
        .nest("/api/v1", api)
        .merge(panel)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// An unknown path: a JSON error under `/api/`, the panel's page elsewhere (a browser).
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        ApiError::not_found("no such endpoint").into_response()
    } else {
        postern_panel::PanelError::not_found().into_response()
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
