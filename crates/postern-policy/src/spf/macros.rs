//! SPF macro strings (RFC 7208 §7): parsing and expansion. Pure: no I/O.
//!
//! In: the text of a domain-spec or an explanation, as published by the sender's domain.
//! Out: a [`MacroString`] that expands against [`Vars`], or a [`SyntaxError`] (which makes
//! the whole record a `permerror`).
//!
//! Defends against malformed macros (unknown letters, `%` not followed by `{`, `%`, `_`
//! or `-`, unterminated `%{`, a zero DIGIT transformer) and, for domain-specs, a
//! domain-end that is not a top label or a macro (`a:museum`, `a:abc.123`), characters
//! outside printable ASCII, and expansions longer than a DNS name (truncated from the left
//! as §7.3 says).

use std::net::IpAddr;

/// The record (or explanation) does not follow RFC 7208's grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

/// Expanded domain names longer than this lose labels from the left (RFC 7208 §7.3).
const MAX_DOMAIN: usize = 253;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Letter {
    Sender,
    Local,
    SenderDomain,
    Domain,
    Ip,
    Validated,
    IpVersion,
    Helo,
    ClientIp,
    Receiver,
    Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Macro { letter: Letter, escape: bool, keep: Option<usize>, reverse: bool, delimiters: String },
}

/// A parsed macro-string: literal text and `%{...}` expansions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroString {
    parts: Vec<Part>,
}

/// What the macros expand to. `validated` is `%{p}`, computed by the caller only when
/// [`MacroString::uses_validated`] says so.
#[derive(Debug, Clone)]
pub struct Vars<'a> {
    pub sender: &'a str,
    pub local: &'a str,
    pub sender_domain: &'a str,
    pub domain: &'a str,
    pub ip: IpAddr,
    pub validated: Option<&'a str>,
    pub helo: &'a str,
    pub receiver: &'a str,
    pub timestamp: u64,
}

impl MacroString {
    /// A domain-spec (RFC 7208 §7.1): a macro-string ending in `.toplabel[.]` or a macro.
    pub fn domain_spec(text: &str) -> Result<MacroString, SyntaxError> {
        let (parts, ends_with_macro) = parse(text, false)?;
        if text.is_empty() {
            return Err(SyntaxError("empty domain-spec".into()));
        }
        if !ends_with_macro && !ends_with_toplabel(text) {
            return Err(SyntaxError(format!("domain-spec {text:?} does not end in a top label")));
        }
        Ok(MacroString { parts })
    }

    /// The value of an unknown modifier: any macro-string, checked only for syntax.
    pub fn modifier_value(text: &str) -> Result<MacroString, SyntaxError> {
        parse(text, false).map(|(parts, _)| MacroString { parts })
    }

    /// An explanation TXT record (RFC 7208 §6.2): spaces and the `c`, `r`, `t` macros allowed.
    pub fn explanation(text: &str) -> Result<MacroString, SyntaxError> {
        parse(text, true).map(|(parts, _)| MacroString { parts })
    }

    /// Does expanding this need `%{p}` (and so PTR lookups)?
    pub fn uses_validated(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Macro { letter: Letter::Validated, .. }))
    }

    /// The expansion as text (explanations).
    pub fn expand(&self, vars: &Vars<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Macro { letter, escape, keep, reverse, delimiters } => {
                    let value = transform(&value(*letter, vars), delimiters, *reverse, *keep);
                    if *escape { url_escape(&value, &mut out) } else { out.push_str(&value) }
                }
            }
        }
        out
    }

    /// The expansion as a domain name: no trailing dot, at most 253 octets (leftmost labels
    /// dropped).
    pub fn expand_domain(&self, vars: &Vars<'_>) -> String {
        let mut name = self.expand(vars);
        if name.ends_with('.') {
            name.pop();
        }
        while name.len() > MAX_DOMAIN {
            match name.find('.') {
                Some(dot) => name.drain(..=dot),
                None => break,
            };
        }
        name
    }
}

