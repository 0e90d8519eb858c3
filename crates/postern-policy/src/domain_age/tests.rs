//! The lookup as a whole: feed first, cache, one shared query, failures as unknown; and the
//! real HTTP client against a server on loopback.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::AtomicUsize;

use super::*;

/// A fetcher that answers from a function, counting calls, after an optional delay.
struct Fake {
    calls: AtomicUsize,
    delay: Duration,
    answer: fn(&str) -> Fetched,
}

impl Fetch for Fake {
    fn fetch(&self, url: &str, _timeout: Duration) -> Fetched {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        (self.answer)(url)
    }
}

fn registered(url: &str) -> Fetched {
    let date = if url.contains("young") { "2026-07-01T09:00:00Z" } else { "2001-01-01T00:00:00Z" };
    if url.contains("missing") {
        return Fetched::NotFound;
    }
    if url.contains("broken") {
        return Fetched::Body(b"<html>oops".to_vec());
    }
    Fetched::Body(format!(r#"{{"events": [{{"eventAction": "registration", "eventDate": "{date}"}}]}}"#).into_bytes())
}

fn sources(feed: &str) -> Sources {
    let bootstrap = Bootstrap::parse(br#"{"services": [[["test"], ["http://127.0.0.1:9/rdap/"]]]}"#).unwrap();
    Sources { bootstrap, feed: Feed::parse(feed.as_bytes()).unwrap().feed, summary: String::new() }
}

fn lookup(settings: Settings, feed: &str, delay: Duration) -> (Arc<DomainAge>, Arc<Fake>) {
    let fake = Arc::new(Fake { calls: AtomicUsize::new(0), delay, answer: registered });
    let age = DomainAge::with_fetcher(settings, sources(feed), Arc::clone(&fake) as Arc<dyn Fetch>);
    (Arc::new(age), fake)
}

fn date(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn the_feed_comes_first_then_rdap_once_then_the_cache() {
    let (age, fake) = lookup(Settings::default(), "listed.test 2026-07-02\n", Duration::ZERO);
    assert_eq!(
        age.age("listed.test").await,
        Age::Registered { at: date("2026-07-02T00:00:00Z"), source: Source::Feed }
    );
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
    let young = Age::Registered { at: date("2026-07-01T09:00:00Z"), source: Source::Rdap };
    assert_eq!(age.age("young.test").await, young);
    assert_eq!(age.age("young.test").await, young);
    assert_eq!((fake.calls.load(Ordering::SeqCst), age.queries()), (1, 1), "the second answer is cached");
    assert_eq!(age.age("missing.test").await, Age::Unknown("RDAP: not found".into()));
    assert_eq!(age.age("missing.test").await, Age::Unknown("RDAP: not found".into()));
    let Age::Unknown(why) = age.age("broken.test").await else { panic!() };
    assert!(why.starts_with("RDAP: not JSON"), "{why}");
    assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
    assert_eq!(age.age("other.example").await, Age::Unknown("no RDAP server known for .example".into()));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn answers_expire_by_their_kind() {
    let settings = Settings {
        ttl_registered: Duration::from_secs(3600),
        ttl_not_found: Duration::from_millis(300),
        ttl_error: Duration::from_millis(100),
        ..Settings::default()
    };
    let (age, fake) = lookup(settings, "", Duration::ZERO);
    for name in ["old.test", "missing.test", "broken.test"] {
        age.age(name).await;
    }
    assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
    tokio::time::sleep(Duration::from_millis(150)).await;
    for name in ["old.test", "missing.test", "broken.test"] {
        age.age(name).await;
    }
    assert_eq!(fake.calls.load(Ordering::SeqCst), 4, "only the failure was asked again");
    tokio::time::sleep(Duration::from_millis(250)).await;
    for name in ["old.test", "missing.test"] {
        age.age(name).await;
    }
    assert_eq!(fake.calls.load(Ordering::SeqCst), 5, "then the not-found; the date lives on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_one_domain_share_one_query() {
    let (age, fake) = lookup(Settings::default(), "", Duration::from_millis(200));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let age = Arc::clone(&age);
            tokio::spawn(async move { age.age("young.test").await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Age::Registered { .. }));
    }
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
    assert!(lock(&age.in_flight).is_empty(), "the in-flight entry is gone");
}

#[tokio::test]
async fn a_slow_server_is_a_bounded_unknown_and_a_cancelled_lookup_leaves_nothing_behind() {
    let settings = Settings { timeout: Duration::from_millis(100), ..Settings::default() };
    let (age, _fake) = lookup(settings, "", Duration::from_millis(1500));
    let started = Instant::now();
    assert_eq!(age.age("old.test").await, Age::Unknown("RDAP: no answer within 100 ms".into()));
    assert!(started.elapsed() < Duration::from_millis(1000), "{:?}", started.elapsed());
    let cancelled = tokio::time::timeout(Duration::from_millis(10), age.age("other.test")).await;
    assert!(cancelled.is_err());
    assert!(lock(&age.in_flight).is_empty());
}

#[tokio::test]
async fn without_rdap_only_the_feed_answers_and_a_reload_replaces_it() {
    let settings = Settings { rdap: false, ..Settings::default() };
    let (age, fake) = lookup(settings.clone(), "listed.test 2026-07-02\n", Duration::ZERO);
    assert!(matches!(age.age("listed.test").await, Age::Registered { source: Source::Feed, .. }));
    assert_eq!(age.age("young.test").await, Age::Unknown("not in the feed, and RDAP lookups are off".into()));
    age.reload(settings, sources("young.test 2026-07-03T10:00:00Z\n"));
    assert_eq!(age.age("young.test").await, Age::Registered { at: date("2026-07-03T10:00:00Z"), source: Source::Feed });
    assert!(matches!(age.age("listed.test").await, Age::Unknown(_)));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn sources_load_files_or_the_built_in_bootstrap() {
    let dir = tempfile::tempdir().unwrap();
    let builtin = Sources::load(None, None).unwrap();
    assert_eq!(builtin.bootstrap.base_for("example.com"), Some("https://rdap.verisign.com/com/v1/"));
    assert_eq!(builtin.summary, "bootstrap: 4 top-level domains (built in)");
    let (b, f) = (dir.path().join("dns.json"), dir.path().join("feed.txt"));
    std::fs::write(&b, r#"{"services": [[["test"], ["http://127.0.0.1:1/"]]]}"#).unwrap();
    std::fs::write(&f, "a.test 2026-07-01\nnonsense\n").unwrap();
    let loaded = Sources::load(Some(&b), Some(&f)).unwrap();
    assert_eq!(loaded.bootstrap.base_for("example.com"), None, "the operator's file replaces the built-in one");
    assert_eq!(loaded.feed.len(), 1);
    assert!(loaded.summary.ends_with("feed: 1 domains, 1 lines skipped (first: line 2)"), "{}", loaded.summary);
    std::fs::write(&b, "garbage").unwrap();
    assert!(Sources::load(Some(&b), None).unwrap_err().contains("not an RDAP bootstrap file"));
    assert!(Sources::load(None, Some(&dir.path().join("absent"))).unwrap_err().starts_with("cannot read"));
}

/// A one-shot HTTP server on loopback: each connection gets the next reply (`None`: read
/// the request and never answer).
fn server(replies: Vec<Option<Vec<u8>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((mut conn, _)) = listener.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            match reply {
                Some(bytes) => {
                    let _ = conn.write_all(&bytes);
                }
                None => std::thread::sleep(Duration::from_secs(3)),
            }
        }
    });
    base
}

fn http(status: &str, headers: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut reply =
        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n", body.len())
            .into_bytes();
    reply.extend_from_slice(body);
    Some(reply)
}

#[test]
fn the_client_against_a_loopback_server() {
    let client = RdapClient::new();
    let t = Duration::from_secs(2);
    let body = br#"{"objectClassName": "domain", "events": []}"#;
    let base = server(vec![http("200 OK", "Content-Type: application/rdap+json\r\n", body)]);
    assert_eq!(client.fetch(&format!("{base}domain/a.test"), t), Fetched::Body(body.to_vec()));
    let base = server(vec![http("404 Not Found", "", b"{}")]);
    assert_eq!(client.fetch(&format!("{base}domain/a.test"), t), Fetched::NotFound);
    let base = server(vec![http("500 Internal Server Error", "", b"")]);
    assert!(
        matches!(client.fetch(&format!("{base}domain/a.test"), t), Fetched::Failed(e) if e.starts_with("HTTP 500"))
    );
    // Redirects: followed (a relative one too), at most three.
    let base = server(vec![
        http("302 Found", "Location: /moved/domain/a.test\r\n", b""),
        http("301 Moved", "Location: /again\r\n", b""),
        http("200 OK", "", body),
    ]);
    assert_eq!(client.fetch(&format!("{base}domain/a.test"), t), Fetched::Body(body.to_vec()));
    let hop = || http("307 Temporary Redirect", "Location: /next\r\n", b"");
    let base = server(vec![hop(), hop(), hop(), hop()]);
    assert_eq!(client.fetch(&format!("{base}x"), t), Fetched::Failed("more than 3 redirects".into()));
    // Too big.
    let big = vec![b' '; 300 * 1024];
    let base = server(vec![http("200 OK", "", &big)]);
    assert_eq!(client.fetch(&format!("{base}x"), t), Fetched::Failed("reply larger than 256 KiB".into()));
    // Silent: the time limit holds.
    let base = server(vec![None]);
    let started = Instant::now();
    assert_eq!(
        client.fetch(&format!("{base}x"), Duration::from_millis(300)),
        Fetched::Failed("no answer within 300 ms".into())
    );
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert!(matches!(client.fetch(&format!("http://{closed}/x"), t), Fetched::Failed(_)));
}
