//! The admin REST API under `/api/v1` (JSON, bearer tokens, roles), `/health`, and the
//! OpenAPI document at `/api/v1/openapi.json`. The CLI (`postern ...`) is its client.
//!
//! In: HTTP requests. Out: JSON answers over the directory (domains, accounts, identities,
//! tokens, list rules) and the queue manager. Every change to domains, accounts, identity
//! locks or rules calls [`AdminState::on_change`] with what changed, so that the SMTP policy
//! updates its in-memory index before the answer goes out.
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
//! - [`delegations`]: IP ranges a superadmin delegates to a domain; [`ip_rules`]: which
//!   `ip` account ranges a caller may use (delegation, prefix limit, protected ranges).
//! - [`client_blocks`]: AUTH failure and daily client blocks, listed and lifted.
//! - [`rules`]: the block and allow lists, global (superadmin) and per domain.
//! - [`inbound`]: inbound relay domains and their internal servers (superadmin).
//! - [`dkim`], [`dkim_dns`]: DKIM keys per domain (generate, import, list, remove), their
//!   DNS records, the DNS check, and rotation.
//! - [`settings`]: account settings: partial objects merged and checked.
//! - [`queue`]: queue tools: list, show, retry, hold, release, delete, a message's content.
//! - [`lock_notice`]: the notice of a lock an administrator sets, through the system mailer.
//! - [`quarantine`]: held messages: list, show (headers, preview, verdict trace, ARF),
//!   the ARF report, release (superadmin), delete, confirm, request release.
//! - [`training`]: training the built-in scorer from a message or an mbox (superadmin),
//!   and where the installation's samples stand.
//! - [`archive`]: the archive: search, show, the `.eml`, mbox and zip exports (streamed).
//! - [`status`]: the server's status (superadmin): queue size, events stored and dropped.
//! - [`openapi`]: the OpenAPI 3.1 document.

mod accounts;
mod archive;
mod auth;
mod client_blocks;
mod delegations;
mod dkim;
mod dkim_dns;
mod domains;
mod error;
mod extract;
mod identities;
mod inbound;
mod ip_rules;
mod limits;
mod lock_notice;
mod openapi;
mod quarantine;
mod queue;
mod rules;
mod settings;
mod status;
mod tokens;
mod training;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};
use postern_queue::QueueManager;
use postern_store::{DirectoryChange, DirectoryStore};

pub use auth::{Caller, new_token_secret, secret_hash, try_new_token_secret};
pub use dkim::DkimAdmin;
pub use error::ApiError;
pub use ip_rules::IpAccountRules;

/// What handlers are given.
#[derive(Clone)]
pub struct AdminState {
    pub queue: QueueManager,
    /// Domains, accounts, identities and API tokens.
    pub directory: Arc<dyn DirectoryStore>,
    /// Called with what changed after every successful change of a domain, an account, an
    /// identity's lock or a rule, on a blocking thread (`spawn_blocking`), before the answer
    /// is sent.
    pub on_change: Arc<dyn Fn(&DirectoryChange) + Send + Sync>,
    /// Live counter values; `None`: the counters endpoints answer 503.
    pub limits: Option<Arc<postern_policy::Limits>>,
    /// Spam events and locks; `None`: the spam-event endpoint answers 503.
    pub locks: Option<Arc<postern_policy::Locks>>,
    /// DKIM keys, the master key, the DNS check; `None`: the DKIM endpoints answer 503.
    pub dkim: Option<DkimAdmin>,
    /// What limits `ip` account ranges: the trusted networks, the listeners' own
    /// addresses, the widest range a domain admin may use (plain values from the config).
    pub ip_rules: IpAccountRules,
    /// The AUTH failure and daily client blocks; `None`: those endpoints answer 503.
    pub client_blocks: Option<Arc<postern_policy::ClientBlocks>>,
    /// The event writer's counts for `/status`; `None`: not reported.
    pub events: Option<Arc<postern_store::EventStats>>,
    /// Lock notices of administrators' locks go out through it; `None`: none are sent.
    pub system_mail: Option<Arc<dyn postern_core::SystemMailer>>,
    /// Held messages; `None`: the quarantine endpoints answer 503.
    pub quarantine: Option<Arc<postern_pipeline::Quarantine>>,
    /// The built-in scorer's training; `None`: the training endpoints answer 503.
    pub scorer: Option<Arc<postern_scorer::ScorerTrainer>>,
    /// Copies of archived accounts' messages; `None`: the archive endpoints answer 503.
    pub archive: Option<postern_archive::Archive>,
}

impl AdminState {
    /// Runs a blocking directory call off the async threads.
    async fn directory<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn DirectoryStore) -> postern_store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let directory = Arc::clone(&self.directory);
        blocking(move || f(directory.as_ref())).await?.map_err(ApiError::from)
    }

    /// Runs `on_change` off the async threads (it may reload from the store) and waits for
    /// it, so that the answer goes out once the SMTP policy sees the change. A panic in it
    /// is logged; the change itself is done.
    async fn changed(&self, change: DirectoryChange) {
        let on_change = Arc::clone(&self.on_change);
        if let Err(e) = tokio::task::spawn_blocking(move || on_change(&change)).await {
            tracing::error!(error = %e, "directory change hook failed");
        }
    }
}

/// Runs blocking work (store, spool, password hashing) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)
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
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        .route("/openapi.json", get(openapi::document))
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .route("/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
