//! AFL target: SPF records (RFC 7208). The input is a domain's TXT set, records separated
//! by NUL; the selected record's domain-specs are expanded with hostile macro values.
//! Crashes on a panic, an out-of-range CIDR length, or an expansion that is longer than a
//! DNS name while it still has labels to drop.
use postern_policy::spf::macros::{MacroString, Vars};
use postern_policy::spf::record::{Mechanism, select};

fn check(spec: &MacroString, vars: &Vars<'_>) {
    let name = spec.expand_domain(vars);
    assert!(name.len() <= 253 || !name.contains('.'));
    let _ = spec.expand(vars);
}

fn main() {
    let local = "a.b-c+d%e".repeat(7);
    let sender = format!("{local}@{}", "x.".repeat(100));
    let vars = Vars {
        sender: &sender,
        local: &local,
        sender_domain: "example.com",
        domain: "mail.example.com",
        ip: "2001:db8::1".parse().unwrap(),
        validated: Some("host.example.org"),
        helo: "helo.example.net",
        receiver: "mx.example",
        timestamp: 1_700_000_000,
    };
    afl::fuzz!(|data: &[u8]| {
        let txts: Vec<Vec<u8>> = data.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
        let Ok(Some(record)) = select(&txts) else { return };
        for directive in &record.directives {
            match &directive.mechanism {
                Mechanism::Include(spec) | Mechanism::Exists(spec) => check(spec, &vars),
                Mechanism::A { domain, cidr4, cidr6 } | Mechanism::Mx { domain, cidr4, cidr6 } => {
                    assert!(*cidr4 <= 32 && *cidr6 <= 128);
                    domain.iter().for_each(|spec| check(spec, &vars));
                }
                Mechanism::Ptr(domain) => domain.iter().for_each(|spec| check(spec, &vars)),
                Mechanism::Ip4(_, len) => assert!(*len <= 32),
                Mechanism::Ip6(_, len) => assert!(*len <= 128),
                Mechanism::All => {}
            }
        }
        record.redirect.iter().chain(&record.exp).for_each(|spec| check(spec, &vars));
    });
}
