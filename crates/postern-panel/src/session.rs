//! The session cookie and what a request proves with it.
//!
//! - [`Session`]: a logged-in user, from the `postern_session` cookie; without one, a page
//!   answers with a redirect to the login form, which comes back to the page afterwards.
//! - [`Form`]: a form post of a logged-in user: the session, the form's `csrf` field
//!   checked against the session's token, and the other fields parsed into `T`.
//!
//! Defends against: cross-site request forgery (a post must carry the session's token,
//! and a browser's `Sec-Fetch-Site: cross-site` or an `Origin` other than this host is
//! refused before the body is read), oversized bodies ([`MAX_FORM`]), cookies that are
//! not ours (a session secret has one exact shape), and open redirects (`next` is only
//! ever a local path).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use postern_ops::panel_auth::{self, PanelSession};
use serde::de::DeserializeOwned;

use crate::{PanelError, PanelState};

pub const COOKIE: &str = "postern_session";
/// The login form's own token (a double-submit cookie: there is no session yet).
pub const LOGIN_COOKIE: &str = "postern_login";
/// The largest form body read.
pub const MAX_FORM: usize = 256 * 1024;

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session(pub PanelSession);

impl std::ops::Deref for Session {
    type Target = PanelSession;

    fn deref(&self) -> &PanelSession {
        &self.0
    }
}

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, the whole panel, Secure over TLS.
/// `max_age`: `Some(0)` deletes it; `None` lasts as long as the browser session.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// Only a local path: `/x...`, never `//host` or `/\host`, at most 512 characters.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(next)
}

/// Where a request without a session goes: the login form, then back here (GET only).
fn to_login(parts: &Parts) -> Response {
    let back = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let target = if parts.method == axum::http::Method::GET && back != "/" {
        let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
        format!("/login?next={next}")
    } else {
        "/login".to_string()
    };
    Redirect::to(&target).into_response()
}

impl FromRequestParts<PanelState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &PanelState) -> Result<Session, Response> {
        let Some(secret) = cookie(&parts.headers, COOKIE) else { return Err(to_login(parts)) };
        match panel_auth::session(&state.ops, secret).await {
            Ok(Some(session)) => Ok(Session(session)),
            Ok(None) => Err(to_login(parts)),
            Err(e) => Err(PanelError::from(e).into_response()),
        }
    }
}

/// Refuses a post a browser says came from another site, or whose `Origin` names another
/// host than the one asked (`Host`).
pub fn same_origin(headers: &HeaderMap) -> Result<(), PanelError> {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(PanelError::forbidden_form());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        if origin == "null" || origin_host != host {
            return Err(PanelError::forbidden_form());
        }
    }
    Ok(())
}

/// A form's fields, in order, and its `csrf` taken out.
pub struct Fields {
    pub csrf: Option<String>,
    pub pairs: Vec<(String, String)>,
}

pub async fn read_fields(request: Request) -> Result<Fields, PanelError> {
    let kind = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !kind.starts_with("application/x-www-form-urlencoded") {
        return Err(PanelError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "a form post was expected"));
    }
    let body: Bytes = axum::body::to_bytes(request.into_body(), MAX_FORM)
        .await
        .map_err(|_| PanelError::new(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"))?;
    let mut csrf = None;
    let mut pairs = Vec::new();
    for (k, v) in form_urlencoded::parse(&body) {
        if k == "csrf" {
            csrf = Some(v.into_owned());
        } else {
            pairs.push((k.into_owned(), v.into_owned()));
        }
    }
    Ok(Fields { csrf, pairs })
}

/// The fields as `T` (serde, from the pairs): a field the form does not know, or a value
/// of the wrong type, is a 400 naming it.
pub fn parse_fields<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, PanelError> {
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    serde_urlencoded::from_str(&encoded)
        .map_err(|e| PanelError::new(StatusCode::BAD_REQUEST, format!("the form is not valid: {e}")))
}

/// A logged-in user's form post, its CSRF token checked, its fields as `T`.
pub struct Form<T> {
    pub session: Session,
    pub data: T,
}

impl<T: DeserializeOwned + Send> FromRequest<PanelState> for Form<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &PanelState) -> Result<Form<T>, Response> {
        let (mut parts, body) = request.into_parts();
        same_origin(&parts.headers).map_err(IntoResponse::into_response)?;
        let session = Session::from_request_parts(&mut parts, state).await?;
        let fields = read_fields(Request::from_parts(parts, body)).await.map_err(IntoResponse::into_response)?;
        match &fields.csrf {
            Some(token) if session.csrf_matches(token) => {}
            _ => return Err(PanelError::forbidden_form().into_response()),
        }
        let data = parse_fields(&fields.pairs).map_err(IntoResponse::into_response)?;
        Ok(Form { session, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/accounts?page=2"), Some("/accounts?page=2"));
        for bad in ["//evil.example/", "/\\evil.example", "https://evil.example/", "", "accounts", "/a b"] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; postern_session_x=2; postern_session=pss_3".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("pss_3"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(
            set_cookie(COOKIE, "v", true, Some(0)),
            "postern_session=v; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0"
        );
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8025".parse().unwrap());
        assert!(same_origin(&h).is_ok(), "no Origin: an old browser or a tool");
        h.insert(header::ORIGIN, "http://127.0.0.1:8025".parse().unwrap());
        assert!(same_origin(&h).is_ok());
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(same_origin(&h).is_err());
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(same_origin(&h).is_err());
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(same_origin(&h).is_err());
    }
}
