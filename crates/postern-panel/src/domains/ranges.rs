//! IP ranges delegated to a domain (its domain admins may create ip accounts inside them):
//! listed on the domain's page, delegated and removed by a superadmin (the operations
//! refuse a domain admin: 403).

use axum::extract::{Path, State};
use axum::response::Response;
use postern_ops::delegations::{self, DelegationCreate};
use serde::Deserialize;

use super::show::{RANGE_FIELDS, back, refused};
use crate::PanelState;
use crate::session::Form;
use crate::view::FormState;

#[derive(Deserialize)]
pub struct RangeForm {
    range: String,
    #[serde(default)]
    comment: String,
}

pub async fn create_range(
    State(state): State<PanelState>,
    Path(name): Path<String>,
    form: Form<RangeForm>,
) -> Response {
    let Form { session, data } = form;
    let comment = Some(data.comment.clone()).filter(|c| !c.trim().is_empty());
    let input = DelegationCreate { range: data.range.clone(), comment };
    match delegations::create(&state.ops, &session.caller, &name, input).await {
        Ok(range) => back(&range.domain, "created", "ranges"),
        Err(e) => {
            refused(&state, &session, &name, e, |p, e| {
                p.values.range = data.range;
                p.values.range_comment = data.comment;
                p.states.range = FormState::refused(RANGE_FIELDS, e);
            })
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn delete_range(
    State(state): State<PanelState>,
    Path((name, id)): Path<(String, String)>,
    form: Form<Nothing>,
) -> Response {
    let Form { session, data: Nothing {} } = form;
    match delegations::delete(&state.ops, &session.caller, &name, &id).await {
        Ok(_) => back(&name, "deleted", "ranges"),
        Err(e) => refused(&state, &session, &name, e, |p, e| p.states.ranges = FormState::refused(&[], e)).await,
    }
}
