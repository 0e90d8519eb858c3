//! The RFC 7208 test suite (openspf.org release 2014.04, `tests/spf/rfc7208-tests.yml.gz`)
//! and Postern's own cases (`tests/spf/postern-cases.yml`), run through
//! [`postern_policy::spf::evaluate`] over real DNS on loopback.
//!
//! In: `tests/spf/suite_dns.py`, started here, serves each scenario's zone data from its
//! own dnslib server on 127.0.0.1 (UDP and TCP; TIMEOUT entries are queries it never
//! answers) and prints the cases as JSON. Every case gets a fresh [`SpfResolver`] pointed
//! at its scenario's server, so no answer is cached across cases. Out, per file:
//! "SPF suite: N passed of M applicable (K not applicable)". The test fails on any
//! applicable case whose result, or explanation where the suite gives one, differs, unless
//! the case is in [`KNOWN_DEVIATIONS`] with exactly that wrong answer; a known deviation
//! that starts passing fails the test too (remove it from the list).
//!
//! Needs `python3` with `dnslib` and `yaml` (PyYAML): `scripts/install-test-deps.sh`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postern_policy::spf::{SpfOutcome, SpfResolver, evaluate};
use serde::Deserialize;

const SUITE_FILES: [&str; 2] = ["rfc7208-tests.yml.gz", "postern-cases.yml"];
/// Per-query timeout: TIMEOUT entries cost this much per query.
const QUERY_TIMEOUT: Duration = Duration::from_millis(200);
/// Whole-evaluation deadline, far above what the slowest case needs.
const DEADLINE: Duration = Duration::from_secs(5);
/// The whole run, servers included.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Cases that cannot mean anything for Postern, with why: (case, reason). None today:
/// TIMEOUT is simulated by a server that does not answer, and explanations are compared.
const NOT_APPLICABLE: &[(&str, &str)] = &[];

/// Cases where Postern knowingly answers otherwise: (case, expected, actual, reason), with
/// `actual` as the failure message prints it. None today.
const KNOWN_DEVIATIONS: &[(&str, &str, &str, &str)] = &[];

#[derive(Debug, Deserialize)]
struct Suite {
    scenarios: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
struct Scenario {
    file: String,
    description: String,
    server: SocketAddr,
    tests: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    helo: String,
    host: String,
    mailfrom: String,
    /// Acceptable results, preferred first.
    result: Vec<String>,
    explanation: Option<String>,
}

#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    passed: usize,
    not_applicable: usize,
    known_deviations: usize,
}

/// The DNS servers; stopped (stdin closed, then killed) when dropped.
struct SuiteDns {
    child: Child,
}

impl Drop for SuiteDns {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_suite_dns() -> (SuiteDns, Suite) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/spf");
    let child = Command::new("python3")
        .arg(dir.join("suite_dns.py"))
        .args(SUITE_FILES.map(|file| dir.join(file)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 must be installed (scripts/install-test-deps.sh)");
    let mut dns = SuiteDns { child };
    let stdout = dns.child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the suite from suite_dns.py");
    assert!(
        !line.trim().is_empty(),
        "suite_dns.py printed nothing: are dnslib and PyYAML installed? (scripts/install-test-deps.sh)"
    );
    let suite = serde_json::from_str(&line).expect("suite_dns.py prints the suite as JSON");
    (dns, suite)
}

/// The reference driver's default explanation is "DEFAULT"; ours is none.
fn explanation(outcome: &SpfOutcome) -> &str {
    outcome.explanation.as_deref().unwrap_or("DEFAULT")
}

fn expected_text(case: &Case) -> String {
    match &case.explanation {
        Some(explanation) => format!("{} (explanation {explanation:?})", case.result.join("|")),
        None => case.result.join("|"),
    }
}

fn actual_text(case: &Case, outcome: &SpfOutcome) -> String {
    match &case.explanation {
        Some(_) => format!("{} (explanation {:?})", outcome.result, explanation(outcome)),
        None => outcome.result.to_string(),
    }
}

fn matches(case: &Case, outcome: &SpfOutcome) -> bool {
    let result_ok = case.result.iter().any(|r| r == outcome.result.as_str());
    let explanation_ok = case.explanation.as_deref().is_none_or(|want| want == explanation(outcome));
    result_ok && explanation_ok
}

async fn run_case(server: SocketAddr, case: &Case) -> SpfOutcome {
    let resolver =
        SpfResolver::new(&[server], QUERY_TIMEOUT).expect("resolver for a suite server").with_deadline(DEADLINE);
    let ip: IpAddr = case.host.parse().unwrap_or_else(|e| panic!("{}: host {:?}: {e}", case.name, case.host));
    evaluate(&resolver, ip, &case.helo, &case.mailfrom).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc7208_test_suite() {
    let started = Instant::now();
    let (_dns, suite) = start_suite_dns();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for scenario in &suite.scenarios {
        let tally = tallies.entry(scenario.file.as_str()).or_default();
        for case in &scenario.tests {
            tally.cases += 1;
            if NOT_APPLICABLE.iter().any(|(name, _)| *name == case.name) {
                tally.not_applicable += 1;
                continue;
            }
            let outcome = run_case(scenario.server, case).await;
            let known = KNOWN_DEVIATIONS.iter().find(|(name, ..)| *name == case.name);
            let place = format!("{} [{}: {}]", case.name, scenario.file, scenario.description);
            match (matches(case, &outcome), known) {
                (true, None) => tally.passed += 1,
                (true, Some(_)) => failures.push(format!("{place}: in KNOWN_DEVIATIONS but passes now: remove it")),
                (false, Some((_, _, actual, _))) if *actual == actual_text(case, &outcome) => {
                    tally.known_deviations += 1;
                }
                (false, _) => failures.push(format!(
                    "{place}: expected {}, got {} (helo {:?}, host {}, mailfrom {:?})",
                    expected_text(case),
                    actual_text(case, &outcome),
                    case.helo,
                    case.host,
                    case.mailfrom
                )),
            }
        }
    }

    for (file, t) in &tallies {
        let applicable = t.cases - t.not_applicable;
        println!(
            "SPF suite: {} passed of {applicable} applicable ({} not applicable, {} known deviations) in {file}",
            t.passed, t.not_applicable, t.known_deviations
        );
    }
    for (name, why) in NOT_APPLICABLE {
        println!("  not applicable {name}: {why}");
    }
    for (name, expected, actual, why) in KNOWN_DEVIATIONS {
        println!("  known deviation {name}: expected {expected}, got {actual}: {why}");
    }
    println!("SPF suite run time: {:.1?}", started.elapsed());
    assert_eq!(tallies.len(), SUITE_FILES.len(), "every suite file has cases");
    assert!(started.elapsed() < RUN_LIMIT, "the suite took {:?}", started.elapsed());
    assert!(failures.is_empty(), "{} SPF suite cases failed:\n{}", failures.len(), failures.join("\n"));
}
