//! RSET: abandon the transaction; the session (HELO, TLS) stays.

use postern_core::Reply;

use crate::session::Session;

impl Session {
    pub(crate) fn rset(&mut self) -> Reply {
        self.tx = None;
        Reply::new(250, "2.0.0", "Ok")
    }
}
