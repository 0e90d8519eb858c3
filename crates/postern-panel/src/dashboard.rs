//! The start page: the server's state at a glance.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::PanelState;
use crate::chrome::Chrome;
use crate::error::render;
use crate::session::Session;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    /// The whole server's figures: a superadmin's only.
    queued: Option<usize>,
    version: &'static str,
}

#[derive(Deserialize, Default)]
pub struct DashboardQuery {
    done: Option<String>,
}

pub async fn show(State(state): State<PanelState>, session: Session, Query(q): Query<DashboardQuery>) -> Response {
    let status = postern_ops::status::show(&state.ops, &session.caller).ok();
    let page = DashboardPage {
        chrome: Chrome::new(&session, "/").with_notice(q.done.as_deref()),
        queued: status.as_ref().map(|s| s.queue.messages),
        version: env!("CARGO_PKG_VERSION"),
    };
    render(&page)
}
