use std::sync::Arc;

use postern_core::tenancy::AccountKind;
use postern_counters::Counters;
use postern_counters::conformance::{ManualClock, START_MS};
use postern_counters::embedded::EmbeddedCounters;

use super::store::{ProfileStore, profile_key};
use super::*;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn hashes(prefix: &str, range: std::ops::Range<usize>) -> Vec<u64> {
    range.map(|i| hash_address(&format!("{prefix}{i}@example.org"))).collect()
}

fn message<'a>(recipients: &'a [u64], domains: &'a [u64], now_ms: i64) -> Observation<'a> {
    Observation { recipients, domains, network: 7, authenticated: true, spam_score: Some(1.0), now_ms }
}

/// An office sender: 40 messages a day to 1-3 of 30 contacts, for `days` days.
fn office(settings: &BehaviourSettings, profile: &mut Profile, start: i64, days: i64) -> i64 {
    let contacts = hashes("contact", 0..30);
    let domain = [hash_address("example.org")];
    let mut now = start;
    for day in 0..days {
        for i in 0..40usize {
            now = start + day * DAY + 9 * HOUR + (i as i64) * 12 * MINUTE;
            let to = &contacts[i % 28..i % 28 + 1 + i % 3];
            assert_eq!(observe(settings, profile, &message(to, &domain, now), "identity"), None, "day {day} msg {i}");
        }
    }
    now
}

#[test]
fn a_burst_to_new_recipients_is_found_with_signal_and_ratio() {
    let settings = BehaviourSettings::default();
    let mut profile = Profile::new(START_MS);
    let now = office(&settings, &mut profile, START_MS, 5);
    let domain = [hash_address("victims.example")];
    let mut found = None;
    for i in 0..200usize {
        let to = hashes(&format!("victim{i}-"), 0..3);
        let at = now + DAY + (i as i64) * 5_000;
        if let Some(f) = observe(&settings, &mut profile, &message(&to, &domain, at), "identity") {
            found = Some((i, f));
            break;
        }
    }
    let (i, finding) = found.expect("the burst is found");
    assert!(i < 10, "found after {i} messages");
    assert_eq!(finding.signal, Signal::NewShare1h, "{}", finding.reason);
    assert_eq!(finding.action, BehaviourAction::Monitor);
    assert_eq!(
        finding.reason,
        "100 % of recipients never written to before in 1 hour, this identity's usual share is under 1 %"
    );
}

#[test]
fn quiet_senders_are_not_flagged_for_a_few_messages() {
    let settings = BehaviourSettings::default();
    let mut profile = Profile::new(START_MS);
    let now = office(&settings, &mut profile, START_MS, 5);
    // Five messages to five new people: far above a usual of ~0 new recipients, under the floor.
    for i in 0..5usize {
        let to = hashes(&format!("new{i}-"), 0..1);
        let at = now + DAY + (i as i64) * MINUTE;
        assert_eq!(observe(&settings, &mut profile, &message(&to, &[], at), "identity"), None);
    }
}

#[test]
fn a_flagged_burst_is_not_learned_when_acting_and_is_in_monitor_mode() {
    let settings = acting();
    let mut profile = Profile::new(START_MS);
    let list = hashes("subscriber", 0..200);
    let mut now = office(&settings, &mut profile, START_MS, 4);
    now += DAY;
    // After the warm-up, 200 recipients at once is flagged (usual ~3 in 10 minutes).
    let flagged = observe(&settings, &mut profile, &message(&list, &[], now), "account").expect("flagged");
    assert_eq!(flagged.signal, Signal::Recipients10m);
    // The flagged block is not learned: the same burst a day later is flagged again.
    now += DAY;
    let list2 = hashes("subscriber-b", 0..200);
    assert!(observe(&settings, &mut profile, &message(&list2, &[], now), "account").is_some());

    let monitor = BehaviourSettings::default();
    let mut profile = Profile::new(START_MS);
    let mut now = office(&monitor, &mut profile, START_MS, 4) + DAY;
    let f = observe(&monitor, &mut profile, &message(&list, &[], now), "account").expect("flagged, logged");
    assert_eq!(f.action, BehaviourAction::Monitor);
    now += DAY;
    assert_eq!(observe(&monitor, &mut profile, &message(&list2, &[], now), "account"), None, "learned in monitor mode");
}

