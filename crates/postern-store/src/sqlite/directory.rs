//! [`DirectoryStore`] for [`SqliteStore`]: takes the connection and hands each call to the
//! file of its table (`domains`, `accounts`, `identities`, `tokens`, `rules`,
//! `delegations`), which owns
//! the SQL.
//!
//! Behaviour every backend shares is tested by [`crate::conformance`]; the tests here are
//! about SQLite itself (corrupt rows written behind the store's back).

use postern_core::tenancy::{
    Account, AccountKind, ApiToken, Domain, Identity, IdentitySighting, InboundDomain, IpDelegation, ListRule,
    LockState,
};

use super::{SqliteStore, accounts, delegations, domains, identities, inbound, rules, tokens};
use crate::Result;
use crate::directory::{
    AccountChange, AccountFilter, AccountRecord, DirectorySnapshot, DirectoryStore, DomainChange, DomainFilter,
    IdentityFilter, NewAccount, NewDelegation, NewDomain, NewInboundDomain, NewRule, NewToken, Page, Paged, RuleFilter,
    Scope,
};

impl DirectoryStore for SqliteStore {
    fn create_domain(&self, new: &NewDomain) -> Result<Domain> {
        domains::create(&self.conn(), new)
    }

    fn domain(&self, name: &str) -> Result<Option<Domain>> {
        domains::get(&self.conn(), name)
    }

    fn list_domains(&self, scope: &Scope, filter: &DomainFilter, page: Page) -> Result<Paged<Domain>> {
        domains::list(&self.conn(), scope, filter, page)
    }

    fn update_domain(&self, name: &str, change: &DomainChange) -> Result<Option<Domain>> {
        domains::update(&mut self.conn(), name, change)
    }

    fn delete_domain(&self, name: &str) -> Result<bool> {
        domains::delete(&self.conn(), name)
    }

    fn create_account(&self, new: &NewAccount) -> Result<Account> {
        accounts::create(&mut self.conn(), new)
    }

    fn account(&self, id: i64) -> Result<Option<Account>> {
        Ok(accounts::get(&self.conn(), id)?.map(|record| record.account))
    }

    fn account_by_name(&self, kind: AccountKind, name: &str) -> Result<Option<Account>> {
        accounts::by_name(&self.conn(), kind, name)
    }

    fn list_accounts(&self, scope: &Scope, filter: &AccountFilter, page: Page) -> Result<Paged<Account>> {
        accounts::list(&self.conn(), scope, filter, page)
    }

    fn update_account(&self, id: i64, change: &AccountChange) -> Result<Option<Account>> {
        accounts::update(&mut self.conn(), id, change)
    }

    fn delete_account(&self, id: i64) -> Result<bool> {
        accounts::delete(&self.conn(), id)
    }

    fn record_identities(&self, sightings: &[IdentitySighting]) -> Result<()> {
        identities::record(&mut self.conn(), sightings)
    }

    fn create_identity(&self, account_id: i64, name: &str) -> Result<Identity> {
        identities::create(&mut self.conn(), account_id, name)
    }

    fn identity(&self, id: i64) -> Result<Option<Identity>> {
        identities::get(&self.conn(), id)
    }

    fn identity_by_name(&self, account_id: i64, name: &str) -> Result<Option<Identity>> {
        identities::by_name(&self.conn(), account_id, name)
    }

    fn list_identities(&self, scope: &Scope, filter: &IdentityFilter, page: Page) -> Result<Paged<Identity>> {
        identities::list(&self.conn(), scope, filter, page)
    }

    fn update_identity_lock(&self, id: i64, lock: &LockState) -> Result<Option<Identity>> {
        identities::update_lock(&self.conn(), id, lock)
    }

    fn locked_accounts(&self, scope: &Scope, limit: u32) -> Result<Paged<Account>> {
        accounts::locked(&self.conn(), scope, limit)
    }

