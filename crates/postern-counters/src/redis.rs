//! The Redis backend: the same sliding windows, shared by every node of a cluster.
//!
//! In: a Redis URL, a key prefix and a [`Clock`]. Out: a [`Counters`] whose every
//! operation is one Lua script run by Redis (EVALSHA, loaded on first use), so `acquire`
//! is atomic across nodes, and so is `acquire_all` (one script for all its requests). The
//! bucket index comes from the caller's clock and travels as an argument, exactly as in
//! the embedded backend, so tests can move time.
//!
//! Layout in Redis, for a counter key `K` and a window of `W` ms:
//! - `{prefix}:K:W`: a hash of bucket index -> count. Each call drops the fields older
//!   than `index - BUCKETS`, sums the rest (newer fields too), and, when it adds, sets a
//!   time to live of two windows and a bucket (at least 10 s).
//! - `{prefix}:K:windows`: the set of the `W` used with `K`, so that `reset` finds them
//!   without scanning the key space. (The last `:`-separated part tells the two apart and
//!   makes the names unambiguous whatever `K` holds.)
//! - `{prefix}:K:blob`: a blob, as `expires ms (i64 LE) | value`, with a Redis time to live
//!   of the blob's (the expiry inside is the caller's clock's, the one that counts).
//!
//! Defends against a Redis that is down, slow or restarting: every call is bounded by a
//! 2 s timeout and answers [`CounterError::Backend`] (the policy decides what that means),
//! the connection manager reconnects behind the scenes, and nothing panics. Credentials in
//! the URL never appear in errors. Limits: Lua counts in doubles, so an `n` that is
//! added must be below 2^53 (a larger `limit` is the same as 2^53). Redis Cluster is not
//! supported (a key's hash and set are not given a common hash slot, nor are the keys of
//! the several counters of one `acquire_all`); a single server, or one with replicas and
//! Sentinel, is.

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script, ScriptInvocation};
use postern_core::BoxFuture;

use crate::{
    Acquire, BUCKETS, Clock, CounterError, Counters, Decision, MultiDecision, Result, Window, check_blob, check_key,
    check_requests,
};

/// The longest any call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest `connect` may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Counts are exact in Lua's doubles below this.
const MAX_EXACT: u64 = 1 << 53;
/// The shortest time to live of a hash (tiny windows in tests, clocks moved by hand).
const MIN_TTL_MS: u64 = 10_000;

/// The two steps every counting script shares, defined ahead of its body: the live count
/// of a counts hash (dropping expired buckets) and an add (with the time to live of both
/// keys). `index` and `n` stay the strings they arrived as, so HINCRBY gets exact integers.
const SERIES: &str = r"
local function live_count(hash, oldest)
  local count = 0
  local fields = redis.call('HGETALL', hash)
  for i = 1, #fields, 2 do
    if tonumber(fields[i]) < oldest then
      redis.call('HDEL', hash, fields[i])
    else
      count = count + tonumber(fields[i + 1])
    end
  end
  return count
end

local function add(hash, windows, index, n, ttl, window)
  redis.call('HINCRBY', hash, index, n)
  redis.call('PEXPIRE', hash, ttl)
  redis.call('SADD', windows, window)
  if redis.call('PTTL', windows) < ttl then
    redis.call('PEXPIRE', windows, ttl)
  end
end
";

/// After [`SERIES`]. KEYS: counts hash, windows set. ARGV: bucket index, n, limit (0 =
/// none), ttl ms, window ms, BUCKETS. Returns {1 if added else 0, count after}.
const COUNT_AND_ADD: &str = r"
local count = live_count(KEYS[1], tonumber(ARGV[1]) - tonumber(ARGV[6]))
local n = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if limit > 0 and count + n > limit then
  return {0, count}
end
if n > 0 then
  add(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[4]), ARGV[5])
end
return {1, count + n}
";

/// After [`SERIES`]; `acquire_all` in one call. KEYS: per request, its counts hash and
/// windows set. ARGV: BUCKETS, then per request its bucket index, n, limit (0 = none), ttl
/// ms, window ms. Checks every request first, then adds all of them; a hash named twice
/// is counted cumulatively. Returns {1, count after of each request} when all were added,
/// else {0, index (from 0) of the first that does not fit, the count it saw}. Its keys lie
/// in many hash slots: one more reason this backend is not for Redis Cluster.
const COUNT_AND_ADD_ALL: &str = r"
local buckets = tonumber(ARGV[1])
local requests = #KEYS / 2
local seen = {}
local counts = {1}
for r = 1, requests do
  local hash, a = KEYS[2 * r - 1], 5 * r - 4
  local n, limit = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local count = seen[hash] or live_count(hash, tonumber(ARGV[a + 1]) - buckets)
  if limit > 0 and count + n > limit then
    return {0, r - 1, count}
  end
  seen[hash] = count + n
  counts[r + 1] = count + n
