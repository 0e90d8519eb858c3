//! The panel's users and the API tokens, a superadmin's pages: `/admin-users` (list, add
//! with name, password, role and domains; change a user's role, domains or password;
//! delete — the last superadmin stays) and `/tokens` (list, create — the secret shown once,
//! on the answer to the post — and delete).
//!
//! In: a session, form posts. Out: pages and redirects. Everything goes through
//! [`postern_ops::admin_users`] and [`postern_ops::tokens`], which refuse a domain admin
//! (403) and keep the last superadmin (409, shown with the form).
//!
//! Defends against: passwords and token secrets coming back to the browser (a refused form
//! never echoes a password; a token's secret is on exactly one page, the answer to its
//! creation, which is not cached: `Cache-Control: no-store`), and a refused form showing
//! text of the query string (notices are a fixed list).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use postern_core::tenancy::{AdminUser, ApiToken, Role};
use postern_ops::admin_users::{self, AdminUserCreate, AdminUserQuery, AdminUserUpdate};
use postern_ops::tokens::{self, TokenCreate, TokenQuery};
use serde::Deserialize;

use crate::chrome::Chrome;
use crate::error::render;
use crate::session::{Form, Session};
use crate::view::{FormState, PER_PAGE, Pager, Refusal, items, offset_of, page_number, when, with_status};
use crate::{PanelError, PanelState};

/// The most domains a form takes (the operation's own limit is 1000).
const MOST_DOMAINS: usize = 1001;
const USER_FIELDS: &[&str] = &["name", "password", "role", "domains"];
const TOKEN_FIELDS: &[&str] = &["name", "role", "domains"];

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Superadmin => "superadmin",
        Role::DomainAdmin => "domain_admin",
    }
}

