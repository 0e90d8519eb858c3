//! The checks behind `/health` (the admin API's `health` runs them): the spool (a probe
//! file written, fsynced and removed where messages are written), the store (a cheap
//! query), PostgreSQL when it holds the directory (whether this node keeps up with its
//! change feed, which it reads every second), Redis when it holds the counters (`PING`),
//! and each configured engine (its ping).
//!
//! In: the running parts. Out: [`HealthCheck`]s with what a failure means: the spool, the
//! store, PostgreSQL and Redis are `failing` (mail cannot be kept, decided or counted); an engine is `failing`
//! when its `on_failure` is `tempfail` (mail is being refused) and `degraded` when it is
//! `skip`. Details are short and public: no paths, addresses or URLs (those go to the log).

use std::sync::Arc;

use postern_admin::health::{HealthCheck, Probe, Status};
use postern_counters::Counters;
use postern_pipeline::{OnFailure, Scanner};
use postern_policy::Readiness;
use postern_queue::{Spool, SpoolError};
use postern_store::SqliteStore;

/// The checks for this server; `postgres`: the node's readiness, when PostgreSQL holds the
/// directory; `redis`: the counters, when Redis holds them.
pub fn checks(
    spool: &Spool,
    store: &Arc<SqliteStore>,
    postgres: Option<Readiness>,
    redis: Option<Arc<dyn Counters>>,
    engines: &[Arc<dyn Scanner>],
) -> Vec<HealthCheck> {
    let mut checks = vec![
        HealthCheck { name: "spool".into(), on_failure: Status::Failing, probe: spool_probe(spool.clone()) },
        HealthCheck { name: "store".into(), on_failure: Status::Failing, probe: store_probe(Arc::clone(store)) },
    ];
    if let Some(readiness) = postgres {
        checks.push(HealthCheck { name: "postgres".into(), on_failure: Status::Failing, probe: feed_probe(readiness) });
    }
    if let Some(counters) = redis {
        checks.push(HealthCheck { name: "redis".into(), on_failure: Status::Failing, probe: redis_probe(counters) });
    }
    for scanner in engines.iter().filter(|s| s.ping().is_some()) {
        let on_failure = match scanner.on_failure() {
            OnFailure::Tempfail => Status::Failing,
            OnFailure::Skip => Status::Degraded,
        };
        let name = scanner.engine().to_string();
        checks.push(HealthCheck { name, on_failure, probe: engine_probe(Arc::clone(scanner)) });
    }
    checks
}

fn spool_probe(spool: Spool) -> Probe {
    Arc::new(move || {
        let spool = spool.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || spool.probe_blocking()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "health: the spool cannot take a message");
                    Err(match e {
                        SpoolError::Io { op, source, .. } => format!("cannot {op} a probe file: {source}"),
                        SpoolError::Broken(_) => "a journal sync failed; restart to recover".to_string(),
                        _ => "cannot write a probe file".to_string(),
                    })
                }
                Err(_) => Err("the probe did not finish".into()),
            }
        })
    })
}

fn store_probe(store: Arc<SqliteStore>) -> Probe {
    Arc::new(move || {
        let store = Arc::clone(&store);
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || store.schema_version()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "health: the store does not answer");
                    Err(format!("query failed: {e}"))
                }
                Err(_) => Err("the query did not finish".into()),
            }
        })
    })
}

/// Answered from memory: the node's follower reads the feed every second and says when it
/// cannot (`convergence.rs`).
fn feed_probe(readiness: Readiness) -> Probe {
    Arc::new(move || {
        let status = readiness.status();
        Box::pin(async move { status })
    })
}

fn redis_probe(counters: Arc<dyn Counters>) -> Probe {
    Arc::new(move || {
        let counters = Arc::clone(&counters);
        Box::pin(async move {
            counters.ping().await.map_err(|e| {
                // The error may name the server; the answer does not.
                tracing::warn!(error = %e, "health: Redis does not answer PING");
                "PING not answered".to_string()
            })
        })
    })
}

fn engine_probe(scanner: Arc<dyn Scanner>) -> Probe {
    Arc::new(move || {
        let scanner = Arc::clone(&scanner);
        Box::pin(async move {
            let Some(ping) = scanner.ping() else { return Ok(()) };
            ping.await.inspect_err(|e| {
                tracing::warn!(engine = scanner.engine(), error = e.as_str(), "health: engine does not answer");
            })
        })
    })
}