end
for r = 1, requests do
  local a = 5 * r - 4
  if tonumber(ARGV[a + 2]) > 0 then
    add(KEYS[2 * r - 1], KEYS[2 * r], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 4]), ARGV[a + 5])
  end
end
return counts
";

/// KEYS: windows set. ARGV: the counts hashes' common prefix `{prefix}:K:`.
/// KEYS[1]: the blob; ARGV: now (ms), the guard, the new stored value (`expires | value`;
/// empty: remove), its time to live in ms. 1 if stored.
const PUT_BLOB_IF: &str = r"
local cur = redis.call('GET', KEYS[1])
local guard = ARGV[2]
local live = cur and string.len(cur) >= 8 and struct.unpack('<i8', cur) > tonumber(ARGV[1])
local ok
if guard == '' then ok = not live else ok = live and string.sub(cur, 9, 8 + string.len(guard)) == guard end
if not ok then return 0 end
if ARGV[3] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) end
return 1
";

const RESET: &str = r"
local windows = redis.call('SMEMBERS', KEYS[1])
for _, window in ipairs(windows) do
  redis.call('DEL', ARGV[1] .. window)
end
redis.call('DEL', KEYS[1])
return #windows
";

pub struct RedisCounters {
    connection: ConnectionManager,
    prefix: String,
    clock: Arc<dyn Clock>,
    count_and_add: Script,
    count_and_add_all: Script,
    reset: Script,
    put_blob_if: Script,
}

