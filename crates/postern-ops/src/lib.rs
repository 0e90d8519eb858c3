//! The admin operations: everything an administrator can do to Postern, once, for every
//! front end. An operation takes the [`Caller`] (role and tenant scope) and typed input,
//! and returns a typed result or an [`OpError`]. Scope and role checks, validation,
//! password hashing and change notifications live here; the JSON API (`postern-admin`)
//! and the web panel are thin adapters that parse their input into these types and
//! render what comes back.
//!
//! In: an [`Ops`] context (the stores, the queue, the live policy parts), a caller, input.
//! Out: results (serde `Serialize`, `utoipa::ToSchema` so the OpenAPI document is derived
//! from them) or errors that know their [`ErrorKind`].
//!
//! Defends against: a domain admin reaching another tenant's objects (every operation
//! answers [`ErrorKind::NotFound`] for them, exactly as for objects that do not exist, and
//! no error text names them), superadmin-only actions by a domain admin
//! ([`ErrorKind::Forbidden`], only on objects it may see), invalid input (an error naming
//! the field), and store failures leaking detail ([`OpError::internal`]).
//!
//! # Layout
//! - [`caller`]: who asks; [`error`]: what went wrong; [`page`]: paging;
//!   [`object`]: ids of objects, and what deleting one answers.
//! - [`domains`]: customer domains.
//! - [`dkim`]: DKIM keys per domain and what their operations need ([`DkimAdmin`]);
//!   [`dkim_dns`]: their DNS records, the DNS check, rotation.
//! - [`rules`]: the block and allow lists; [`inbound`]: inbound relay domains.
//! - [`queue`]: queue tools; [`quarantine`]: held messages; [`training`]: the built-in
//!   scorer's training.
//! - [`accounts`]: outgoing accounts; [`account_rules`]: their names, passwords and the
//!   `ip` ranges a caller may use; [`settings`]: account settings, partial objects merged
//!   and checked.
//! - [`identities`]: the senders behind accounts, and locking them.
//! - [`lock_notice`]: the notice of a lock an administrator sets, through the system mailer.
//! - [`tokens`]: API tokens and who the caller is; [`token_secret`]: their secrets.
//! - [`admin_users`]: the web panel's users; [`panel_auth`]: their logins, sessions and
//!   the login throttle.
//! - [`limits`]: live counter values of accounts and identities, and spam events.
//! - [`status`]: the server's status (queue size, event counts).
//! - [`dashboard`]: the web panel's start page: messages per hour, spam rate, top
//!   senders, locks, the queue by state.
//! - [`delegations`]: IP ranges a superadmin delegates to a domain; [`ip_rules`]: which
//!   `ip` account ranges a caller may use.
//! - [`client_blocks`]: AUTH failure and daily client blocks, listed and lifted.
//! - [`archive`]: the archive: search, show, read a copy, prepare an export.
//! - [`log`]: log search and a message's timeline.
//!
//! # Writing an operation
//! ```text
//! pub async fn create(ops: &Ops, caller: &Caller, input: NewDomain) -> Result<Domain>
//! ```
//! Input types derive `Deserialize` (strict: `deny_unknown_fields`) and `ToSchema` (bodies)
//! or `IntoParams` (query strings); results derive `Serialize` and `ToSchema`. Blocking
//! work (store, spool, password hashing) runs through [`Ops::directory`] or [`blocking`].
//! After a change the policy must see, call [`Ops::changed`] before returning.

pub mod account_rules;
pub mod accounts;
pub mod admin_users;
pub mod archive;
pub mod caller;
pub mod client_blocks;
pub mod dashboard;
pub mod delegations;
pub mod dkim;
pub mod dkim_dns;
pub mod domains;
pub mod error;
pub mod identities;
pub mod inbound;
pub mod ip_rules;
pub mod limits;
pub mod lock_notice;
pub mod log;
pub mod object;
pub mod page;
pub mod panel_auth;
pub mod quarantine;
pub mod queue;
pub mod rules;
pub mod settings;
pub mod status;
#[cfg(test)]
mod test_ops;
pub mod token_secret;
pub mod tokens;
pub mod training;

#[cfg(test)]
mod testing;

use std::sync::Arc;

use postern_queue::QueueManager;
use postern_store::{DirectoryChange, DirectoryStore};

pub use caller::Caller;
pub use dkim::DkimAdmin;
pub use error::{ErrorKind, OpError, Result};
pub use ip_rules::IpAccountRules;

/// What operations work on: built once by the binary, shared by every front end.
#[derive(Clone)]
pub struct Ops {
    pub queue: QueueManager,
    /// Domains, accounts, identities and API tokens.
    pub directory: Arc<dyn DirectoryStore>,
    /// Called with what changed after every successful change of a domain, an account, an
    /// identity's lock or a rule, on a blocking thread (`spawn_blocking`), before the answer
    /// is sent.
    pub on_change: Arc<dyn Fn(&DirectoryChange) + Send + Sync>,
    /// Live counter values; `None`: the counter operations are unavailable.
    pub limits: Option<Arc<postern_policy::Limits>>,
    /// Spam events and locks; `None`: reporting spam events is unavailable.
    pub locks: Option<Arc<postern_policy::Locks>>,
    /// DKIM keys, the master key, the DNS check; `None`: the DKIM operations are unavailable.
    pub dkim: Option<DkimAdmin>,
    /// What limits `ip` account ranges: the trusted networks, the listeners' own
    /// addresses, the widest range a domain admin may use (plain values from the config).
    pub ip_rules: IpAccountRules,
    /// The AUTH failure and daily client blocks; `None`: those operations are unavailable.
    pub client_blocks: Option<Arc<postern_policy::ClientBlocks>>,
    /// The event writer's counts for the status; `None`: not reported.
    pub events: Option<Arc<postern_store::EventStats>>,
    /// Lock notices of administrators' locks go out through it; `None`: none are sent.
    pub system_mail: Option<Arc<dyn postern_core::SystemMailer>>,
    /// Held messages; `None`: the quarantine operations are unavailable.
    pub quarantine: Option<Arc<postern_pipeline::Quarantine>>,
    /// The built-in scorer's training; `None`: the training operations are unavailable.
    pub scorer: Option<Arc<postern_scorer::ScorerTrainer>>,
    /// Copies of archived accounts' messages; `None`: the archive operations are unavailable.
    pub archive: Option<postern_archive::Archive>,
    /// Log search over the store's message rows and events; `None`: unavailable.
    pub log: Option<Arc<dyn postern_store::LogSearch>>,
    /// The web panel's users, sessions and login throttle; `None`: no panel logins and
    /// no admin user operations.
    pub panel: Option<Arc<panel_auth::PanelAuth>>,
}

impl Ops {
    /// Runs a blocking directory call off the async threads.
    pub async fn directory<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn DirectoryStore) -> postern_store::Result<T> + Send + 'static,
    ) -> Result<T> {
        let directory = Arc::clone(&self.directory);
        blocking(move || f(directory.as_ref())).await?.map_err(OpError::from)
    }

    /// Runs `on_change` off the async threads (it may reload from the store) and waits for
    /// it, so that the operation returns once the SMTP policy sees the change. A panic in
    /// it is logged; the change itself is done.
    pub async fn changed(&self, change: DirectoryChange) {
        let on_change = Arc::clone(&self.on_change);
        if let Err(e) = tokio::task::spawn_blocking(move || on_change(&change)).await {
            tracing::error!(error = %e, "directory change hook failed");
        }
    }
}

/// Runs blocking work (store, spool, password hashing) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(OpError::internal)
}
