//! What a reader of an HTML part sees, and what is hidden from them.
//!
//! In: the decoded HTML source of a message's text/html parts. Out: an [`Html`] — the
//! visible text (tags dropped, entities decoded, script and style skipped), the number of
//! characters of text inside elements styled to be invisible (`display:none`,
//! `visibility:hidden`, `font-size:0`/`1px`, `<font size=1>` is not hidden), the links
//! (href and the text shown for it) and the number of images.
//!
//! Defends against hostile HTML: one linear pass, no tree, no recursion; the stack of
//! open hidden elements and the links are bounded; unterminated tags and comments end the
//! pass quietly.

const MOST_LINKS: usize = 256;
const MOST_HIDDEN_DEPTH: usize = 64;
const LONGEST_LINK_TEXT: usize = 256;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub href: String,
    /// The text shown for the link.
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Html {
    pub text: String,
    pub hidden_chars: usize,
    pub links: Vec<Link>,
    pub images: usize,
}

/// Reads `source` in one pass.
pub fn read(source: &str) -> Html {
    let mut html = Html::default();
    let mut rest = source;
    // Names of the open elements that hide their content, innermost last.
    let mut hidden: Vec<String> = Vec::new();
    let mut link: Option<Link> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            text(&mut html, &hidden, &mut link, rest);
            break;
        };
        text(&mut html, &hidden, &mut link, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if closing {
            if hidden.last() == Some(&name) {
                hidden.pop();
            }
            if name == "a"
                && let Some(done) = link.take()
                && html.links.len() < MOST_LINKS
            {
                html.links.push(done);
            }
            continue;
        }
        match name.as_str() {
            "script" | "style" | "title" => {
                let end = format!("</{name}");
                rest = find_ascii_ci(rest, &end).map_or("", |i| &rest[i..]);
                continue;
            }
            "a" => {
                if let Some(done) = link.take()
                    && html.links.len() < MOST_LINKS
                {
                    html.links.push(done);
                }
                if let Some(href) = attribute(tag, "href") {
                    link = Some(Link { href: decode_entities(href).trim().to_string(), text: String::new() });
                }
            }
            "img" => html.images += 1,
            "br" | "p" | "div" | "tr" | "li" | "td" => html.text.push(' '),
            _ => {}
        }
        if hides(tag) && !tag.ends_with('/') && hidden.len() < MOST_HIDDEN_DEPTH {
            hidden.push(name);
        }
    }
    if let Some(done) = link.take()
        && html.links.len() < MOST_LINKS
    {
        html.links.push(done);
    }
    html
}

fn text(html: &mut Html, hidden: &[String], link: &mut Option<Link>, raw: &str) {
    if raw.trim().is_empty() {
        html.text.push(' ');
        return;
    }
    let decoded = decode_entities(raw);
    if hidden.is_empty() {
        html.text.push_str(&decoded);
    } else {
        html.hidden_chars += decoded.chars().filter(|c| !c.is_whitespace()).count();
    }
    if let Some(link) = link
        && link.text.len() < LONGEST_LINK_TEXT
    {
        link.text.push_str(decoded.trim());
    }
}

/// Whether the tag's style (or attributes) hide what it contains.
fn hides(tag: &str) -> bool {
    let Some(style) = attribute(tag, "style") else {
        return false;
    };
    let style: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    style.contains("display:none")
        || style.contains("visibility:hidden")
        || style.contains("font-size:0")
        || style.contains("font-size:1px")
        || style.contains("max-height:0")
        || style.contains("opacity:0;")
        || style.ends_with("opacity:0")
}

/// The value of attribute `name` in a tag's source (quoted or not).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = find_ascii_ci(&tag[from..], name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || tag.as_bytes()[at - 1].is_ascii_whitespace();
        let after = tag[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value = after[1..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &value[1..];
                &inner[..inner.find(q).unwrap_or(inner.len())]
            }
            _ => &value[..value.find(|c: char| c.is_whitespace()).unwrap_or(value.len())],
        });
    }
    None
}

/// Byte offset of `needle` (ASCII) in `haystack`, ignoring ASCII case.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n) && haystack.is_char_boundary(i))
}

/// The common named entities and numeric references; anything else stays as written.
pub fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.char_indices().take(12).find(|&(_, c)| c == ';').map(|(i, _)| i);
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_links_and_images() {
        let h = read(
            "<html><style>p{}</style><p>Hello &amp; welcome</p><a href=\"http://x.example/a\">click <b>here</b></a><img src=a>",
        );
        assert!(h.text.contains("Hello & welcome"));
        assert!(!h.text.contains("p{}"));
        assert_eq!(h.links, vec![Link { href: "http://x.example/a".into(), text: "clickhere".into() }]);
        assert_eq!(h.images, 1);
        assert_eq!(h.hidden_chars, 0);
    }

    #[test]
    fn hidden_text_is_counted_not_shown() {
        let h = read(
            "<p>Buy</p><div style=\"display: none\">ham words here</div><span style='font-size:0px'>x</span>after",
        );
        assert_eq!(h.hidden_chars, "hamwordshere".len() + 1);
        assert!(!h.text.contains("ham words"));
        assert!(h.text.contains("after"));
    }

    #[test]
    fn broken_html_ends_quietly() {
        let h = read("<a href='http://x'>text <b unterminated");
        assert_eq!(h.links.len(), 1);
        let h = read("<!-- never closed <p>hidden");
        assert!(h.text.trim().is_empty());
        assert_eq!(decode_entities("&#x41;&#66;&bogus;&"), "AB&bogus;&");
    }
}
