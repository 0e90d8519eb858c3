//! The web panel's login, sessions, CSRF checks and security headers, in process. The
//! pages themselves are driven in a real browser by tests/e2e/test_panel*.py.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};

use crate::harness::Api;

/// A browser's cookie jar, just enough for the panel's two cookies.
#[derive(Default)]
pub(crate) struct Jar {
    pub(crate) cookies: Vec<(String, String)>,
}

impl Jar {
    pub(crate) fn take(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    pub(crate) fn header(&self) -> String {
        self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

pub(crate) async fn get(api: &Api, jar: &mut Jar, path: &str) -> (StatusCode, HeaderMap, String) {
    let request = Request::get(path).header(header::COOKIE, jar.header()).body(Body::empty()).unwrap();
    let answer = api.send_raw(request).await;
    jar.take(&answer.1);
    answer
}

pub(crate) async fn post(
    api: &Api,
    jar: &mut Jar,
    path: &str,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut request = Request::post(path)
        .header(header::COOKIE, jar.header())
        .header(header::HOST, "panel.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    let answer = api.send_raw(request.body(Body::from(body)).unwrap()).await;
    jar.take(&answer.1);
    answer
}

/// The value of hidden field `name` in a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no field {name} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

pub(crate) fn location(headers: &HeaderMap) -> &str {
    headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Logs in as the first superadmin; returns the jar with its session.
pub(crate) async fn logged_in(api: &Api) -> Jar {
    let (_, password) = postern_ops::panel_auth::first_superadmin(api.store.as_ref()).unwrap().unwrap();
    let mut jar = Jar::default();
    let (_, _, page) = get(api, &mut jar, "/login").await;
    let token = hidden(&page, "csrf");
    let (status, headers, _) = post(
        api,
        &mut jar,
        "/login",
        &[("csrf", &token), ("name", "admin"), ("password", &password), ("next", "/")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/");
    jar
}

#[tokio::test]
async fn pages_need_a_login_and_the_login_form_has_its_own_token() {
    let api = Api::new();
    let mut jar = Jar::default();
    let (status, headers, _) = get(&api, &mut jar, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/login");
    let (status, _, _) = get(&api, &mut jar, "/password?x=1").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (status, headers, page) = get(&api, &mut jar, "/login?next=%2F%2Fevil.example%2F").await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    assert_eq!(hidden(&page, "next"), "/", "a foreign next is dropped");
    let login = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(login.starts_with("postern_login=") && login.contains("HttpOnly") && login.contains("SameSite=Strict"));
    assert_eq!(jar.get("postern_login").unwrap(), hidden(&page, "csrf"));
}

#[tokio::test]
async fn login_refuses_forged_forms_wrong_passwords_and_echoes_inertly() {
    let api = Api::new();
    postern_ops::panel_auth::first_superadmin(api.store.as_ref()).unwrap().unwrap();
    let mut jar = Jar::default();
    let (_, _, page) = get(&api, &mut jar, "/login").await;
    let token = hidden(&page, "csrf");
    let form = |csrf: &'static str| [("csrf", csrf), ("name", "admin"), ("password", "not the password")];
    let (status, _, _) = post(&api, &mut jar, "/login", &form("forged"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a login form without the cookie's token");
    let (status, _, _) = post(
        &api,
        &mut jar,
        "/login",
        &[("csrf", &token), ("name", "admin"), ("password", "x")],
        Some("http://evil.example"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a post from another site");

    let payload = "\"><script>alert(1)</script>";
    let (status, _, page) =
        post(&api, &mut jar, "/login", &[("csrf", &token), ("name", payload), ("password", "wrong password")], None)
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("wrong user name or password"), "{page}");
    assert!(!page.contains("<script>alert"), "the name is echoed escaped: {page}");
    assert!(page.contains("value=\"&#34;&#62;&#60;script&#62;alert(1)"), "{page}");
}

#[tokio::test]
async fn a_session_shows_pages_and_forms_need_its_token() {
    let api = Api::new();
    let mut jar = logged_in(&api).await;
    let session = jar.get("postern_session").unwrap().to_string();
    assert!(session.starts_with("pss_"));
    assert_eq!(jar.get("postern_login"), None, "the login token is cleared");

    let (status, _, page) = get(&api, &mut jar, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Dashboard") && page.contains(">admin<"), "{page}");
    let csrf = hidden(&page, "csrf");

    let (status, _, _) = post(&api, &mut jar, "/logout", &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token");
    let (status, _, _) = post(&api, &mut jar, "/logout", &[("csrf", "0000")], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong token");
    let (status, _, _) = post(&api, &mut jar, "/logout", &[("csrf", &csrf)], Some("https://evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another site's post with the right token");
    let (status, headers, _) = post(&api, &mut jar, "/logout", &[("csrf", &csrf)], Some("http://panel.test")).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login?done=logout"));
    assert_eq!(jar.get("postern_session"), None, "the cookie is deleted");
    jar.cookies.push(("postern_session".into(), session));
    let (status, _, _) = get(&api, &mut jar, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old secret opens nothing");
}

#[tokio::test]
async fn unknown_paths_are_html_for_browsers_and_json_for_the_api() {
    let api = Api::new();
    let mut jar = Jar::default();
    let (status, headers, page) = get(&api, &mut jar, "/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/html"));
    assert!(page.contains("There is no such page"), "{page}");
    let answer = api.root("GET", "/no-such-endpoint", None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.json.get("error").is_some(), "{}", answer.text);
    let (status, headers, css) = get(&api, &mut jar, "/static/panel.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/css"));
    assert!(css.contains(":root"));
}