/// The recommended start: monitor for the first weeks, then act. The last newsletter sent
/// in monitor mode is closed only by the next message, after the switch: it is learned as
/// it was sent (in monitor mode), so the next issue is usual.
#[test]
fn the_last_burst_learned_in_monitor_mode_is_usual_after_the_switch_to_acting() {
    let monitor = BehaviourSettings::default();
    let mut profile = Profile::new(START_MS);
    let list = hashes("subscriber", 0..200);
    let now = office(&monitor, &mut profile, START_MS, 4) + DAY;
    assert!(observe(&monitor, &mut profile, &message(&list, &[], now), "identity").is_some(), "logged");
    let next = now + 7 * DAY;
    assert_eq!(observe(&acting(), &mut profile.clone(), &message(&list, &[], next), "identity"), None);
}

fn acting() -> BehaviourSettings {
    BehaviourSettings { action: BehaviourAction::LockIdentity, ..BehaviourSettings::default() }
}

#[test]
fn the_usual_grows_during_the_warm_up_and_decays() {
    let settings = acting();
    let mut profile = Profile::new(START_MS);
    let list = hashes("subscriber", 0..70);
    // During the warm-up, 70 new recipients is under 4 x the floor of 20: learned.
    assert_eq!(observe(&settings, &mut profile, &message(&list, &[], START_MS + MINUTE), "account"), None);
    let now = office(&settings, &mut profile, START_MS + HOUR, 4);
    // Close the newsletter's block.
    profile.advance(now, settings.half_life_ms(), settings.learning(false));
    let usual = profile.usual(Signal::Recipients10m);
    assert!((50.0..=70.0).contains(&usual), "usual {usual}");
    profile.advance(now + 14 * DAY, settings.half_life_ms(), settings.learning(false));
    let halved = profile.usual(Signal::Recipients10m);
    assert!((usual / 2.0 - halved).abs() < 1.0, "{usual} -> {halved}");
}

#[test]
fn spam_and_near_spam_are_counted_apart() {
    let settings = acting();
    let mut profile = Profile::new(START_MS);
    let now = office(&settings, &mut profile, START_MS, 5) + DAY;
    let to = hashes("contact", 0..1);
    let mut first = None;
    for i in 0..10 {
        let m = Observation { spam_score: Some(7.5), ..message(&to, &[], now + i * MINUTE) };
        if let Some(f) = observe(&settings, &mut profile, &m, "identity") {
            first = Some((i, f));
            break;
        }
    }
    let (i, f) = first.expect("spam found");
    assert!(profile.usual(Signal::Spam10m) < 0.5, "spam under the floor is learned slowly");
    assert_eq!((i, f.signal), (2, Signal::Spam10m), "the third spam message is over the floor of 2");
    assert!(f.reason.contains("this identity usually sends none"), "{}", f.reason);
}

#[test]
fn failures_fed_back_are_judged() {
    let settings = BehaviourSettings::default();
    let mut profile = Profile::new(START_MS);
    let now = office(&settings, &mut profile, START_MS, 5) + DAY;
    assert_eq!(failed(&settings, &mut profile, 5, now, "identity"), None);
    let f = failed(&settings, &mut profile, 6, now + MINUTE, "identity").expect("11 failures in an hour");
    assert_eq!(f.signal, Signal::Failures1h);
    assert_eq!(f.value, 11);
}

#[test]
fn a_new_network_lowers_the_multiple() {
    let mut settings = BehaviourSettings::default();
    settings.floors[Signal::Recipients10m as usize] = 5;
    let mut profile = Profile::new(START_MS);
    let now = office(&settings, &mut profile, START_MS, 5) + DAY;
    let usual = profile.usual(Signal::Recipients10m);
    assert!((2.0..=4.0).contains(&usual), "usual {usual}");
    let contacts = hashes("contact", 0..30);
    let to = &contacts[..(usual * 3.5) as usize];
    let known = Observation { network: 7, ..message(to, &[], now) };
    assert_eq!(
        observe(&settings, &mut profile.clone(), &known, "identity"),
        None,
        "3.5× the usual from a known network (multiple 4)"
    );
    let new = Observation { network: 99, ..message(to, &[], now) };
    let unauthenticated = Observation { authenticated: false, ..new };
    assert_eq!(observe(&settings, &mut profile.clone(), &unauthenticated, "identity"), None, "no AUTH: no new network");
    let f = observe(&settings, &mut profile, &new, "identity").expect("3.5× the usual from a new network (multiple 3)");
    assert_eq!(f.signal, Signal::Recipients10m);
    assert!(f.reason.ends_with("from a network first seen today"), "{}", f.reason);
}

