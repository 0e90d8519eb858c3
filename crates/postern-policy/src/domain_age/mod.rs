//! How old a sender's domain is (SPEC.md §5: newly registered sender domains): the
//! registration date of the *registrable* domain, from a local feed or from RDAP, cached.
//!
//! In: a registrable domain (`name.rs` finds it) in lower-case ASCII. Out: an [`Age`]: a
//! registration date and where it came from, or unknown and why. Deciding what a date means
//! for a message is the content check's job (`postern-pipeline/src/domain_age.rs`); an
//! unknown age never blocks by itself.
//!
//! Order: the feed (`feed.rs`, a hash probe) first; then the cache (`cache.rs`); then one
//! RDAP lookup (RFC 9224 bootstrap `bootstrap.rs`, RFC 9083 reply `rdap.rs`, the bounded
//! `GET` in `http.rs`) on a blocking thread, its answer cached: a date for
//! `ttl_registered`, "not found" or "no date" for `ttl_not_found`, a failure for
//! `ttl_error`. Concurrent lookups of one domain share one query (an in-flight map, at
//! most [`MAX_IN_FLIGHT`] domains at once). Everything here is bounded: the files, the
//! cache, the reply, the time of a lookup.
//!
//! # Layout
//! - `name.rs`: the registrable domain (Public Suffix List, ICANN section).
//! - `bootstrap.rs`, `bootstrap.json`: which RDAP server for which top-level domain.
//! - `rdap.rs`: the registration date in an RDAP domain reply.
//! - `http.rs`: [`RdapClient`], one `GET` with redirects, bounded.
//! - `feed.rs`: the local feed of new domains.
//! - `cache.rs`: answers with their lifetimes, bounded.

pub mod bootstrap;
pub mod cache;
pub mod feed;
pub mod http;
pub mod name;
pub mod rdap;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use postern_core::Live;
use tokio::sync::OnceCell;

pub use bootstrap::Bootstrap;
use cache::Cache;
pub use feed::Feed;
pub use http::{Fetched, RdapClient};
pub use name::registrable;

/// Most distinct domains looked up at once (each holds a blocking thread for at most the
/// timeout); beyond, the age is unknown.
pub const MAX_IN_FLIGHT: usize = 256;

/// `[domain_age]` as the lookup uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Ask RDAP for domains the feed does not list (off: the feed only).
    pub rdap: bool,
    /// One whole lookup, redirects included.
    pub timeout: Duration,
    pub ttl_registered: Duration,
    pub ttl_not_found: Duration,
    pub ttl_error: Duration,
    pub cache_entries: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            rdap: true,
            timeout: Duration::from_secs(2),
            ttl_registered: Duration::from_secs(7 * 86_400),
            ttl_not_found: Duration::from_secs(3600),
            ttl_error: Duration::from_secs(300),
            cache_entries: 100_000,
        }
    }
}

/// What is known of a domain's age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Age {
    Registered {
        at: DateTime<Utc>,
        source: Source,
    },
    /// Not found, no date, a failure, no RDAP server for the TLD...: the reason, in words.
    Unknown(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Feed,
    Rdap,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Feed => "feed",
            Source::Rdap => "RDAP",
        }
    }
}

/// The files behind the lookup: the bootstrap and the feed, read at start and on `SIGHUP`.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub bootstrap: Bootstrap,
    pub feed: Feed,
    /// What was read, for the log: `bootstrap: 4 TLDs (built in); feed: 12 domains`.
    pub summary: String,
}

impl Sources {
    /// The bootstrap file (`None`: the one built in) and the feed (`None`: none).
    pub fn load(bootstrap: Option<&Path>, feed: Option<&Path>) -> Result<Sources, String> {
        let (bootstrap, origin) = match bootstrap {
            None => (Bootstrap::builtin(), "built in".to_string()),
            Some(path) => {
                let bytes = read_bounded(path, bootstrap::MAX_FILE_SIZE)?;
                let parsed = Bootstrap::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                (parsed, path.display().to_string())
            }
        };
        let mut summary = format!("bootstrap: {} top-level domains ({origin})", bootstrap.len());
        let feed = match feed {
            None => Feed::default(),
            Some(path) => {
                let parsed = Feed::read(path)?;
                summary.push_str(&format!("; feed: {} domains", parsed.feed.len()));
                if let Some(line) = parsed.first_skipped {
                    summary.push_str(&format!(", {} lines skipped (first: line {line})", parsed.skipped));
                }
                parsed.feed
            }
        };
        Ok(Sources { bootstrap, feed, summary })
    }
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{} is larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}

/// Fetches a URL within a time limit (blocking): [`RdapClient`], or a stand-in in tests.
pub trait Fetch: Send + Sync + 'static {
    fn fetch(&self, url: &str, timeout: Duration) -> Fetched;
}

impl Fetch for RdapClient {
    fn fetch(&self, url: &str, timeout: Duration) -> Fetched {
        RdapClient::fetch(self, url, timeout)
    }
}

struct State {
    settings: Settings,
    sources: Sources,
}

