//! Training the built-in scorer (`/training`): one message and an mbox learned and
//! counted, the same messages again known, the installation's totals and the minimum;
//! a domain admin refused (403), a bad label (400), an empty body (400) and an oversized
//! one (413).

use axum::body::Body;
use axum::http::Request;
use postern_core::tenancy::Role;
use serde_json::Value;

use crate::harness::{Answer, Api};

fn message(i: usize) -> String {
    format!(
        "From: sender{i}@a.example\r\nTo: someone@b.example\r\nSubject: training sample {i}\r\n\r\n\
         Cheap watches and pills, number {i}. Click here now!\r\n"
    )
}

/// Three messages in mbox form; the second carries a quoted `From ` body line.
fn mbox(first: usize) -> String {
    (first..first + 3)
        .map(|i| {
            let body =
                if i == first + 1 { format!("{}>From the desk of a prince\r\n", message(i)) } else { message(i) };
            format!("From sender{i}@a.example Sat Jan  3 01:05:34 1996\r\n{body}\r\n")
        })
        .collect()
}

async fn train(api: &Api, token: &str, query: &str, body: impl Into<Body>) -> Answer {
    let request = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/training{query}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "message/rfc822")
        .body(body.into())
        .expect("request");
    api.send(request).await
}

fn counts(answer: &Answer) -> (u64, u64, u64, u64) {
    let n = |k: &str| answer.json[k].as_u64().unwrap_or(u64::MAX);
    (n("messages"), n("learned"), n("relabelled"), n("known"))
}

fn installation(json: &Value) -> (u64, u64, bool) {
    let i = &json["installation"];
    (i["ham"].as_u64().unwrap_or(u64::MAX), i["spam"].as_u64().unwrap_or(u64::MAX), i["in_force"] == true)
}

#[tokio::test]
async fn a_superadmin_trains_from_a_message_and_an_mbox() {
    let api = Api::new();
    let root = api.root_secret.clone();
    let start = api.ok("GET", "/training", None, 200).await;
    assert_eq!(installation(&start), (0, 0, false));
    assert_eq!(start["installation"]["minimum"]["ham"], 2);

    let one = train(&api, &root, "?label=spam", message(1)).await;
    assert_eq!(one.status.as_u16(), 200, "{}", one.text);
    assert_eq!(one.json["label"], "spam");
    assert_eq!(counts(&one), (1, 1, 0, 0));
    assert_eq!(installation(&one.json), (0, 1, false));

    let three = train(&api, &root, "?label=spam", mbox(10)).await;
    assert_eq!(three.status.as_u16(), 200, "{}", three.text);
    assert_eq!(counts(&three), (3, 3, 0, 0));
    assert_eq!(installation(&three.json), (0, 4, false));

    // The same file again: known, nothing changes.
    let again = train(&api, &root, "?label=spam", mbox(10)).await;
    assert_eq!(counts(&again), (3, 0, 0, 3));
    assert_eq!(installation(&again.json), (0, 4, false));

    // Relabelled as ham: the counts move, and with 2 ham and 2 spam the minimum is reached.
    let ham = train(&api, &root, "?label=ham", mbox(10)).await;
    assert_eq!(counts(&ham), (3, 3, 3, 0));
    assert_eq!(installation(&ham.json), (3, 1, false));
    let spam = train(&api, &root, "?label=spam", message(2)).await;
    assert_eq!(installation(&spam.json), (3, 2, true));
    assert_eq!(installation(&api.ok("GET", "/training", None, 200).await), (3, 2, true));
}

#[tokio::test]
async fn a_domain_admin_may_not_train_nor_look() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&serde_json::json!({"name": "a.example"})), 201).await;
    let a = api.token("a admin", Role::DomainAdmin, &["a.example"]);
    let refused = train(&api, &a, "?label=spam", message(1)).await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.text);
    let look = api.call(Some(&a), "GET", "/training", None).await;
    assert_eq!(look.status.as_u16(), 403);
    assert_eq!(installation(&api.ok("GET", "/training", None, 200).await), (0, 0, false));
}

#[tokio::test]
async fn bad_labels_empty_and_oversized_bodies_are_refused() {
    let api = Api::new();
    let root = api.root_secret.clone();
    for query in ["?label=maybe", "?label=SPAM", "", "?label=spam&extra=1"] {
        let answer = train(&api, &root, query, message(1)).await;
        assert_eq!(answer.status.as_u16(), 400, "{query}: {}", answer.text);
    }
    assert_eq!(train(&api, &root, "?label=maybe", message(1)).await.field(), Some("label"));
    let empty = train(&api, &root, "?label=ham", "").await;
    assert_eq!((empty.status.as_u16(), empty.field()), (400, Some("body")));
    let separators = train(&api, &root, "?label=ham", "From x\r\nFrom y\r\n").await;
    assert_eq!(separators.status.as_u16(), 400);

    // Over 50 MiB: refused while reading (no Content-Length header to go by).
    let big = vec![b'a'; 50 * 1024 * 1024 + 1];
    let large = train(&api, &root, "?label=spam", big).await;
    assert_eq!((large.status.as_u16(), large.field()), (413, Some("body")), "{}", large.text);
    // A declared length over the limit is refused before reading.
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/training?label=spam")
        .header("authorization", format!("Bearer {root}"))
        .header("content-length", (50 * 1024 * 1024 + 1).to_string())
        .body(Body::from("Subject: x\r\n\r\nx\r\n"))
        .expect("request");
    assert_eq!(api.send(request).await.status.as_u16(), 413);
    assert_eq!(installation(&api.ok("GET", "/training", None, 200).await), (0, 0, false));
}