    fn locked_identities(&self, scope: &Scope, limit: u32) -> Result<Paged<Identity>> {
        identities::locked(&self.conn(), scope, limit)
    }

    fn delete_identity(&self, id: i64) -> Result<bool> {
        identities::delete(&self.conn(), id)
    }

    fn create_token(&self, new: &NewToken) -> Result<ApiToken> {
        tokens::create(&self.conn(), new)
    }

    fn token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>> {
        tokens::by_secret_hash(&self.conn(), secret_hash)
    }

    fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        tokens::list(&self.conn())
    }

    fn delete_token(&self, id: i64) -> Result<bool> {
        tokens::delete(&self.conn(), id)
    }

    /// Read in one transaction, so that accounts and rules never refer to a domain missing
    /// from it.
    fn snapshot(&self) -> Result<DirectorySnapshot> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let snapshot = DirectorySnapshot {
            domains: domains::all(&tx)?,
            accounts: accounts::all(&tx)?,
            rules: rules::all(&tx)?,
            identity_locks: identities::kept_locks(&tx)?,
            inbound_domains: inbound::all(&tx)?,
        };
        tx.commit()?;
        Ok(snapshot)
    }

    fn account_record(&self, id: i64) -> Result<Option<AccountRecord>> {
        accounts::get(&self.conn(), id)
    }

    fn all_rules(&self) -> Result<Vec<ListRule>> {
        rules::all(&self.conn())
    }

    fn create_rule(&self, new: &NewRule) -> Result<ListRule> {
        rules::create(&mut self.conn(), new)
    }

    fn rule(&self, id: i64) -> Result<Option<ListRule>> {
        rules::get(&self.conn(), id)
    }

    fn list_rules(&self, scope: &Scope, filter: &RuleFilter, page: Page) -> Result<Paged<ListRule>> {
        rules::list(&self.conn(), scope, filter, page)
    }

    fn delete_rule(&self, id: i64) -> Result<bool> {
        rules::delete(&self.conn(), id)
    }

    fn create_delegation(&self, new: &NewDelegation) -> Result<IpDelegation> {
        delegations::create(&mut self.conn(), new)
    }

    fn delegation(&self, id: i64) -> Result<Option<IpDelegation>> {
        delegations::get(&self.conn(), id)
    }

    fn list_delegations(&self, scope: &Scope, domain: Option<&str>, page: Page) -> Result<Paged<IpDelegation>> {
        delegations::list(&self.conn(), scope, domain, page)
    }

    fn delete_delegation(&self, id: i64) -> Result<bool> {
        delegations::delete(&self.conn(), id)
    }

    fn create_inbound_domain(&self, new: &NewInboundDomain) -> Result<InboundDomain> {
        inbound::create(&self.conn(), new)
    }

    fn inbound_domain(&self, name: &str) -> Result<Option<InboundDomain>> {
        inbound::get(&self.conn(), name)
    }

    fn list_inbound_domains(&self, scope: &Scope, page: Page) -> Result<Paged<InboundDomain>> {
        inbound::list(&self.conn(), scope, page)
    }

    fn all_inbound_domains(&self) -> Result<Vec<InboundDomain>> {
        inbound::all(&self.conn())
    }

    fn delete_inbound_domain(&self, name: &str) -> Result<bool> {
        inbound::delete(&self.conn(), name)
    }
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::{AccountSettings, Role, SenderSecurity};

    use super::*;
    use crate::StoreError;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("postern.db")).unwrap();
        store
            .create_domain(&NewDomain {
                name: "example.com".into(),
                filter_enabled: false,
                sender_security: SenderSecurity::default(),
                abuse_contact: None,
            })
            .unwrap();
        (dir, store)
    }

    fn account(store: &SqliteStore) -> Account {
        store
            .create_account(&NewAccount {
                domain: "example.com".into(),
                kind: AccountKind::User,
                name: "a@example.com".into(),
                password_hash: None,
                settings: AccountSettings::for_kind(AccountKind::User),
            })
            .unwrap()
    }

    fn corrupt(store: &SqliteStore, sql: &str) {
        store.conn().execute(sql, []).unwrap();
    }

    #[test]
    fn corrupt_account_documents_are_errors() {
        let (_dir, store) = store();
        let id = account(&store).id;
        corrupt(&store, "UPDATE accounts SET settings = '{\"limits\": ' WHERE id = 1");
        assert!(matches!(store.account(id), Err(StoreError::Json(_))));
        assert!(matches!(
            store.list_accounts(&Scope::All, &AccountFilter::default(), Page::default()),
            Err(StoreError::Json(_))
        ));
        assert!(matches!(store.snapshot(), Err(StoreError::Json(_))));
        // A corrupt lock still shows up (as an error) when filtering on the lock.
        corrupt(&store, "UPDATE accounts SET settings = '{}', lock = 'nope'");
        let locked = AccountFilter { locked: Some(true), ..AccountFilter::default() };
        assert!(matches!(store.list_accounts(&Scope::All, &locked, Page::default()), Err(StoreError::Json(_))));
        corrupt(&store, "UPDATE accounts SET lock = '{}', kind = 'robot'");
        assert!(matches!(store.account(id), Err(StoreError::Json(_))));
    }

    #[test]
    fn corrupt_domain_identity_and_token_documents_are_errors() {
        let (_dir, store) = store();
        let id = account(&store).id;
        let identity = store.create_identity(id, "x@example.com").unwrap();
        let token = NewToken { name: "t".into(), role: Role::Superadmin, domains: vec![], secret_hash: "h".into() };
        store.create_token(&token).unwrap();
        corrupt(&store, "UPDATE domains SET sender_security = '[1'");
        assert!(matches!(store.domain("example.com"), Err(StoreError::Json(_))));
        corrupt(&store, "UPDATE identities SET lock = '{\"unknown\": 1}'");
        assert!(matches!(store.identity(identity.id), Err(StoreError::Json(_))));
        corrupt(&store, "UPDATE api_tokens SET domains = 'x'");
        assert!(matches!(store.token_by_secret_hash("h"), Err(StoreError::Json(_))));
        corrupt(&store, "UPDATE api_tokens SET domains = '[]', role = 'root'");
        assert!(matches!(store.list_tokens(), Err(StoreError::Json(_))));
    }

    #[test]
    fn corrupt_rule_rows_are_errors() {
        let (_dir, store) = store();
        let new = NewRule {
            domain: Some("example.com".into()),
            kind: postern_core::tenancy::ListKind::Ip,
            value: "192.0.2.7".into(),
            action: postern_core::tenancy::ListAction::Reject,
            comment: None,
        };
        let rule = store.create_rule(&new).unwrap();
        corrupt(&store, "UPDATE list_rules SET action = 'maybe'");
        assert!(matches!(store.rule(rule.id), Err(StoreError::Json(_))));
        assert!(matches!(store.snapshot(), Err(StoreError::Json(_))));
        corrupt(&store, "UPDATE list_rules SET action = 'allow', kind = 'asn'");
        assert!(matches!(
            store.list_rules(&Scope::All, &RuleFilter::default(), Page::default()),
            Err(StoreError::Json(_))
        ));
    }

    #[test]
    fn ip_names_are_stored_canonical() {
        let (_dir, store) = store();
        let account = store
            .create_account(&NewAccount {
                domain: "example.com".into(),
                kind: AccountKind::Ip,
                name: "192.0.2.7".into(),
                password_hash: None,
                settings: AccountSettings::for_kind(AccountKind::Ip),
            })
            .unwrap();
        assert_eq!(account.name, "192.0.2.7/32");
        assert!(store.account_by_name(AccountKind::Ip, "192.0.2.7/32").unwrap().is_some());
    }
}
