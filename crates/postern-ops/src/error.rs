//! The one error of an operation: what went wrong ([`ErrorKind`]), a text meant for the
//! caller and, for bad input, the offending field. Front ends map the kind to their own
//! terms (the JSON API to an HTTP status, the web panel to a message next to the field).
//!
//! Defends against: store detail reaching a caller. A store failure that is the caller's
//! mistake keeps its text (conflict, not found); any other failure is logged here and
//! becomes [`ErrorKind::Internal`] with a generic text.

use postern_store::StoreError;

/// What kind of failure, independent of any protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is wrong; `field` names where.
    BadInput,
    /// No such object, or one the caller may not see (the two are never told apart).
    NotFound,
    /// An action reserved to the superadmin, on an object the caller may see.
    Forbidden,
    /// The change clashes with what exists.
    Conflict,
    /// The part this operation needs is not configured or not running.
    Unavailable,
    /// The input is larger than the operation takes; `field` names it.
    TooLarge,
    /// The caller could not be identified (a wrong user name or password).
    Unauthenticated,
    /// Too many failed attempts: refused for a while, whatever the input.
    Throttled,
    /// Something failed on our side; the detail is in the log.
    Internal,
}

impl ErrorKind {
    /// The HTTP status both web front ends (the JSON API and the panel) answer with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadInput => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Forbidden => 403,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::TooLarge => 413,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Throttled => 429,
            ErrorKind::Internal => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub kind: ErrorKind,
    pub message: String,
    pub field: Option<String>,
}

pub type Result<T, E = OpError> = std::result::Result<T, E>;

impl OpError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> OpError {
        OpError { kind, message: message.into(), field: None }
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> OpError {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(what: &str) -> OpError {
        OpError::new(ErrorKind::NotFound, what)
    }

    /// An action reserved to the superadmin, on an object the caller may see.
    pub fn superadmin_only(action: &str) -> OpError {
        OpError::new(ErrorKind::Forbidden, format!("only a superadmin may {action}"))
    }

    /// Refused for a reason the caller may know (e.g. a range outside its delegations).
    pub fn forbidden(message: impl Into<String>) -> OpError {
        OpError::new(ErrorKind::Forbidden, message)
    }

    pub fn bad_field(field: &str, message: impl Into<String>) -> OpError {
        OpError::new(ErrorKind::BadInput, message).with_field(field)
    }

    pub fn conflict(message: impl Into<String>) -> OpError {
        OpError::new(ErrorKind::Conflict, message)
    }

    /// The input is larger than the operation takes.
    pub fn too_large(field: &str, message: impl Into<String>) -> OpError {
        OpError::new(ErrorKind::TooLarge, message).with_field(field)
    }

    /// The part is not configured or not running, e.g. "the quarantine is not enabled".
    pub fn unavailable(message: impl Into<String>) -> OpError {
        OpError::new(ErrorKind::Unavailable, message)
    }

    /// Something failed on our side: the detail goes to the log, never to the caller.
    pub fn internal(detail: impl std::fmt::Display) -> OpError {
        tracing::error!(error = %detail, "admin operation failed");
        OpError::new(ErrorKind::Internal, "internal error; see the server log")
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for OpError {}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        match e {
            StoreError::Conflict(text) => OpError::conflict(text),
            // Names another account: only a caller that knows it is a superadmin says more.
            StoreError::RangeOverlap { range, .. } => {
                OpError::conflict(format!("{range} overlaps another account's range")).with_field("name")
            }
            StoreError::NotFound(text) => OpError::not_found(&text),
            other => OpError::internal(other),
        }
    }
}

/// The field a deserialization error is about: serde_path_to_error's `path`, completed with
/// the name in "missing field `x`" and "duplicate field `x`" (which serde reports on the
/// parent). `root` stands for the whole input (a syntax error, or not an object at all).
/// At most 128 characters, since it is echoed back.
pub fn field_name(path: &str, message: &str, root: &str) -> String {
    let path = if path == "." || path == "?" { "" } else { path };
    let named = ["missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.split(prefix).nth(1))
        .and_then(|rest| rest.split('`').next());
    let field = match (path, named) {
        ("", Some(name)) => name.to_string(),
        (path, Some(name)) => format!("{path}.{name}"),
        ("", None) => root.to_string(),
        (path, None) => path.to_string(),
    };
    if field.starts_with('[') { root.to_string() } else { field.chars().take(128).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_detail_never_reaches_the_caller() {
        let e = OpError::from(StoreError::Conflict("name taken".into()));
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Conflict, "name taken"));
        let e = OpError::internal("disk I/O error at /var/lib/postern/postern.db");
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(!e.message.contains("/var/lib"), "{e}");
        assert_eq!(OpError::bad_field("name", "empty").to_string(), "name: empty");
    }
}