fn parse(text: &str, explanation: bool) -> Result<(Vec<Part>, bool), SyntaxError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut ends_with_macro = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        ends_with_macro = c == '%';
        match c {
            '%' => match chars.next() {
                Some('%') => literal.push('%'),
                Some('_') => literal.push(' '),
                Some('-') => literal.push_str("%20"),
                Some('{') => {
                    let (mut body, mut closed) = (String::new(), false);
                    for c in chars.by_ref() {
                        closed = c == '}';
                        if closed {
                            break;
                        }
                        body.push(c);
                    }
                    if !closed {
                        return Err(SyntaxError(format!("unterminated macro in {text:?}")));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(parse_macro(&body, explanation)?);
                }
                _ => return Err(SyntaxError(format!("bad '%' escape in {text:?}"))),
            },
            '!'..='~' => literal.push(c),
            ' ' if explanation => literal.push(c),
            _ => return Err(SyntaxError(format!("character {c:?} not allowed in {text:?}"))),
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok((parts, ends_with_macro))
}

/// `letter *DIGIT ["r"] *delimiter`, the text between `%{` and `}`.
fn parse_macro(body: &str, explanation: bool) -> Result<Part, SyntaxError> {
    let bad = || SyntaxError(format!("bad macro %{{{body}}}"));
    let mut chars = body.chars();
    let first = chars.next().ok_or_else(bad)?;
    let letter = match first.to_ascii_lowercase() {
        's' => Letter::Sender,
        'l' => Letter::Local,
        'o' => Letter::SenderDomain,
        'd' => Letter::Domain,
        'i' => Letter::Ip,
        'p' => Letter::Validated,
        'v' => Letter::IpVersion,
        'h' => Letter::Helo,
        'c' if explanation => Letter::ClientIp,
        'r' if explanation => Letter::Receiver,
        't' if explanation => Letter::Timestamp,
        _ => return Err(bad()),
    };
    let rest = chars.as_str();
    let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let keep = match &rest[..digits_end] {
        "" => None,
        digits => match digits.parse::<usize>() {
            Ok(0) | Err(_) => return Err(bad()),
            Ok(n) => Some(n),
        },
    };
    let rest = &rest[digits_end..];
    let (reverse, delimiters) = match rest.strip_prefix(['r', 'R']) {
        Some(after) => (true, after),
        None => (false, rest),
    };
    if !delimiters.chars().all(|c| ".-+,/_=".contains(c)) {
        return Err(bad());
    }
    Ok(Part::Macro { letter, escape: first.is_ascii_uppercase(), keep, reverse, delimiters: delimiters.to_string() })
}

/// `domain-end = ( "." toplabel [ "." ] )`, the literal case.
fn ends_with_toplabel(text: &str) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    let Some((_, label)) = text.rsplit_once('.') else {
        return false;
    };
    let alnum_or_hyphen = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let has_alpha = label.chars().any(|c| c.is_ascii_alphabetic());
    let hyphenated = label.contains('-') && !label.starts_with('-') && !label.ends_with('-');
    !label.is_empty() && alnum_or_hyphen && (has_alpha && !label.contains('-') || hyphenated)
}

fn value(letter: Letter, vars: &Vars<'_>) -> String {
    match letter {
        Letter::Sender => vars.sender.to_string(),
        Letter::Local => vars.local.to_string(),
        Letter::SenderDomain => vars.sender_domain.to_string(),
        Letter::Domain => vars.domain.to_string(),
        Letter::Ip => dotted_ip(vars.ip),
        Letter::Validated => vars.validated.unwrap_or("unknown").to_string(),
        Letter::IpVersion => if vars.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
        Letter::Helo => vars.helo.to_string(),
        Letter::ClientIp => vars.ip.to_string(),
        Letter::Receiver => vars.receiver.to_string(),
        Letter::Timestamp => vars.timestamp.to_string(),
    }
}

/// `%{i}`: dotted quad, or for IPv6 the 32 nibbles separated by dots (as in `ip6.arpa`;
/// upper case, as the RFC 7208 test suite expects).
pub fn dotted_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let hex: Vec<String> =
                v6.octets().iter().flat_map(|b| [b >> 4, b & 0xf]).map(|n| format!("{n:X}")).collect();
            hex.join(".")
        }
    }
}

