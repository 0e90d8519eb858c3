//! One file per SMTP verb (Stalwart's layout). Each adds methods to
//! [`Session`](crate::session::Session) and returns the reply or the next step.
//! `end_of_message` is what DATA and BDAT share: checks, trace headers, the spool.

mod bdat;
mod data;
mod ehlo;
mod end_of_message;
mod mail;
mod rcpt;
mod rset;
mod starttls;
