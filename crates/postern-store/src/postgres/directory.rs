//! [`DirectoryStore`] for [`PgStore`]: each call moves its arguments into a future on the
//! store's runtime (the module doc of `postgres` says why) and hands it to the file of its
//! table (`domains`, `accounts`, `identities`, `tokens`, `rules`, `delegations`,
//! `inbound`), which owns the SQL.
//!
//! Behaviour every backend shares is tested by [`crate::conformance`]
//! (`tests/conformance_postgres.rs`).

use postern_core::tenancy::{
    Account, AccountKind, ApiToken, Domain, Identity, IdentitySighting, InboundDomain, IpDelegation, ListRule,
    LockState,
};
use tokio_postgres::IsolationLevel;

use super::{PgStore, accounts, delegations, domains, identities, inbound, rules, tokens};
use crate::Result;
use crate::directory::{
    AccountChange, AccountFilter, AccountRecord, DirectorySnapshot, DirectoryStore, DomainChange, DomainFilter,
    IdentityFilter, NewAccount, NewDelegation, NewDomain, NewInboundDomain, NewRule, NewToken, Page, Paged, RuleFilter,
    Scope,
};

impl DirectoryStore for PgStore {
    fn create_domain(&self, new: &NewDomain) -> Result<Domain> {
        let new = new.clone();
        self.with_client(move |c| async move { domains::create(&c, &new).await })
    }

    fn domain(&self, name: &str) -> Result<Option<Domain>> {
        let name = name.to_owned();
        self.with_client(move |c| async move { domains::get(&c, &name).await })
    }

