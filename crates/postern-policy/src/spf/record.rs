//! SPF records (RFC 7208 §4.5, §4.6, §5, §6, §12): which TXT record is the SPF record, and
//! its parsing into a [`Record`]. Pure: no I/O.
//!
//! In: the TXT strings published at a domain (each already joined from its pieces).
//! Out: no record, exactly one [`Record`], or a [`SyntaxError`] (several records, non-ASCII,
//! or any term that breaks the grammar: the whole record is then a `permerror`, even when
//! the bad term comes after the one that would match, §4.6).
//!
//! Defends against a hostile or broken record: strict grammar (only SP separates terms;
//! no CIDR on mechanisms that take none; CIDR lengths in range and without leading zeros;
//! dotted-quad IPv4 without leading zeros; `redirect` and `exp` at most once).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros::{MacroString, SyntaxError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(MacroString),
    /// `a` and `mx` without a domain-spec use the current domain.
    A {
        domain: Option<MacroString>,
        cidr4: u8,
        cidr6: u8,
    },
    Mx {
        domain: Option<MacroString>,
        cidr4: u8,
        cidr6: u8,
    },
    Ptr(Option<MacroString>),
    Ip4(Ipv4Addr, u8),
    Ip6(Ipv6Addr, u8),
    Exists(MacroString),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub qualifier: Qualifier,
    pub mechanism: Mechanism,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub directives: Vec<Directive>,
    pub redirect: Option<MacroString>,
    pub exp: Option<MacroString>,
}

/// The SPF record among a domain's TXT records (§4.5): `Ok(None)` when there is none.
pub fn select(txts: &[Vec<u8>]) -> Result<Option<Record>, SyntaxError> {
    let mut spf = txts.iter().filter(|txt| is_spf(txt));
    let (Some(record), None) = (spf.next(), spf.next()) else {
        return match txts.iter().filter(|txt| is_spf(txt)).count() {
            0 => Ok(None),
            n => Err(SyntaxError(format!("{n} SPF records"))),
        };
    };
    let text = std::str::from_utf8(record)
        .ok()
        .filter(|text| text.is_ascii())
        .ok_or_else(|| SyntaxError("SPF record is not ASCII".into()))?;
    parse(text).map(Some)
}

/// `v=spf1` (any case), then a space or the end.
fn is_spf(txt: &[u8]) -> bool {
    txt.len() >= 6 && txt[..6].eq_ignore_ascii_case(b"v=spf1") && matches!(txt.get(6), None | Some(b' '))
}

/// Parses an SPF record (it starts with `v=spf1`).
pub fn parse(text: &str) -> Result<Record, SyntaxError> {
    let mut terms = text.split(' ').filter(|term| !term.is_empty());
    if !terms.next().is_some_and(|version| version.eq_ignore_ascii_case("v=spf1")) {
        return Err(SyntaxError("not an SPF record".into()));
    }
    let mut record = Record { directives: Vec::new(), redirect: None, exp: None };
    for term in terms {
        if let Some((name, value)) = modifier(term) {
            let slot = match name.to_ascii_lowercase().as_str() {
                "redirect" => &mut record.redirect,
                "exp" => &mut record.exp,
                _ => {
                    MacroString::modifier_value(value)?;
                    continue;
                }
            };
            if slot.replace(MacroString::domain_spec(value)?).is_some() {
                return Err(SyntaxError(format!("{name}= twice")));
            }
        } else {
            record.directives.push(directive(term)?);
        }
    }
    Ok(record)
}

/// `name "=" macro-string` with `name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`.
fn modifier(term: &str) -> Option<(&str, &str)> {
    let (name, value) = term.split_once('=')?;
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then_some((name, value))
}

fn directive(term: &str) -> Result<Directive, SyntaxError> {
    let bad = |why: &str| SyntaxError(format!("{why}: {term:?}"));
    let (qualifier, rest) = match term.as_bytes().first() {
        Some(b'+') => (Qualifier::Pass, &term[1..]),
        Some(b'-') => (Qualifier::Fail, &term[1..]),
        Some(b'~') => (Qualifier::SoftFail, &term[1..]),
        Some(b'?') => (Qualifier::Neutral, &term[1..]),
        _ => (Qualifier::Pass, term),
    };
    let (rest, cidr6) = strip_cidr(rest, "//");
    let (rest, cidr4) = strip_cidr(rest, "/");
    let (name, arg) = match rest.split_once(':') {
        Some((name, arg)) => (name, Some(arg)),
        None => (rest, None),
    };
    let no_cidr = |m: Mechanism| if cidr4.is_none() && cidr6.is_none() { Ok(m) } else { Err(bad("no CIDR allowed")) };
    let domain = |arg: Option<&str>| arg.map(MacroString::domain_spec).transpose();
    let required = || arg.ok_or_else(|| bad("argument required"));
    let cidr = |value: Option<u32>, max: u32, what: &str| match value {
        None => Ok(max as u8),
        Some(len) if len <= max => Ok(len as u8),
        Some(_) => Err(bad(what)),
    };
    let mechanism = match name.to_ascii_lowercase().as_str() {
        "all" if arg.is_none() => no_cidr(Mechanism::All)?,
        "include" => no_cidr(Mechanism::Include(MacroString::domain_spec(required()?)?))?,
        "exists" => no_cidr(Mechanism::Exists(MacroString::domain_spec(required()?)?))?,
        "ptr" => no_cidr(Mechanism::Ptr(domain(arg)?))?,
        "a" => Mechanism::A {
            domain: domain(arg)?,
            cidr4: cidr(cidr4, 32, "IPv4 CIDR over 32")?,
            cidr6: cidr(cidr6, 128, "IPv6 CIDR over 128")?,
        },
        "mx" => Mechanism::Mx {
            domain: domain(arg)?,
            cidr4: cidr(cidr4, 32, "IPv4 CIDR over 32")?,
            cidr6: cidr(cidr6, 128, "IPv6 CIDR over 128")?,
        },
        "ip4" if cidr6.is_none() => {
            let addr = required()?;
            Mechanism::Ip4(
                parse_ipv4(addr).ok_or_else(|| bad("bad IPv4 address"))?,
                cidr(cidr4, 32, "IPv4 CIDR over 32")?,
            )
        }
        "ip6" if cidr6.is_none() => {
            let addr = required()?.parse().map_err(|_| bad("bad IPv6 address"))?;
            Mechanism::Ip6(addr, cidr(cidr4, 128, "IPv6 CIDR over 128")?)
        }
        _ => return Err(bad("unknown mechanism")),
    };
    Ok(Directive { qualifier, mechanism })
}

