//! Request input, parsed once and strictly: JSON bodies ([`ApiJson`]), query strings
//! ([`ApiQuery`]) and path segments ([`PathParam`], [`object_id`]).
//!
//! Defends against: bodies over 64 KiB (413, read no further), bodies that are not JSON
//! (415), malformed JSON, unknown fields and wrong types (400 naming the field path, such
//! as `settings.limits.recipients_per_message`), unknown or malformed query parameters
//! (400 naming the parameter), and path ids that are not numbers (404, as for a missing
//! object). Field names echoed back are bounded in length.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use postern_ops::error::field_name;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON request body, deserialized with the path of every error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok())) {
            return Err(ApiError::unsupported_media_type());
        }
        let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(ApiError::too_large(BODY_LIMIT));
        }
        let bytes = read_body(request.into_body()).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn is_json(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else { return false };
    let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        if e.into_inner().is::<http_body_util::LengthLimitError>() {
            ApiError::too_large(BODY_LIMIT)
        } else {
            ApiError::bad_field("body", "the body could not be read")
        }
    })
}

/// Deserializes a whole JSON document, which must be an object (serde would also fill a
/// struct from an array); trailing data is an error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&b| b != b'{') {
        return Err(ApiError::bad_field("body", "the body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_data() {
            let text = inner.to_string();
            ApiError::bad_field(&field_name(&e.path().to_string(), &text, "body"), text)
        } else {
            ApiError::bad_field("body", format!("invalid JSON: {inner}"))
        }
    })?;
    de.end().map_err(|e| ApiError::bad_field("body", format!("invalid JSON: {e}")))?;
    Ok(value)
}

/// The query string, deserialized into `T` (which denies unknown fields).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let text = e.inner().to_string();
        ApiError::bad_field(&field_name(&e.path().to_string(), &text, "query"), text)
    })
}

/// The one path parameter of a route, as text. A segment that does not decode is a
/// missing object, like any other unknown id.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(text)) => Ok(PathParam(text)),
            Err(_) => Err(ApiError::not_found("no such object")),
        }
    }
}

/// The two path parameters of a route (`/domains/{name}/dkim/keys/{selector}`), as text;
/// segments that do not decode are a missing object.
pub struct PathPair(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathPair {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(Path((first, second))) => Ok(PathPair(first, second)),
            Err(_) => Err(ApiError::not_found("no such object")),
        }
    }
}

/// A numeric object id from a path: anything else is "no such `what`"
/// ([`postern_ops::object::object_id`]).
pub fn object_id(text: &str, what: &str) -> Result<i64, ApiError> {
    Ok(postern_ops::object::object_id(text, what)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn json_field(text: &str) -> Option<String> {
        parse_json::<Body>(text.as_bytes()).err().and_then(|e| e.field)
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(json_field(r#"{"name":"x","inner":{"count":"a"}}"#).as_deref(), Some("inner.count"));
        assert_eq!(json_field(r#"{"name":"x","inner":{}}"#).as_deref(), Some("inner.count"));
        assert_eq!(json_field(r#"{"inner":null}"#).as_deref(), Some("name"));
        assert_eq!(json_field(r#"{"name":"x","zzz":1}"#).as_deref(), Some("zzz"));
        assert_eq!(json_field(r#"{"name":"x","#).as_deref(), Some("body"));
        assert_eq!(json_field(r#"{"name":"x"} trailing"#).as_deref(), Some("body"));
        assert_eq!(json_field(r#"["x"]"#).as_deref(), Some("body"));
        assert_eq!(json_field(r#"{"name":"x","name":"y"}"#).as_deref(), Some("name"));
        assert!(parse_json::<Body>(br#"{"name":"x"}"#).is_ok());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Query {
        locked: Option<bool>,
        #[serde(default)]
        limit: u32,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let field = |q: &str| parse_query::<Query>(q).err().and_then(|e| e.field);
        assert_eq!(field("locked=maybe").as_deref(), Some("locked"));
        assert_eq!(field("limit=-1").as_deref(), Some("limit"));
        assert_eq!(field("bogus=1").as_deref(), Some("bogus"));
        assert_eq!(field("limit=1&limit=2").as_deref(), Some("limit"));
        assert!(parse_query::<Query>("").is_ok());
        assert!(parse_query::<Query>("locked=true&limit=5").is_ok());
    }

    #[test]
    fn ids_are_digits_only() {
        assert_eq!(object_id("42", "account").unwrap(), 42);
        for bad in ["", "-1", "+1", "1e3", "abc", "4 2", "9999999999999999999999"] {
            assert_eq!(object_id(bad, "account").unwrap_err().error, "no such account", "{bad:?}");
        }
    }

    #[test]
    fn content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/merge-patch+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}
