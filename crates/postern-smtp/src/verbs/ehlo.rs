//! EHLO and HELO: name the client, reset any transaction, list our extensions. The
//! listener's HELO checks (FQDN, resolves) answer first; a refused name changes nothing.

use postern_core::Reply;

use crate::session::Session;

impl Session {
    pub(crate) async fn ehlo(&mut self, name: String, esmtp: bool) -> Reply {
        if let Some(reply) = self.helo_protocol_checks(&name).await {
            return reply;
        }
        self.tx = None;
        self.esmtp = esmtp;
        self.client.helo = Some(name);
        let hostname = self.listener.hostname.clone();
        if !esmtp {
            return Reply::plain(250, hostname);
        }
        let mut lines = vec![hostname, "PIPELINING".to_string(), format!("SIZE {}", self.size_limit())];
        if self.listener.tls.is_some() && self.client.tls.is_none() {
            lines.push("STARTTLS".to_string());
        }
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        for ext in ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"] {
            lines.push(ext.to_string());
        }
        Reply::plain(250, lines.join("\n"))
    }
}

impl Session {
    /// The message size limit announced in EHLO: the listener's, or the attributed
    /// account's when that is smaller (SPEC.md §3).
    pub(crate) fn size_limit(&self) -> u64 {
        let listener = self.listener.limits.max_message_size;
        match &self.attribution {
            postern_policy::Attribution::Account { entry, .. }
                if entry.account.settings.limits.max_message_size > 0 =>
            {
                listener.min(entry.account.settings.limits.max_message_size)
            }
            _ => listener,
        }
    }
}
