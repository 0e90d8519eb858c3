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
