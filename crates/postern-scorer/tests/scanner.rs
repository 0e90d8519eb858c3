//! The scorer as a pipeline scanner: thresholds per account, `checks.spam` off, trusted
//! networks, and the rule that names what decided.

use std::sync::Arc;

use postern_core::tenancy::{Account, AccountSettings};
use postern_core::test_support::{account, envelope};
use postern_pipeline::{ScanInput, ScanResult, Scanner};
use postern_scorer::{Analyzer, Models, ScorerScanner, TrainingMinimum};

pub const SPAM: &[u8] = b"From: Sales <sales@example.com>\r\nTo: you@remote.example\r\n\
Subject: FREE MONEY WAITING FOR YOU!!\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>Dear friend, act now: this is a limited time offer, 100% free and risk free!</p>\
<p>Get cheap V1AGRA and c-i-a-l-i-s from our online pharmacy. Click here:\
<a href=\"https://bit.ly/3xYz\">www.yourbank.com</a></p>\
<div style=\"display:none\">meeting agenda quarterly report project schedule minutes</div>\
<p>To be removed from our list, click below.</p></body></html>\r\n";

pub const HAM: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@remote.example\r\n\
Subject: Minutes of Tuesday's meeting\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Hi Bob,\r\n\r\nattached are the minutes of Tuesday's meeting. The next one is on the 14th;\r\n\
could you bring the updated schedule for the build server migration?\r\n\r\nThanks,\r\nAlice\r\n";

fn scanner() -> ScorerScanner {
    let models = Models::shipped(TrainingMinimum::default()).expect("shipped model");
    ScorerScanner::new(Arc::new(Analyzer::default()), Arc::new(models))
}

async fn scan(account: Option<&Account>, message: &[u8]) -> ScanResult {
    let envelope = envelope(Some("alice@example.com"), &["bob@remote.example"]);
    let input = ScanInput { envelope: &envelope, account, message, parsed: Default::default() };
    scanner().scan(&input).await
}

#[tokio::test]
async fn spam_is_spam_and_names_what_decided() {
    let account = account(AccountSettings::default());
    let ScanResult::Spam { rule, score } = scan(Some(&account), SPAM).await else { panic!("not spam") };
    assert!(score.unwrap_or(0.0) >= 5.0, "{score:?}");
    assert!(!rule.is_empty() && rule.split(',').count() <= 3, "{rule}");
    assert_eq!(scanner().engine(), "scorer");
}

#[tokio::test]
async fn ham_is_clean_with_its_score() {
    let account = account(AccountSettings::default());
    let ScanResult::Clean { score: Some(score) } = scan(Some(&account), HAM).await else { panic!("not clean") };
    assert!(score < 5.0, "{score}");
}

#[tokio::test]
async fn the_accounts_threshold_decides() {
    let mut settings = AccountSettings::default();
    let ScanResult::Clean { score: Some(ham_score) } = scan(Some(&account(settings.clone())), HAM).await else {
        panic!("not clean")
    };
    // A threshold at the ham's own score makes it spam; just above, clean.
    settings.checks.spam_threshold = ham_score.max(0.5);
    let strict = scan(Some(&account(settings.clone())), HAM).await;
    if ham_score >= 0.5 {
        assert!(matches!(strict, ScanResult::Spam { .. }), "{strict:?}");
    }
    settings.checks.spam_threshold = 50.0;
    assert!(matches!(scan(Some(&account(settings)), SPAM).await, ScanResult::Clean { score: Some(_) }));
}

#[tokio::test]
async fn checks_spam_off_is_not_scored() {
    let mut settings = AccountSettings::default();
    settings.checks.spam = false;
    assert_eq!(scan(Some(&account(settings)), SPAM).await, ScanResult::Clean { score: None });
}

#[tokio::test]
async fn trusted_networks_are_scored_with_the_default_threshold() {
    assert!(matches!(scan(None, SPAM).await, ScanResult::Spam { .. }));
    assert!(matches!(scan(None, HAM).await, ScanResult::Clean { score: Some(_) }));
}

#[tokio::test]
async fn the_sender_rules_apply_to_accounts() {
    let foreign = b"From: ceo@bank.example\r\nReply-To: x@gmail.com\r\nSubject: hi\r\n\r\nhello\r\n";
    let account = account(AccountSettings::default());
    let ScanResult::Clean { score: Some(with_account) } = scan(Some(&account), foreign).await else { panic!() };
    let ScanResult::Clean { score: Some(trusted) } = scan(None, foreign).await else { panic!() };
    assert!((with_account - trusted - 1.5).abs() < 1e-9, "FROM_FOREIGN_DOMAIN adds 1.5: {with_account} {trusted}");
}
