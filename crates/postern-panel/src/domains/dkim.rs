//! A domain's DKIM keys from its page: generate (RSA 2048 to 4096, or Ed25519) or import a
//! key, rotate to a key once DNS has its record (or without the check, on purpose), and
//! delete a key (the active one only on purpose). The DNS records and the check are shown
//! by the domain's page ([`super::show`]).
//!
//! Defends against: an imported private key coming back to the browser (a refused import
//! shows the form without it).

use axum::extract::{Path, State};
use axum::response::Response;
use postern_core::dkim::DkimAlgorithm;
use postern_ops::OpError;
use postern_ops::dkim::{self, DkimDeleteQuery, DkimKeyCreate};
use postern_ops::dkim_dns::{self, DkimRotate};
use serde::Deserialize;

use super::show::{KEY_FIELDS, ROTATE_FIELDS, back, refused};
use crate::PanelState;
use crate::session::Form;
use crate::view::FormState;

/// The longest grace period typed, in days (the operation says 90 at most).
const MOST_GRACE_DAYS: u64 = 100_000;

#[derive(Deserialize)]
pub struct KeyForm {
    selector: String,
    /// `rsa-2048`, `rsa-3072`, `rsa-4096` or `ed25519`; ignored when a key is imported.
    key_type: String,
    #[serde(default)]
    private_key_pem: String,
}

/// The algorithm and size a key type names.
fn key_type(text: &str) -> Result<(DkimAlgorithm, Option<usize>), OpError> {
    Ok(match text {
        "rsa-2048" => (DkimAlgorithm::Rsa, Some(2048)),
        "rsa-3072" => (DkimAlgorithm::Rsa, Some(3072)),
        "rsa-4096" => (DkimAlgorithm::Rsa, Some(4096)),
        "ed25519" => (DkimAlgorithm::Ed25519, None),
        _ => return Err(OpError::bad_field("key_type", "choose RSA 2048, 3072, 4096 or Ed25519")),
    })
}

pub async fn create_key(State(state): State<PanelState>, Path(name): Path<String>, form: Form<KeyForm>) -> Response {
    let Form { session, data } = form;
    let pem = data.private_key_pem.trim();
    let input = if pem.is_empty() {
        key_type(&data.key_type).map(|(algorithm, bits)| DkimKeyCreate {
            selector: data.selector.clone(),
            algorithm: Some(algorithm),
            bits,
            private_key_pem: None,
        })
    } else {
        Ok(DkimKeyCreate {
            selector: data.selector.clone(),
            algorithm: None,
            bits: None,
            private_key_pem: Some(pem.to_string()),
        })
    };
    let result = match input {
        Ok(input) => dkim::create(&state.ops, &session.caller, &name, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(key) => back(&key.domain, "created", "dkim"),
        Err(e) => {
            refused(&state, &session, &name, e, |p, e| {
                p.values.selector = data.selector;
                p.values.key_type = data.key_type;
                p.states.key = FormState::refused(KEY_FIELDS, e);
            })
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct RotateForm {
    selector: String,
    #[serde(default)]
    grace_days: String,
    #[serde(default)]
    force: bool,
}

pub async fn rotate(State(state): State<PanelState>, Path(name): Path<String>, form: Form<RotateForm>) -> Response {
    let Form { session, data } = form;
    let days = data.grace_days.trim();
    let grace = match days {
        "" => Ok(None),
        text => text
            .parse::<u64>()
            .ok()
            .filter(|d| *d <= MOST_GRACE_DAYS)
            .map(|d| Some(d * 86_400))
            .ok_or_else(|| OpError::bad_field("grace_days", "a whole number of days, at most 90")),
    };
    let result = match grace {
        Ok(grace_secs) => {
            let input = DkimRotate { selector: data.selector.clone(), grace_secs, force: data.force };
            dkim_dns::rotate(&state.ops, &session.caller, &name, input).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(rotation) => back(&rotation.activated.domain, "rotated", "dkim"),
        Err(e) => {
            refused(&state, &session, &name, e, |p, e| {
                p.values.rotate_selector = data.selector;
                p.values.grace_days = data.grace_days;
                p.states.rotate = FormState::refused(ROTATE_FIELDS, e);
            })
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct KeyDeleteForm {
    #[serde(default)]
    force: bool,
}

pub async fn delete_key(
    State(state): State<PanelState>,
    Path((name, selector)): Path<(String, String)>,
    form: Form<KeyDeleteForm>,
) -> Response {
    let Form { session, data } = form;
    let q = DkimDeleteQuery { force: data.force };
    match dkim::delete(&state.ops, &session.caller, &name, &selector, q).await {
        Ok(deleted) => back(&deleted.domain, "deleted", "dkim"),
        Err(e) => refused(&state, &session, &name, e, |p, e| p.states.keys = FormState::refused(&[], e)).await,
    }
}
