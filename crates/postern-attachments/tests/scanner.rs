//! The attachment checks as a pipeline scanner: the account's settings choose the rules,
//! a finding becomes a block with its kind, rule and part, the size bound skips.

mod fixtures;

use postern_attachments::{AttachmentScanner, Bounds};
use postern_core::tenancy::{Account, AccountSettings};
use postern_core::test_support::envelope;
use postern_pipeline::{Block, BlockKind, ScanInput, ScanResult, Scanner, Setting};

fn account(macros: bool, dangerous: bool, encrypted: bool) -> Account {
    let mut settings = AccountSettings::default();
    settings.checks.block_macros = macros;
    settings.checks.block_dangerous_attachments = dangerous;
    settings.checks.block_encrypted_archives = encrypted;
    postern_core::test_support::account(settings)
}

async fn scan(scanner: &AttachmentScanner, account: &Account, message: &[u8]) -> ScanResult {
    let envelope = envelope(Some("alice@example.com"), &["bob@remote.example"]);
    let input = ScanInput { envelope: &envelope, account: Some(account), message, parsed: Default::default() };
    scanner.scan(&input).await
}

fn blocked(kind: BlockKind, rule: &str, part: &str) -> ScanResult {
    ScanResult::Blocked(Block { kind, rule: rule.into(), part: Some(part.into()) })
}

#[tokio::test]
async fn findings_become_blocks_with_their_kind() {
    let scanner = AttachmentScanner::new(Bounds::default());
    assert_eq!((scanner.engine(), scanner.setting()), ("attachments", Some(Setting::Attachments)));
    let on = account(true, true, true);
    let doc = fixtures::message(&[("a.doc", "application/msword", &fixtures::doc_with_vba())]);
    assert_eq!(scan(&scanner, &on, &doc).await, blocked(BlockKind::Macros, "OLE2_VBA_MACRO", "a.doc"));
    let exe = fixtures::message(&[("a.exe", "application/octet-stream", &fixtures::pe(&[".text"]))]);
    assert_eq!(scan(&scanner, &on, &exe).await, blocked(BlockKind::Dangerous, "PE_EXECUTABLE", "a.exe"));
    let bomb = fixtures::message(&[("b.zip", "application/zip", &fixtures::zip_bomb(20 << 20))]);
    assert_eq!(scan(&scanner, &on, &bomb).await, blocked(BlockKind::Unscannable, "ARCHIVE_BOMB", "b.zip/zeros.txt"));
    let locked = fixtures::raw_zip(&[fixtures::RawEntry { flags: 1, ..fixtures::RawEntry::stored("x.doc", b"??") }]);
    let locked = fixtures::message(&[("s.zip", "application/zip", &locked)]);
    assert_eq!(scan(&scanner, &on, &locked).await, blocked(BlockKind::Encrypted, "ENCRYPTED_ARCHIVE", "s.zip/x.doc"));
    // The account's settings choose: encrypted archives allowed, macros only.
    assert_eq!(scan(&scanner, &account(true, true, false), &locked).await, ScanResult::Clean { score: None });
    assert_eq!(scan(&scanner, &account(true, false, true), &exe).await, ScanResult::Clean { score: None });
}

#[tokio::test]
async fn a_message_over_the_bound_is_skipped_not_clean() {
    let scanner = AttachmentScanner::new(Bounds { max_message_bytes: 100, ..Bounds::default() });
    let exe = fixtures::message(&[("a.exe", "application/octet-stream", &fixtures::pe(&[]))]);
    let ScanResult::Skipped { reason } = scan(&scanner, &account(true, true, true), &exe).await else {
        panic!("not skipped")
    };
    assert_eq!(reason, "message larger than attachments.max_message_bytes (100)");
}
