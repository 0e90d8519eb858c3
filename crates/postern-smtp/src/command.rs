//! SMTP command lines -> [`Command`]. Pure; every syntax error already carries its reply.
//!
//! In: one line without CRLF. Out: a command with its arguments split, or
//! [`Command::Invalid`] with the exact reply. Defends against: non-UTF-8 and control
//! characters in commands, unbracketed paths (strict RFC 5321), oversized parameters.

use postern_core::Reply;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// `path` is the text between `<` and `>` (empty for the null sender).
    Mail {
        path: String,
        params: Vec<Param>,
    },
    Rcpt {
        path: String,
        params: Vec<Param>,
    },
    Data,
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954); the mechanism upper-cased.
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
    /// ETRN: not offered (`502`), but a junk command (it counts toward the junk limit).
    Etrn,
    /// Known but not offered (EXPN, TURN).
    NotImplemented,
    Unknown,
    Invalid(Reply),
}

/// An ESMTP parameter `KEY[=VALUE]`, key upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: Option<String>,
}

fn syntax(text: &'static str) -> Command {
    Command::Invalid(Reply::new(501, "5.5.4", text))
}

impl Command {
    pub fn parse(line: &[u8]) -> Command {
        let Ok(line) = std::str::from_utf8(line) else {
            return Command::Invalid(Reply::new(500, "5.5.2", "Error: bad UTF-8 syntax"));
        };
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Command::Invalid(Reply::new(500, "5.5.2", "Error: bad syntax"));
        }
        let (verb, rest) = match line.find([' ', '\t']) {
            Some(i) => (&line[..i], line[i + 1..].trim()),
            None => (line, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => first_word(rest).map(Command::Ehlo).unwrap_or_else(|| syntax("Syntax: EHLO hostname")),
            "HELO" => first_word(rest).map(Command::Helo).unwrap_or_else(|| syntax("Syntax: HELO hostname")),
            "MAIL" => parse_path_command(rest, "FROM:", false),
            "RCPT" => parse_path_command(rest, "TO:", true),
            "DATA" if rest.is_empty() => Command::Data,
            "DATA" => syntax("Syntax: DATA"),
            "BDAT" => parse_bdat(rest),
            "RSET" if rest.is_empty() => Command::Rset,
            "RSET" => syntax("Syntax: RSET"),
            "NOOP" => Command::Noop,
            "QUIT" if rest.is_empty() => Command::Quit,
            "QUIT" => syntax("Syntax: QUIT"),
            "VRFY" if rest.is_empty() => syntax("Syntax: VRFY address"),
            "VRFY" => Command::Vrfy,
            "HELP" => Command::Help,
            "STARTTLS" if rest.is_empty() => Command::StartTls,
            "STARTTLS" => syntax("Syntax: STARTTLS"),
            "AUTH" => parse_auth(rest),
            "ETRN" => Command::Etrn,
            "EXPN" | "TURN" => Command::NotImplemented,
            _ => Command::Unknown,
        }
    }
}

fn parse_auth(rest: &str) -> Command {
    let mut words = rest.split_whitespace();
    let (Some(mechanism), initial, None) = (words.next(), words.next(), words.next()) else {
        return syntax("Syntax: AUTH mechanism [initial-response]");
    };
    if mechanism.len() > 20 || !mechanism.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return syntax("Syntax: AUTH mechanism [initial-response]");
    }
    Command::Auth { mechanism: mechanism.to_ascii_uppercase(), initial: initial.map(str::to_string) }
}

fn first_word(rest: &str) -> Option<String> {
    rest.split_whitespace().next().map(str::to_string)
}