/// Split on `delimiters` (default `.`), reverse, keep the rightmost `keep`, join with `.`.
fn transform(value: &str, delimiters: &str, reverse: bool, keep: Option<usize>) -> String {
    let delimiters = if delimiters.is_empty() { "." } else { delimiters };
    let mut parts: Vec<&str> = value.split(|c| delimiters.contains(c)).collect();
    if reverse {
        parts.reverse();
    }
    if let Some(keep) = keep {
        let skip = parts.len().saturating_sub(keep);
        parts.drain(..skip);
    }
    parts.join(".")
}

/// URL escaping of everything but RFC 3986 unreserved characters (for upper-case macros).
fn url_escape(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(ip: &str) -> Vars<'static> {
        Vars {
            sender: "strong-bad@email.example.com",
            local: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: ip.parse().unwrap(),
            validated: None,
            helo: "mx.example.org",
            receiver: "mx.postern.test",
            timestamp: 1_700_000_000,
        }
    }

    fn expand(spec: &str, ip: &str) -> String {
        MacroString::domain_spec(spec).unwrap().expand_domain(&vars(ip))
    }

    #[test]
    fn rfc7208_section_7_4_examples() {
        let v4 = "192.0.2.3";
        assert_eq!(expand("%{s}", v4), "strong-bad@email.example.com");
        assert_eq!(expand("%{o}", v4), "email.example.com");
        assert_eq!(expand("%{d}", v4), "email.example.com");
        assert_eq!(expand("%{d4}", v4), "email.example.com");
        assert_eq!(expand("%{d3}", v4), "email.example.com");
        assert_eq!(expand("%{d2}", v4), "example.com");
        assert_eq!(expand("%{d1}", v4), "com");
        assert_eq!(expand("%{dr}", v4), "com.example.email");
        assert_eq!(expand("%{d2r}", v4), "example.email");
        assert_eq!(expand("%{l}", v4), "strong-bad");
        assert_eq!(expand("%{l-}", v4), "strong.bad");
        assert_eq!(expand("%{lr}", v4), "strong-bad");
        assert_eq!(expand("%{lr-}", v4), "bad.strong");
        assert_eq!(expand("%{l1r-}", v4), "strong");
        assert_eq!(expand("%{ir}.%{v}._spf.%{d2}", v4), "3.2.0.192.in-addr._spf.example.com");
        assert_eq!(expand("%{lr-}.lp._spf.%{d2}", v4), "bad.strong.lp._spf.example.com");
        assert_eq!(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", v4), "3.2.0.192.in-addr.strong.lp._spf.example.com");
        assert_eq!(
            expand("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01").to_ascii_lowercase(),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
    }

    #[test]
    fn escapes_and_upper_case() {
        assert_eq!(expand("%%%_%-.example.com", "192.0.2.3"), "% %20.example.com");
        let exp = MacroString::explanation("%{c} %{r} %{t} %{S}").unwrap().expand(&vars("2001:db8::1"));
        assert_eq!(exp, "2001:db8::1 mx.postern.test 1700000000 strong-bad%40email.example.com");
    }

    #[test]
    fn long_expansions_lose_labels_on_the_left() {
        let long = format!("{}.%{{d}}", vec!["x".repeat(60); 4].join("."));
        let name = expand(&long, "192.0.2.3");
        assert!(name.len() <= 253 && name.ends_with(".email.example.com"), "{name}");
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "",
            "museum",
            "museum.",
            "abc.123",
            "example.-com",
            "example.com:8080",
            "%{x}.example.com",
            "%{d0}.example.com",
            "%{d",
            "%z.example.com",
            "trailing%",
            "%{c}.example.com",
            "a b.example.com",
            "ctrl.example.com\rptr",
        ] {
            assert!(MacroString::domain_spec(bad).is_err(), "{bad:?}");
        }
        for good in ["example.com", "example.com.", "%{d}", "foo:bar/baz.example.com", "%{H}.bar", "a.x-1", "%{ir}.%-"]
        {
            assert!(MacroString::domain_spec(good).is_ok(), "{good:?}");
        }
        assert!(MacroString::explanation("%{c} is not allowed").is_ok());
        assert!(MacroString::explanation("bad %x").is_err());
    }
}
