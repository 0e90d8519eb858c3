//! One file per SMTP verb (Stalwart's layout). Each adds methods to
//! [`Session`](crate::session::Session) and returns the reply or the next step.
//! `end_of_message` is what DATA and BDAT share: protocol checks, trace headers, then the
//! message pipeline (account checks, content checks, disposition, DKIM, spool).
//! `lists` is what RCPT and the end of data share: the block and allow lists.

mod account_limits;
mod auth;
mod bdat;
mod data;
mod ehlo;
mod end_of_message;
mod lists;
mod mail;
mod rcpt;
mod rset;
mod starttls;

pub(crate) use bdat::BdatTransfer;
pub(crate) use lists::ListMarks;