/// `FROM:<path> params` / `TO:<path> params`. A space after the colon is tolerated, as
/// every major MTA does; a missing `<...>` is not.
fn parse_path_command(rest: &str, keyword: &str, rcpt: bool) -> Command {
    let (usage, bad_path) = if rcpt {
        ("Syntax: RCPT TO:<address>", Reply::new(501, "5.1.3", "Bad recipient address syntax"))
    } else {
        ("Syntax: MAIL FROM:<address>", Reply::new(501, "5.1.7", "Bad sender address syntax"))
    };
    let Some(head) = rest.get(..keyword.len()) else { return syntax(usage) };
    if !head.eq_ignore_ascii_case(keyword) {
        return syntax(usage);
    }
    let after = rest[keyword.len()..].trim_start();
    let Some(inner) = after.strip_prefix('<') else { return Command::Invalid(bad_path) };
    let Some(close) = closing_bracket(inner) else { return Command::Invalid(bad_path) };
    let path = inner[..close].to_string();
    let tail = &inner[close + 1..];
    if !tail.is_empty() && !tail.starts_with([' ', '\t']) {
        return Command::Invalid(bad_path);
    }
    let mut params = Vec::new();
    for word in tail.split_whitespace() {
        if word.len() > 500 || params.len() >= 16 {
            return Command::Invalid(Reply::new(501, "5.5.4", "Error: too many or too long parameters"));
        }
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (word, None),
        };
        params.push(Param { key: key.to_ascii_uppercase(), value });
    }
    if rcpt { Command::Rcpt { path, params } } else { Command::Mail { path, params } }
}

/// The `>` that closes the path: the first one outside a quoted local part.
fn closing_bracket(inner: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '>' if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_bdat(rest: &str) -> Command {
    let mut words = rest.split_whitespace();
    let size =
        words.next().filter(|w| w.len() <= 19 && w.bytes().all(|b| b.is_ascii_digit())).and_then(|w| w.parse().ok());
    let last = match words.next() {
        None => Some(false),
        Some(w) if w.eq_ignore_ascii_case("LAST") => Some(true),
        Some(_) => None,
    };
    match (size, last, words.next()) {
        (Some(size), Some(last), None) => Command::Bdat { size, last },
        _ => syntax("Syntax: BDAT size [LAST]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Command {
        Command::parse(s.as_bytes())
    }

    #[test]
    fn parses_verbs() {
        assert_eq!(p("ehlo client.example"), Command::Ehlo("client.example".into()));
        assert_eq!(
            p("MAIL FROM:<a@b.example> SIZE=100 body=8bitmime"),
            Command::Mail {
                path: "a@b.example".into(),
                params: vec![
                    Param { key: "SIZE".into(), value: Some("100".into()) },
                    Param { key: "BODY".into(), value: Some("8bitmime".into()) }
                ]
            }
        );
        assert_eq!(p("mail from: <>"), Command::Mail { path: String::new(), params: vec![] });
        assert_eq!(
            p("RCPT TO:<\"a>b\"@c.example>"),
            Command::Rcpt { path: "\"a>b\"@c.example".into(), params: vec![] }
        );
        assert_eq!(p("BDAT 100 LAST"), Command::Bdat { size: 100, last: true });
        assert_eq!(p("BDAT 0"), Command::Bdat { size: 0, last: false });
        assert_eq!(p("XYZZY"), Command::Unknown);
    }

    #[test]
    fn syntax_errors_carry_replies() {
        let reply = |c: Command| match c {
            Command::Invalid(r) => r.render(),
            other => panic!("{other:?}"),
        };
        assert_eq!(reply(p("EHLO")), "501 5.5.4 Syntax: EHLO hostname\r\n");
        assert_eq!(reply(p("MAIL TO:<a@b>")), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
        assert_eq!(reply(p("MAIL FROM:a@b")), "501 5.1.7 Bad sender address syntax\r\n");
        assert_eq!(reply(p("RCPT TO:<a@b")), "501 5.1.3 Bad recipient address syntax\r\n");
        assert_eq!(reply(p("RCPT TO:<a@b>x")), "501 5.1.3 Bad recipient address syntax\r\n");
        assert_eq!(reply(p("BDAT -1")), "501 5.5.4 Syntax: BDAT size [LAST]\r\n");
        assert_eq!(reply(p("BDAT 99999999999999999999999")), "501 5.5.4 Syntax: BDAT size [LAST]\r\n");
        assert_eq!(reply(p("DATA x")), "501 5.5.4 Syntax: DATA\r\n");
        assert_eq!(reply(Command::parse(b"NOOP \xff")), "500 5.5.2 Error: bad UTF-8 syntax\r\n");
        assert_eq!(reply(Command::parse(b"NOOP \x00")), "500 5.5.2 Error: bad syntax\r\n");
    }
}
