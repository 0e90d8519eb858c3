//! Block and allow lists (SPEC.md §4, seed 004): rules by client IP, client network,
//! sender, recipient and sender domain, global or per customer domain. A block rule
//! rejects (`554 5.7.1`) or discards (`250`, dropped); an allow rule skips checks, as in
//! seed 004's table ([`Skips::of`]). An allow rule never lets anyone relay: it only skips.
//!
//! In: the rules of the directory snapshot, then per recipient the client address, the
//! sender and the recipient. Out: a [`ListVerdict`]. Pure: no I/O, one hash probe per
//! rule key (and per prefix length in use for the client address).
//!
//! # Which lists apply
//! The global list always; a domain's list when the message belongs to that domain: the
//! domain of the session's account, and the sender's domain. Sender security (SPF, seed
//! 003) protects the *sender's* domain, so its SPF check is skipped only by the global list
//! or that domain's own list (never by another tenant's): see [`ListIndex::skips_at_mail`].
//!
//! # Precedence
//! Rules are compared with three elements of a message: the client (`ip` and `network`
//! rules), the sender (`sender` and `sender_domain` rules) and the recipient.
//! 1. Per element, the domain lists decide when any of their rules matches; the global
//!    list is consulted only when none does. So a domain rule wins over a global rule.
//! 2. Within the deciding list(s), an allow rule that matches wins over block rules for
//!    the same element (it skips the union of the checks of every matching allow rule);
//!    among block rules, reject beats discard.
//! 3. Across elements, a block wins over allows of other elements, and reject beats
//!    discard: the first rejecting element in the order client, sender, recipient names
//!    the reply; else a discarding one discards the whole message; else the skips of every
//!    allowed element add up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use postern_core::tenancy::{ListAction, ListKind, ListRule, list_address_key, parse_network};
use postern_core::{Address, Reply};

/// The checks an allow rule skips. Later checks (DNSBL, virus, DKIM, DMARC) consult it;
/// today SPF (sender security) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Skips {
    pub dnsbl: bool,
    pub spf: bool,
    pub virus: bool,
    pub dkim: bool,
    pub dmarc: bool,
}

impl Skips {
    pub const NONE: Skips = Skips { dnsbl: false, spf: false, virus: false, dkim: false, dmarc: false };
    pub const ALL: Skips = Skips { dnsbl: true, spf: true, virus: true, dkim: true, dmarc: true };

    /// Seed 004's table: what an allow rule of `kind` skips.
    pub fn of(kind: ListKind) -> Skips {
        match kind {
            ListKind::Ip => Skips::ALL,
            ListKind::Network => Skips { virus: false, ..Skips::ALL },
            ListKind::Sender | ListKind::Recipient => Skips { spf: true, virus: true, ..Skips::NONE },
            ListKind::SenderDomain => Skips { dnsbl: false, ..Skips::ALL },
        }
    }

    pub fn union(self, o: Skips) -> Skips {
        Skips {
            dnsbl: self.dnsbl || o.dnsbl,
            spf: self.spf || o.spf,
            virus: self.virus || o.virus,
            dkim: self.dkim || o.dkim,
            dmarc: self.dmarc || o.dmarc,
        }
    }

    pub fn intersection(self, o: Skips) -> Skips {
        Skips {
            dnsbl: self.dnsbl && o.dnsbl,
            spf: self.spf && o.spf,
            virus: self.virus && o.virus,
            dkim: self.dkim && o.dkim,
            dmarc: self.dmarc && o.dmarc,
        }
    }

    pub fn is_empty(self) -> bool {
        self == Skips::NONE
    }

    /// For logs: `spf,virus`.
    pub fn names(self) -> String {
        let all = [("dnsbl", self.dnsbl), ("spf", self.spf), ("virus", self.virus), ("dkim", self.dkim)];
        let named = all.into_iter().chain([("dmarc", self.dmarc)]).filter(|(_, on)| *on).map(|(n, _)| n);
        named.collect::<Vec<_>>().join(",")
    }
}

