//! The rules for outgoing mail: each has a name, a score and a test over a
//! [`MessageView`] (and, for the rules about the sender, the account it came from).
//! docs/SCORING.md lists them with their reasons.
//!
//! In: a view and a [`Sender`]. Out: the [`Hit`]s, in the order of [`RULES`].

use crate::links;
use crate::view::MessageView;

/// Who sent the message, as far as the rules need it.
#[derive(Debug, Clone, Default)]
pub struct Sender {
    /// The account's domain; `None` for a trusted network (the sender rules do not apply).
    pub account_domain: Option<String>,
    /// The account may send as any domain (an `ip` account allowed foreign senders).
    pub any_domain: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rule: &'static str,
    pub score: f64,
}

/// One rule: its name, its score and its test.
pub struct Rule {
    pub name: &'static str,
    pub score: f64,
    pub test: fn(&MessageView, &Sender) -> bool,
    pub description: &'static str,
}

/// Recipients in To and Cc from which a message counts as a mass mailing.
pub const MASS_RECIPIENTS: usize = 20;
/// Characters of hidden HTML text that count as hiding something.
pub const HIDDEN_CHARS: usize = 20;

pub const RULES: &[Rule] = &[
    Rule {
        name: "HTML_ONLY",
        score: 1.5,
        test: |v, _| v.has_html && !v.has_plain,
        description: "HTML body without a plain-text alternative",
    },
    Rule {
        name: "HTML_HIDDEN_TEXT",
        score: 2.0,
        test: |v, _| v.hidden_chars >= HIDDEN_CHARS,
        description: "HTML text styled to be invisible (display:none, font-size:0, ...)",
    },
    Rule {
        name: "HTML_IMAGE_ONLY",
        score: 1.5,
        test: |v, _| v.images > 0 && !v.has_plain && v.html_text.split_whitespace().count() < 20,
        description: "HTML made of images with almost no text",
    },
    Rule {
        name: "URL_SHORTENER",
        score: 1.5,
        test: |v, _| {
            v.links
                .iter()
                .filter_map(|l| links::host(&l.href))
                .any(|h| SHORTENERS.contains(&links::registrable(&h).as_str()))
        },
        description: "a link through a URL shortener, which hides the destination",
    },
    Rule {
        name: "LINK_TEXT_OTHER_DOMAIN",
        score: 2.5,
        test: |v, _| {
            v.links.iter().any(|l| match (links::shown_host(&l.text), links::host(&l.href)) {
                (Some(shown), Some(real)) => links::registrable(&shown) != links::registrable(&real),
                _ => false,
            })
        },
        description: "a link whose text shows one domain while it leads to another",
    },
    Rule {
        name: "MASS_RECIPIENTS",
        score: 1.5,
        test: |v, _| v.to_cc >= MASS_RECIPIENTS,
        description: "20 or more addresses in To and Cc",
    },
    Rule {
        name: "FROM_FOREIGN_DOMAIN",
        score: 1.5,
        test: |v, s| match (&s.account_domain, &v.from) {
            (Some(domain), Some(from)) if !s.any_domain => !in_domain(&from.domain(), domain),
            _ => false,
        },
        description: "From header domain is not the account's domain",
    },
    Rule {
        name: "REPLY_TO_FREEMAIL",
        score: 2.0,
        test: |v, s| match (&s.account_domain, &v.from) {
            (Some(domain), Some(from)) if in_domain(&from.domain(), domain) => {
                v.reply_to.iter().any(|r| FREEMAIL.contains(&r.domain().as_str()) && !in_domain(&r.domain(), domain))
            }
            _ => false,
        },
        description: "Reply-To at a free-mail provider while From is the account's domain",
    },
    Rule {
        name: "BASE64_TEXT",
        score: 0.5,
        test: |v, _| v.base64_text_parts > 0,
        description: "a text part sent base64-encoded (hides words from simple filters)",
    },
    Rule {
        name: "OBFUSCATED_WORDS",
        score: 2.0,
        test: |v, _| v.obfuscated,
        description: "a spam word disguised (v1agra, c-i-a-l-i-s, ...)",
    },
    Rule {
        name: "SPAM_PHRASES_1",
        score: 0.5,
        test: |v, _| (1..3).contains(&v.spam_phrases),
        description: "one or two known spam phrases",
    },
    Rule {
        name: "SPAM_PHRASES_3",
        score: 1.5,
        test: |v, _| (3..6).contains(&v.spam_phrases),
        description: "three to five known spam phrases",
    },
    Rule {
        name: "SPAM_PHRASES_6",
        score: 2.5,
        test: |v, _| v.spam_phrases >= 6,
        description: "six or more known spam phrases",
    },
    Rule {
        name: "SUBJECT_ALL_CAPS",
        score: 0.8,
        test: |v, _| {
            let letters: Vec<char> = v.subject.chars().filter(|c| c.is_alphabetic()).collect();
            letters.len() >= 10 && letters.iter().all(|c| !c.is_lowercase())
        },
        description: "subject in capitals",
    },
    Rule {
        name: "SUBJECT_MONEY_PUNCT",
        score: 0.8,
        test: |v, _| v.subject.contains("!!") || v.subject.contains("$$") || v.subject.contains("€€"),
        description: "subject with !! or $$",
    },
];

