//! Abuse simulation (issue 15): how many messages a compromised account gets out before it
//! is stopped, and how often normal senders are stopped by mistake, with the behaviour
//! profiles and with the seeds' fixed rules.
//!
//! In: a [`SimConfig`] (seed, population, training and measured days). Out: a [`Report`]
//! with, per gateway and [`Strategy`], the messages each compromised account leaked
//! (delivered after the compromise, before the lock), and for the normal population false
//! locks and messages refused, delayed or held. Deterministic for a seed: events come from
//! one seeded `StdRng`, time is simulated (the profiles and the counters read it from the
//! events, through an injected clock), ties are broken by sender and message id.
//!
//! The run: `training_days` (10 days: the recommended monitor-first start, the warm-up
//! and then a whole week that profiles learn; nothing acts, findings are only counted), then
//! `measured_days` in which the behaviour gateway locks the identity (or the account, for
//! a finding of the account's profile). Compromises start at random times of the measured period
//! (not in its last 12 hours). The fixed gateways act from the start.
//!
//! # Layout
//! - `population.rs`: the normal senders.
//! - `attack.rs`: the compromised accounts and their strategies.
//! - `gateway.rs`: the behaviour gateway and the fixed-rules baseline.
//! - `report.rs`: the figures over seeds and their table.

pub mod attack;
pub mod gateway;
pub mod population;
pub mod report;

use postern_policy::behaviour::BehaviourSettings;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use attack::Strategy;
use gateway::{BehaviourGateway, FixedGateway, Outcome};
pub use report::{Report, SeedResult};

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;
/// Simulated time 0 (a Monday 00:00) as epoch milliseconds.
pub const BASE_MS: i64 = 1_800_000_000_000 - 1_800_000_000_000 % DAY;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub senders: usize,
    pub training_days: i64,
    pub measured_days: i64,
    pub attackers_per_strategy: usize,
    /// Also run the fixed-rules baseline (slower: real counters).
    pub baseline: bool,
    /// Judge the account's profile beside each identity's, as the gateway does (`false`:
    /// identities only, to show what the account's profile adds).
    pub account_profiles: bool,
    pub behaviour: BehaviourSettings,
}

impl SimConfig {
    /// The full run: 200 normal senders, a week of training, a measured week.
    pub fn week(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            senders: 200,
            training_days: 10,
            measured_days: 7,
            attackers_per_strategy: 4,
            baseline: true,
            account_profiles: true,
            behaviour: acting_defaults(),
        }
    }

    /// The short run of the tests: a measured day.
    pub fn day(seed: u64) -> SimConfig {
        SimConfig { senders: 60, measured_days: 1, attackers_per_strategy: 2, baseline: false, ..SimConfig::week(seed) }
    }
}

