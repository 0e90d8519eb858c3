//! Policy blocks (attachments, malware, new sender domains) in the content stage: the
//! account setting that turns a check on, the reply naming the kind, rule and part, the
//! trace entry, monitor mode, and a block that does not count as spam.

mod common;

use common::{Setup, account, submission};
use std::sync::Arc;

use postern_core::tenancy::{AccountSettings, ContentChecks};
use postern_core::{BoxFuture, Disposition, MessagePipeline};
use postern_pipeline::{Block, BlockKind, ScanInput, ScanResult, Scanner, Setting};

/// A check that blocks every message it sees.
struct Blocking {
    kind: BlockKind,
    part: Option<&'static str>,
}

impl Scanner for Blocking {
    fn engine(&self) -> &'static str {
        "attachments"
    }

    fn scan<'a>(&'a self, _input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        let block = Block { kind: self.kind, rule: "OLE2_VBA_MACRO".into(), part: self.part.map(str::to_string) };
        Box::pin(async move { ScanResult::Blocked(block) })
    }

    fn setting(&self) -> Option<Setting> {
        Some(Setting::Attachments)
    }
}

fn macros_on(monitor_only: bool) -> AccountSettings {
    AccountSettings {
        checks: ContentChecks { block_macros: true, ..ContentChecks::default() },
        monitor_only,
        ..AccountSettings::default()
    }
}

fn blocking(kind: BlockKind, part: Option<&'static str>) -> Arc<dyn Scanner> {
    Arc::new(Blocking { kind, part })
}

#[tokio::test]
async fn a_check_whose_setting_is_off_does_not_run_and_the_trace_says_so() {
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(blocking(BlockKind::Macros, Some("a.doc")));
    let outcome = pipeline.process(submission(Some(account(AccountSettings::default())), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    let (_, checks) = s.trace();
    let entry = checks.iter().find(|c| c.engine == "attachments").expect("an attachments entry");
    assert_eq!(entry.result, "off");
    assert_eq!(entry.rule.as_deref(), Some("checks.block_macros and checks.block_dangerous_attachments off"));
    // Without an account (a trusted network) the defaults apply: off as well.
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(blocking(BlockKind::Macros, Some("a.doc")));
    assert_eq!(pipeline.process(submission(None, "hello")).await.disposition, Disposition::Deliver);
}

#[tokio::test]
async fn a_block_is_refused_naming_its_kind_rule_and_part_and_is_not_counted_as_spam() {
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(blocking(BlockKind::Macros, Some("invoice.zip/report.doc")));
    let outcome = pipeline.process(submission(Some(account(macros_on(false))), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    assert_eq!(
        outcome.reply.summary(),
        "550 5.7.1 Error: message rejected: attachment with macros (OLE2_VBA_MACRO in invoice.zip/report.doc)"
    );
    assert_eq!(s.spooled(), 0);
    let (disposition, checks) = s.trace();
    assert_eq!(disposition, Disposition::Quarantine);
    let entry = checks.iter().find(|c| c.engine == "attachments").expect("an attachments entry");
    assert_eq!((entry.result.as_str(), entry.rule.as_deref()), ("blocked", Some("OLE2_VBA_MACRO")));
    assert_eq!(entry.part.as_deref(), Some("invoice.zip/report.doc"));
    let refusals = s.refusals();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].starts_with("attachment with macros (rule OLE2_VBA_MACRO in invoice.zip/report.doc): rejected"),
        "{refusals:?}"
    );
    assert!(!refusals[0].contains("spam message(s)"), "a policy block is not spam: {refusals:?}");
}

#[tokio::test]
async fn monitor_mode_logs_the_block_and_delivers() {
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(blocking(BlockKind::Dangerous, Some("setup.exe")));
    let outcome = pipeline.process(submission(Some(account(macros_on(true))), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert_eq!(s.spooled(), 1);
    assert_eq!(
        s.refusals(),
        ["would refuse (monitor): dangerous attachment (rule OLE2_VBA_MACRO in setup.exe)".to_string()]
    );
}

#[tokio::test]
async fn a_part_name_cannot_break_the_reply_line() {
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(blocking(BlockKind::Macros, Some("a\r\n250 ok\u{e9}.doc")));
    let outcome = pipeline.process(submission(Some(account(macros_on(false))), "hello")).await;
    let reply = outcome.reply.summary();
    assert!(!reply.contains('\r') && !reply.contains('\n') && reply.is_ascii(), "{reply:?}");
    assert!(reply.ends_with("(OLE2_VBA_MACRO in a??250 ok?.doc)"), "{reply:?}");
}

#[test]
fn only_malware_counts_as_spam() {
    assert!(BlockKind::Virus.counts_as_spam());
    for kind in
        [BlockKind::Macros, BlockKind::Dangerous, BlockKind::Encrypted, BlockKind::Unscannable, BlockKind::NewDomain]
    {
        assert!(!kind.counts_as_spam(), "{kind:?}");
    }
}