/// Every rule that hits, in the order of [`RULES`].
pub fn hits(view: &MessageView, sender: &Sender) -> Vec<Hit> {
    RULES.iter().filter(|r| (r.test)(view, sender)).map(|r| Hit { rule: r.name, score: r.score }).collect()
}

/// `domain` is `parent` or below it.
fn in_domain(domain: &str, parent: &str) -> bool {
    let (domain, parent) = (domain.to_ascii_lowercase(), parent.to_ascii_lowercase());
    domain == parent || domain.ends_with(&format!(".{parent}"))
}

pub const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "goo.gl",
    "t.co",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "t.ly",
    "v.gd",
    "bl.ink",
    "lnkd.in",
    "soo.gd",
    "s.id",
    "tr.im",
    "x.co",
    "shorte.st",
    "adf.ly",
    "bc.vc",
    "qr.net",
    "1url.com",
    "tiny.pl",
    "u.to",
    "clck.ru",
    "urlz.fr",
];

pub const FREEMAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "protonmail.com",
    "proton.me",
    "zoho.com",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "rediffmail.com",
    "tutanota.com",
    "t-online.de",
    "freenet.de",
    "libero.it",
    "laposte.net",
    "orange.fr",
    "wanadoo.fr",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::Link;
    use crate::view::Mailbox;

    fn fired(view: &MessageView, sender: &Sender) -> Vec<&'static str> {
        hits(view, sender).into_iter().map(|h| h.rule).collect()
    }

    fn account(domain: &str) -> Sender {
        Sender { account_domain: Some(domain.into()), any_domain: false }
    }

    fn mailbox(address: &str) -> Mailbox {
        Mailbox { name: String::new(), address: address.into() }
    }

    #[test]
    fn a_plain_note_hits_nothing() {
        let view = MessageView {
            subject: "Lunch on Friday?".into(),
            text: "Shall we meet at noon? The usual place.".into(),
            has_plain: true,
            from: Some(mailbox("ann@example.com")),
            to_cc: 2,
            ..MessageView::default()
        };
        assert!(fired(&view, &account("example.com")).is_empty());
    }

    #[test]
    fn html_only_hidden_text_and_image_only() {
        let view = MessageView { has_html: true, images: 2, hidden_chars: 40, ..MessageView::default() };
        assert_eq!(fired(&view, &Sender::default()), ["HTML_ONLY", "HTML_HIDDEN_TEXT", "HTML_IMAGE_ONLY"]);
        let view = MessageView { has_html: true, has_plain: true, hidden_chars: 5, ..MessageView::default() };
        assert!(fired(&view, &Sender::default()).is_empty());
    }

    #[test]
    fn shorteners_and_disguised_links() {
        let link = |href: &str, text: &str| Link { href: href.into(), text: text.into() };
        let view = MessageView { links: vec![link("https://bit.ly/x1", "our offer")], ..MessageView::default() };
        assert_eq!(fired(&view, &Sender::default()), ["URL_SHORTENER"]);
        let view = MessageView {
            links: vec![link("http://evil.example.net/login", "www.paypal.com")],
            ..MessageView::default()
        };
        assert_eq!(fired(&view, &Sender::default()), ["LINK_TEXT_OTHER_DOMAIN"]);
        let view =
            MessageView { links: vec![link("https://www.paypal.com/signin", "paypal.com")], ..MessageView::default() };
        assert!(fired(&view, &Sender::default()).is_empty());
    }

    #[test]
    fn mass_recipients() {
        let view = MessageView { to_cc: MASS_RECIPIENTS, ..MessageView::default() };
        assert_eq!(fired(&view, &Sender::default()), ["MASS_RECIPIENTS"]);
        let view = MessageView { to_cc: MASS_RECIPIENTS - 1, ..MessageView::default() };
        assert!(fired(&view, &Sender::default()).is_empty());
    }

    #[test]
    fn from_foreign_domain_needs_an_account_that_may_not_send_as_any_domain() {
        let view = MessageView { from: Some(mailbox("boss@bank.example")), ..MessageView::default() };
        assert_eq!(fired(&view, &account("example.com")), ["FROM_FOREIGN_DOMAIN"]);
        assert!(fired(&view, &account("bank.example")).is_empty());
        let sub = MessageView { from: Some(mailbox("a@mail.bank.example")), ..MessageView::default() };
        assert!(fired(&sub, &account("bank.example")).is_empty());
        assert!(fired(&view, &Sender::default()).is_empty(), "trusted network: no account");
        assert!(fired(&view, &Sender { any_domain: true, ..account("example.com") }).is_empty());
    }

    #[test]
    fn reply_to_freemail_while_from_is_the_account() {
        let view = MessageView {
            from: Some(mailbox("ceo@example.com")),
            reply_to: vec![mailbox("ceo.example@gmail.com")],
            ..MessageView::default()
        };
        assert_eq!(fired(&view, &account("example.com")), ["REPLY_TO_FREEMAIL"]);
        let own = MessageView { reply_to: vec![mailbox("sales@example.com")], ..view.clone() };
        assert!(fired(&own, &account("example.com")).is_empty());
    }

    #[test]
    fn base64_text_obfuscation_and_subjects() {
        let view = MessageView { base64_text_parts: 1, ..MessageView::default() };
        assert_eq!(fired(&view, &Sender::default()), ["BASE64_TEXT"]);
        let view = MessageView { obfuscated: true, ..MessageView::default() };
        assert_eq!(fired(&view, &Sender::default()), ["OBFUSCATED_WORDS"]);
        let view = MessageView { subject: "FREE MONEY FOR YOU".into(), ..MessageView::default() };
        assert_eq!(fired(&view, &Sender::default()), ["SUBJECT_ALL_CAPS"]);
        let view = MessageView { subject: "Win big!!".into(), ..MessageView::default() };
        assert_eq!(fired(&view, &Sender::default()), ["SUBJECT_MONEY_PUNCT"]);
    }

    #[test]
    fn spam_phrases_in_tiers() {
        let view = |n: usize| MessageView { spam_phrases: n, ..MessageView::default() };
        assert!(fired(&view(0), &Sender::default()).is_empty());
        assert_eq!(fired(&view(2), &Sender::default()), ["SPAM_PHRASES_1"]);
        assert_eq!(fired(&view(3), &Sender::default()), ["SPAM_PHRASES_3"]);
        assert_eq!(fired(&view(6), &Sender::default()), ["SPAM_PHRASES_6"]);
    }
}
