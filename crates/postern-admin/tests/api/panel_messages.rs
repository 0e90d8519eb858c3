//! The web panel's message pages in process: quarantine, log search and archive, each as a
//! superadmin, as the owning domain's admin and as another tenant's admin. Messages carry
//! script and attribute-breaking payloads in every field a page shows; the pages must hold
//! them only as escaped text. Another tenant's objects are the HTML 404, for a page and for
//! a forged (CSRF-valid) post, and the post changes nothing. The browser side is
//! tests/e2e/test_panel_messages.py.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use postern_core::tenancy::Role;
use postern_core::{CheckRecord, Envelope, QueueId, test_support};
use postern_store::{AdminUserStore, EventStore, NewAdminUser};
use serde_json::json;

use crate::harness::Api;

/// In every field a message can carry.
const PAYLOAD: &str = "\"><img src=x onerror=alert(1) data-pwned><script id=\"pwned\">document.title='PWNED'</script></textarea></pre><svg onload=alert(1)>";
const PASSWORD: &str = "a long panel password";

#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !attributes.contains("Max-Age=0") {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// A browser: a cookie jar and the session's form token.
struct Browser<'a> {
    api: &'a Api,
    jar: Jar,
    csrf: String,
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no field {name} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

fn location(headers: &HeaderMap) -> &str {
    headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

impl<'a> Browser<'a> {
    async fn login(api: &'a Api, name: &str, password: &str) -> Browser<'a> {
        let mut b = Browser { api, jar: Jar::default(), csrf: String::new() };
        let (_, _, page) = b.get("/login").await;
        let token = hidden(&page, "csrf");
        let form = [("csrf", token.as_str()), ("name", name), ("password", password), ("next", "/")];
        let (status, headers, page) = b.post("/login", &form).await;
        assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"), "{page}");
        let (_, _, page) = b.get("/").await;
        b.csrf = hidden(&page, "csrf");
        b
    }

    async fn get(&mut self, path: &str) -> (StatusCode, HeaderMap, String) {
        let request = Request::get(path).header(header::COOKIE, self.jar.header()).body(Body::empty()).unwrap();
        let answer = self.api.send_raw(request).await;
        self.jar.take(&answer.1);
        answer
    }

    /// A page that must answer 200, checked to hold no live markup of the payload.
    async fn page(&mut self, path: &str) -> String {
        let (status, headers, page) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
        inert(path, &page);
        page
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request = Request::post(path)
            .header(header::COOKIE, self.jar.header())
            .header(header::HOST, "panel.test")
            .header(header::ORIGIN, "http://panel.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let answer = self.api.send_raw(request).await;
        self.jar.take(&answer.1);
        answer
    }

    /// A form with the session's token.
    async fn act(&mut self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let csrf = self.csrf.clone();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let (status, headers, page) = self.post(path, &form).await;
        (status, if status == StatusCode::SEE_OTHER { location(&headers).to_string() } else { page })
    }
}

/// The page holds the payload only as escaped text: no tag or attribute of it is live.
fn inert(path: &str, page: &str) {
    for live in ["<script id=", "<img src=x", "<svg onload", "</textarea></pre>", "data-pwned>"] {
        assert!(!page.contains(live), "{path}: {live:?} is live in {page}");
    }
}

/// The 404 page, as for an object that does not exist.
fn not_found(path: &str, (status, page): (StatusCode, String)) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {page}");
    assert!(page.contains("There is no such page or object") || page.contains("no such"), "{path}: {page}");
    assert!(!page.contains(PAYLOAD) && !page.contains("tenant-a"), "{path}: nothing of the object: {page}");
}

fn user(api: &Api, name: &str, role: Role, domains: &[&str]) {
    let new = NewAdminUser {
        name: name.into(),
        role,
        domains: domains.iter().map(|d| d.to_string()).collect(),
        password_hash: postern_policy::password::hash(PASSWORD).unwrap(),
    };
    api.store.create_admin_user(&new).unwrap();
}

fn envelope(domain: &str, identity: &str, size: usize) -> Envelope {
    Envelope {
        received_at_ms: postern_core::event::now_ms(),
        client: test_support::client("192.0.2.1:40000", "submission"),
        size: size as u64,
        owner: Some(test_support::owner(Some(1), Some(domain), identity)),
        ..test_support::envelope(Some(&format!("app@{domain}")), &["someone@destination.test"])
    }
}

/// A multipart message with the payload in the subject, the From display name, another
/// header field, the text part and the HTML part.
fn message(domain: &str) -> Vec<u8> {
    format!(
        "From: \"{p}\" <app@{domain}>\r\nSubject: {p}\r\nX-Note: {p}\r\nMessage-ID: <m.{domain}@x>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\ntext part {p}\r\n\
         --b\r\nContent-Type: text/html\r\n\r\n<html><body><p>html part</p>{p}</body></html>\r\n--b--\r\n",
        p = PAYLOAD
    )
    .into_bytes()
}

async fn hold(api: &Api, domain: &str) -> i64 {
    let message = message(domain);
    let envelope = envelope(domain, &format!("tenant-a {PAYLOAD}"), message.len());
    let submission = postern_core::Submission {
        hostname: "postern.test".into(),
        ..test_support::submission(None, envelope, message.clone())
    };
    let checks = [CheckRecord {
        stage: "content".into(),
        engine: "gtube".into(),
        rule: Some(PAYLOAD.into()),
        result: "spam".into(),
        score: Some(1000.0),
        micros: 7,
        part: None,
    }];
    let held = api.quarantine.hold(&submission, b"Received: from test\r\n", &message, "GTUBE", &checks, "reject");
    held.await.unwrap().id
}

fn log(api: &Api, domain: &str) -> QueueId {
    use postern_core::{Disposition, Event, EventKind};
    let id = QueueId::generate();
    let event = |kind| Event {
        at_ms: postern_core::event::now_ms(),
        session: 1,
        client_ip: "192.0.2.1".parse().unwrap(),
        queue_id: Some(id),
        kind,
    };
    let queued = EventKind::Queued {
        size: 10,
        sender: format!("app@{domain}"),
        recipients: vec!["someone@destination.test".into()],
        tls: None,
        message_id: Some(format!("<{PAYLOAD}@x>")),
        account: Some(format!("tenant-a {PAYLOAD}")),
        account_id: None,
        domain: Some(domain.into()),
        sender_domain: Some(domain.into()),
        identity: Some(PAYLOAD.into()),
        subject: Some(PAYLOAD.into()),
    };
    let checks = vec![CheckRecord {
        stage: "content".into(),
        engine: "gtube".into(),
        rule: Some(PAYLOAD.into()),
        result: "pass".into(),
        score: None,
        micros: 1,
        part: None,
    }];
    let checked = EventKind::Checked { disposition: Disposition::Deliver, checks, message: None };
    api.store.append(&[event(checked), event(queued)]).unwrap();
    id
}

fn archive(api: &Api, domain: &str) -> i64 {
    let message = message(domain);
    let copy = postern_core::ArchiveCopy {
        envelope: envelope(domain, &format!("tenant-a {PAYLOAD}"), message.len()),
        head: Arc::new(b"Received: from test\r\n".to_vec()),
        message: Arc::new(message),
        message_id: Some(format!("<m.{domain}@x>")),
    };
    api.archive.store(&copy).unwrap().id
}

struct World {
    api: Api,
    held: i64,
    logged: QueueId,
    archived: i64,
}

async fn world() -> World {
    let api = Api::new();
    for domain in ["a.example", "b.example"] {
        api.ok("POST", "/domains", Some(&json!({"name": domain})), 201).await;
    }
    user(&api, "root", Role::Superadmin, &[]);
    user(&api, "alice", Role::DomainAdmin, &["a.example"]);
    user(&api, "bob", Role::DomainAdmin, &["b.example"]);
    let held = hold(&api, "a.example").await;
    let logged = log(&api, "a.example");
    let archived = archive(&api, "a.example");
    World { api, held, logged, archived }
}

#[tokio::test]
async fn the_quarantine_shows_a_held_message_as_text_and_its_actions_by_role() {
    let w = world().await;
    let id = w.held;
    let mut root = Browser::login(&w.api, "root", PASSWORD).await;
    let list = root.page("/quarantine").await;
    assert!(list.contains(&format!("href=\"/quarantine/{id}\"")), "{list}");
    assert!(list.contains("&#60;script id=&#34;pwned&#34;&#62;"), "the subject, escaped: {list}");
    let page = root.page(&format!("/quarantine/{id}")).await;
    for part in ["id=\"release\"", "id=\"confirm\"", "id=\"delete\"", "data-confirm=", "text part"] {
        assert!(page.contains(part), "{part}: {page}");
    }
    assert!(!page.contains("request-release"), "a superadmin releases");
    assert!(
        page.contains("Feedback-Type: abuse")
            && page.contains("/quarantine/{id}/arf".replace("{id}", &id.to_string()).as_str())
    );
    assert!(page.contains("<td>1000.00</td>") || page.contains(">1000.00<"), "the score: {page}");
    let (status, headers, _) = root.get(&format!("/quarantine/{id}/arf")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "message/rfc822");
    assert!(headers[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment;"));

    // The owning domain's admin: sees it, cannot release it, may ask for it.
    let mut alice = Browser::login(&w.api, "alice", PASSWORD).await;
    assert!(alice.page("/quarantine").await.contains(&format!("/quarantine/{id}")));
    let page = alice.page(&format!("/quarantine/{id}")).await;
    assert!(!page.contains("id=\"release\"") && page.contains("id=\"request-release\""), "{page}");
    let (status, page) = alice.act(&format!("/quarantine/{id}/release"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let asked = alice.act(&format!("/quarantine/{id}/request-release"), &[("note", PAYLOAD)]).await;
    assert_eq!(asked, (StatusCode::SEE_OTHER, format!("/quarantine/{id}?done=requested")));
    let page = alice.page(&format!("/quarantine/{id}?done=requested")).await;
    assert!(page.contains("Release requested.") && page.contains("release requested"), "{page}");

    // Another tenant: the list is empty, the page and every post are the 404, nothing changes.
    let mut bob = Browser::login(&w.api, "bob", PASSWORD).await;
    let list = bob.page("/quarantine").await;
    assert!(!list.contains(&format!("/quarantine/{id}")) && list.contains("No held message matches"), "{list}");
    let (status, _, page) = bob.get(&format!("/quarantine/{id}")).await;
    not_found("show", (status, page));
    let (status, _, page) = bob.get(&format!("/quarantine/{id}/arf")).await;
    not_found("arf", (status, page));
    for action in ["release", "request-release", "confirm", "delete"] {
        not_found(action, bob.act(&format!("/quarantine/{id}/{action}"), &[]).await);
    }
    let shown = w.api.ok("GET", &format!("/quarantine/{id}"), None, 200).await;
    assert_eq!((shown["state"].as_str(), shown["confirmed_by"].as_str()), (Some("held"), None));

    // A forged form (no token, or another session's) is refused before anything happens.
    let (status, _, _) = root.post(&format!("/quarantine/{id}/delete"), &[("csrf", &alice.csrf)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The superadmin confirms, then releases.
    let done = root.act(&format!("/quarantine/{id}/confirm"), &[]).await;
    assert_eq!(done, (StatusCode::SEE_OTHER, format!("/quarantine/{id}?done=confirmed")));
    let done = root.act(&format!("/quarantine/{id}/release"), &[]).await;
    assert_eq!(done, (StatusCode::SEE_OTHER, format!("/quarantine/{id}?done=released")));
    let page = root.page(&format!("/quarantine/{id}?done=released")).await;
    assert!(page.contains("Released.") && page.contains("id=\"gone\"") && !page.contains("id=\"release\""), "{page}");
    let again = root.act(&format!("/quarantine/{id}/release"), &[]).await;
    assert_eq!(again.0, StatusCode::CONFLICT, "released once: {}", again.1);
    let gone = root.act(&format!("/quarantine/{id}/delete"), &[]).await;
    assert_eq!(gone, (StatusCode::SEE_OTHER, "/quarantine?done=deleted".to_string()));
    not_found("deleted", root.get(&format!("/quarantine/{id}")).await.into_pair());
}

#[tokio::test]
async fn the_quarantine_list_filters_pages_and_says_what_is_wrong_with_a_filter() {
    let w = world().await;
    let mut root = Browser::login(&w.api, "root", PASSWORD).await;
    let page = root.page("/quarantine?rule=GTUBE&state=held").await;
    assert!(page.contains(&format!("/quarantine/{}", w.held)), "{page}");
    assert!(page.contains("<option value=\"held\" selected>"), "the filter stays on the form");
    let none = root.page("/quarantine?rule=NOPE").await;
    assert!(none.contains("No held message matches") && none.contains("value=\"NOPE\""), "{none}");
    let (status, _, bad) = root.get("/quarantine?state=lost&since=whenever").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("id=\"filter-error\"") && bad.contains("Held from"), "{bad}");
    let (status, _, bad) = root.get("/quarantine?state=%3Cb%3Elost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("&#60;b&#62;lost") && !bad.contains("<b>lost"), "echoed escaped: {bad}");
    not_found("not an id", root.get("/quarantine/x1").await.into_pair());
    not_found("no such id", root.get("/quarantine/987654").await.into_pair());
}

#[tokio::test]
async fn the_log_search_and_timelines_keep_tenants_apart() {
    let w = world().await;
    let key = w.logged.to_string();
    let mut root = Browser::login(&w.api, "root", PASSWORD).await;
    let list = root.page("/log").await;
    assert!(list.contains(&format!("href=\"/log/{key}\"")), "{list}");
    let filtered = root.page(&format!("/log?domain=a.example&status=queued&queue_id={key}")).await;
    assert!(filtered.contains(&format!("/log/{key}")), "{filtered}");
    let page = root.page(&format!("/log/{key}")).await;
    for part in ["id=\"steps\"", ">checked<", ">queued<"] {
        assert!(page.contains(part), "{part}: {page}");
    }
    let (status, _, bad) = root.get("/log?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("id=\"filter-error\"") && bad.contains("status"), "{bad}");

    let mut alice = Browser::login(&w.api, "alice", PASSWORD).await;
    assert!(alice.page("/log").await.contains(&format!("/log/{key}")));
    alice.page(&format!("/log/{key}")).await;
    let mut bob = Browser::login(&w.api, "bob", PASSWORD).await;
    let list = bob.page("/log?domain=a.example").await;
    assert!(!list.contains(&format!("/log/{key}")), "{list}");
    assert!(!bob.page(&format!("/log?queue_id={key}")).await.contains(&format!("/log/{key}")));
    not_found("timeline", bob.get(&format!("/log/{key}")).await.into_pair());
}

#[tokio::test]
async fn the_archive_views_exports_and_keeps_tenants_apart() {
    let w = world().await;
    let id = w.archived;
    let mut root = Browser::login(&w.api, "root", PASSWORD).await;
    let list = root.page("/archive?text=part").await;
    assert!(list.contains(&format!("href=\"/archive/{id}\"")) && list.contains("id=\"export\""), "{list}");
    assert!(list.contains("name=\"text\" value=\"part\""), "the export keeps the filters: {list}");
    let page = root.page(&format!("/archive/{id}")).await;
    assert!(page.contains("text part") && page.contains("id=\"preview\""), "{page}");
    assert!(page.contains("X-Note"), "header fields: {page}");
    let (status, headers, eml) = root.get(&format!("/archive/{id}/message")).await;
    assert_eq!((status, &headers[header::CONTENT_TYPE]), (StatusCode::OK, &"message/rfc822".parse().unwrap()));
    assert!(eml.contains("text part"));
    let (status, headers, mbox) = root.get("/archive/export?format=mbox&domain=a.example").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/mbox");
    assert_eq!(headers["x-postern-archive-count"], "1");
    assert!(mbox.starts_with("From ") && mbox.contains("text part"), "{mbox}");
    let (status, headers, _) = root.get("/archive/export?format=zip").await;
    assert_eq!((status, &headers[header::CONTENT_TYPE]), (StatusCode::OK, &"application/zip".parse().unwrap()));
    let (status, _, page) = root.get("/archive/export?format=tar").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");

    let mut alice = Browser::login(&w.api, "alice", PASSWORD).await;
    assert!(alice.page("/archive").await.contains(&format!("/archive/{id}")));
    alice.page(&format!("/archive/{id}")).await;
    let mut bob = Browser::login(&w.api, "bob", PASSWORD).await;
    let list = bob.page("/archive?domain=a.example").await;
    assert!(!list.contains(&format!("/archive/{id}")) && !list.contains("id=\"export\""), "{list}");
    not_found("view", bob.get(&format!("/archive/{id}")).await.into_pair());
    not_found("eml", bob.get(&format!("/archive/{id}/message")).await.into_pair());
    let (status, _, page) = bob.get("/archive/export?domain=a.example").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing of another tenant to export: {page}");
}

#[tokio::test]
async fn the_menu_has_the_message_pages_and_they_need_a_login() {
    let w = world().await;
    let mut anonymous = Browser { api: &w.api, jar: Jar::default(), csrf: String::new() };
    for path in ["/quarantine", "/log", "/archive", "/archive/export"] {
        let (status, headers, _) = anonymous.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert!(location(&headers).starts_with("/login"), "{path}");
    }
    let (status, _, _) = anonymous.post(&format!("/quarantine/{}/delete", w.held), &[("csrf", "x")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "no session: to the login form");
    let mut root = Browser::login(&w.api, "root", PASSWORD).await;
    let page = root.page("/").await;
    let menu: Vec<usize> = ["href=\"/\"", "href=\"/quarantine\"", "href=\"/log\"", "href=\"/archive\""]
        .iter()
        .map(|l| page.find(l).unwrap())
        .collect();
    assert!(menu.windows(2).all(|w| w[0] < w[1]), "the seeds' order: {page}");
}

trait IntoPair {
    fn into_pair(self) -> (StatusCode, String);
}

impl IntoPair for (StatusCode, HeaderMap, String) {
    fn into_pair(self) -> (StatusCode, String) {
        (self.0, self.2)
    }
}