/// The default settings, acting by locking the identity.
pub fn acting_defaults() -> BehaviourSettings {
    BehaviourSettings {
        action: postern_policy::behaviour::BehaviourAction::LockIdentity,
        ..BehaviourSettings::default()
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: u32,
    /// Which of the account's identities sends it: 0 is the sender's own address; an
    /// attacker rotating addresses uses a new one each time.
    pub identity: u32,
    pub recipients: Vec<u64>,
    pub domains: Vec<u64>,
    pub network: u64,
    pub score: f32,
    pub attack: Option<Strategy>,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    Message(Message),
    /// Delivery failures (bounces) of an earlier message, fed back.
    Failure {
        message: u32,
        /// The identity that sent the message.
        identity: u32,
        n: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Event {
    /// Milliseconds since the start of the run.
    pub t: i64,
    pub sender: u32,
    pub kind: EventKind,
}

impl Event {
    fn order(&self) -> (i64, u32, u32) {
        let id = match &self.kind {
            EventKind::Message(m) => m.id,
            EventKind::Failure { message, .. } => *message,
        };
        (self.t, self.sender, id)
    }
}

/// A normal deviate (Box-Muller).
pub(crate) fn normal(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The compromised accounts of a run: sender index, strategy, start.
struct Compromise {
    sender: usize,
    strategy: Strategy,
    start: i64,
}

/// Per sender and gateway, what happened.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub(crate) delivered: u64,
    pub(crate) quarantined: u64,
    pub(crate) refused: u64,
    pub(crate) delayed: u64,
}

impl Tally {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Quarantined => self.quarantined += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Delayed => self.delayed += 1,
        }
    }
}

/// Runs one seed.
pub async fn run(config: &SimConfig) -> anyhow::Result<SeedResult> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let days = config.training_days + config.measured_days;
    let measured_from = config.training_days * DAY;
    let end = days * DAY;
    let mut events = Vec::new();
    let mut next_id = 0u32;
    let senders = population::generate(&mut rng, config.senders, days, measured_from, &mut events, &mut next_id);
    let mut office: Vec<usize> =
        (0..senders.len()).filter(|&i| senders[i].kind == population::SenderKind::Office).collect();
    let mut compromises = Vec::new();
    for strategy in Strategy::ALL {
        for _ in 0..config.attackers_per_strategy {
            if office.is_empty() {
                anyhow::bail!("not enough office senders to compromise");
            }
            let sender = office.swap_remove(rng.random_range(0..office.len()));
            let start = rng.random_range(measured_from..end - 12 * HOUR);
            let victim = &senders[sender];
            attack::generate(&mut rng, strategy, sender as u32, victim, start, end, &mut events, &mut next_id);
            compromises.push(Compromise { sender, strategy, start });
        }
    }
    events.retain(|e| e.t < end);
    events.sort_by_key(Event::order);

    let mut compromised_at = vec![i64::MAX; senders.len()];
    for c in &compromises {
        compromised_at[c.sender] = c.start;
    }
    let mut behaviour =
        BehaviourGateway::new(senders.len(), BASE_MS, config.behaviour.clone(), config.account_profiles);
    let mut fixed = Vec::new();
    if config.baseline {
        fixed.push(FixedGateway::new(
            "fixed, lenient (1000 sessions/h, 10000 recipients/day)",
            senders.len(),
            1000,
            10_000,
        )?);
        fixed.push(FixedGateway::new("fixed, tight (100 sessions/h, 1000 recipients/day)", senders.len(), 100, 1000)?);
    }
    // Per gateway (behaviour first) and sender: normal mail in the measured period, attack mail.
    let gateways = 1 + fixed.len();
    let mut normal_tally = vec![vec![Tally::default(); senders.len()]; gateways];
    let mut attack_tally = vec![vec![Tally::default(); senders.len()]; gateways];
    // Messages each gateway delivered (failures are fed back for those only).
    let mut delivered = vec![vec![false; next_id as usize + 1]; gateways];
    for event in &events {
        let sender = event.sender as usize;
        let now = BASE_MS + event.t;
        let measured = event.t >= measured_from;
        match &event.kind {
            EventKind::Message(m) => {
                let mut outcomes = vec![behaviour.message(sender, m, now, measured)];
                for g in fixed.iter_mut() {
                    outcomes.push(g.message(sender, m, now).await);
                }
                for (g, outcome) in outcomes.into_iter().enumerate() {
                    delivered[g][m.id as usize] = outcome == Outcome::Delivered;
                    if m.attack.is_some() {
                        attack_tally[g][sender].count(outcome);
                    } else if measured && event.t < compromised_at[sender] {
                        normal_tally[g][sender].count(outcome);
                    }
                }
            }
            EventKind::Failure { message, identity, n } => {
                if delivered[0].get(*message as usize).copied().unwrap_or(false) {
                    behaviour.failure(sender, *identity, *n, now, measured);
                }
            }
        }
    }
    Ok(report::seed_result(
        config,
        &senders,
        &compromises_of(&compromises),
        &behaviour,
        &fixed,
        &normal_tally,
        &attack_tally,
    ))
}

fn compromises_of(c: &[Compromise]) -> Vec<(usize, Strategy, i64)> {
    c.iter().map(|c| (c.sender, c.strategy, c.start)).collect()
}
