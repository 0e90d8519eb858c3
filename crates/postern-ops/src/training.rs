//! Training the built-in scorer (docs/SCORING.md), superadmin only: learning one message
//! or an mbox with a label, and where the installation's samples stand.
//!
//! Learning goes in two steps so that nothing is read from a caller who may not train:
//! [`upload`] checks the caller, the label and that the scorer is there; the front end
//! then reads the file (bounded by [`TRAINING_LIMIT`]) and hands it to [`learn`], which
//! splits it and learns every message. A front end may ask [`may_train`] before it even
//! parses its input.
//!
//! Out: how many messages the file held, how many were learned (of them, how many moved
//! from the other label) and how many were already known with this label, and the
//! installation's ham and spam samples, the minimum of each, and whether its model is in
//! force.
//!
//! Defends against: a domain admin ([`ErrorKind::Forbidden`]: the model is the whole
//! installation's, not one tenant's), a label other than `ham` or `spam`, files with more
//! than [`mbox::MAX_MESSAGES`] messages ([`ErrorKind::TooLarge`]), an empty file, and a
//! server without the scorer ([`ErrorKind::Unavailable`]).
//!
//! [`ErrorKind::Forbidden`]: crate::ErrorKind::Forbidden
//! [`ErrorKind::TooLarge`]: crate::ErrorKind::TooLarge
//! [`ErrorKind::Unavailable`]: crate::ErrorKind::Unavailable

use std::sync::Arc;

use postern_core::Label;
use postern_scorer::mbox::{self, SplitError};
use postern_scorer::{ScorerTrainer, Totals};
use serde::{Deserialize, Serialize};

use crate::{Caller, OpError, Ops, Result, blocking};

/// The largest training file accepted.
pub const TRAINING_LIMIT: usize = 50 * 1024 * 1024;

/// What the messages of a training file are.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrainingQuery {
    /// What the messages are: ham or spam.
    #[param(inline, value_type = Label)]
    pub label: String,
}

/// Where the built-in scorer's training stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrainingState {
    pub installation: Installation,
}

/// The installation's own samples.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Installation {
    /// Ham samples learned.
    pub ham: u32,
    /// Spam samples learned.
    pub spam: u32,
    /// Samples of each needed before the installation's model takes part (`[scorer]`).
    pub minimum: SampleMinimum,
    /// Whether the installation's samples take part.
    pub in_force: bool,
}

/// Samples of each label needed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SampleMinimum {
    pub ham: u32,
    pub spam: u32,
}

/// What learning a training file did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrainingResult {
    pub label: Label,
    /// Messages in the file.
    pub messages: usize,
    /// Messages that changed the counts.
    pub learned: u32,
    /// Of those, learned before with the other label.
    pub relabelled: u32,
    /// Already learned with this label.
    pub known: u32,
    pub installation: Installation,
}

/// A training upload that may go ahead: made by [`upload`], used by [`learn`].
pub struct Upload {
    label: Label,
    scorer: Arc<ScorerTrainer>,
    source: String,
}

fn service(ops: &Ops) -> Result<Arc<ScorerTrainer>> {
    ops.scorer.clone().ok_or_else(|| OpError::unavailable("the built-in scorer is not available"))
}

fn installation(totals: Totals) -> Installation {
    Installation {
        ham: totals.ham,
        spam: totals.spam,
        minimum: SampleMinimum { ham: totals.minimum.ham, spam: totals.minimum.spam },
        in_force: totals.in_force,
    }
}

pub async fn show(ops: &Ops, caller: &Caller) -> Result<TrainingState> {
    caller.require_superadmin("see the scorer's training")?;
    let scorer = service(ops)?;
    Ok(TrainingState { installation: installation(scorer.totals()) })
}

/// Whether the caller may train the scorer at all: asked before anything else.
pub fn may_train(caller: &Caller) -> Result<()> {
    caller.require_superadmin("train the scorer")
}

/// Step one of learning: the caller, the label and the scorer, before the file is read.
pub fn upload(ops: &Ops, caller: &Caller, q: TrainingQuery) -> Result<Upload> {
    may_train(caller)?;
    let label = match q.label.as_str() {
        "ham" => Label::Ham,
        "spam" => Label::Spam,
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(OpError::bad_field("label", format!("{shown:?} is not one of ham, spam")));
        }
    };
    let scorer = service(ops)?;
    Ok(Upload { label, scorer, source: format!("api ({})", caller.name) })
}

/// Step two: learns every message of the file (one message, or an mbox).
pub async fn learn(upload: Upload, file: impl AsRef<[u8]> + Send + 'static) -> Result<TrainingResult> {
    let Upload { label, scorer, source } = upload;
    let learner = Arc::clone(&scorer);
    let (messages, tally) = blocking(move || {
        let messages = mbox::split(file.as_ref()).map_err(|SplitError::TooManyMessages| {
            OpError::too_large("body", format!("the file holds more than {} messages", mbox::MAX_MESSAGES))
        })?;
        if messages.is_empty() {
            return Err(OpError::bad_field("body", "the body holds no message"));
        }
        let tally = learner.learn_messages(&messages, label, &source).map_err(|(tally, e)| {
            OpError::internal(format!("learning a training file stopped after {} messages: {e}", tally.learned))
        })?;
        Ok((messages.len(), tally))
    })
    .await??;
    Ok(TrainingResult {
        label,
        messages,
        learned: tally.learned,
        relabelled: tally.relabelled,
        known: tally.known,
        installation: installation(scorer.totals()),
    })
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::Role;

    use super::*;
    use crate::ErrorKind;
    use crate::test_ops::{TestOps, caller};

    #[test]
    fn a_domain_admin_is_refused_before_anything_else() {
        let t = TestOps::new();
        let a = caller(Role::DomainAdmin, &["a.example"]);
        let bad_label = TrainingQuery { label: "maybe".into() };
        assert_eq!(upload(&t.ops, &a, bad_label).err().map(|e| e.kind), Some(ErrorKind::Forbidden));
        let root = caller(Role::Superadmin, &[]);
        let e = upload(&t.ops, &root, TrainingQuery { label: "SPAM".into() }).err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::BadInput, Some("label")));
        // This context has no scorer.
        let e = upload(&t.ops, &root, TrainingQuery { label: "spam".into() }).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Unavailable);
    }
}
