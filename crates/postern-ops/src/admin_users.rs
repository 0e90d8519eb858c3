//! The web panel's users: list, create, change and delete them (superadmin only), and a
//! user's change of its own password.
//!
//! Defends against: weak or over-long passwords (the account password rules), names that
//! cannot be typed at a login prompt, domain admins without domains or with domains that
//! do not exist, and locking everyone out (the last superadmin can be neither deleted nor
//! made a domain admin).

use std::sync::Arc;

use postern_core::tenancy::{AdminUser, Role};
use postern_store::{AdminUserChange, AdminUserStore, NewAdminUser, Paged};
use serde::Deserialize;

use crate::object::{Deleted, object_id};
use crate::page::page;
use crate::panel_auth::PanelSession;
use crate::tokens::token_domains;
use crate::{Caller, ErrorKind, OpError, Ops, Result, blocking};

const LONGEST_NAME: usize = 64;

/// Which page of users to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminUserQuery {
    /// At most this many (0: 100; at most 1000).
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// A new panel user.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUserCreate {
    /// 1 to 64 letters, digits and `.-_@`; unique without regard to case.
    pub name: String,
    /// 10 to 1024 characters.
    #[schema(write_only)]
    pub password: String,
    pub role: Role,
    /// `domain_admin`: at least one existing domain; `superadmin`: none.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// What to change of a user; what is not given is kept. Any change ends its sessions.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUserUpdate {
    #[schema(write_only)]
    pub password: Option<String>,
    pub role: Option<Role>,
    pub domains: Option<Vec<String>>,
}

fn users(ops: &Ops) -> Result<Arc<dyn AdminUserStore>> {
    ops.panel
        .as_ref()
        .map(|p| Arc::clone(&p.users))
        .ok_or_else(|| OpError::unavailable("admin users are not available"))
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= LONGEST_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_@".contains(&b));
    if !ok {
        return Err(OpError::bad_field("name", format!("1 to {LONGEST_NAME} letters, digits and .-_@")));
    }
    Ok(name.to_string())
}

async fn hash(password: String) -> Result<String> {
    postern_policy::password::check_new(&password).map_err(|e| OpError::bad_field("password", e))?;
    blocking(move || postern_policy::password::hash(&password)).await?.map_err(OpError::internal)
}

pub async fn list(ops: &Ops, caller: &Caller, q: AdminUserQuery) -> Result<Paged<AdminUser>> {
    caller.require_superadmin("manage admin users")?;
    let page = page(q.limit, q.offset)?;
    let store = users(ops)?;
    let all = blocking(move || store.list_admin_users()).await??;
    let limit = page.effective_limit();
    let items = all.iter().skip(usize::try_from(page.offset).unwrap_or(usize::MAX)).take(limit as usize).cloned();
    Ok(Paged { items: items.collect(), total: all.len() as u64, limit, offset: page.offset })
}

pub async fn show(ops: &Ops, caller: &Caller, id: &str) -> Result<AdminUser> {
    caller.require_superadmin("manage admin users")?;
    let id = object_id(id, "admin user")?;
    let store = users(ops)?;
    blocking(move || store.admin_user(id)).await??.ok_or_else(|| OpError::not_found("no such admin user"))
}

pub async fn create(ops: &Ops, caller: &Caller, input: AdminUserCreate) -> Result<AdminUser> {
    caller.require_superadmin("manage admin users")?;
    let name = check_name(&input.name)?;
    let domains = token_domains(ops, input.role, input.domains).await?;
    let password_hash = hash(input.password).await?;
    let store = users(ops)?;
    let new = NewAdminUser { name, role: input.role, domains, password_hash };
    let user = blocking(move || store.create_admin_user(&new)).await??;
    tracing::info!(by = %caller.name, user = %user.name, "admin user created");
    Ok(user)
}

