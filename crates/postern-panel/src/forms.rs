//! What form pages share: [`FieldError`], an operation's refusal shown on the form next to
//! the field it names (the form is shown again with what the user typed, never a
//! password), and [`checked`], how a checkbox arrives (only when checked).
//!
//! In: an [`OpError`]. Out: a [`FieldError`] for the form, or a [`PanelError`] page when
//! the refusal is not about the form's input (another tenant's object, an internal error).

use axum::http::StatusCode;
use postern_ops::{ErrorKind, OpError};
use serde::{Deserialize, Deserializer};

use crate::PanelError;

/// A refusal shown on a form: next to `field` (a form field's name), or above the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
    pub status: StatusCode,
}

impl FieldError {
    /// A refusal of the panel's own reading of the form (a number that is not one).
    pub fn bad(field: &str, message: impl Into<String>) -> FieldError {
        FieldError { field: Some(field.to_string()), message: message.into(), status: StatusCode::BAD_REQUEST }
    }

    /// The message when it belongs next to `field`.
    pub fn at(&self, field: &str) -> Option<&str> {
        (self.field.as_deref() == Some(field)).then_some(self.message.as_str())
    }

    /// How the operation's refusal is shown: on the form for bad input, a conflict, a
    /// refusal the caller may know about (403), and a missing object the form named (a
    /// domain that is not the caller's); every other error is a page of its own (another
    /// tenant's object is the 404 page). `rename` turns the operation's field name into
    /// the form's.
    pub fn from_op(e: OpError, rename: impl Fn(&str) -> String) -> Result<FieldError, PanelError> {
        let on_form = match e.kind {
            ErrorKind::BadInput | ErrorKind::Conflict | ErrorKind::Forbidden => true,
            ErrorKind::NotFound | ErrorKind::TooLarge => e.field.is_some(),
            _ => false,
        };
        if !on_form {
            return Err(PanelError::from(e));
        }
        let status = PanelError::from(e.clone()).status;
        Ok(FieldError { field: e.field.as_deref().map(rename), message: e.message, status })
    }
}

/// A form with no fields of its own (a button): only its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

/// A checkbox: present (whatever its value) is checked; a form leaves an unchecked one out.
pub fn checked<'de, D: Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(de).map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_about_the_input_stay_on_the_form() {
        let e = FieldError::from_op(OpError::bad_field("settings.x", "no"), |f| f.replace("settings.", "")).unwrap();
        assert_eq!((e.at("x"), e.status), (Some("no"), StatusCode::BAD_REQUEST));
        let e = FieldError::from_op(OpError::conflict("taken"), str::to_string).unwrap();
        assert_eq!((e.field, e.status), (None, StatusCode::CONFLICT));
        let e = FieldError::from_op(OpError::not_found("no such domain").with_field("domain"), str::to_string);
        assert_eq!(e.unwrap().status, StatusCode::NOT_FOUND);
        let page = FieldError::from_op(OpError::not_found("no such account"), str::to_string).unwrap_err();
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        let page = FieldError::from_op(OpError::internal("disk"), str::to_string).unwrap_err();
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
