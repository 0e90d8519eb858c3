//! Redis-only behaviour: two instances (two nodes) share counts and stay atomic, and a
//! Redis that is gone or silent gives `Backend` errors in bounded time, never a hang.
//! Needs a Redis server (see redis_conformance.rs); without one these tests FAIL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_counters::conformance::{ManualClock, START_MS};
use postern_counters::redis::RedisCounters;
use postern_counters::{CounterError, Counters, Decision};

const HOUR: Duration = Duration::from_secs(3600);

fn redis_url() -> String {
    std::env::var("POSTERN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn connect(prefix: &str, clock: Arc<ManualClock>) -> RedisCounters {
    let url = redis_url();
    RedisCounters::connect(&url, prefix, clock).await.unwrap_or_else(|e| {
        panic!(
            "Redis is not reachable at {url} ({e}). The Redis counter tests need a running Redis \
             server: start one (e.g. `redis-server --daemonize yes`) or set POSTERN_TEST_REDIS_URL."
        )
    })
}

fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("postern-test:{}:{nanos}:{test}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_counts_and_stay_atomic() {
    let prefix = unique_prefix("two-nodes");
    let clock = Arc::new(ManualClock::new(START_MS));
    let nodes: [Arc<dyn Counters>; 2] =
        [Arc::new(connect(&prefix, clock.clone()).await), Arc::new(connect(&prefix, clock.clone()).await)];
    let mut tasks = Vec::new();
    for i in 0..60 {
        let node = Arc::clone(&nodes[i % 2]);
        tasks.push(tokio::spawn(async move { node.acquire("shared", HOUR, 1, 25).await.unwrap() }));
    }
    let mut allowed = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Decision::Allowed { .. }) {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 25);
    assert_eq!(nodes[0].count("shared", HOUR).await.unwrap(), 25);
    nodes[1].reset("shared").await.unwrap();
    assert_eq!(nodes[0].count("shared", HOUR).await.unwrap(), 0);

    let cleaner = connect(&prefix, clock).await;
    nodes[0].add("left-over", HOUR, 1).await.unwrap();
    assert!(cleaner.delete_all().await.unwrap() >= 2, "the hash and the windows set");
    assert_eq!(cleaner.delete_all().await.unwrap(), 0);
}

#[tokio::test]
async fn keys_expire_in_redis_too() {
    let prefix = unique_prefix("ttl");
    let clock = Arc::new(ManualClock::new(START_MS));
    let counters = connect(&prefix, clock).await;
    counters.add("ttl", HOUR, 1).await.unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(format!("{prefix}:ttl:3600000")).query_async(&mut connection).await.unwrap();
    assert!(ttl > 2 * 3_600_000 && ttl <= 2 * 3_600_000 + 60_000, "hash ttl {ttl}");
    let ttl: i64 = redis::cmd("PTTL").arg(format!("{prefix}:ttl:windows")).query_async(&mut connection).await.unwrap();
    assert!(ttl > 2 * 3_600_000, "windows set ttl {ttl}");
    counters.delete_all().await.unwrap();
}

#[tokio::test]
async fn a_closed_port_is_a_backend_error() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let started = Instant::now();
    let result = RedisCounters::connect("redis://127.0.0.1:1", "p", clock).await;
    assert!(matches!(result, Err(CounterError::Backend(_))));
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn a_closed_port_never_shows_the_password() {
    let clock = Arc::new(ManualClock::new(START_MS));
    match RedisCounters::connect("redis://user:secret@127.0.0.1:1", "p", clock).await {
        Err(CounterError::Backend(message)) => assert!(!message.contains("secret"), "{message}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}

#[tokio::test]
async fn a_silent_server_is_a_backend_error_in_bounded_time() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let clock = Arc::new(ManualClock::new(START_MS));
    let started = Instant::now();
    // Depending on the handshake, either connecting or the first call must give up.
    let result = match RedisCounters::connect(&format!("redis://127.0.0.1:{port}"), "p", clock).await {
        Ok(counters) => counters.add("k", HOUR, 1).await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(matches!(result, Err(CounterError::Backend(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    held.abort();
}

/// A TCP relay to the test Redis that can be cut and restored, on a fixed port.
struct Relay {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(port: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = upstream_address();
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                links.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Relay { port, task: Some(task) }
    }

    /// Closes the port and every relayed connection (the JoinSet drops with the task).
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// host:port of the test Redis.
fn upstream_address() -> String {
    let url = redis_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, host)| host).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_an_error_and_coming_back_is_used_again() {
    let prefix = unique_prefix("reconnect");
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut relay = Relay::start(0).await;
    let url = format!("redis://127.0.0.1:{}", relay.port);
    let counters = RedisCounters::connect(&url, &prefix, clock).await.unwrap();
    assert_eq!(counters.add("k", HOUR, 1).await.unwrap(), 1);
    counters.ping().await.expect("the health check's PING");

    relay.cut().await;
    assert!(matches!(counters.ping().await, Err(CounterError::Backend(_))), "PING fails while Redis is gone");
    for _ in 0..3 {
        let started = Instant::now();
        let result = counters.add("k", HOUR, 1).await;
        assert!(matches!(result, Err(CounterError::Backend(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    }

    let _relay = Relay::start(relay.port).await;
    let started = Instant::now();
    loop {
        match counters.count("k", HOUR).await {
            Ok(count) => {
                assert_eq!(count, 1, "the adds that failed were not counted");
                break;
            }
            Err(e) => assert!(started.elapsed() < Duration::from_secs(15), "no reconnection: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counters.add("k", HOUR, 1).await.unwrap(), 2);
    counters.ping().await.expect("PING again once it is back");
    counters.delete_all().await.unwrap();
}