pub async fn update(ops: &Ops, caller: &Caller, id: &str, input: AdminUserUpdate) -> Result<AdminUser> {
    let user = show(ops, caller, id).await?;
    let role = input.role.unwrap_or(user.role);
    let domains = match (input.role, input.domains) {
        // A new role or new domains: checked together.
        (_, Some(given)) => Some(token_domains(ops, role, given).await?),
        (Some(Role::Superadmin), None) => Some(Vec::new()),
        (Some(Role::DomainAdmin), None) => Some(token_domains(ops, role, user.domains.clone()).await?),
        (None, None) => None,
    };
    if user.role == Role::Superadmin && role != Role::Superadmin {
        last_superadmin_stays(ops, user.id).await?;
    }
    let password_hash = match input.password {
        Some(p) => Some(hash(p).await?),
        None => None,
    };
    let change = AdminUserChange { role: input.role, domains, password_hash };
    let store = users(ops)?;
    let id = user.id;
    let updated = blocking(move || store.update_admin_user(id, &change)).await??;
    updated.ok_or_else(|| OpError::not_found("no such admin user"))
}

pub async fn delete(ops: &Ops, caller: &Caller, id: &str) -> Result<Deleted> {
    let user = show(ops, caller, id).await?;
    if user.role == Role::Superadmin {
        last_superadmin_stays(ops, user.id).await?;
    }
    let store = users(ops)?;
    let id = user.id;
    if !blocking(move || store.delete_admin_user(id)).await?? {
        return Err(OpError::not_found("no such admin user"));
    }
    tracing::info!(by = %caller.name, user = %user.name, "admin user deleted");
    Ok(Deleted::of(id))
}

async fn last_superadmin_stays(ops: &Ops, leaving: i64) -> Result<()> {
    let store = users(ops)?;
    let all = blocking(move || store.list_admin_users()).await??;
    if !all.iter().any(|u| u.role == Role::Superadmin && u.id != leaving) {
        return Err(OpError::conflict("the last superadmin stays; make another superadmin first"));
    }
    Ok(())
}

