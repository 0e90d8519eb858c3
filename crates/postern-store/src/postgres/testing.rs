//! For tests (this crate's and the others'): schemas of a test's own on the PostgreSQL
//! the tests run against, dropped when the test ends, passed or not.
//!
//! The server is `POSTERN_TEST_POSTGRES`, else 127.0.0.1:5432, user `postgres`, database
//! `test` (CI runs it). Unreachable: the test fails and says so. Each schema is named
//! `<prefix>_<pid>_<nanos>_<test>_<n>`: tests running at once never share one.

use std::sync::Mutex;
use std::time::Duration;

use super::{PgConfig, PgStore};

const DEFAULT_URL: &str = "host=127.0.0.1 user=postgres dbname=test";

/// The test server's connection string.
pub fn url() -> String {
    std::env::var("POSTERN_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Runs `sql` on a connection of its own (from a thread of its own: callable from inside
/// async code too); panics with a clear message when the server cannot be reached.
pub fn admin(sql: &str) {
    let (sql, url) = (sql.to_owned(), url());
    let outcome = std::thread::spawn(move || -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("a test runtime: {e}"))?;
        runtime.block_on(async {
            let connect = tokio_postgres::connect(&url, tokio_postgres::NoTls);
            let (client, connection) = match tokio::time::timeout(Duration::from_secs(10), connect).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => {
                    let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
                    return Err(format!(
                        "PostgreSQL at {url:?} is not reachable ({e}{cause}): these tests need it (CI runs it; \
                         set POSTERN_TEST_POSTGRES to use another server)"
                    ));
                }
                Err(_) => return Err(format!("PostgreSQL at {url:?} did not answer within 10 s")),
            };
            let connection = tokio::spawn(connection);
            let done = client.batch_execute(&sql).await.map_err(|e| format!("{sql}: {e}"));
            drop(client);
            let _ = connection.await;
            done
        })
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{e}"),
        Err(_) => panic!("the test's PostgreSQL thread panicked"),
    }
}

/// The schemas one test made; dropped with it, whether it passed or panicked.
pub struct TestSchemas {
    prefix: String,
    made: Mutex<Vec<String>>,
}

impl TestSchemas {
    /// Checks that the server answers (fails the test here, saying so, when it does not).
    pub fn new(prefix: &str, test: &str) -> TestSchemas {
        admin("SELECT 1");
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        TestSchemas { prefix: format!("{prefix}_{}_{nanos}_{test}", std::process::id()), made: Mutex::new(Vec::new()) }
    }

    /// A fresh schema's name (created by the first store that opens it).
    pub fn next(&self) -> String {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let name = format!("{}_{}", self.prefix, made.len() + 1);
        made.push(name.clone());
        name
    }

    /// How many schemas [`TestSchemas::next`] named.
    pub fn count(&self) -> usize {
        self.made.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The configuration of a store on `schema`.
    pub fn config(&self, schema: &str, pool_size: usize) -> PgConfig {
        PgConfig { url: url(), pool_size, schema: Some(schema.to_owned()), ca_file: None }
    }

    /// A store (a node) on `schema`.
    pub fn open(&self, schema: &str) -> PgStore {
        match PgStore::open(&self.config(schema, 4)) {
            Ok(store) => store,
            Err(e) => panic!("open PostgreSQL schema {schema} at {:?}: {e}", url()),
        }
    }

    /// A store on a fresh schema.
    pub fn fresh(&self) -> PgStore {
        let schema = self.next();
        self.open(&schema)
    }
}

impl Drop for TestSchemas {
    fn drop(&mut self) {
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if made.is_empty() {
            return;
        }
        let sql: String = made.iter().map(|s| format!("DROP SCHEMA IF EXISTS {s} CASCADE;")).collect();
        // A panic here while a test's panic unwinds would abort: report and go on.
        if std::panic::catch_unwind(|| admin(&sql)).is_err() {
            eprintln!("could not drop the test schemas {made:?}");
        }
    }
}