/// The lookup: feed, cache, RDAP. One per server; a reload replaces its settings and files
/// and keeps the cache.
pub struct DomainAge {
    state: Live<State>,
    cache: Mutex<Cache<Age>>,
    in_flight: Mutex<HashMap<String, Arc<OnceCell<Age>>>>,
    fetcher: Arc<dyn Fetch>,
    queries: AtomicU64,
}

impl DomainAge {
    pub fn new(settings: Settings, sources: Sources) -> DomainAge {
        DomainAge::with_fetcher(settings, sources, Arc::new(RdapClient::new()))
    }

    pub fn with_fetcher(settings: Settings, sources: Sources, fetcher: Arc<dyn Fetch>) -> DomainAge {
        DomainAge {
            cache: Mutex::new(Cache::new(settings.cache_entries)),
            state: Live::new(State { settings, sources }),
            in_flight: Mutex::new(HashMap::new()),
            fetcher,
            queries: AtomicU64::new(0),
        }
    }

    /// New settings and files (a reload); cached answers stay until they expire.
    pub fn reload(&self, settings: Settings, sources: Sources) {
        lock(&self.cache).set_capacity(settings.cache_entries);
        self.state.store(State { settings, sources });
    }

    /// RDAP queries sent so far (cache hits and the feed do not count).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// The age of `domain`, a registrable domain in lower-case ASCII.
    pub async fn age(&self, domain: &str) -> Age {
        let state = self.state.load();
        if let Some(at) = state.sources.feed.get(domain) {
            return Age::Registered { at, source: Source::Feed };
        }
        if !state.settings.rdap {
            return Age::Unknown("not in the feed, and RDAP lookups are off".into());
        }
        if let Some(age) = lock(&self.cache).get(domain, Instant::now()) {
            return age;
        }
        let Some(base) = state.sources.bootstrap.base_for(domain) else {
            let tld = domain.rsplit('.').next().unwrap_or(domain);
            return Age::Unknown(format!("no RDAP server known for .{tld}"));
        };
        let url = rdap::domain_url(base, domain);
        let Some(flight) = self.join(domain) else {
            return Age::Unknown(format!("more than {MAX_IN_FLIGHT} RDAP lookups at once"));
        };
        flight.cell.get_or_init(|| self.query(domain, url, &state.settings)).await.clone()
    }

    /// The shared lookup of `domain`, or `None` when too many are in flight.
    fn join<'a>(&'a self, domain: &'a str) -> Option<InFlight<'a>> {
        let mut map = lock(&self.in_flight);
        if map.len() >= MAX_IN_FLIGHT && !map.contains_key(domain) {
            return None;
        }
        let cell = Arc::clone(map.entry(domain.to_string()).or_default());
        Some(InFlight { owner: self, domain, cell })
    }

    /// One RDAP query, its answer cached.
    async fn query(&self, domain: &str, url: String, settings: &Settings) -> Age {
        // A lookup that finished just before this one joined has filled the cache.
        if let Some(age) = lock(&self.cache).get(domain, Instant::now()) {
            return age;
        }
        self.queries.fetch_add(1, Ordering::Relaxed);
        let fetcher = Arc::clone(&self.fetcher);
        let timeout = settings.timeout;
        let task = tokio::task::spawn_blocking(move || answer(fetcher.fetch(&url, timeout)));
        // The client has the same limit; this one also bounds a stuck resolver.
        let (age, kind) = match tokio::time::timeout(timeout + Duration::from_millis(200), task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => (Age::Unknown(format!("RDAP: the lookup failed: {e}")), Kind::Failed),
            Err(_) => (Age::Unknown(format!("RDAP: no answer within {} ms", timeout.as_millis())), Kind::Failed),
        };
        let ttl = match kind {
            Kind::Registered => settings.ttl_registered,
            Kind::NotFound => settings.ttl_not_found,
            Kind::Failed => settings.ttl_error,
        };
        lock(&self.cache).insert(domain, age.clone(), ttl, Instant::now());
        age
    }
}

enum Kind {
    Registered,
    NotFound,
    Failed,
}

/// What a fetched reply says, and which lifetime its answer gets.
fn answer(fetched: Fetched) -> (Age, Kind) {
    match fetched {
        Fetched::Body(body) => match rdap::registration_date(&body) {
            Ok(Some(at)) => (Age::Registered { at, source: Source::Rdap }, Kind::Registered),
            Ok(None) => (Age::Unknown("RDAP: the registry gives no registration date".into()), Kind::NotFound),
            Err(e) => (Age::Unknown(format!("RDAP: {e}")), Kind::Failed),
        },
        Fetched::NotFound => (Age::Unknown("RDAP: not found".into()), Kind::NotFound),
        Fetched::Failed(e) => (Age::Unknown(format!("RDAP: {e}")), Kind::Failed),
    }
}

/// A caller's share of a lookup; the last one to leave removes it from the map (also when
/// the callers were cancelled before it finished).
struct InFlight<'a> {
    owner: &'a DomainAge,
    domain: &'a str,
    cell: Arc<OnceCell<Age>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = lock(&self.owner.in_flight);
        let ours = map.get(self.domain).is_some_and(|c| Arc::ptr_eq(c, &self.cell));
        // Two holders: the map and this guard, so nobody else is waiting.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2) {
            map.remove(self.domain);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