/// What the lists say about one recipient of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListVerdict {
    /// No rule matches.
    None,
    /// Allowed: these checks are skipped. Nothing else changes (relaying included).
    Allow(Skips),
    /// Answer `250` but drop the whole message.
    Discard { rule: i64, reason: String },
    /// `554 5.7.1 ...: blocked by list rule N`.
    Reject { rule: i64, reply: Reply, reason: String },
}

/// What a rule is compared with (see the precedence above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    Client,
    Sender,
    Recipient,
}

/// The facts of a message the rules are compared with; no recipient yet at MAIL.
struct Facts<'a> {
    ip: IpAddr,
    sender: Option<&'a Address>,
    rcpt: Option<&'a Address>,
}

type Rules = Vec<Arc<ListRule>>;

/// One list (global, or one domain's), indexed by what its rules match.
#[derive(Debug, Default)]
struct RuleSet {
    /// `ip` and `network` rules: (prefix length, network -> rules), longest prefix first.
    networks: Vec<(u8, HashMap<IpNet, Rules>)>,
    senders: HashMap<String, Rules>,
    sender_domains: HashMap<String, Rules>,
    recipients: HashMap<String, Rules>,
}

impl RuleSet {
    /// The rules matching `element` of `facts`, the most specific first.
    fn matching(&self, element: Element, facts: &Facts<'_>) -> Vec<&Arc<ListRule>> {
        let mut found = Vec::new();
        match element {
            Element::Client => {
                for (prefix, nets) in &self.networks {
                    let Ok(net) = IpNet::new(facts.ip, *prefix) else { continue };
                    found.extend(nets.get(&net.trunc()).into_iter().flatten());
                }
            }
            Element::Sender => {
                if let Some(sender) = facts.sender {
                    found.extend(self.senders.get(&list_address_key(sender)).into_iter().flatten());
                    let domain = sender.domain.as_str().to_lowercase();
                    found.extend(self.sender_domains.get(&domain).into_iter().flatten());
                }
            }
            Element::Recipient => {
                if let Some(rcpt) = facts.rcpt {
                    found.extend(self.recipients.get(&list_address_key(rcpt)).into_iter().flatten());
                }
            }
        }
        found
    }
}

/// How one list level decided one element.
enum Decision {
    Allow(Skips),
    Block(Arc<ListRule>),
}

/// Allow wins; then the most specific reject; then the most specific discard.
fn decide(hits: &[&Arc<ListRule>]) -> Option<Decision> {
    let allows: Vec<_> = hits.iter().filter(|r| r.action == ListAction::Allow).collect();
    if !allows.is_empty() {
        return Some(Decision::Allow(allows.iter().fold(Skips::NONE, |s, r| s.union(Skips::of(r.kind)))));
    }
    let reject = hits.iter().find(|r| r.action == ListAction::Reject);
    reject.or(hits.first()).map(|r| Decision::Block(Arc::clone(r)))
}

/// Every list, built from the directory snapshot and swapped with it.
#[derive(Debug, Default)]
pub struct ListIndex {
    global: RuleSet,
    domains: HashMap<String, RuleSet>,
    len: usize,
}

impl ListIndex {
    pub fn build(rules: Vec<ListRule>) -> ListIndex {
        let mut index = ListIndex::default();
        let mut networks: HashMap<Option<String>, HashMap<u8, HashMap<IpNet, Rules>>> = HashMap::new();
        for rule in rules {
            let rule = Arc::new(rule);
            let set = match &rule.domain {
                None => &mut index.global,
                Some(domain) => index.domains.entry(domain.clone()).or_default(),
            };
            let key = rule.value.clone();
            match rule.kind {
                ListKind::Ip | ListKind::Network => match parse_network(&rule.value) {
                    Some(net) => {
                        let by_prefix = networks.entry(rule.domain.clone()).or_default();
                        by_prefix.entry(net.prefix_len()).or_default().entry(net).or_default().push(rule);
                    }
                    None => {
                        tracing::warn!(rule = rule.id, value = %rule.value, "list rule with a bad network ignored");
                        continue;
                    }
                },
                ListKind::Sender => set.senders.entry(key).or_default().push(rule),
                ListKind::SenderDomain => set.sender_domains.entry(key).or_default().push(rule),
                ListKind::Recipient => set.recipients.entry(key).or_default().push(rule),
            }
            index.len += 1;
        }
        for (domain, by_prefix) in networks {
            let mut sorted: Vec<_> = by_prefix.into_iter().collect();
            sorted.sort_by_key(|n| std::cmp::Reverse(n.0));
            let set = match domain {
                None => &mut index.global,
                Some(domain) => index.domains.entry(domain).or_default(),
            };
            set.networks = sorted;
        }
        index
    }

