//! [`PanelError`]: what a page answers when it cannot show what was asked — a status and
//! one sentence, as an HTML page (escaped like every page).
//!
//! An operation's [`OpError`] keeps its meaning: another tenant's object is "not found"
//! exactly like a missing one, a superadmin-only action is "forbidden", and an internal
//! failure says only that (the detail is in the server log).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use postern_ops::OpError;

#[derive(Debug, Clone)]
pub struct PanelError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl PanelError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PanelError {
        PanelError { status, message: message.into() }
    }

    pub fn not_found() -> PanelError {
        PanelError::new(StatusCode::NOT_FOUND, "There is no such page or object.")
    }

    /// A post without this session's form token, or from another site.
    pub fn forbidden_form() -> PanelError {
        PanelError::new(
            StatusCode::FORBIDDEN,
            "This form did not come from this panel or has expired. Go back, reload the page and try again.",
        )
    }
}

impl From<OpError> for PanelError {
    fn from(e: OpError) -> PanelError {
        let status = StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        PanelError::new(status, e.to_string())
    }
}

impl IntoResponse for PanelError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page did not render");
                (self.status, self.message).into_response()
            }
        }
    }
}

/// Renders a page, or answers 500 (the detail to the log).
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page did not render");
            PanelError::new(StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown; see the server log.")
                .into_response()
        }
    }
}