    fn list_domains(&self, scope: &Scope, filter: &DomainFilter, page: Page) -> Result<Paged<Domain>> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.with_client(move |c| async move { domains::list(&c, &scope, &filter, page).await })
    }

    fn update_domain(&self, name: &str, change: &DomainChange) -> Result<Option<Domain>> {
        let (name, change) = (name.to_owned(), change.clone());
        self.with_client(move |mut c| async move { domains::update(&mut c, &name, &change).await })
    }

    fn delete_domain(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.with_client(move |c| async move { domains::delete(&c, &name).await })
    }

    fn create_account(&self, new: &NewAccount) -> Result<Account> {
        let new = new.clone();
        self.with_client(move |mut c| async move { accounts::create(&mut c, &new).await })
    }

    fn account(&self, id: i64) -> Result<Option<Account>> {
        self.with_client(move |c| async move { Ok(accounts::get(&c, id).await?.map(|record| record.account)) })
    }

    fn account_by_name(&self, kind: AccountKind, name: &str) -> Result<Option<Account>> {
        let name = name.to_owned();
        self.with_client(move |c| async move { accounts::by_name(&c, kind, &name).await })
    }

    fn list_accounts(&self, scope: &Scope, filter: &AccountFilter, page: Page) -> Result<Paged<Account>> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.with_client(move |c| async move { accounts::list(&c, &scope, &filter, page).await })
    }

    fn update_account(&self, id: i64, change: &AccountChange) -> Result<Option<Account>> {
        let change = change.clone();
        self.with_client(move |mut c| async move { accounts::update(&mut c, id, &change).await })
    }

    fn delete_account(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move { accounts::delete(&c, id).await })
    }

    fn record_identities(&self, sightings: &[IdentitySighting]) -> Result<()> {
        if sightings.is_empty() {
            return Ok(());
        }
        let sightings = sightings.to_vec();
        self.with_client(move |c| async move { identities::record(&c, &sightings).await })
    }

    fn create_identity(&self, account_id: i64, name: &str) -> Result<Identity> {
        let name = name.to_owned();
        self.with_client(move |c| async move { identities::create(&c, account_id, &name).await })
    }

    fn identity(&self, id: i64) -> Result<Option<Identity>> {
        self.with_client(move |c| async move { identities::get(&c, id).await })
    }

    fn identity_by_name(&self, account_id: i64, name: &str) -> Result<Option<Identity>> {
        let name = name.to_owned();
        self.with_client(move |c| async move { identities::by_name(&c, account_id, &name).await })
    }

    fn list_identities(&self, scope: &Scope, filter: &IdentityFilter, page: Page) -> Result<Paged<Identity>> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.with_client(move |c| async move { identities::list(&c, &scope, &filter, page).await })
    }

    fn update_identity_lock(&self, id: i64, lock: &LockState) -> Result<Option<Identity>> {
        let lock = lock.clone();
        self.with_client(move |c| async move { identities::update_lock(&c, id, &lock).await })
    }

    fn locked_accounts(&self, scope: &Scope, limit: u32) -> Result<Paged<Account>> {
        let scope = scope.clone();
        self.with_client(move |c| async move { accounts::locked(&c, &scope, limit).await })
    }

    fn locked_identities(&self, scope: &Scope, limit: u32) -> Result<Paged<Identity>> {
        let scope = scope.clone();
        self.with_client(move |c| async move { identities::locked(&c, &scope, limit).await })
    }

    fn delete_identity(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move { identities::delete(&c, id).await })
    }

    fn create_token(&self, new: &NewToken) -> Result<ApiToken> {
        let new = new.clone();
        self.with_client(move |c| async move { tokens::create(&c, &new).await })
    }

    fn token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>> {
        let secret_hash = secret_hash.to_owned();
        self.with_client(move |c| async move { tokens::by_secret_hash(&c, &secret_hash).await })
    }

    fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        self.with_client(move |c| async move { tokens::list(&c).await })
    }

    fn delete_token(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move { tokens::delete(&c, id).await })
    }

    /// Read in one REPEATABLE READ transaction, so that accounts and rules never refer to
    /// a domain missing from it.
    fn snapshot(&self) -> Result<DirectorySnapshot> {
        self.with_client(move |mut c| async move {
            let tx =
                c.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
            let snapshot = DirectorySnapshot {
                domains: domains::all(&tx).await?,
                accounts: accounts::all(&tx).await?,
                rules: rules::all(&tx).await?,
                identity_locks: identities::kept_locks(&tx).await?,
                inbound_domains: inbound::all(&tx).await?,
            };
            tx.commit().await?;
            Ok(snapshot)
        })
    }

    fn account_record(&self, id: i64) -> Result<Option<AccountRecord>> {
        self.with_client(move |c| async move { accounts::get(&c, id).await })
    }

    fn all_rules(&self) -> Result<Vec<ListRule>> {
        self.with_client(move |c| async move { rules::all(&c).await })
    }

    fn create_rule(&self, new: &NewRule) -> Result<ListRule> {
        let new = new.clone();
        self.with_client(move |mut c| async move { rules::create(&mut c, &new).await })
    }

    fn rule(&self, id: i64) -> Result<Option<ListRule>> {
        self.with_client(move |c| async move { rules::get(&c, id).await })
    }

    fn list_rules(&self, scope: &Scope, filter: &RuleFilter, page: Page) -> Result<Paged<ListRule>> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.with_client(move |c| async move { rules::list(&c, &scope, &filter, page).await })
    }

    fn delete_rule(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move { rules::delete(&c, id).await })
    }

    fn create_delegation(&self, new: &NewDelegation) -> Result<IpDelegation> {
        let new = new.clone();
        self.with_client(move |mut c| async move { delegations::create(&mut c, &new).await })
    }

    fn delegation(&self, id: i64) -> Result<Option<IpDelegation>> {
        self.with_client(move |c| async move { delegations::get(&c, id).await })
    }

    fn list_delegations(&self, scope: &Scope, domain: Option<&str>, page: Page) -> Result<Paged<IpDelegation>> {
        let (scope, domain) = (scope.clone(), domain.map(str::to_owned));
        self.with_client(move |c| async move { delegations::list(&c, &scope, domain.as_deref(), page).await })
    }

    fn delete_delegation(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move { delegations::delete(&c, id).await })
    }

    fn create_inbound_domain(&self, new: &NewInboundDomain) -> Result<InboundDomain> {
        let new = new.clone();
        self.with_client(move |c| async move { inbound::create(&c, &new).await })
    }

    fn inbound_domain(&self, name: &str) -> Result<Option<InboundDomain>> {
        let name = name.to_owned();
        self.with_client(move |c| async move { inbound::get(&c, &name).await })
    }

    fn list_inbound_domains(&self, scope: &Scope, page: Page) -> Result<Paged<InboundDomain>> {
        let scope = scope.clone();
        self.with_client(move |c| async move { inbound::list(&c, &scope, page).await })
    }

    fn all_inbound_domains(&self) -> Result<Vec<InboundDomain>> {
        self.with_client(move |c| async move { inbound::all(&c).await })
    }

    fn delete_inbound_domain(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.with_client(move |c| async move { inbound::delete(&c, &name).await })
    }
}