/// A role's domains as typed: none for a superadmin, who sees every domain.
fn domains_for(role: Role, text: &str) -> Vec<String> {
    match role {
        Role::Superadmin => Vec::new(),
        Role::DomainAdmin => items(text, MOST_DOMAINS),
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    page: Option<String>,
    done: Option<String>,
}

struct UserRow {
    id: i64,
    name: String,
    role: &'static str,
    domains: String,
    created: String,
    last_login: String,
}

fn user_row(u: AdminUser) -> UserRow {
    UserRow {
        id: u.id,
        role: role_name(u.role),
        domains: u.domains.join(", "),
        created: when(u.created_at_ms),
        last_login: u.last_login_ms.map(when).unwrap_or_default(),
        name: u.name,
    }
}

/// What was typed into a user's or token's form (never a password).
#[derive(Default)]
struct Typed {
    name: String,
    role: &'static str,
    domains: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    rows: Vec<UserRow>,
    pager: Pager,
    new: Typed,
    form: FormState,
}

async fn users_page(state: &PanelState, session: &Session, q: &ListQuery) -> Result<UsersPage, PanelError> {
    let page = page_number(q.page.as_deref());
    let query = AdminUserQuery { limit: PER_PAGE, offset: offset_of(page) };
    let list = admin_users::list(&state.ops, &session.caller, query).await?;
    Ok(UsersPage {
        chrome: Chrome::new(session, "/admin-users").with_notice(q.done.as_deref()),
        pager: Pager::of("/admin-users", &[], page, &list),
        rows: list.items.into_iter().map(user_row).collect(),
        new: Typed { role: "domain_admin", ..Typed::default() },
        form: FormState::new(USER_FIELDS),
    })
}

pub async fn list(State(state): State<PanelState>, session: Session, Query(q): Query<ListQuery>) -> Response {
    match users_page(&state, &session, &q).await {
        Ok(page) => render(&page),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct NewUserForm {
    name: String,
    password: String,
    role: Role,
    #[serde(default)]
    domains: String,
}

pub async fn create(State(state): State<PanelState>, form: Form<NewUserForm>) -> Response {
    let Form { session, data } = form;
    let input = AdminUserCreate {
        name: data.name.clone(),
        password: data.password,
        role: data.role,
        domains: domains_for(data.role, &data.domains),
    };
    let e = match admin_users::create(&state.ops, &session.caller, input).await {
        Ok(user) => return Redirect::to(&format!("/admin-users/{}?done=created", user.id)).into_response(),
        Err(e) => e,
    };
    match Refusal::of(e) {
        Refusal::Page(e) => e.into_response(),
        Refusal::Form(status, e) => match users_page(&state, &session, &ListQuery::default()).await {
            Ok(mut page) => {
                page.new = Typed { name: data.name, role: role_name(data.role), domains: data.domains };
                page.form = FormState::refused(USER_FIELDS, &e);
                with_status(status, render(&page))
            }
            Err(e) => e.into_response(),
        },
    }
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    chrome: Chrome,
    user: UserRow,
    typed: Typed,
    form: FormState,
    /// A refused delete.
    delete_error: Option<String>,
}

async fn user_page(state: &PanelState, session: &Session, id: &str) -> Result<UserPage, PanelError> {
    let user = admin_users::show(&state.ops, &session.caller, id).await?;
    let typed = Typed { name: user.name.clone(), role: role_name(user.role), domains: user.domains.join(", ") };
    Ok(UserPage {
        chrome: Chrome::new(session, "/admin-users"),
        user: user_row(user),
        typed,
        form: FormState::new(USER_FIELDS),
        delete_error: None,
    })
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    done: Option<String>,
}

pub async fn show(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    match user_page(&state, &session, &id).await {
        Ok(mut page) => {
            page.chrome = page.chrome.with_notice(q.done.as_deref());
            render(&page)
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct UserForm {
    role: Role,
    #[serde(default)]
    domains: String,
    /// Empty: unchanged.
    #[serde(default)]
    password: String,
}

pub async fn update(State(state): State<PanelState>, Path(id): Path<String>, form: Form<UserForm>) -> Response {
    let Form { session, data } = form;
    let input = AdminUserUpdate {
        password: Some(data.password).filter(|p| !p.is_empty()),
        role: Some(data.role),
        domains: Some(domains_for(data.role, &data.domains)),
    };
    let e = match admin_users::update(&state.ops, &session.caller, &id, input).await {
        Ok(user) => return Redirect::to(&format!("/admin-users/{}?done=saved", user.id)).into_response(),
        Err(e) => e,
    };
    match Refusal::of(e) {
        Refusal::Page(e) => e.into_response(),
        Refusal::Form(status, e) => match user_page(&state, &session, &id).await {
            Ok(mut page) => {
                page.typed.role = role_name(data.role);
                page.typed.domains = data.domains;
                page.form = FormState::refused(USER_FIELDS, &e);
                with_status(status, render(&page))
            }
            Err(e) => e.into_response(),
        },
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn delete(State(state): State<PanelState>, Path(id): Path<String>, form: Form<Nothing>) -> Response {
    let Form { session, data: Nothing {} } = form;
    let e = match admin_users::delete(&state.ops, &session.caller, &id).await {
        Ok(_) => return Redirect::to("/admin-users?done=deleted").into_response(),
        Err(e) => e,
    };
    match Refusal::of(e) {
        Refusal::Page(e) => e.into_response(),
        Refusal::Form(status, e) => match user_page(&state, &session, &id).await {
            Ok(mut page) => {
                page.delete_error = Some(e.message);
                with_status(status, render(&page))
            }
            Err(e) => e.into_response(),
        },
    }
}

struct TokenRow {
    id: i64,
    name: String,
    role: &'static str,
    domains: String,
    created: String,
}

fn token_row(t: ApiToken) -> TokenRow {
    TokenRow {
        id: t.id,
        role: role_name(t.role),
        domains: t.domains.join(", "),
        created: when(t.created_at_ms),
        name: t.name,
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    rows: Vec<TokenRow>,
    pager: Pager,
    new: Typed,
    form: FormState,
}

async fn tokens_page(state: &PanelState, session: &Session, q: &ListQuery) -> Result<TokensPage, PanelError> {
    let page = page_number(q.page.as_deref());
    let list =
        tokens::list(&state.ops, &session.caller, TokenQuery { limit: PER_PAGE, offset: offset_of(page) }).await?;
    Ok(TokensPage {
        chrome: Chrome::new(session, "/tokens").with_notice(q.done.as_deref()),
        pager: Pager::of("/tokens", &[], page, &list),
        rows: list.items.into_iter().map(token_row).collect(),
        new: Typed { role: "domain_admin", ..Typed::default() },
        form: FormState::new(TOKEN_FIELDS),
    })
}

pub async fn tokens_list(State(state): State<PanelState>, session: Session, Query(q): Query<ListQuery>) -> Response {
    match tokens_page(&state, &session, &q).await {
        Ok(page) => render(&page),
        Err(e) => e.into_response(),
    }
}

#[derive(Template)]
#[template(path = "token_created.html")]
struct TokenCreatedPage {
    chrome: Chrome,
    token: TokenRow,
    secret: String,
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
    role: Role,
    #[serde(default)]
    domains: String,
}

/// Creates a token and answers with its secret: the one page that ever shows it.
pub async fn tokens_create(State(state): State<PanelState>, form: Form<TokenForm>) -> Response {
    let Form { session, data } = form;
    let input =
        TokenCreate { name: data.name.clone(), role: data.role, domains: domains_for(data.role, &data.domains) };
    let e = match tokens::create(&state.ops, &session.caller, input).await {
        Ok(created) => {
            let page = TokenCreatedPage {
                chrome: Chrome::new(&session, "/tokens"),
                token: token_row(created.token),
                secret: created.secret,
            };
            return render(&page);
        }
        Err(e) => e,
    };
    match Refusal::of(e) {
        Refusal::Page(e) => e.into_response(),
        Refusal::Form(status, e) => match tokens_page(&state, &session, &ListQuery::default()).await {
            Ok(mut page) => {
                page.new = Typed { name: data.name, role: role_name(data.role), domains: data.domains };
                page.form = FormState::refused(TOKEN_FIELDS, &e);
                with_status(status, render(&page))
            }
            Err(e) => e.into_response(),
        },
    }
}

pub async fn tokens_delete(State(state): State<PanelState>, Path(id): Path<String>, form: Form<Nothing>) -> Response {
    let Form { session, data: Nothing {} } = form;
    match tokens::delete(&state.ops, &session.caller, &id).await {
        Ok(_) => Redirect::to("/tokens?done=deleted").into_response(),
        Err(e) => PanelError::from(e).into_response(),
    }
}
