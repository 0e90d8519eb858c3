//! Compromised accounts: an attacker takes over an office sender at a random time of the
//! measured period and sends with one [`Strategy`] until his budget or the run ends.
//!
//! In: the victim (contacts, networks), a start time, a seeded random source. Out: the
//! attacker's events (messages marked with the strategy, and the failures of the bad
//! addresses he sends to).

use rand::Rng;
use rand::rngs::StdRng;

use crate::population::{Sender, dedup};
use crate::{Event, EventKind, MINUTE, Message, normal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// Obvious spam as fast as possible (every 2 to 10 s), 1 to 50 new recipients, from a
    /// new network; the content checks flag nearly all of it (scores around 8).
    ObviousBurst,
    /// Phishing to the victim's stolen address book (300 addresses, 30 % of them the
    /// victim's contacts), 1 or 2 at a time every 1 to 4 minutes, from the victim's home
    /// network half of the time; written to pass the checks (scores around 2).
    SlowPhish,
    /// Spam crafted to score just below the spam threshold (4.0 to 4.95), every 10 to 30 s,
    /// to 1 to 10 new recipients from a bought list (10 % bounce).
    BelowThreshold,
    /// First 10 normal-looking messages to the victim's contacts (every 5 to 15 minutes),
    /// then a campaign every 20 to 60 s to 1 to 5 new recipients, scores around 3.
    WarmStart,
    /// From a network the victim never used, every 1 to 2 minutes, 1 to 3 recipients (80 %
    /// new), scores around 2.
    NewNetwork,
    /// A script on a compromised web server (an account's whole range): every message from
    /// a new address of the victim's domain, every 20 to 60 s, 1 to 3 new recipients,
    /// scores around 2. Each identity is new (in its lenient warm-up); only the account's
    /// own profile sees the whole.
    RotatingIdentities,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::ObviousBurst,
        Strategy::SlowPhish,
        Strategy::BelowThreshold,
        Strategy::WarmStart,
        Strategy::NewNetwork,
        Strategy::RotatingIdentities,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::ObviousBurst => "obvious spam burst",
            Strategy::SlowPhish => "slow phishing to a stolen address book",
            Strategy::BelowThreshold => "spam just below the spam threshold",
            Strategy::WarmStart => "a few normal messages first",
            Strategy::NewNetwork => "from a new network",
            Strategy::RotatingIdentities => "a new sender address every message",
        }
    }

    /// Whether the content checks are meant to catch it (the target is then 3, else 50).
    pub fn obvious(self) -> bool {
        self == Strategy::ObviousBurst
    }
}

/// Appends the events of one attack on `victim` (sender index `sender`) from `start` to `end`.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    rng: &mut StdRng,
    strategy: Strategy,
    sender: u32,
    victim: &Sender,
    start: i64,
    end: i64,
    events: &mut Vec<Event>,
    next_id: &mut u32,
) {
    let new_network: u64 = rng.random();
    let book: Vec<(u64, u64)> = (0..300)
        .map(|i| {
            if i % 10 < 3 && !victim.contacts.is_empty() {
                victim.contacts[rng.random_range(0..victim.contacts.len())]
            } else {
                (rng.random(), rng.random_range(0..2000))
            }
        })
        .collect();
    let phish_network = if rng.random_bool(0.5) { victim.networks[1] } else { new_network };
    let mut t = start;
    let mut sent = 0usize;
    let budget = 3000;
    while t < end && sent < budget {
        let (gap, recipients, network, score, bounce): (i64, Vec<(u64, u64)>, u64, f64, f64) = match strategy {
            Strategy::ObviousBurst => {
                let n = rng.random_range(1..=50);
                (rng.random_range(2_000..10_000), fresh(rng, n), new_network, normal(rng, 8.0, 1.5), 0.1)
            }
            Strategy::SlowPhish => {
                if sent * 2 >= book.len() {
                    break;
                }
                let n = rng.random_range(1..=2).min(book.len() - sent * 2);
                let to = book[sent * 2..sent * 2 + n].to_vec();
                (rng.random_range(MINUTE..4 * MINUTE), to, phish_network, normal(rng, 2.0, 1.0), 0.05)
            }
            Strategy::BelowThreshold => {
                let n = rng.random_range(1..=10);
                let network = if sender.is_multiple_of(2) { new_network } else { victim.networks[0] };
                (rng.random_range(10_000..30_000), fresh(rng, n), network, rng.random_range(4.0..4.95), 0.1)
            }
            Strategy::WarmStart if sent < 10 => {
                let to = vec![victim.contacts[rng.random_range(0..victim.contacts.len())]];
                (rng.random_range(5 * MINUTE..15 * MINUTE), to, victim.networks[0], normal(rng, 1.0, 1.0), 0.0)
            }
            Strategy::WarmStart => {
                let n = rng.random_range(1..=5);
                let score = normal(rng, 3.0, 0.7).min(4.9);
                (rng.random_range(20_000..60_000), fresh(rng, n), victim.networks[0], score, 0.08)
            }
            Strategy::NewNetwork => {
                let n = rng.random_range(1..=3);
                let to: Vec<(u64, u64)> = (0..n)
                    .map(|_| {
                        if rng.random_bool(0.8) {
                            (rng.random(), rng.random_range(0..2000))
                        } else {
                            victim.contacts[rng.random_range(0..victim.contacts.len())]
                        }
                    })
                    .collect();
                (rng.random_range(MINUTE..2 * MINUTE), to, new_network, normal(rng, 2.0, 1.0), 0.05)
            }
            Strategy::RotatingIdentities => {
                let n = rng.random_range(1..=3);
                (rng.random_range(20_000..60_000), fresh(rng, n), victim.networks[0], normal(rng, 2.0, 1.0), 0.05)
            }
        };
        *next_id += 1;
        let id = *next_id;
        let identity = if strategy == Strategy::RotatingIdentities { sent as u32 + 1 } else { 0 };
        let failures = (0..recipients.len()).filter(|_| rng.random_bool(bounce)).count() as u32;
        if failures > 0 {
            let at = t + rng.random_range(MINUTE..10 * MINUTE);
            events.push(Event { t: at, sender, kind: EventKind::Failure { message: id, identity, n: failures } });
        }
        let message = Message {
            id,
            identity,
            recipients: recipients.iter().map(|r| r.0).collect(),
            domains: dedup(recipients.iter().map(|r| r.1).collect()),
            network,
            score: score.max(0.0) as f32,
            attack: Some(strategy),
        };
        events.push(Event { t, sender, kind: EventKind::Message(message) });
        sent += 1;
        t += gap;
    }
}

/// `n` addresses nobody wrote to, over a few thousand domains.
fn fresh(rng: &mut StdRng, n: usize) -> Vec<(u64, u64)> {
    (0..n).map(|_| (rng.random(), rng.random_range(0..5000))).collect()
}
