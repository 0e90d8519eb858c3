//! The GTUBE scanner: GTUBE anywhere in the message is spam (rule `GTUBE`), so that every
//! installation can test its spam path end to end (postern_policy::content).

use postern_core::BoxFuture;
use postern_policy::content;

use crate::scanner::{ScanInput, ScanResult, Scanner};

#[derive(Debug, Default, Clone, Copy)]
pub struct GtubeScanner;

impl Scanner for GtubeScanner {
    fn engine(&self) -> &'static str {
        "gtube"
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        let result = if content::is_gtube(input.message) {
            ScanResult::Spam { rule: "GTUBE".into(), score: None }
        } else {
            ScanResult::Clean { score: None }
        };
        Box::pin(std::future::ready(result))
    }
}
