//! One file per SMTP verb (Stalwart's layout). Each adds methods to
//! [`Session`](crate::session::Session) and returns the reply or the next step.
//! `end_of_message` is what DATA and BDAT share: checks, trace headers, the spool.
//! `lists` is what RCPT and the end of data share: the block and allow lists.
//! `sign` is the DKIM step of the end of data, just before the spool.

mod account_checks;
mod auth;
mod bdat;
mod data;
mod ehlo;
mod end_of_message;
mod lists;
mod mail;
mod rcpt;
mod rset;
mod sign;
mod starttls;

pub(crate) use bdat::BdatTransfer;
pub(crate) use lists::ListMarks;
