//! Short, plain test messages (as administrators and the end-to-end suite send them) are
//! never spam by the shipped model: a handful of words is no evidence either way.

use postern_scorer::Analyzer;
use postern_scorer::bayes::Counts;
use postern_scorer::model::SHIPPED;
use postern_scorer::rules::Sender;

pub const SHORT_NOTES: &[&[u8]] = &[
    b"Subject: no date, no id\r\n\r\nbody\r\n",
    b"Subject: x\r\n\r\nbody\r\n",
    b"From: someone\r\nSubject: accounts\r\n\r\nbody\r\n",
    b"From: a\r\nSubject: hello\r\n\r\nan ordinary message\r\n",
    b"From: app@example.com\r\nSubject: y\r\n\r\nhi\r\n",
    b"From: Alice <alice@sender.example>\r\nTo: Bob <bob@rcpt.example>\r\nSubject: plain relay\r\n\r\nHello Bob.\r\nSecond line.\r\n",
    b"From: app@example.com\r\nTo: r@remote.example\r\nSubject: lunch\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\r\nJust a quick note about lunch tomorrow. See you at noon.\r\n",
    b"Subject: bounce\r\n\r\nnull sender\r\n",
    b"Subject: in flight\r\n\r\nfinished after SIGTERM\r\n",
    b"From: shop@example.com\r\nSubject: after restart\r\n\r\nhi\r\n",
    b"Subject: many\r\n\r\nto several\r\n",
    b"Subject: test\r\n\r\nThis is a test message, please ignore it.\r\n",
    // The delivery tests' message: 5 and more clues at a probability just above 0.5, which
    // was 5.0 points (spam) while the band from 0.5 to 0.8 gave full points.
    b"From: <alice@sender.test>\r\nTo: <bob@dest.test>\r\nSubject: starttls and auth\r\n\
Message-ID: <0123456789abcdef@client.test>\r\n\r\nBody of starttls and auth.\r\n.leading dot line\r\n",
    b"From: <alice@sender.test>\r\nTo: <bob@dest.test>\r\nSubject: dsn to sender\r\n\
Message-ID: <0123456789abcdef@client.test>\r\n\r\nBody of dsn to sender.\r\n.leading dot line\r\n",
    // 6 and 7 clues at 0.82 to 0.88 (BAYES_80 on few clues).
    b"From: <alice@sender.test>\r\nTo: <bob@dest.test>\r\nSubject: expires\r\n\r\nBody of expires.\r\n.leading dot line\r\n",
    b"From: <alice@sender.test>\r\nTo: <bob@dest.test>\r\nSubject: never\r\n\r\nBody of never.\r\n.leading dot line\r\n",
    b"From: <alice@sender.test>\r\nTo: <bob@dest.test>\r\nSubject: one refused\r\n\r\nBody of one refused.\r\n.leading dot line\r\n",
];

#[test]
fn short_notes_are_never_spam() {
    // Among them "no date, no id / body": 3 clues at 0.5002, and "an ordinary message": 3
    // clues at 0.82; with full band points both would be spam.
    let counts = Counts::from_bytes(SHIPPED).expect("shipped model");
    let analyzer = Analyzer::default();
    for note in SHORT_NOTES {
        let score = analyzer.score(note, &Sender::default(), &counts);
        assert!(score.total < 5.0, "{}: {score:?}", String::from_utf8_lossy(note));
    }
}
