//! EHLO and HELO: name the client, reset any transaction, list our extensions.

use postern_core::Reply;

use crate::session::Session;

impl Session {
    pub(crate) fn ehlo(&mut self, name: String, esmtp: bool) -> Reply {
        self.tx = None;
        self.esmtp = esmtp;
        self.client.helo = Some(name);
        let hostname = self.listener.hostname.clone();
        if !esmtp {
            return Reply::plain(250, hostname);
        }
        let mut lines =
            vec![hostname, "PIPELINING".to_string(), format!("SIZE {}", self.listener.limits.max_message_size)];
        if self.listener.tls.is_some() && self.client.tls.is_none() {
            lines.push("STARTTLS".to_string());
        }
        for ext in ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"] {
            lines.push(ext.to_string());
        }
        Reply::plain(250, lines.join("\n"))
    }
}
