//! The one test suite every [`DirectoryStore`], [`DkimStore`], quarantine and log search
//! ([`LogBackend`]) backend must pass, written
//! only against the traits: SQLite runs it in `tests/conformance_sqlite.rs`, PostgreSQL in
//! `tests/conformance_postgres.rs`, unchanged.
//!
//! In: a function that makes a fresh, empty store; each case gets its own. Out: a panic
//! (plain `assert!` with a message naming what broke) at the first difference from the
//! contract. Cases are grouped by object, one file each; [`CASES`] and [`DKIM_CASES`] list
//! them so that a backend may also run them one by one.

use std::fmt::Debug;

use postern_core::tenancy::{Account, AccountKind, AccountSettings, Domain, IdentitySighting, SenderSecurity};

use crate::directory::{DirectoryStore, NewAccount, NewDomain, Page, Paged};
use crate::dkim::DkimStore;
use crate::{Result, StoreError};
pub use log::LogBackend;

mod accounts;
mod admin_users;
mod delegations;
mod dkim;
mod domains;
mod identities;
mod inbound;
mod log;
mod quarantine;
mod ranges;
mod rules;
mod scorer;
mod tokens;

/// One case: gets a fresh, empty store and panics when the store breaks the contract.
pub type Case = fn(&dyn DirectoryStore);

/// Every case, with its name.
pub const CASES: &[(&str, Case)] = &[
    ("domains::create_get_and_conflict", domains::create_get_and_conflict),
    ("domains::update_applies_only_what_is_given", domains::update_applies_only_what_is_given),
    ("domains::list_filters_scopes_and_pages", domains::list_filters_scopes_and_pages),
    ("domains::delete_cascades", domains::delete_cascades),
    ("accounts::create_and_look_up", accounts::create_and_look_up),
    ("accounts::duplicates_conflict", accounts::duplicates_conflict),
    ("accounts::update_applies_only_what_is_given", accounts::update_applies_only_what_is_given),
    ("accounts::list_filters_scopes_and_pages", accounts::list_filters_scopes_and_pages),
    ("accounts::delete_removes_identities", accounts::delete_removes_identities),
    ("accounts::snapshot_has_everything_with_hashes", accounts::snapshot_has_everything_with_hashes),
    ("accounts::ids_are_never_reused", accounts::ids_are_never_reused),
    ("ranges::nested_ranges_conflict_in_both_orders", ranges::nested_ranges_conflict_in_both_orders),
    ("ranges::single_addresses_and_ranges_conflict", ranges::single_addresses_and_ranges_conflict),
    ("ranges::ipv6_ranges", ranges::ipv6_ranges),
    ("ranges::siblings_and_families_do_not_overlap", ranges::siblings_and_families_do_not_overlap),
    ("identities::sightings_register_and_count", identities::sightings_register_and_count),
    ("identities::sightings_of_missing_accounts_are_skipped", identities::sightings_of_missing_accounts_are_skipped),
    ("identities::create_identity", identities::create_identity),
    ("identities::list_filters_scopes_and_pages", identities::list_filters_scopes_and_pages),
    ("identities::lock_and_delete", identities::lock_and_delete),
    ("identities::snapshot_has_kept_identity_locks", identities::snapshot_has_kept_identity_locks),
    ("identities::locked_accounts_and_identities", identities::locked_accounts_and_identities),
    ("tokens::create_find_list_delete", tokens::create_find_list_delete),
    ("rules::create_get_and_canonical", rules::create_get_and_canonical),
    ("rules::duplicates_conflict", rules::duplicates_conflict),
    ("rules::list_filters_scopes_and_pages", rules::list_filters_scopes_and_pages),
    ("rules::delete_and_cascade", rules::delete_and_cascade),
    ("rules::snapshot_has_every_rule", rules::snapshot_has_every_rule),
    ("delegations::create_list_overlap_and_cascade", delegations::create_list_overlap_and_cascade),
    ("inbound::create_get_list_delete", inbound::create_get_list_delete),
];

/// A backend with DKIM keys: the DKIM cases need domains too. Every type that implements
/// both traits is one.
pub trait DkimBackend: DirectoryStore + DkimStore {}

impl<T: DirectoryStore + DkimStore> DkimBackend for T {}

/// One DKIM case: gets a fresh, empty store.
pub type DkimCase = fn(&dyn DkimBackend);

/// Every DKIM case, with its name.
pub const DKIM_CASES: &[(&str, DkimCase)] = &[
    ("dkim::create_get_and_conflict", dkim::create_get_and_conflict),
    ("dkim::at_most_ten_keys_per_domain", dkim::at_most_ten_keys_per_domain),
    ("dkim::rotation_keeps_one_active_key_per_algorithm", dkim::rotation_keeps_one_active_key_per_algorithm),
    ("dkim::list_scopes_and_pages", dkim::list_scopes_and_pages),
    ("dkim::delete_and_cascade", dkim::delete_and_cascade),
];

/// Runs every DKIM case, each on a fresh store from `make`.
pub fn run_dkim(make: &dyn Fn() -> Box<dyn DkimBackend>) {
    for (name, case) in DKIM_CASES {
        eprintln!("conformance: {name}");
        let store = make();
        case(store.as_ref());
    }
}

/// Runs every case, each on a fresh store from `make`. The name of each case is printed
/// before it runs (shown by the test harness when a case fails).
pub fn run_all(make: &dyn Fn() -> Box<dyn DirectoryStore>) {
    for (name, case) in CASES {
        eprintln!("conformance: {name}");
        let store = make();
        case(store.as_ref());
    }
}

/// The default page: the first 100.
const FIRST: Page = Page { limit: 0, offset: 0 };

