//! A queued message's content (`/queue/{id}/content`) and the server's status (`/status`).

use axum::body::Body;
use axum::http::Request;
use postern_core::tenancy::Role;

use crate::harness::Api;

#[tokio::test]
async fn a_message_content_is_its_spooled_bytes_for_those_who_may_see_it() {
    let api = Api::new();
    let mine = api.queue_message(1, "a.example", "sender@a.example").await;
    let theirs = api.queue_message(2, "b.example", "sender@b.example").await;
    let a = api.token("a admin", Role::DomainAdmin, &["a.example"]);

    let request = Request::builder()
        .uri(format!("/api/v1/queue/{mine}/content"))
        .header("authorization", format!("Bearer {}", api.root_secret))
        .body(Body::empty())
        .unwrap();
    let answer = api.send(request).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.text);
    assert_eq!(answer.text, "Subject: test\r\n\r\nhello\r\n");

    let own = api.call(Some(&a), "GET", &format!("/queue/{mine}/content"), None).await;
    assert_eq!((own.status.as_u16(), own.text.as_str()), (200, "Subject: test\r\n\r\nhello\r\n"));
    let foreign = api.call(Some(&a), "GET", &format!("/queue/{theirs}/content"), None).await;
    assert_eq!(foreign.status.as_u16(), 404);
    assert_eq!(foreign.json["error"], "no such message");
    assert!(!foreign.text.contains("hello"));
    let bad = api.root("GET", "/queue/..%2F..%2Fetc%2Fpasswd/content", None).await;
    assert_eq!(bad.status.as_u16(), 404, "{}", bad.text);
}

#[tokio::test]
async fn the_status_counts_events_and_is_for_superadmins() {
    let api = Api::new();
    api.queue_message(1, "a.example", "sender@a.example").await;
    let status = api.ok("GET", "/status", None, 200).await;
    assert_eq!(status["queue"]["messages"], 1);
    for field in ["stored", "retried", "dropped", "waiting", "failures"] {
        assert_eq!(status["events"][field], 0, "{field}: {status}");
    }
    let a = api.token("a admin", Role::DomainAdmin, &["a.example"]);
    let refused = api.call(Some(&a), "GET", "/status", None).await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.text);
}
