//! The figures of a run: per seed ([`SeedResult`]) and over seeds ([`Report`]), with the
//! table printed by the `abuse_sim` binary and copied to docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::gateway::{BehaviourGateway, FixedGateway};
use crate::population::Sender;
use crate::{SimConfig, Strategy, Tally};

/// What one gateway did in one seed.
#[derive(Debug, Clone, Default)]
pub struct GatewayResult {
    pub name: String,
    /// Per strategy, the messages each compromised account leaked.
    pub leaked: BTreeMap<Strategy, Vec<u64>>,
    /// Normal senders locked (before any compromise of theirs).
    pub false_locks: u64,
    /// Normal messages in the measured period, and how many were refused (locked sender),
    /// delayed (451 from a limit), held (quarantined by a finding or the content checks).
    pub normal: u64,
    pub refused: u64,
    pub delayed: u64,
    pub held: u64,
}

#[derive(Debug, Clone, Default)]
pub struct SeedResult {
    pub seed: u64,
    pub measured_days: i64,
    pub gateways: Vec<GatewayResult>,
    /// Lock reasons of the behaviour gateway: (strategy or `None` for a false lock, reason).
    pub reasons: Vec<(Option<Strategy>, String)>,
    /// Normal senders with findings logged during the monitor-mode training.
    pub monitored_senders: u64,
}

pub(crate) fn seed_result(
    config: &SimConfig,
    senders: &[Sender],
    compromises: &[(usize, Strategy, i64)],
    behaviour: &BehaviourGateway,
    fixed: &[FixedGateway],
    normal: &[Vec<Tally>],
    attack: &[Vec<Tally>],
) -> SeedResult {
    let strategy_of = |sender: usize| compromises.iter().find(|c| c.0 == sender).map(|c| (c.1, c.2));
    let mut out = SeedResult { seed: config.seed, measured_days: config.measured_days, ..SeedResult::default() };
    let names = std::iter::once("behaviour profiles (defaults, lock identity)").chain(fixed.iter().map(|g| g.name));
    for (g, name) in names.enumerate() {
        let mut result = GatewayResult { name: name.to_string(), ..GatewayResult::default() };
        for &(sender, strategy, _) in compromises {
            result.leaked.entry(strategy).or_default().push(attack[g][sender].delivered);
        }
        for tally in &normal[g] {
            result.normal += tally.delivered + tally.quarantined + tally.refused + tally.delayed;
            result.refused += tally.refused;
            result.delayed += tally.delayed;
            result.held += tally.quarantined;
        }
        for sender in 0..senders.len() {
            let locked_at = if g == 0 {
                behaviour.locks[sender].as_ref().map(|l| l.0 - crate::BASE_MS)
            } else {
                fixed[g - 1].locked_at[sender].map(|t| t - crate::BASE_MS)
            };
            let Some(at) = locked_at else { continue };
            match strategy_of(sender) {
                Some((_, start)) if at >= start => {}
                _ => result.false_locks += 1,
            }
        }
        out.gateways.push(result);
    }
    for (sender, lock) in behaviour.locks.iter().enumerate() {
        if let Some((at, reason)) = lock {
            let strategy = strategy_of(sender).filter(|&(_, start)| *at - crate::BASE_MS >= start).map(|s| s.0);
            out.reasons.push((strategy, reason.clone()));
        }
    }
    out.monitored_senders = behaviour.monitored.iter().filter(|&&n| n > 0).count() as u64;
    out
}

/// The figures over seeds.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seeds: Vec<SeedResult>,
}

/// Median and worst of the leaks of one strategy at one gateway, over every seed.
pub fn leaks(seeds: &[SeedResult], gateway: usize, strategy: Strategy) -> (u64, u64) {
    let mut all: Vec<u64> = seeds
        .iter()
        .filter_map(|s| s.gateways.get(gateway))
        .flat_map(|g| g.leaked.get(&strategy).cloned().unwrap_or_default())
        .collect();
    all.sort_unstable();
    if all.is_empty() {
        return (0, 0);
    }
    (all[all.len() / 2], all[all.len() - 1])
}

impl Report {
    pub fn false_locks(&self, gateway: usize) -> u64 {
        self.seeds.iter().filter_map(|s| s.gateways.get(gateway)).map(|g| g.false_locks).sum()
    }

    /// Simulated measured weeks over every seed.
    pub fn weeks(&self) -> f64 {
        self.seeds.iter().map(|s| s.measured_days as f64 / 7.0).sum()
    }

    /// The table (Markdown).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let Some(first) = self.seeds.first() else { return out };
        let names: Vec<&str> = first.gateways.iter().map(|g| g.name.as_str()).collect();
        let _ = writeln!(
            out,
            "Messages leaked per compromised account before the lock: median / worst over every account of every seed.\n"
        );
        let _ = write!(out, "| strategy (target) |");
        names.iter().for_each(|n| {
            let _ = write!(out, " {n} |");
        });
        let _ = write!(out, "\n|---|");
        names.iter().for_each(|_| out.push_str("---|"));
        out.push('\n');
        for strategy in Strategy::ALL {
            let target = if strategy.obvious() { 3 } else { 50 };
            let _ = write!(out, "| {} (≤ {target}) |", strategy.name());
            for g in 0..names.len() {
                let (median, worst) = leaks(&self.seeds, g, strategy);
                let _ = write!(out, " {median} / {worst} |");
            }
            out.push('\n');
        }
        let _ = write!(out, "| **normal senders**: false locks per simulated week (target 0) |");
        for g in 0..names.len() {
            let _ = write!(out, " {:.1} |", self.false_locks(g) as f64 / self.weeks().max(1e-9));
        }
        let _ = write!(out, "\n| normal messages refused / delayed / held, of all |");
        for g in 0..names.len() {
            let sum = |f: fn(&GatewayResult) -> u64| -> u64 {
                self.seeds.iter().filter_map(|s| s.gateways.get(g)).map(f).sum()
            };
            let _ = write!(
                out,
                " {} / {} / {} of {} |",
                sum(|r| r.refused),
                sum(|r| r.delayed),
                sum(|r| r.held),
                sum(|r| r.normal)
            );
        }
        out.push('\n');
        let monitored: u64 = self.seeds.iter().map(|s| s.monitored_senders).sum();
        let _ = writeln!(
            out,
            "\nSeeds: {}; {:.2} measured weeks in all. Normal senders with a finding logged during the monitor-mode training week: {monitored} (over every seed).",
            self.seeds.len(),
            self.weeks()
        );
        out
    }
}
