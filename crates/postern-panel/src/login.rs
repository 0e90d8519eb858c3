//! Logging in and out, and changing one's own password.
//!
//! The login form has no session yet, so its CSRF token is a double-submit cookie
//! (`postern_login`, random, `SameSite=Strict`) that the form repeats. A failed login
//! shows the form again with the operation's answer (wrong name or password, or the
//! throttle's wait) and the status to match (401, 429).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use postern_ops::{admin_users, panel_auth};
use serde::Deserialize;

use crate::chrome::Chrome;
use crate::error::render;
use crate::session::{
    COOKIE, Form, LOGIN_COOKIE, Session, cookie, local_path, parse_fields, read_fields, same_origin, set_cookie,
};
use crate::{PanelError, PanelState};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    token: String,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
    name: String,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    done: Option<String>,
}

fn random_token() -> Result<String, PanelError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|_| PanelError::new(StatusCode::INTERNAL_SERVER_ERROR, "no randomness for a form token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn login_page(
    state: &PanelState,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    name: &str,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Response {
    // Keep a token the browser has (a second tab's form stays valid); else make one.
    let token = match cookie(headers, LOGIN_COOKIE).filter(|t| t.len() == 48) {
        Some(t) => t.to_string(),
        None => match random_token() {
            Ok(t) => t,
            Err(e) => return e.into_response(),
        },
    };
    let page = LoginPage {
        token: token.clone(),
        next: local_path(next).unwrap_or("/").to_string(),
        error,
        notice,
        name: name.to_string(),
    };
    let mut response = (status, render(&page)).into_response();
    if let Ok(value) = set_cookie(LOGIN_COOKIE, &token, state.secure_cookies, None).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn form(State(state): State<PanelState>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let notice = (q.done.as_deref() == Some("password")).then_some("Password changed. Log in with the new one.");
    let notice = notice.or((q.done.as_deref() == Some("logout")).then_some("Logged out."));
    login_page(&state, &headers, StatusCode::OK, q.next.as_deref().unwrap_or("/"), "", None, notice)
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(State(state): State<PanelState>, request: Request) -> Response {
    let headers = request.headers().clone();
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    let client =
        request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let expected = cookie(&headers, LOGIN_COOKIE);
    if expected.is_none() || fields.csrf.as_deref() != expected {
        return PanelError::forbidden_form().into_response();
    }
    let form: LoginForm = match parse_fields(&fields.pairs) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match panel_auth::login(&state.ops, &form.name, &form.password, client).await {
        Ok(logged) => {
            let next = local_path(&form.next).unwrap_or("/");
            let mut response = Redirect::to(next).into_response();
            let cookies = [
                set_cookie(COOKIE, &logged.secret, state.secure_cookies, None),
                set_cookie(LOGIN_COOKIE, "", state.secure_cookies, Some(0)),
            ];
            for c in cookies {
                if let Ok(value) = c.parse() {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(e) => {
            let status = PanelError::from(e.clone()).status;
            login_page(&state, &headers, status, &form.next, &form.name, Some(e.message), None)
        }
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn logout(State(state): State<PanelState>, headers: HeaderMap, form: Form<Nothing>) -> Response {
    let _ = form.data;
    if let Some(secret) = cookie(&headers, COOKIE)
        && let Err(e) = panel_auth::logout(&state.ops, secret).await
    {
        return PanelError::from(e).into_response();
    }
    let mut response = Redirect::to("/login?done=logout").into_response();
    if let Ok(value) = set_cookie(COOKIE, "", state.secure_cookies, Some(0)).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    error: Option<String>,
}

pub async fn password_form(session: Session) -> Response {
    render(&PasswordPage { chrome: Chrome::new(&session, ""), error: None })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn password_submit(State(state): State<PanelState>, form: Form<PasswordForm>) -> Response {
    let Form { session, data } = form;
    let error = if data.new != data.confirm {
        "The two new passwords differ.".to_string()
    } else {
        match admin_users::change_own_password(&state.ops, &session, &data.current, &data.new).await {
            Ok(()) => {
                let mut response = Redirect::to("/login?done=password").into_response();
                if let Ok(value) = set_cookie(COOKIE, "", state.secure_cookies, Some(0)).parse() {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
                return response;
            }
            Err(e) => e.to_string(),
        }
    };
    let page = PasswordPage { chrome: Chrome::new(&session, ""), error: Some(error) };
    (StatusCode::BAD_REQUEST, render(&page)).into_response()
}
