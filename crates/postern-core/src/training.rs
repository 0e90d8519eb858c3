//! Training samples for the built-in scorer's per-installation model: the handle through
//! which administrators' decisions reach it ([`Trainer`]).
//!
//! In: a message as received and its [`Label`], from a quarantine decision (release = ham,
//! confirm = spam) or from files an administrator trains from. Out: nothing here; the
//! scorer (`postern-scorer`) stores the sample's features and, once it holds enough ham
//! and spam, lets the installation's model take part in verdicts.

use serde::{Deserialize, Serialize};

use crate::BoxFuture;

/// What an administrator said a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Ham,
    Spam,
}

impl Label {
    pub fn name(&self) -> &'static str {
        match self {
            Label::Ham => "ham",
            Label::Spam => "spam",
        }
    }
}

/// Where training samples go. `source` says where the sample came from, for the log
/// (`quarantine release`, `quarantine confirm`, `api`).
pub trait Trainer: Send + Sync + 'static {
    fn learn<'a>(&'a self, message: &'a [u8], label: Label, source: &'a str) -> BoxFuture<'a, Result<(), String>>;
}
