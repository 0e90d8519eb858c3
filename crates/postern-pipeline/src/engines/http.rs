//! The HTTP/1.1 reply of an engine (Rspamd), parsed from the octets read.
//!
//! In: the whole reply as read (the connection asked `Connection: close`). Out: the status
//! code and the body, or an error for anything garbled: no status line, a body shorter
//! than its `Content-Length` (truncated), a chunked body that does not add up, or a
//! compressed body (we never ask for one).

use super::{content_length, excerpt, split_head};

#[derive(Debug, PartialEq)]
pub(crate) struct Response<'a> {
    pub status: u16,
    pub body: std::borrow::Cow<'a, [u8]>,
}

pub(crate) fn parse(reply: &[u8]) -> Result<Response<'_>, String> {
    if reply.is_empty() {
        return Err("empty reply (connection closed)".into());
    }
    let Some((head, body_start)) = split_head(reply) else {
        return Err(format!("no HTTP header block in the reply: {:?}", excerpt(reply, 80)));
    };
    let status_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let status_line = std::str::from_utf8(status_line).map_err(|_| "the status line is not text".to_string())?;
    let mut parts = status_line.trim_end().splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") || code.len() != 3 {
        return Err(format!("not an HTTP status line: {:?}", excerpt(status_line.as_bytes(), 80)));
    }
    let status: u16 = code.parse().map_err(|_| format!("bad HTTP status {code:?}"))?;
    let header = |name: &[u8]| {
        head.split(|&b| b == b'\n').skip(1).find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon].eq_ignore_ascii_case(name).then(|| excerpt(&line[colon + 1..], 200).to_ascii_lowercase())
        })
    };
    if let Some(encoding) = header(b"content-encoding").filter(|e| e != "identity") {
        return Err(format!("a compressed reply ({encoding}) was not asked for"));
    }
    let rest = &reply[body_start..];
    let body = if header(b"transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        std::borrow::Cow::Owned(dechunk(rest)?)
    } else {
        match content_length(head) {
            Some(Ok(len)) if rest.len() == len => std::borrow::Cow::Borrowed(rest),
            Some(Ok(len)) if rest.len() < len => {
                return Err(format!("truncated reply: {} of {len} octets", rest.len()));
            }
            Some(Ok(len)) => return Err(format!("{} octets after a body of {len}", rest.len() - len)),
            Some(Err(e)) => return Err(e),
            None => std::borrow::Cow::Borrowed(rest),
        }
    };
    Ok(Response { status, body })
}

/// A chunked body (RFC 9112 §7.1), which must end with its last chunk.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = memchr::memmem::find(rest, b"\r\n") else {
            return Err("truncated chunked reply".into());
        };
        let size_text = std::str::from_utf8(&rest[..eol]).unwrap_or("");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return Err("truncated chunked reply".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_reply() {
        let r = parse(include_bytes!("fixtures/rspamd-ham.http")).unwrap();
        assert_eq!(r.status, 200);
        assert!(r.body.starts_with(b"{\"is_skipped\":false"));
        let r = parse(include_bytes!("fixtures/rspamd-not-found.http")).unwrap();
        assert_eq!(r.status, 500);
    }

    #[test]
    fn chunked() {
        let r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(&*r.body, b"abcde");
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc\r\n0\r\n\r\n").is_err());
    }

    #[test]
    fn garbage() {
        for reply in [
            &b""[..],
            b"\x00\x01garbage",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n{}",
            b"HTTP/2 200\r\n\r\n{}",
            b"SPAMD/1.1 0 EX_OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            assert!(parse(reply).is_err(), "{:?}", String::from_utf8_lossy(reply));
        }
    }
}
