//! Objects named by a numeric id: the id as a front end got it (a path segment, a form
//! field), checked here ([`object_id`]), and what deleting one answers ([`Deleted`]).
//!
//! Defends against: ids that are not plain digits or do not fit an `i64` — they are a
//! missing object ("no such account"), exactly like an id that names nothing.

use serde::Serialize;

use crate::{OpError, Result};

/// The longest id accepted: 18 digits always fit an `i64`.
const LONGEST_ID: usize = 18;

/// A numeric object id from text: anything but 1 to 18 digits is "no such `what`".
pub fn object_id(text: &str, what: &str) -> Result<i64> {
    let digits = !text.is_empty() && text.len() <= LONGEST_ID && text.bytes().all(|b| b.is_ascii_digit());
    match digits.then(|| text.parse::<i64>().ok()).flatten() {
        Some(id) => Ok(id),
        None => Err(OpError::not_found(&format!("no such {what}"))),
    }
}

/// What deleting an object by id did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub id: i64,
    /// `deleted`.
    pub result: &'static str,
}

impl Deleted {
    pub fn of(id: i64) -> Deleted {
        Deleted { id, result: "deleted" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn ids_are_digits_only() {
        assert_eq!(object_id("42", "account"), Ok(42));
        for bad in ["", "-1", "+1", "1e3", "abc", "4 2", "9999999999999999999999", "9999999999999999999"] {
            let e = object_id(bad, "account").unwrap_err();
            assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such account"), "{bad:?}");
        }
    }
}