    /// How many rules are in use.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The verdict for one recipient, with the lists of `domains` (lower-case) and the
    /// global list.
    pub fn check(&self, domains: &[&str], ip: IpAddr, sender: Option<&Address>, rcpt: &Address) -> ListVerdict {
        let facts = Facts { ip, sender, rcpt: Some(rcpt) };
        let (mut skips, mut allowed, mut discard) = (Skips::NONE, false, None);
        for element in [Element::Client, Element::Sender, Element::Recipient] {
            match self.decide(domains, element, &facts) {
                None => {}
                Some(Decision::Allow(s)) => (skips, allowed) = (skips.union(s), true),
                Some(Decision::Block(rule)) if rule.action == ListAction::Reject => {
                    return reject(&rule, element, &facts);
                }
                Some(Decision::Block(rule)) => discard = discard.or(Some(rule)),
            }
        }
        match discard {
            Some(rule) => {
                ListVerdict::Discard { rule: rule.id, reason: format!("discarded by list {}", rule.describe()) }
            }
            None if allowed => ListVerdict::Allow(skips),
            None => ListVerdict::None,
        }
    }

    /// What the client and sender allow rules skip, known at MAIL (recipient rules come
    /// later and cannot skip a check that already ran). `sender_domain` is the one domain
    /// list that counts besides the global one: the sender's own (sender security is its
    /// rule; no other tenant may waive it).
    pub fn skips_at_mail(&self, sender_domain: &str, ip: IpAddr, sender: &Address) -> Skips {
        let facts = Facts { ip, sender: Some(sender), rcpt: None };
        [Element::Client, Element::Sender].into_iter().fold(Skips::NONE, |skips, element| {
            match self.decide(&[sender_domain], element, &facts) {
                Some(Decision::Allow(s)) => skips.union(s),
                _ => skips,
            }
        })
    }

    /// The domain lists decide when any of their rules matches; else the global list.
    fn decide(&self, domains: &[&str], element: Element, facts: &Facts<'_>) -> Option<Decision> {
        let mut hits = Vec::new();
        for (i, domain) in domains.iter().enumerate() {
            if domains[..i].contains(domain) {
                continue;
            }
            if let Some(set) = self.domains.get(*domain) {
                hits.extend(set.matching(element, facts));
            }
        }
        decide(&hits).or_else(|| decide(&self.global.matching(element, facts)))
    }
}

/// `554 5.7.1` in Postfix's words for the element that was blocked.
fn reject(rule: &ListRule, element: Element, facts: &Facts<'_>) -> ListVerdict {
    let shown = |a: Option<&Address>| a.map(|a| format!("<{a}>")).unwrap_or_else(|| "<>".into());
    let (who, what) = match element {
        Element::Client => (format!("<unknown[{}]>", facts.ip), "Client host"),
        Element::Sender => (shown(facts.sender), "Sender address"),
        Element::Recipient => (shown(facts.rcpt), "Recipient address"),
    };
    let text = format!("{who}: {what} rejected: blocked by list rule {}", rule.id);
    ListVerdict::Reject {
        rule: rule.id,
        reply: Reply::new(554, "5.7.1", text),
        reason: format!("{} rejected by list {}", what.to_lowercase(), rule.describe()),
    }
}

#[cfg(test)]
mod tests;
