//! `GET /health`: the parts mail depends on, each asked a cheap question at once, and one
//! status a load balancer can use (HTTP 200 for `ok` and `degraded`, 503 for `failing`).
//!
//! In: the [`HealthCheck`]s the server was built with (the spool, the store, Redis, each
//! engine: the binary makes the probes). Out: `{"status": "ok"|"degraded"|"failing",
//! "checks": {name: {"status", "detail"}}}`. No token: it names components and statuses
//! only, with short details the probes write without addresses or secrets.
//!
//! Defends against: a hung part holding the answer (every probe has [`CHECK_TIMEOUT`], all
//! run concurrently), probes piling up behind one that hangs (a check whose last probe is
//! still running is reported failing without starting another), and a flood of requests
//! (one evaluation at a time; an answer younger than [`REUSE`] is given again).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use postern_core::BoxFuture;
use serde::Serialize;

use crate::AdminState;

/// How long one probe may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an answer is given again instead of asking every part anew.
pub const REUSE: Duration = Duration::from_secs(1);

/// One question to one part: `Err` carries a short reason.
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A part's status, and the server's (the worst of its parts').
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Mail flows, with less checking (an engine whose failures are skipped is down).
    Degraded,
    /// Mail is refused or cannot be kept (the spool, the store, Redis counters, an engine
    /// whose failures refuse mail).
    Failing,
}

pub struct HealthCheck {
    /// `spool`, `store`, `redis`, `rspamd`...
    pub name: String,
    /// What a failed probe means for the whole server.
    pub on_failure: Status,
    pub probe: Probe,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub status: Status,
    pub checks: BTreeMap<String, CheckReport>,
}

struct Check {
    check: HealthCheck,
    /// Its last probe has not finished yet.
    busy: Arc<AtomicBool>,
}

/// The configured checks and the last answer.
pub struct Health {
    checks: Vec<Check>,
    timeout: Duration,
    last: tokio::sync::Mutex<Option<(Instant, Report)>>,
}

impl Health {
    pub fn new(checks: Vec<HealthCheck>) -> Health {
        Health::with_timeout(checks, CHECK_TIMEOUT)
    }

    pub fn with_timeout(checks: Vec<HealthCheck>, timeout: Duration) -> Health {
        let checks = checks.into_iter().map(|check| Check { check, busy: Arc::default() }).collect();
        Health { checks, timeout, last: tokio::sync::Mutex::new(None) }
    }

    /// Every part's status now (or from less than [`REUSE`] ago).
    pub async fn report(&self) -> Report {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref()
            && at.elapsed() < REUSE
        {
            return report.clone();
        }
        let report = self.evaluate().await;
        *last = Some((Instant::now(), report.clone()));
        report
    }

    async fn evaluate(&self) -> Report {
        let deadline = tokio::time::Instant::now() + self.timeout;
        // Every probe starts before any is awaited: they run concurrently.
        let running: Vec<_> = self.checks.iter().map(|c| (c, self.start(c))).collect();
        let mut results = Vec::with_capacity(running.len());
        for (c, task) in running {
            let outcome = match task {
                None => Err("the previous check has not finished".to_string()),
                Some(task) => match tokio::time::timeout_at(deadline, task).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Err("the check failed".to_string()),
                    Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
                },
            };
            results.push((c.check.name.clone(), c.check.on_failure, outcome));
        }
        aggregate(results)
    }

    /// The probe on its own task (it outlives a timeout and then marks the check free);
    /// `None` while the previous one still runs.
    fn start(&self, c: &Check) -> Option<tokio::task::JoinHandle<Result<(), String>>> {
        if c.busy.swap(true, Ordering::AcqRel) {
            return None;
        }
        let busy = Arc::clone(&c.busy);
        let probe = (c.check.probe)();
        Some(tokio::spawn(async move {
            let outcome = probe.await;
            busy.store(false, Ordering::Release);
            outcome
        }))
    }
}