/// A logged-in user's change of its own password: the current one must be right. Ends
/// every session of the user (the caller logs in again).
pub async fn change_own_password(ops: &Ops, session: &PanelSession, current: &str, new: &str) -> Result<()> {
    let store = users(ops)?;
    let name = session.user.name.clone();
    let found = blocking(move || store.admin_user_by_name(&name)).await??;
    let current = current.as_bytes().to_vec();
    let right = match found {
        Some((user, hash)) if user.id == session.user.id => {
            blocking(move || postern_policy::password::verify(&hash, &current)).await?
        }
        _ => false,
    };
    if !right {
        return Err(OpError::new(ErrorKind::Unauthenticated, "the current password is wrong").with_field("current"));
    }
    let password_hash = hash(new.to_string()).await?;
    let store = users(ops)?;
    let id = session.user.id;
    let change = AdminUserChange { password_hash: Some(password_hash), ..AdminUserChange::default() };
    blocking(move || store.update_admin_user(id, &change)).await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::panel_auth::{first_superadmin, login, logout, session};
    use crate::testing::{TestOps, admin_of, superadmin};

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn new_user(name: &str, role: Role, domains: &[&str]) -> AdminUserCreate {
        AdminUserCreate {
            name: name.into(),
            password: "correct horse battery".into(),
            role,
            domains: domains.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn first_start_login_session_and_logout() {
        let t = TestOps::new();
        let users = t.ops.panel.as_ref().unwrap().users.clone();
        let (name, password) = first_superadmin(users.as_ref()).unwrap().expect("made on first start");
        assert_eq!(name, "admin");
        assert!(first_superadmin(users.as_ref()).unwrap().is_none(), "only once");

        let e = login(&t.ops, "admin", "wrong password!", IP).await.err().unwrap();
        let unknown = login(&t.ops, "nobody", "wrong password!", IP).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert_eq!(e, unknown, "a wrong password and an unknown user answer alike");

        let logged = login(&t.ops, " Admin ", &password, IP).await.unwrap();
        assert!(logged.secret.starts_with("pss_"));
        let s = session(&t.ops, &logged.secret).await.unwrap().expect("live session");
        assert!(s.caller.is_superadmin());
        assert_eq!(s.csrf, logged.session.csrf);
        assert!(session(&t.ops, "pss_0000").await.unwrap().is_none());
        logout(&t.ops, &logged.secret).await.unwrap();
        assert!(session(&t.ops, &logged.secret).await.unwrap().is_none(), "logged out");
    }

    #[tokio::test]
    async fn five_wrong_passwords_block_even_the_right_one() {
        let t = TestOps::new();
        create(&t.ops, &superadmin(), new_user("root2", Role::Superadmin, &[])).await.unwrap();
        for _ in 0..crate::panel_auth::MAX_FAILURES {
            let e = login(&t.ops, "root2", "not the password", IP).await.err().unwrap();
            assert_eq!(e.kind, ErrorKind::Unauthenticated);
        }
        let e = login(&t.ops, "root2", "correct horse battery", IP).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Throttled, "{e}");
        assert!(e.message.contains("15 minutes"), "{e}");
    }

    #[tokio::test]
    async fn users_are_the_superadmins_and_a_domain_admin_sees_its_domains() {
        let t = TestOps::new();
        t.domain("a.example").await;
        let e = create(&t.ops, &admin_of("a.example"), new_user("x", Role::DomainAdmin, &["a.example"])).await;
        assert_eq!(e.err().unwrap().kind, ErrorKind::Forbidden);
        let e = create(&t.ops, &superadmin(), new_user("bad name", Role::Superadmin, &[])).await.err().unwrap();
        assert_eq!(e.field.as_deref(), Some("name"));
        let e = create(
            &t.ops,
            &superadmin(),
            AdminUserCreate { password: "short".into(), ..new_user("u", Role::Superadmin, &[]) },
        )
        .await
        .err()
        .unwrap();
        assert_eq!(e.field.as_deref(), Some("password"));
        let e =
            create(&t.ops, &superadmin(), new_user("u", Role::DomainAdmin, &["ghost.example"])).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::NotFound);

        let a = create(&t.ops, &superadmin(), new_user("support", Role::DomainAdmin, &["A.example"])).await.unwrap();
        assert_eq!(a.domains, ["a.example"]);
        let logged = login(&t.ops, "support", "correct horse battery", IP).await.unwrap();
        assert_eq!(logged.session.caller.domains(), Some(&["a.example".to_string()][..]));

        // A change ends the user's sessions.
        let change = AdminUserUpdate { password: Some("another good password".into()), ..Default::default() };
        update(&t.ops, &superadmin(), &a.id.to_string(), change).await.unwrap();
        assert!(session(&t.ops, &logged.secret).await.unwrap().is_none());
        login(&t.ops, "support", "another good password", IP).await.unwrap();
    }

    #[tokio::test]
    async fn the_last_superadmin_stays() {
        let t = TestOps::new();
        let only = create(&t.ops, &superadmin(), new_user("only", Role::Superadmin, &[])).await.unwrap();
        let e = delete(&t.ops, &superadmin(), &only.id.to_string()).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Conflict);
        t.domain("a.example").await;
        let demote = AdminUserUpdate {
            role: Some(Role::DomainAdmin),
            domains: Some(vec!["a.example".into()]),
            ..Default::default()
        };
        let e = update(&t.ops, &superadmin(), &only.id.to_string(), demote).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Conflict);
        let other = create(&t.ops, &superadmin(), new_user("other", Role::Superadmin, &[])).await.unwrap();
        delete(&t.ops, &superadmin(), &only.id.to_string()).await.unwrap();
        let e = show(&t.ops, &superadmin(), &only.id.to_string()).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(list(&t.ops, &superadmin(), AdminUserQuery::default()).await.unwrap().items, [other]);
    }

    #[tokio::test]
    async fn own_password_needs_the_current_one() {
        let t = TestOps::new();
        create(&t.ops, &superadmin(), new_user("me", Role::Superadmin, &[])).await.unwrap();
        let logged = login(&t.ops, "me", "correct horse battery", IP).await.unwrap();
        let e = change_own_password(&t.ops, &logged.session, "wrong", "a new good password").await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Unauthenticated, Some("current")));
        change_own_password(&t.ops, &logged.session, "correct horse battery", "a new good password").await.unwrap();
        login(&t.ops, "me", "a new good password", IP).await.unwrap();
    }
}