/// Strips a trailing `{sep}N` (`sep` is `/` or `//`; N without leading zeros) and returns N.
fn strip_cidr<'a>(text: &'a str, sep: &str) -> (&'a str, Option<u32>) {
    let Some(slash) = text.rfind('/') else {
        return (text, None);
    };
    let digits = &text[slash + 1..];
    let number = !digits.is_empty()
        && digits.len() <= 3
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    let head = &text[..slash];
    let head = if sep == "//" { head.strip_suffix('/') } else { Some(head).filter(|h| !h.ends_with('/')) };
    match head {
        Some(head) if number => (head, digits.parse().ok()),
        _ => (text, None),
    }
}

/// `ip4-network`: four decimal octets, no leading zeros.
fn parse_ipv4(text: &str) -> Option<Ipv4Addr> {
    let octets: Vec<u8> = text
        .split('.')
        .map(|o| (!o.is_empty() && o.len() <= 3 && (o == "0" || !o.starts_with('0'))).then(|| o.parse().ok()).flatten())
        .collect::<Option<_>>()?;
    <[u8; 4]>::try_from(octets).ok().map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mechanisms(text: &str) -> Vec<Mechanism> {
        parse(text).unwrap().directives.into_iter().map(|d| d.mechanism).collect()
    }

    #[test]
    fn selects_exactly_one_record() {
        let txt = |s: &str| s.as_bytes().to_vec();
        assert_eq!(select(&[txt("hello"), txt("v=spf10")]), Ok(None));
        assert!(select(&[txt("v=spf1 -all"), txt("V=SPF1 +all")]).is_err());
        assert_eq!(select(&[txt("v=spf1")]).unwrap().unwrap().directives, vec![]);
        assert!(select(&[b"v=spf1 a:\xc3\xa9.example.com -all".to_vec()]).is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(mechanisms("v=spf1 ip4:192.0.2.0/24"), vec![Mechanism::Ip4(Ipv4Addr::new(192, 0, 2, 0), 24)]);
        assert_eq!(mechanisms("v=spf1 a//64"), vec![Mechanism::A { domain: None, cidr4: 32, cidr6: 64 }]);
        assert_eq!(mechanisms("v=spf1 mx/24//64"), vec![Mechanism::Mx { domain: None, cidr4: 24, cidr6: 64 }]);
        for bad in [
            "ip4:1.2.3.4/33",
            "ip4:1.2.3.4/032",
            "ip4:1.2.3.4//32",
            "ip6:::1/129",
            "a/33",
            "a//129",
            "ptr/0",
            "all/8",
            "include:example.com/24",
            "exists:example.com/24",
            "ip4:1.2.03.4",
            "ip4:1.2.3",
            "ip4",
        ] {
            assert!(parse(&format!("v=spf1 {bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn modifiers() {
        let record = parse("v=spf1 -all redirect=_spf.example.com exp=exp.%{d} moo.cow-far_out=man:dog/cat").unwrap();
        assert!(record.redirect.is_some() && record.exp.is_some());
        for bad in ["redirect=a.com redirect=b.com", "exp=a.com exp=b.com", "=all", "1up=foo", "exp=-all", "exp="] {
            assert!(parse(&format!("v=spf1 {bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_anywhere_make_the_record_invalid() {
        for bad in ["+all moo", "a:example.com,", "-all:3030", "ip4:192.0.2.5\n", "a:111.222.33.44", "=a"] {
            assert!(parse(&format!("v=spf1 {bad}")).is_err(), "{bad}");
        }
        assert_eq!(parse("v=spf1  -all  ").unwrap().directives.len(), 1);
        assert_eq!(parse("v=spf1 a:foo:bar/baz.example.com").unwrap().directives.len(), 1);
    }
}