#[test]
fn off_judges_nothing() {
    let settings = BehaviourSettings { action: BehaviourAction::Off, ..BehaviourSettings::default() };
    let mut profile = Profile::new(START_MS);
    let to = hashes("x", 0..500);
    assert_eq!(observe(&settings, &mut profile, &message(&to, &[], START_MS), "identity"), None);
    assert_eq!(profile, Profile::new(START_MS));
}

#[test]
fn known_recipients_stay_bounded_and_active_ones_stay_known() {
    let mut profile = Profile::new(START_MS);
    let friend = hash_address("friend@example.org");
    assert!(!profile.know(friend));
    for (i, h) in hashes("bulk", 0..10_000).into_iter().enumerate() {
        profile.know(h);
        if i % 500 == 0 {
            assert!(profile.know(friend), "an active contact stays known");
        }
    }
    let forgotten = hashes("bulk", 0..1000).into_iter().filter(|&h| !profile.know(h)).count();
    assert!(forgotten > 900, "old recipients are forgotten: {forgotten}");
    assert_eq!(profile.encode().len(), ENCODED_LEN);
}

#[test]
fn the_byte_form_round_trips_and_refuses_garbage() {
    let settings = BehaviourSettings::default();
    let mut profile = Profile::new(START_MS);
    office(&settings, &mut profile, START_MS, 2);
    let bytes = profile.encode();
    assert_eq!(bytes.len(), ENCODED_LEN);
    assert_eq!(Profile::decode(&bytes), Some(profile));
    assert_eq!(Profile::decode(&bytes[..100]), None);
    let mut other = bytes.clone();
    other[0] = 99;
    assert_eq!(Profile::decode(&other), None);
    assert_eq!(Profile::decode(&[]), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_survive_a_restart_of_the_embedded_counters() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let account = postern_core::test_support::account_of(1, "example.com", AccountKind::User, "a@example.com");
    let key = profile_key(&account, Some("news@example.com"));
    let settings = BehaviourSettings::default();
    let mut profile = Profile::new(START_MS);
    office(&settings, &mut profile, START_MS, 2);
    {
        let counters = Arc::new(EmbeddedCounters::open(dir.path(), clock.clone()).unwrap());
        let store = ProfileStore::new(counters.clone());
        assert_eq!(store.load(&key, START_MS).await.unwrap(), (Profile::new(START_MS), 0), "a fresh profile");
        assert!(store.save(&key, &profile, 0).await.unwrap());
        assert!(!store.save(&key, &profile, 0).await.unwrap(), "a save over a version it did not load");
        counters.flush().await.unwrap();
    }
    let store = ProfileStore::new(Arc::new(EmbeddedCounters::open(dir.path(), clock.clone()).unwrap()));
    assert_eq!(store.load(&key, START_MS).await.unwrap(), (profile, 1));
}

/// A busy sender (50 messages an hour to its customers, 9 to 17 every day for three weeks)
/// sending 3.4 times its usual: at 3 a.m., an hour it never sends in, that is a finding
/// (the multiple is lowered there); at 11 a.m. it is not.
#[test]
fn the_same_surge_is_found_only_at_an_hour_the_sender_never_sends_in() {
    let settings = BehaviourSettings { action: BehaviourAction::LockIdentity, ..BehaviourSettings::default() };
    let customers = hashes("customer", 0..300);
    let domain = [hash_address("example.org")];
    let mut profile = Profile::new(START_MS);
    for day in 0..21 {
        for i in 0..400usize {
            let now = START_MS + day * DAY + 9 * HOUR + (i as i64) * 72_000;
            let to = &customers[(i * 7 + day as usize) % 300..][..1];
            assert_eq!(observe(&settings, &mut profile, &message(to, &domain, now), "identity"), None, "day {day}");
        }
    }
    let surge = |profile: &mut Profile, from: i64| {
        (0..170usize).find_map(|i| {
            let to = &customers[(i * 11) % 300..][..1];
            observe(&settings, profile, &message(to, &domain, from + (i as i64) * 21_000), "identity")
        })
    };
    let day = START_MS + 21 * DAY;
    assert_eq!(surge(&mut profile.clone(), day + 11 * HOUR), None, "in office hours");
    let found = surge(&mut profile, day + 3 * HOUR).expect("at 3 a.m.");
    assert_eq!(found.signal, Signal::Messages1h);
    assert!(found.reason.ends_with(", at an hour this identity does not send"), "{}", found.reason);
}
