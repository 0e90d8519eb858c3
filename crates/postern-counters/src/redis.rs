//! The Redis backend: the same sliding windows, shared by every node of a cluster.
//!
//! In: a Redis URL, a key prefix and a [`Clock`]. Out: a [`Counters`] whose every
//! operation is one Lua script run by Redis (EVALSHA, loaded on first use), so `acquire`
//! is atomic across nodes. The bucket index comes from the caller's clock and travels as an
//! argument, exactly as in the embedded backend, so tests can move time.
//!
//! Layout in Redis, for a counter key `K` and a window of `W` ms:
//! - `{prefix}:K:W`: a hash of bucket index -> count. Each call drops the fields older
//!   than `index - BUCKETS`, sums the rest (newer fields too), and, when it adds, sets a
//!   time to live of two windows and a bucket (at least 10 s).
//! - `{prefix}:K:windows`: the set of the `W` used with `K`, so that `reset` finds them
//!   without scanning the key space. (The last `:`-separated part tells the two apart and
//!   makes the names unambiguous whatever `K` holds.)
//!
//! Defends against a Redis that is down, slow or restarting: every call is bounded by a
//! 2 s timeout and answers [`CounterError::Backend`] (the policy decides what that means),
//! the connection manager reconnects behind the scenes, and nothing panics. Credentials in
//! the URL never appear in errors. Limits: Lua counts in doubles, so an `n` that is
//! added must be below 2^53 (a larger `limit` is the same as 2^53). Redis Cluster is not supported (a key's
//! hash and set are not given a common hash slot); a single server, or one with replicas
//! and Sentinel, is.

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use postern_core::BoxFuture;

use crate::{BUCKETS, Clock, CounterError, Counters, Decision, Result, Window, check_key};

/// The longest any call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest `connect` may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Counts are exact in Lua's doubles below this.
const MAX_EXACT: u64 = 1 << 53;
/// The shortest time to live of a hash (tiny windows in tests, clocks moved by hand).
const MIN_TTL_MS: u64 = 10_000;

/// KEYS: counts hash, windows set. ARGV: bucket index, n, limit (0 = none), ttl ms,
/// window ms, BUCKETS. Returns {1 if added else 0, count after}.
const COUNT_AND_ADD: &str = r"
local index = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local oldest = index - tonumber(ARGV[6])
local count = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if tonumber(fields[i]) < oldest then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    count = count + tonumber(fields[i + 1])
  end
end
if limit > 0 and count + n > limit then
  return {0, count}
end
if n > 0 then
  local ttl = tonumber(ARGV[4])
  redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('SADD', KEYS[2], ARGV[5])
  if redis.call('PTTL', KEYS[2]) < ttl then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
return {1, count + n}
";

/// KEYS: windows set. ARGV: the counts hashes' common prefix `{prefix}:K:`.
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
    reset: Script,
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
            count_and_add: Script::new(COUNT_AND_ADD),
            reset: Script::new(RESET),
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
        if n >= MAX_EXACT {
            return Err(CounterError::Backend(format!("redis counters: n must be below 2^53, got {n}")));
        }
        let index = window.bucket_index(self.clock.now_ms());
        let ttl = (2 * window.ms() + window.bucket_ms()).max(MIN_TTL_MS);
        let mut invocation = self.count_and_add.prepare_invoke();
        invocation
            .key(format!("{}:{key}:{}", self.prefix, window.ms()))
            .key(format!("{}:{key}:windows", self.prefix))
            .arg(index)
            .arg(n)
            .arg(limit.min(MAX_EXACT))
            .arg(ttl)
            .arg(window.ms())
            .arg(BUCKETS);
        let mut connection = self.connection.clone();
        let (added, count): (i64, i64) = bounded(invocation.invoke_async(&mut connection)).await?;
        Ok((added == 1, u64::try_from(count).unwrap_or(0)))
    }
}

impl Counters for RedisCounters {
    fn acquire(&self, key: &str, window: Duration, n: u64, limit: u64) -> BoxFuture<'_, Result<Decision>> {
        let checked = check_key(key).and_then(|()| Window::new(window));
        let key = key.to_string();
        Box::pin(async move {
            if limit > 0 && n > limit {
                // Never fits (and may be too large for Lua): only the count is needed.
                let (_, count) = self.count_and_add(key, checked?, 0, 0).await?;
                return Ok(Decision::Denied { count });
            }
            let (added, count) = self.count_and_add(key, checked?, n, limit).await?;
            Ok(if added { Decision::Allowed { count } } else { Decision::Denied { count } })
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
        let windows = format!("{}:{key}:windows", self.prefix);
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

    /// Redis keeps what it was told; nothing to do here.
    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(Ok(())))
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
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(escape_glob("postern"), "postern");
    }
}
