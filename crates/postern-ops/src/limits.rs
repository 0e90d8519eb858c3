//! Limits and spam (SPEC.md §3): the live counter values of an account or an identity
//! ([`account_counters`], [`identity_counters`]), and the spam event that content scanners
//! report ([`spam_event`]), which may lock the account or the identity exactly as a spam
//! message through SMTP would. A counter counts only while its limit is set: each row says
//! whether it is `counted`.
//!
//! Other tenants' accounts and identities are "no such ..." before anything else, so a
//! server without counters answers [`ErrorKind::Unavailable`] only for the caller's own.
//!
//! [`ErrorKind::Unavailable`]: crate::ErrorKind::Unavailable

use postern_core::tenancy::{Account, LockState};
use serde::{Deserialize, Serialize};

use crate::accounts::visible_account;
use crate::identities::{LONGEST_NAME, foreign_address, name_allowed, visible_identity};
use crate::{Caller, OpError, Ops, Result};

/// What the answer says about counters whose limit is 0.
const NOT_COUNTED: &str =
    "a counter counts only while its limit is set (not 0): nothing is counted while no limit is set";

/// A spam message of an account (and identity), reported by a content scanner.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpamEvent {
    pub account_id: i64,
    /// The identity that sent it (1 to 320 characters).
    pub identity: Option<String>,
}

/// The live counter values of an account or an identity, with its spam count and lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counters {
    /// The account's (in an account's counters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    pub counters: Vec<CounterRow>,
    /// The identity's (in an identity's counters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<i64>,
    pub lock: LockState,
    pub note: &'static str,
    pub spam: SpamCount,
}

/// One counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CounterRow {
    /// Always 0 while the counter is not counted.
    pub count: u64,
    /// A counter counts only while its limit is set.
    pub counted: bool,
    /// 0: no limit.
    pub limit: u64,
    pub name: String,
}

/// Spam messages within the lock's window, and what locks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SpamCount {
    pub count: u64,
    pub threshold: u32,
    pub window_secs: u64,
}

/// What a spam event counted and locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SpamOutcome {
    pub account_count: u64,
    pub account_id: i64,
    /// The account was locked by this event.
    pub account_locked: bool,
    pub identity: Option<String>,
    pub identity_count: u64,
    /// The identity was locked by this event.
    pub identity_locked: bool,
}

fn unavailable() -> OpError {
    OpError::unavailable("counters are not available on this server")
}

pub async fn account_counters(ops: &Ops, caller: &Caller, id: &str) -> Result<Counters> {
    let account = visible_account(ops, caller, id).await?;
    let limits = ops.limits.as_ref().ok_or_else(unavailable)?;
    let counters = rows(limits.account_values(&account).await);
    let spam = spam_count(ops, &account, None).await?;
    Ok(Counters {
        account_id: Some(account.id),
        counters,
        identity_id: None,
        lock: account.lock,
        note: NOT_COUNTED,
        spam,
    })
}

pub async fn identity_counters(ops: &Ops, caller: &Caller, id: &str) -> Result<Counters> {
    let identity = visible_identity(ops, caller, id).await?;
    let account_id = identity.account_id;
    let account = ops.directory(move |d| d.account(account_id)).await?;
    let account = account.ok_or_else(|| OpError::not_found("no such identity"))?;
    let limits = ops.limits.as_ref().ok_or_else(unavailable)?;
    let counters = rows(limits.identity_values(&account, &identity.name).await);
    let spam = spam_count(ops, &account, Some(&identity.name)).await?;
    Ok(Counters {
        account_id: None,
        counters,
        identity_id: Some(identity.id),
        lock: identity.lock,
        note: NOT_COUNTED,
        spam,
    })
}

/// Reports one spam message of an account (and identity): counted, and locks what crossed
/// its limit.
pub async fn spam_event(ops: &Ops, caller: &Caller, input: SpamEvent) -> Result<SpamOutcome> {
    let account_id = input.account_id;
    let account = ops.directory(move |d| d.account(account_id)).await?;
    let account = account
        .filter(|a| caller.scope.allows(&a.domain))
        .ok_or_else(|| OpError::not_found("no such account").with_field("account_id"))?;
    let identity = match input.identity.as_deref().map(str::trim) {
        Some(i) if i.is_empty() || i.len() > LONGEST_NAME || i.chars().any(char::is_control) => {
            return Err(OpError::bad_field("identity", "an identity is 1 to 320 characters"));
        }
        Some(i) if !name_allowed(caller, i) => return Err(foreign_address("identity")),
        other => other.map(str::to_string),
    };
    let locks = ops.locks.as_ref().ok_or_else(unavailable)?;
    let outcome = locks.spam(&account, identity.as_deref()).await;
    Ok(SpamOutcome {
        account_count: outcome.account_count,
        account_id: account.id,
        account_locked: outcome.account_locked,
        identity,
        identity_count: outcome.identity_count,
        identity_locked: outcome.identity_locked,
    })
}

async fn spam_count(ops: &Ops, account: &Account, identity: Option<&str>) -> Result<SpamCount> {
    let locks = ops.locks.as_ref().ok_or_else(unavailable)?;
    let lock = &account.settings.lock;
    let count = locks.spam_count(account, identity).await;
    Ok(SpamCount { count, threshold: lock.spam_threshold, window_secs: lock.spam_window_secs })
}

/// Each counter with `counted`: a counter counts only while its limit is set (not 0), so
/// that an account without limits costs the SMTP path no counter round trip (with Redis,
/// one per session). `count` of a counter that is not counted is always 0.
fn rows(values: Vec<(String, u64, u64)>) -> Vec<CounterRow> {
    values.into_iter().map(|(name, count, limit)| CounterRow { count, counted: limit > 0, limit, name }).collect()
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::AccountKind;

    use super::*;
    use crate::ErrorKind;
    use crate::accounts::{self, AccountCreate};
    use crate::testing::{TestOps, admin_of, superadmin};

    #[tokio::test]
    async fn another_tenants_account_is_missing_before_counters_are_unavailable() {
        let t = TestOps::new();
        t.domain("a.example").await;
        t.domain("b.example").await;
        let ip = |domain: &str, name: &str| AccountCreate {
            domain: domain.into(),
            kind: AccountKind::Ip,
            name: Some(name.into()),
            password: None,
            settings: None,
            cover_trusted: false,
        };
        let mine = accounts::create(&t.ops, &superadmin(), ip("a.example", "192.0.2.0/28")).await.unwrap().id;
        let theirs = accounts::create(&t.ops, &superadmin(), ip("b.example", "198.51.100.0/28")).await.unwrap().id;
        let a = admin_of("a.example");

        let e = account_counters(&t.ops, &a, &theirs.to_string()).await.err().unwrap();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such account"));
        let e = account_counters(&t.ops, &a, &mine.to_string()).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Unavailable);

        let event = |account_id, identity: Option<&str>| SpamEvent { account_id, identity: identity.map(Into::into) };
        let e = spam_event(&t.ops, &a, event(theirs, None)).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::NotFound, Some("account_id")));
        let e = spam_event(&t.ops, &a, event(mine, Some(" "))).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::BadInput, Some("identity")));
        let e = spam_event(&t.ops, &a, event(mine, Some("x@b.example"))).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Forbidden, Some("identity")));
        let e = spam_event(&t.ops, &a, event(mine, Some("x@a.example"))).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Unavailable);
    }
}