fn ok<T>(result: Result<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

/// The value of a lookup or update that must find its object.
fn present<T>(result: Result<Option<T>>, what: &str) -> T {
    match ok(result, what) {
        Some(value) => value,
        None => panic!("{what}: expected an object, got None"),
    }
}

/// The message of the expected `Conflict`.
fn conflict<T: Debug>(result: Result<T>, what: &str) -> String {
    match result {
        Err(StoreError::Conflict(message)) => message,
        Err(overlap @ StoreError::RangeOverlap { .. }) => overlap.to_string(),
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

fn not_found<T: Debug>(result: Result<T>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

fn new_domain(name: &str) -> NewDomain {
    NewDomain {
        name: name.into(),
        filter_enabled: false,
        sender_security: SenderSecurity::default(),
        abuse_contact: None,
    }
}

fn add_domain(store: &dyn DirectoryStore, name: &str) -> Domain {
    ok(store.create_domain(&new_domain(name)), &format!("create domain {name}"))
}

fn new_account(domain: &str, kind: AccountKind, name: &str) -> NewAccount {
    NewAccount {
        domain: domain.into(),
        kind,
        name: name.into(),
        password_hash: None,
        settings: AccountSettings::for_kind(kind),
    }
}

fn add_account(store: &dyn DirectoryStore, domain: &str, kind: AccountKind, name: &str) -> Account {
    ok(store.create_account(&new_account(domain, kind, name)), &format!("create {} account {name}", kind.name()))
}

fn sighting(account_id: i64, name: &str, at_ms: i64) -> IdentitySighting {
    IdentitySighting { account_id, name: name.into(), at_ms }
}

/// The items of a page, by a key (names, ids), for comparisons.
fn keys<T, K>(page: &Paged<T>, key: impl Fn(&T) -> K) -> Vec<K> {
    page.items.iter().map(key).collect()
}

/// Lets `updated_at_ms` move past `created_at_ms`.
fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(3));
}

/// One quarantine case: gets a fresh, empty store.
pub type QuarantineCase = fn(&dyn crate::quarantine::QuarantineStore);

/// Every quarantine case, with its name.
pub const QUARANTINE_CASES: &[(&str, QuarantineCase)] = &[
    ("quarantine::hold_get_and_conflict", quarantine::hold_get_and_conflict),
    ("quarantine::list_filters_scopes_and_pages", quarantine::list_filters_scopes_and_pages),
    ("quarantine::one_release_wins_and_is_never_purged", quarantine::one_release_wins_and_is_never_purged),
    ("quarantine::requests_and_confirmations", quarantine::requests_and_confirmations),
    ("quarantine::purge_takes_only_what_expired", quarantine::purge_takes_only_what_expired),
];

/// Runs every quarantine case, each on a fresh store from `make`.
pub fn run_quarantine(make: &dyn Fn() -> Box<dyn crate::quarantine::QuarantineStore>) {
    for (name, case) in QUARANTINE_CASES {
        eprintln!("conformance: {name}");
        let store = make();
        case(store.as_ref());
    }
}

/// Runs the scorer cases: `make` gives a fresh, empty store; `writers` gives handles on
/// one fresh store: a new one each call where the backend has several writers (another
/// node), else the same one from several threads.
pub fn run_scorer(
    make: &dyn Fn() -> Box<dyn crate::scorer::ScorerStore>,
    writers: &dyn Fn() -> Box<dyn Fn() -> std::sync::Arc<dyn crate::scorer::ScorerStore>>,
) {
    eprintln!("conformance: scorer::samples_count_once_and_move_when_relabelled");
    scorer::samples_count_once_and_move_when_relabelled(make().as_ref());
    eprintln!("conformance: scorer::concurrent_learning_loses_and_doubles_nothing");
    scorer::concurrent_learning_loses_and_doubles_nothing(&writers());
}

/// One log search case: gets a fresh, empty store.
pub type LogCase = fn(&dyn LogBackend);

/// Every log search case, with its name.
pub const LOG_CASES: &[(&str, LogCase)] = &[
    ("log::a_message_is_one_row_through_its_life", log::a_message_is_one_row_through_its_life),
    ("log::scopes_are_walls_and_both_domains_find_a_message", log::scopes_are_walls_and_both_domains_find_a_message),
    ("log::refusals_are_rows_and_the_pipelines_is_adopted", log::refusals_are_rows_and_the_pipelines_is_adopted),
    ("log::quarantine_discards_partial_deliveries_and_dsns", log::quarantine_discards_partial_deliveries_and_dsns),
    ("log::filters_time_ranges_and_pages", log::filters_time_ranges_and_pages),
    ("log::purge_takes_only_what_is_older", log::purge_takes_only_what_is_older),
    ("log::hours_and_top_senders_count_what_happened", log::hours_and_top_senders_count_what_happened),
];

/// Runs every log search case, each on a fresh store from `make`.
pub fn run_log(make: &dyn Fn() -> Box<dyn LogBackend>) {
    for (name, case) in LOG_CASES {
        eprintln!("conformance: {name}");
        let store = make();
        case(store.as_ref());
    }
}

/// One panel users case.
pub type AdminUserCase = fn(&dyn crate::admin_users::AdminUserStore);

/// Every panel users case, with its name.
pub const ADMIN_USER_CASES: &[(&str, AdminUserCase)] = &[
    ("admin_users::users_create_find_change_delete", admin_users::users_create_find_change_delete),
    ("admin_users::sessions_end_by_time_change_and_deletion", admin_users::sessions_end_by_time_change_and_deletion),
];

pub fn run_admin_users(make: &dyn Fn() -> Box<dyn crate::admin_users::AdminUserStore>) {
    for (name, case) in ADMIN_USER_CASES {
        eprintln!("conformance: {name}");
        let store = make();
        case(store.as_ref());
    }
}
