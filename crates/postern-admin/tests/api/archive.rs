//! The archive endpoints over a real archive: search by filters and full text, show with
//! the file's state, the `.eml`, mbox and zip exports streamed through the body, clear
//! 400s for bad input, and a domain admin who finds a copy under its sender domain too
//! but nothing of another tenant by any filter.

use std::io::Read;

use postern_core::tenancy::Role;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::Api;

fn ids(answer: &Value) -> Vec<i64> {
    answer["items"].as_array().expect("items").iter().map(|e| e["id"].as_i64().expect("id")).collect()
}

#[tokio::test]
async fn search_show_and_download() {
    let api = Api::new();
    let a = api.archive_message(1, "a.example", "alice@a.example", "lighthouse");
    let b = api.archive_message(1, "a.example", "alice@a.example", "harbour");
    assert_eq!(ids(&api.ok("GET", "/archive", None, 200).await), [b, a], "newest first");
    assert_eq!(ids(&api.ok("GET", "/archive?text=lighthouse", None, 200).await), [a]);
    assert_eq!(ids(&api.ok("GET", "/archive?subject=HARB", None, 200).await), [b]);
    assert_eq!(ids(&api.ok("GET", "/archive?message_id=harbour@a.example", None, 200).await), [b]);
    assert_eq!(ids(&api.ok("GET", "/archive?since=0&until=2999-01-01T00:00:00Z", None, 200).await), [b, a]);
    assert_eq!(ids(&api.ok("GET", "/archive?until=1000", None, 200).await), Vec::<i64>::new());
    let shown = api.ok("GET", &format!("/archive/{a}"), None, 200).await;
    assert_eq!((shown["subject"].as_str(), shown["file_state"].as_str()), (Some("lighthouse"), Some("present")));
    let eml = api.root("GET", &format!("/archive/{a}/message"), None).await;
    assert_eq!(eml.status, 200);
    assert!(eml.text.starts_with("Received: from test\r\nFrom: alice@a.example\r\n"), "{}", eml.text);
    assert_eq!(format!("{:x}", Sha256::digest(eml.text.as_bytes())), shown["sha256"].as_str().unwrap());
    // The file gone: show says so, the download is 409, nothing panics.
    std::fs::remove_file(api.archive.root().join(shown["file"].as_str().unwrap())).unwrap();
    let shown = api.ok("GET", &format!("/archive/{a}"), None, 200).await;
    assert_eq!(shown["file_state"], "missing");
    assert_eq!(api.root("GET", &format!("/archive/{a}/message"), None).await.status, 409);
    assert_eq!(api.root("GET", "/archive/999", None).await.status, 404);
    assert_eq!(api.root("GET", "/archive/x1", None).await.status, 404);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_parameter() {
    let api = Api::new();
    api.archive_message(1, "a.example", "alice@a.example", "one");
    for (query, field) in [
        ("text=%28%20%29", "text"),
        ("text=%22", "text"),
        ("since=yesterday", "since"),
        ("since=10&until=5", "since"),
        ("bogus=1", "bogus"),
        ("limit=5000", "limit"),
        ("format=zip", "format"),
    ] {
        let answer = api.root("GET", &format!("/archive?{query}"), None).await;
        assert_eq!((answer.status.as_u16(), answer.field()), (400, Some(field)), "{query}: {}", answer.text);
    }
    for (query, field) in [("format=tar", "format"), ("text=%2A", "text"), ("limit=5", "limit")] {
        let answer = api.root("GET", &format!("/archive/export?{query}"), None).await;
        assert_eq!((answer.status.as_u16(), answer.field()), (400, Some(field)), "{query}: {}", answer.text);
    }
    // FTS syntax is words here, not an error and not everything.
    let answer = api.ok("GET", "/archive?text=one%20OR%20NEAR%28x%29", None, 200).await;
    assert_eq!(answer["total"], 0);
    assert_eq!(api.root("GET", "/archive/export?domain=nowhere.example", None).await.status, 404);
}

#[tokio::test]
async fn exports_stream_mbox_and_zip() {
    let api = Api::new();
    for i in 0..120 {
        api.archive_message(1, "a.example", "alice@a.example", &format!("message{i}"));
    }
    let mbox = api.root("GET", "/archive/export?format=mbox&domain=a.example", None).await;
    assert_eq!(mbox.status, 200);
    assert_eq!(mbox.text.matches("\nFrom alice@a.example ").count() + 1, 120);
    assert!(mbox.text.starts_with("From alice@a.example "));
    let zip = api.root("GET", "/archive/export?format=zip&text=message7*", None).await;
    assert_eq!(zip.status, 200);
    let request = axum::http::Request::get("/api/v1/archive/export?format=zip&text=message7*")
        .header("authorization", format!("Bearer {}", api.root_secret))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(api.router.clone(), request).await.unwrap();
    assert_eq!(response.headers()["x-postern-archive-count"], "11");
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(zip.len(), 12, "message7 and message70..79, and the manifest");
    let mut manifest = String::new();
    zip.by_name("manifest.json").unwrap().read_to_string(&mut manifest).unwrap();
    let manifest: Vec<Value> = serde_json::from_str(&manifest).unwrap();
    for item in &manifest {
        let mut eml = Vec::new();
        zip.by_name(item["file"].as_str().unwrap()).unwrap().read_to_end(&mut eml).unwrap();
        assert_eq!(item["sha256"].as_str().unwrap(), format!("{:x}", Sha256::digest(&eml)));
    }
}

#[tokio::test]
async fn a_domain_admin_finds_its_sender_domain_but_nothing_of_others() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&serde_json::json!({"name": "a.example"})), 201).await;
    let own = api.archive_message(1, "a.example", "alice@a.example", "own");
    // An ip account of a hosting domain sending for a.example: found under a.example too.
    let sent_as = api.archive_message(2, "hosting.example", "bob@a.example", "sentas");
    let other = api.archive_message(3, "b.example", "carol@b.example", "secret");
    let secret = api.token("admin of a", Role::DomainAdmin, &["a.example"]);
    let a = Some(secret.as_str());
    let all = api.call(a, "GET", "/archive", None).await;
    assert_eq!(ids(&all.json), [sent_as, own]);
    for query in [
        "domain=b.example",
        "account_id=3",
        "sender=carol",
        "text=secret",
        "subject=secret",
        "message_id=secret@b.example",
        "recipient=someone",
    ] {
        let found = api.call(a, "GET", &format!("/archive?{query}"), None).await;
        assert!(!ids(&found.json).contains(&other), "{query}: {}", found.text);
        assert!(!found.text.contains("b.example"), "{query}: {}", found.text);
    }
    assert_eq!(api.call(a, "GET", &format!("/archive/{other}"), None).await.status, 404);
    assert_eq!(api.call(a, "GET", &format!("/archive/{other}/message"), None).await.status, 404);
    assert_eq!(api.call(a, "GET", &format!("/archive/{sent_as}"), None).await.status, 200);
    assert_eq!(api.call(a, "GET", "/archive/export?domain=b.example", None).await.status, 404);
    let mbox = api.call(a, "GET", "/archive/export", None).await;
    assert_eq!(mbox.status, 200);
    assert!(!mbox.text.contains("b.example") && mbox.text.contains("bob@a.example"), "{}", mbox.text);
}