impl RedisCounters {
    /// Connects to `url` (`redis://[user:password@]host:port[/db]`); fails if Redis does
    /// not answer within 5 s. Keys are named `{prefix}:...`.
    pub async fn connect(url: &str, prefix: &str, clock: Arc<dyn Clock>) -> Result<RedisCounters> {
        let shown = redact(url);
        let client = Client::open(url).map_err(|e| backend(&format!("bad Redis URL {shown}"), e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(1));
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| CounterError::Backend(format!("redis at {shown}: no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| backend(&format!("redis at {shown}"), e))?;
        Ok(RedisCounters {
            connection,
            prefix: prefix.to_string(),
            clock,
            count_and_add: Script::new(&[SERIES, COUNT_AND_ADD].concat()),
            count_and_add_all: Script::new(&[SERIES, COUNT_AND_ADD_ALL].concat()),
            reset: Script::new(RESET),
            put_blob_if: Script::new(PUT_BLOB_IF),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Deletes every key under the prefix (tests, decommissioning). Scans the whole key
    /// space: not for the request path. Returns how many keys were deleted.
    pub async fn delete_all(&self) -> Result<u64> {
        let pattern = format!("{}:*", escape_glob(&self.prefix));
        let mut connection = self.connection.clone();
        let mut cursor = 0u64;
        let mut deleted = 0u64;
        loop {
            let scan = ::redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).to_owned();
            let (next, keys): (u64, Vec<Vec<u8>>) = bounded(scan.query_async(&mut connection)).await?;
            if !keys.is_empty() {
                deleted += bounded(::redis::cmd("UNLINK").arg(&keys).query_async::<u64>(&mut connection)).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// One run of [`COUNT_AND_ADD`]: (added, count after).
    async fn count_and_add(&self, key: String, window: Window, n: u64, limit: u64) -> Result<(bool, u64)> {
        let (n, limit) = script_amounts(n, limit)?;
        let index = window.bucket_index(self.clock.now_ms());
        let mut invocation = self.count_and_add.prepare_invoke();
        invocation
            .key(self.counts_key(&key, window))
            .key(self.windows_key(&key))
            .arg(index)
            .arg(n)
            .arg(limit)
            .arg(ttl_ms(window))
            .arg(window.ms())
            .arg(BUCKETS);
        let mut connection = self.connection.clone();
        let (added, count): (i64, i64) = bounded(invocation.invoke_async(&mut connection)).await?;
        Ok((added == 1, u64::try_from(count).unwrap_or(0)))
    }

    /// The run of [`COUNT_AND_ADD_ALL`] for checked requests (`windows` are theirs, in order).
    fn count_and_add_all(&self, requests: &[Acquire], windows: &[Window]) -> Result<ScriptInvocation<'_>> {
        let now = self.clock.now_ms();
        let mut invocation = self.count_and_add_all.prepare_invoke();
        invocation.arg(BUCKETS);
        for (request, &window) in requests.iter().zip(windows) {
            let (n, limit) = script_amounts(request.n, request.limit)?;
            invocation
                .key(self.counts_key(&request.key, window))
                .key(self.windows_key(&request.key))
                .arg(window.bucket_index(now))
                .arg(n)
                .arg(limit)
                .arg(ttl_ms(window))
                .arg(window.ms());
        }
        Ok(invocation)
    }

    /// `{prefix}:K:W`: the hash of bucket counts.
    fn counts_key(&self, key: &str, window: Window) -> String {
        format!("{}:{key}:{}", self.prefix, window.ms())
    }

    /// `{prefix}:K:windows`: the set of the windows used with `K`.
    fn windows_key(&self, key: &str) -> String {
        format!("{}:{key}:windows", self.prefix)
    }
}

/// The time to live of a window's keys: two windows and a bucket (at least [`MIN_TTL_MS`]).
fn ttl_ms(window: Window) -> u64 {
    (2 * window.ms() + window.bucket_ms()).max(MIN_TTL_MS)
}

/// The `n` and `limit` a script is sent, exact in Lua's doubles. A request that can never
/// fit (`n > limit > 0`) is sent as one that still never fits, whatever the count; an `n`
/// that would be added must be below 2^53; a larger `limit` is the same as 2^53.
fn script_amounts(n: u64, limit: u64) -> Result<(u64, u64)> {
    if limit > 0 && n > limit {
        let limit = limit.min(MAX_EXACT - 1);
        return Ok((limit + 1, limit));
    }
    if n >= MAX_EXACT {
        return Err(CounterError::Backend(format!("redis counters: n must be below 2^53, got {n}")));
    }
    Ok((n, limit.min(MAX_EXACT)))
}

/// Reads the reply of [`COUNT_AND_ADD_ALL`] to `requests` requests.
fn multi_decision(reply: &[i64], requests: usize) -> Result<MultiDecision> {
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    let unexpected = || CounterError::Backend(format!("redis: unexpected reply to acquire_all: {reply:?}"));
    match *reply {
        [1, ref counts @ ..] if counts.len() == requests => {
            Ok(MultiDecision::Allowed { counts: counts.iter().copied().map(count).collect() })
        }
        [0, index, seen] => match usize::try_from(index) {
            Ok(index) if index < requests => Ok(MultiDecision::Denied { index, count: count(seen) }),
            _ => Err(unexpected()),
        },
        _ => Err(unexpected()),
    }
}

impl Counters for RedisCounters {
    fn acquire(&self, key: &str, window: Duration, n: u64, limit: u64) -> BoxFuture<'_, Result<Decision>> {
        let checked = check_key(key).and_then(|()| Window::new(window));
        let key = key.to_string();
        Box::pin(async move {
            let (added, count) = self.count_and_add(key, checked?, n, limit).await?;
            Ok(if added { Decision::Allowed { count } } else { Decision::Denied { count } })
        })
    }

    fn acquire_all(&self, requests: &[Acquire]) -> BoxFuture<'_, Result<MultiDecision>> {
        let invocation = check_requests(requests).and_then(|windows| self.count_and_add_all(requests, &windows));
        let len = requests.len();
        Box::pin(async move {
            let invocation = invocation?;
            if len == 0 {
                return Ok(MultiDecision::Allowed { counts: Vec::new() });
            }
            let mut connection = self.connection.clone();
            let reply: Vec<i64> = bounded(invocation.invoke_async(&mut connection)).await?;
            multi_decision(&reply, len)
        })
    }

    fn add(&self, key: &str, window: Duration, n: u64) -> BoxFuture<'_, Result<u64>> {
        let checked = check_key(key).and_then(|()| Window::new(window));
        let key = key.to_string();
        Box::pin(async move { Ok(self.count_and_add(key, checked?, n, 0).await?.1) })
    }

    fn count(&self, key: &str, window: Duration) -> BoxFuture<'_, Result<u64>> {
        let checked = check_key(key).and_then(|()| Window::new(window));
        let key = key.to_string();
        Box::pin(async move { Ok(self.count_and_add(key, checked?, 0, 0).await?.1) })
    }

    fn reset(&self, key: &str) -> BoxFuture<'_, Result<()>> {
        let checked = check_key(key);
        let windows = self.windows_key(key);
        let counts_prefix = format!("{}:{key}:", self.prefix);
        Box::pin(async move {
            checked?;
            let mut invocation = self.reset.prepare_invoke();
            invocation.key(windows).arg(counts_prefix);
            let mut connection = self.connection.clone();
            let _: i64 = bounded(invocation.invoke_async(&mut connection)).await?;
            Ok(())
        })
    }

    fn get_blob(&self, key: &str) -> BoxFuture<'_, Result<Option<Vec<u8>>>> {
        let checked = check_key(key);
        let blob_key = format!("{}:{key}:blob", self.prefix);
        Box::pin(async move {
            checked?;
            let mut connection = self.connection.clone();
            let stored: Option<Vec<u8>> =
                bounded(::redis::cmd("GET").arg(blob_key).query_async(&mut connection)).await?;
            let Some(stored) = stored else { return Ok(None) };
            let Some((expires, value)) = stored.split_first_chunk::<8>() else { return Ok(None) };
            let live = i64::from_le_bytes(*expires) > self.clock.now_ms();
            Ok(live.then(|| value.to_vec()))
        })
    }

    fn put_blob(&self, key: &str, value: &[u8], ttl: Duration) -> BoxFuture<'_, Result<()>> {
        let checked = check_blob(key, value, ttl);
        let blob_key = format!("{}:{key}:blob", self.prefix);
        let value = value.to_vec();
        Box::pin(async move {
            let ttl_ms = checked?;
            let mut connection = self.connection.clone();
            if value.is_empty() {
                let _: i64 = bounded(::redis::cmd("DEL").arg(blob_key).query_async(&mut connection)).await?;
                return Ok(());
            }
            let mut stored = Vec::with_capacity(8 + value.len());
            stored.extend_from_slice(&self.clock.now_ms().saturating_add(ttl_ms).to_le_bytes());
            stored.extend_from_slice(&value);
            let mut set = ::redis::cmd("SET");
            set.arg(blob_key).arg(stored).arg("PX").arg(ttl_ms);
            let () = bounded(set.query_async(&mut connection)).await?;
            Ok(())
        })
    }

