//! The short run of the abuse simulation (a measured day after a training week, 3 seeds,
//! 60 normal senders) checked against issue 15's targets: obvious spam ≤ 3 messages leaked
//! per compromised account, evasive strategies ≤ 50, no normal sender locked.

use postern_sim::report::leaks;
use postern_sim::{Report, SimConfig, Strategy};

#[tokio::test(flavor = "current_thread")]
async fn a_simulated_day_meets_the_targets() {
    let mut report = Report::default();
    for seed in 1..=3 {
        report.seeds.push(postern_sim::run(&SimConfig::day(seed)).await.unwrap());
    }
    println!("{}", report.table());
    for seed in &report.seeds {
        for (strategy, reason) in &seed.reasons {
            println!("seed {}: {:?}: {reason}", seed.seed, strategy);
        }
    }
    for strategy in Strategy::ALL {
        let (_, worst) = leaks(&report.seeds, 0, strategy);
        let target = if strategy.obvious() { 3 } else { 50 };
        assert!(worst <= target, "{}: {worst} leaked, target {target}", strategy.name());
    }
    assert_eq!(report.false_locks(0), 0, "normal senders locked");
}

#[tokio::test(flavor = "current_thread")]
async fn a_seed_gives_the_same_figures_every_time() {
    let config = SimConfig { senders: 30, attackers_per_strategy: 1, training_days: 3, ..SimConfig::day(7) };
    let a = postern_sim::run(&config).await.unwrap();
    let b = postern_sim::run(&config).await.unwrap();
    assert_eq!(format!("{:?}", a.gateways), format!("{:?}", b.gateways));
    assert_eq!(a.reasons, b.reasons);
}

/// The account's profile is what stops an attacker who writes from a new address every
/// message: judged per identity alone, each address is a new sender in its warm-up.
#[tokio::test(flavor = "current_thread")]
async fn only_the_accounts_profile_stops_rotating_sender_addresses() {
    let mut with = Report::default();
    let mut without = Report::default();
    for seed in 1..=2 {
        let config = SimConfig { attackers_per_strategy: 2, ..SimConfig::day(seed) };
        with.seeds.push(postern_sim::run(&config).await.unwrap());
        without.seeds.push(postern_sim::run(&SimConfig { account_profiles: false, ..config }).await.unwrap());
    }
    let (_, worst_with) = leaks(&with.seeds, 0, Strategy::RotatingIdentities);
    let (median_without, _) = leaks(&without.seeds, 0, Strategy::RotatingIdentities);
    assert!(worst_with <= 50, "{worst_with} leaked with the account's profile");
    assert!(median_without > 200, "only {median_without} leaked without it: the test shows nothing");
}
