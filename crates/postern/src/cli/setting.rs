//! `KEY=VALUE` edits (`postern account set`, `postern domain set`): a dotted key names a
//! field of a JSON document (`limits.recipients_per_message`), and the text after `=`
//! becomes a JSON value shaped like the field's current one:
//! - an array field takes a comma list (`X-Client-ID,X-AuthUser`; empty: `[]`) or a JSON array;
//! - a string field keeps the text as it is (`null` clears it);
//! - any other field (number, boolean, absent) takes the text as JSON when it is a number,
//!   boolean, null, array or object, else as a string; `'"2024"'` forces the string `2024`.
//!
//! Pure functions over `serde_json::Value`; the server validates the result (and names the
//! field it refuses).

use anyhow::{Result, bail};
use serde_json::{Map, Value};

/// One `KEY=VALUE` argument, split and checked (a clap value parser: bad ones exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub path: Vec<String>,
    pub value: String,
}

pub fn parse_assignment(arg: &str) -> Result<Assignment, String> {
    let (key, value) = arg.split_once('=').ok_or_else(|| format!("{arg:?} is not KEY=VALUE"))?;
    let path: Vec<String> = key.trim().split('.').map(str::to_string).collect();
    if path.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
        return Err(format!("{key:?} is not a dotted key like limits.recipients_per_message"));
    }
    Ok(Assignment { path, value: value.to_string() })
}

/// The value at `path` in `doc`, if there is one.
pub fn lookup<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, key| v.get(key))
}

/// The JSON value `text` stands for, given the field's current value.
pub fn parse_value(current: Option<&Value>, text: &str) -> Value {
    let as_json = serde_json::from_str::<Value>(text.trim()).ok();
    match (current, as_json) {
        (Some(Value::Array(_)), Some(array @ Value::Array(_))) => array,
        (Some(Value::Array(_)), _) if text.trim().is_empty() => Value::Array(Vec::new()),
        (Some(Value::Array(_)), _) => text.split(',').map(|s| Value::String(s.trim().to_string())).collect(),
        (Some(Value::String(_)), Some(Value::Null)) => Value::Null,
        (Some(Value::String(_)), Some(Value::String(s))) => Value::String(s),
        (Some(Value::String(_)), _) => Value::String(text.to_string()),
        (_, Some(value)) => value,
        (_, None) => Value::String(text.to_string()),
    }
}

/// Sets `path` in `doc` to `value`, creating objects on the way.
pub fn set(doc: &mut Value, path: &[String], value: Value) -> Result<()> {
    let Some((last, parents)) = path.split_last() else { bail!("empty key") };
    let mut node = doc;
    for (depth, key) in parents.iter().enumerate() {
        let map = object(node, &path[..depth])?;
        node = map.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    object(node, parents)?.insert(last.clone(), value);
    Ok(())
}

fn object<'a>(node: &'a mut Value, path: &[String]) -> Result<&'a mut Map<String, Value>> {
    if node.is_null() {
        *node = Value::Object(Map::new());
    }
    match node {
        Value::Object(map) => Ok(map),
        _ => bail!("{} is a value, not a group of settings", path.join(".")),
    }
}

/// The partial document the assignments make, each value shaped after `current`.
pub fn patch(current: &Value, assignments: &[Assignment]) -> Result<Value> {
    let mut doc = Value::Object(Map::new());
    for a in assignments {
        set(&mut doc, &a.path, parse_value(lookup(current, &a.path), &a.value))?;
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn a(arg: &str) -> Assignment {
        parse_assignment(arg).unwrap()
    }

    #[test]
    fn assignments_need_a_dotted_key_and_an_equals_sign() {
        assert_eq!(a("limits.max_hops=5").path, ["limits", "max_hops"]);
        assert_eq!(a("lock.template=a=b").value, "a=b");
        assert!(parse_assignment("limits.max_hops").is_err());
        assert!(parse_assignment("limits..max_hops=1").is_err());
        assert!(parse_assignment("=1").is_err());
        assert!(parse_assignment("a b=1").is_err());
    }

    #[test]
    fn values_take_the_shape_of_the_current_field() {
        let arr = json!([]);
        let s = json!("auth");
        let n = json!(0);
        assert_eq!(parse_value(Some(&arr), "X-Client-ID, X-AuthUser"), json!(["X-Client-ID", "X-AuthUser"]));
        assert_eq!(parse_value(Some(&arr), "one"), json!(["one"]));
        assert_eq!(parse_value(Some(&arr), ""), json!([]));
        assert_eq!(parse_value(Some(&arr), r#"["a,b"]"#), json!(["a,b"]));
        assert_eq!(parse_value(Some(&s), "header"), json!("header"));
        assert_eq!(parse_value(Some(&s), "123"), json!("123"));
        assert_eq!(parse_value(Some(&s), "null"), Value::Null);
        assert_eq!(parse_value(Some(&n), "50"), json!(50));
        assert_eq!(parse_value(None, "true"), json!(true));
        assert_eq!(parse_value(None, "2024"), json!(2024));
        assert_eq!(parse_value(None, r#""2024""#), json!("2024"));
        assert_eq!(parse_value(None, "sel1"), json!("sel1"));
        assert_eq!(parse_value(None, r#"{"x":1}"#), json!({"x": 1}));
    }

    #[test]
    fn patches_nest_and_refuse_to_descend_into_values() {
        let current = json!({"limits": {"recipients_per_message": 0}, "identification": {"headers": []}});
        let doc = patch(
            &current,
            &[
                a("limits.recipients_per_message=50"),
                a("identification.method=header"),
                a("identification.headers=X-Client-ID,X-AuthUser"),
                a("allow_reauthentication=true"),
            ],
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"limits": {"recipients_per_message": 50},
                   "identification": {"method": "header", "headers": ["X-Client-ID", "X-AuthUser"]},
                   "allow_reauthentication": true})
        );
        let err = patch(&current, &[a("monitor_only=true"), a("monitor_only.x=1")]).unwrap_err();
        assert!(err.to_string().contains("monitor_only is a value"), "{err}");
    }
}