    fn put_blob_if(&self, key: &str, guard: &[u8], value: &[u8], ttl: Duration) -> BoxFuture<'_, Result<bool>> {
        let checked = check_blob(key, value, ttl);
        let blob_key = format!("{}:{key}:blob", self.prefix);
        let (guard, value) = (guard.to_vec(), value.to_vec());
        Box::pin(async move {
            let ttl_ms = checked?;
            let now = self.clock.now_ms();
            let mut stored = Vec::with_capacity(8 + value.len());
            if !value.is_empty() {
                stored.extend_from_slice(&now.saturating_add(ttl_ms).to_le_bytes());
                stored.extend_from_slice(&value);
            }
            let mut invocation = self.put_blob_if.prepare_invoke();
            invocation.key(blob_key).arg(now).arg(guard).arg(stored).arg(ttl_ms);
            let mut connection = self.connection.clone();
            let done: i64 = bounded(invocation.invoke_async(&mut connection)).await?;
            Ok(done == 1)
        })
    }

    /// Redis keeps what it was told; nothing to do here.
    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// `PING`, answered `PONG` within the call timeout.
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let pong: String = bounded(::redis::cmd("PING").query_async(&mut connection)).await?;
            if pong == "PONG" { Ok(()) } else { Err(CounterError::Backend("redis: PING not answered PONG".into())) }
        })
    }
}

/// Awaits one Redis call for at most [`CALL_TIMEOUT`].
async fn bounded<T>(call: impl Future<Output = ::redis::RedisResult<T>>) -> Result<T> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(|e| backend("redis", e)),
        Err(_) => Err(CounterError::Backend(format!("redis: no answer within {CALL_TIMEOUT:?}"))),
    }
}

fn backend(what: &str, e: ::redis::RedisError) -> CounterError {
    CounterError::Backend(format!("{what}: {e}"))
}

/// The URL with any user and password replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Escapes the glob characters of a SCAN pattern.
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("redis://user:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://:secret@host"), "redis://***@host");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("unix:///run/redis.sock"), "unix:///run/redis.sock");
    }

    #[test]
    fn amounts_stay_exact_in_lua() {
        assert_eq!(script_amounts(3, 10).unwrap(), (3, 10));
        assert_eq!(script_amounts(3, u64::MAX).unwrap(), (3, MAX_EXACT), "a larger limit is 2^53");
        assert_eq!(script_amounts(11, 10).unwrap(), (11, 10), "never fits, still never fits");
        assert_eq!(script_amounts(u64::MAX, 10).unwrap(), (11, 10));
        assert_eq!(script_amounts(u64::MAX, u64::MAX - 1).unwrap(), (MAX_EXACT, MAX_EXACT - 1));
        assert!(script_amounts(MAX_EXACT, 0).is_err(), "an n to add too large for Lua");
        assert!(script_amounts(MAX_EXACT, MAX_EXACT).is_err());
    }

    #[test]
    fn multi_decisions_are_read_strictly() {
        assert_eq!(multi_decision(&[1, 2, 5], 2).unwrap(), MultiDecision::Allowed { counts: vec![2, 5] });
        assert_eq!(multi_decision(&[1], 0).unwrap(), MultiDecision::Allowed { counts: vec![] });
        assert_eq!(multi_decision(&[0, 1, 7], 2).unwrap(), MultiDecision::Denied { index: 1, count: 7 });
        for bad in [&[1, 2][..], &[0, 2, 7], &[0, -1, 7], &[0, 1], &[2, 1, 1], &[]] {
            assert!(multi_decision(bad, 2).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(escape_glob("postern"), "postern");
    }
}
