//! SMTP replies: a three-digit code, an optional RFC 3463 enhanced status, and text.
//!
//! Rendering is byte-exact and multi-line aware (`250-first`, `250 last`). Text that reaches
//! the wire is stripped of CR and LF inside a line so that no reply can inject another.

use std::borrow::Cow;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code such as `5.7.1`, or `None` (greeting, EHLO lines).
    pub status: Option<&'static str>,
    /// One or more lines separated by `\n`.
    pub text: Cow<'static, str>,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<Cow<'static, str>>) -> Reply {
        Reply { code, status: Some(status), text: text.into() }
    }

    /// A reply without an enhanced status code.
    pub fn plain(code: u16, text: impl Into<Cow<'static, str>>) -> Reply {
        Reply { code, status: None, text: text.into() }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The wire form, each line ending in CRLF.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 16);
        let lines: Vec<&str> = self.text.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let line: String = line.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            let _ = match self.status {
                Some(status) => write!(out, "{}{}{} {}\r\n", self.code, sep, status, line),
                None => write!(out, "{}{}{}\r\n", self.code, sep, line),
            };
        }
        out
    }

    /// The first line without CRLF, for logs and events.
    pub fn summary(&self) -> String {
        let rendered = self.render();
        rendered.lines().next().unwrap_or_default().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_single_and_multi_line() {
        assert_eq!(Reply::new(250, "2.0.0", "Ok").render(), "250 2.0.0 Ok\r\n");
        assert_eq!(Reply::plain(250, "a\nb\nc").render(), "250-a\r\n250-b\r\n250 c\r\n");
        assert_eq!(Reply::new(550, "5.7.1", "x\r\ny").render(), "550-5.7.1 x\r\n550 5.7.1 y\r\n");
    }
}