/// Each check's outcome, and the worst status: a failed check counts as its `on_failure`.
pub fn aggregate(results: Vec<(String, Status, Result<(), String>)>) -> Report {
    let mut checks = BTreeMap::new();
    let mut status = Status::Ok;
    for (name, on_failure, outcome) in results {
        let report = match outcome {
            Ok(()) => CheckReport { status: Status::Ok, detail: "ok".into() },
            Err(detail) => CheckReport { status: on_failure, detail: short(&detail) },
        };
        status = status.max(report.status);
        checks.insert(name, report);
    }
    Report { status, checks }
}

/// At most 200 characters of a detail.
fn short(detail: &str) -> String {
    detail.chars().take(200).collect()
}

/// `GET /health`: 200 for `ok` and `degraded`, 503 for `failing`. Without checks (a server
/// built without them, tests), `ok` with none.
pub async fn show(State(state): State<AdminState>) -> Response {
    let report = match &state.health {
        Some(health) => health.report().await,
        None => Report { status: Status::Ok, checks: BTreeMap::new() },
    };
    let code = if report.status == Status::Failing { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (code, Json(report)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(outcome: Result<(), &'static str>, delay: Duration) -> Probe {
        Arc::new(move || {
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                outcome.map_err(str::to_string)
            })
        })
    }

    fn check(name: &str, on_failure: Status, probe: Probe) -> HealthCheck {
        HealthCheck { name: name.into(), on_failure, probe }
    }

    #[test]
    fn the_worst_part_decides() {
        let ok = |n: &str| (n.to_string(), Status::Failing, Ok(()));
        assert_eq!(aggregate(vec![ok("spool"), ok("store")]).status, Status::Ok);
        let skip_engine_down = ("rspamd".to_string(), Status::Degraded, Err("cannot connect".to_string()));
        let report = aggregate(vec![ok("spool"), skip_engine_down.clone()]);
        assert_eq!(report.status, Status::Degraded);
        assert_eq!(report.checks["rspamd"], CheckReport { status: Status::Degraded, detail: "cannot connect".into() });
        let spool_down = ("spool".to_string(), Status::Failing, Err("x".repeat(500)));
        let report = aggregate(vec![spool_down, skip_engine_down]);
        assert_eq!(report.status, Status::Failing);
        assert_eq!(report.checks["spool"].detail.len(), 200);
        assert_eq!(aggregate(vec![]).status, Status::Ok);
    }

    #[test]
    fn the_answer_is_the_documented_json() {
        let report = aggregate(vec![("store".into(), Status::Failing, Err("locked".into()))]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "failing", "checks": {"store": {"status": "failing", "detail": "locked"}}})
        );
    }

    #[tokio::test]
    async fn probes_run_at_once_and_a_hung_one_is_cut_off() {
        let health = Health::with_timeout(
            vec![
                check("a", Status::Failing, probe(Ok(()), Duration::from_millis(300))),
                check("b", Status::Failing, probe(Ok(()), Duration::from_millis(300))),
                check("hung", Status::Degraded, probe(Ok(()), Duration::from_secs(30))),
            ],
            Duration::from_millis(600),
        );
        let started = Instant::now();
        let report = health.evaluate().await;
        assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
        assert_eq!(report.status, Status::Degraded);
        assert_eq!(report.checks["a"].status, Status::Ok);
        assert_eq!(report.checks["hung"].detail, "no answer within 600 ms");
        // The hung probe is still running: no second one is started.
        let report = health.evaluate().await;
        assert_eq!(report.checks["hung"].detail, "the previous check has not finished");
    }

    #[tokio::test]
    async fn a_fresh_answer_is_given_again() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let probe: Probe = Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        });
        let health = Health::new(vec![check("store", Status::Failing, probe)]);
        assert_eq!(health.report().await.status, Status::Ok);
        assert_eq!(health.report().await.status, Status::Ok);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
