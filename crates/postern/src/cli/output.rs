//! What the client subcommands print: aligned tables for lists (with a "N of TOTAL shown"
//! line when the server answered one page of more), `key  value` views of one object, UTC
//! times, and the raw JSON under `--json`. Pure formatting over `serde_json::Value`: the
//! strings are built here and printed by the callers' one `print!`.

use serde_json::Value;

/// An aligned table: every column as wide as its widest cell, the last one unpadded.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { rows: vec![header.iter().map(|h| h.to_string()).collect()] }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| self.rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The items of a list answer (`{"items": [...], "total", "limit", "offset"}`).
pub fn items(list: &Value) -> &[Value] {
    list.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// The line under a list: "-- 3 domains", or "-- 3 of 10 shown (offset 0; ...)" for a page.
pub fn footer(list: &Value, noun: Noun) -> String {
    let shown = items(list).len() as u64;
    let total = list.get("total").and_then(Value::as_u64).unwrap_or(shown);
    let offset = list.get("offset").and_then(Value::as_u64).unwrap_or(0);
    if shown == total && offset == 0 {
        format!("-- {total} {}\n", if total == 1 { noun.0 } else { noun.1 })
    } else {
        format!("-- {shown} of {total} shown (offset {offset}; see --limit and --offset)\n")
    }
}

/// What a list holds, singular and plural.
#[derive(Clone, Copy)]
pub struct Noun(pub &'static str, pub &'static str);

/// A list answer as a table followed by its footer.
pub fn list(list: &Value, header: &[&str], noun: Noun, row: impl Fn(&Value) -> Vec<String>) -> String {
    let mut table = Table::new(header);
    for item in items(list) {
        table.row(row(item));
    }
    table.render() + &footer(list, noun)
}

/// `field` of `item` as text: strings bare, arrays comma-joined, absent or null as "-".
pub fn text(item: &Value, field: &str) -> String {
    scalar(item.get(field).unwrap_or(&Value::Null))
}

/// A millisecond timestamp field as `YYYY-MM-DD HH:MM:SS` (UTC), or "-".
pub fn time(item: &Value, field: &str) -> String {
    item.get(field).and_then(Value::as_i64).map(utc).unwrap_or_else(|| "-".into())
}

pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// "yes"/"no" for a boolean field (or a `lock` object's `locked`).
pub fn yes_no(value: Option<&Value>) -> String {
    let value = value.map(|v| v.get("locked").unwrap_or(v));
    if value.and_then(Value::as_bool).unwrap_or(false) { "yes".into() } else { "no".into() }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// One object as aligned `key  value` lines, nested objects flattened to dotted keys (the
/// keys `set` takes), `*_ms` times in UTC under the name without `_ms` (`created_at`: a
/// field named `_ms` always holds epoch milliseconds, and `--json` shows those). The top-level fields in `first` come first, in
/// that order; then the others by name, times last.
pub fn detail(value: &Value, first: &[&str]) -> String {
    let mut lines = Vec::new();
    let mut fields: Vec<(&String, &Value)> = value.as_object().map(|m| m.iter().collect()).unwrap_or_default();
    let rank =
        |key: &str| first.iter().position(|f| *f == key).unwrap_or(first.len() + usize::from(key.ends_with("_ms")));
    fields.sort_by_key(|(key, _)| rank(key));
    for (key, child) in fields {
        flatten(child, key, &mut lines);
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

fn flatten(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                flatten(child, &child_path, out);
            }
        }
        Value::Number(n) if path.ends_with("_ms") => match n.as_i64() {
            Some(ms) => out.push((path.trim_end_matches("_ms").to_string(), format!("{} UTC", utc(ms)))),
            None => out.push((path.to_string(), n.to_string())),
        },
        other => out.push((path.to_string(), scalar(other))),
    }
}

/// The raw answer, pretty-printed, for `--json`.
pub fn json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// The answer of `/accounts/{id}/counters` or `/identities/{id}/counters` for humans.
pub fn counters(answer: &Value) -> String {
    let mut out = String::from("COUNTER              NOW      LIMIT\n");
    for c in answer.get("counters").and_then(Value::as_array).into_iter().flatten() {
        let limit = match c.get("limit").and_then(Value::as_u64) {
            Some(0) | None => "-".to_string(),
            Some(n) => n.to_string(),
        };
        let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
        let count = match (c.get("counted").and_then(Value::as_bool), c.get("count").and_then(Value::as_u64)) {
            (Some(false), _) => "-".to_string(),
            (_, count) => count.unwrap_or(0).to_string(),
        };
        out.push_str(&format!("{name:<20} {count:<8} {limit}\n"));
    }
    let uncounted = answer
        .get("counters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c.get("counted").and_then(Value::as_bool) == Some(false));
    if uncounted {
        out.push_str("(-: not counted: a counter counts only while its limit is set; set one to start counting)\n");
    }
    if let Some(spam) = answer.get("spam") {
        let n = |k: &str| spam.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push_str(&format!(
            "spam                 {:<8} more than {} within {} min locks (when automatic locking is on)\n",
            n("count"),
            n("threshold"),
            n("window_secs") / 60
        ));
    }
    if let Some(lock) = answer.get("lock") {
        let locked = lock.get("locked").and_then(Value::as_bool).unwrap_or(false);
        let until = lock
            .get("until_ms")
            .and_then(Value::as_i64)
            .map(|ms| utc(ms) + " UTC")
            .unwrap_or_else(|| "an unlock".into());
        let reason = lock.get("reason").and_then(Value::as_str).unwrap_or("");
        let unlocks = lock.get("automatic_unlocks").and_then(Value::as_u64).unwrap_or(0);
        if locked {
            out.push_str(&format!("locked until {until}: {reason}\n"));
        } else {
            out.push_str("not locked\n");
        }
        out.push_str(&format!("automatic unlocks since the last manual unlock: {unlocks}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_leave_the_last_column_unpadded() {
        let mut t = Table::new(&["ID", "NAME", "NOTE"]);
        t.row(vec!["7".into(), "a@example.com".into(), "x".into()]);
        t.row(vec!["12".into(), "b".into(), "".into()]);
        assert_eq!(t.render(), "ID  NAME           NOTE\n7   a@example.com  x\n12  b\n");
    }

    #[test]
    fn footers_say_when_a_page_is_partial() {
        let all = json!({"items": [1, 2], "total": 2, "limit": 50, "offset": 0});
        let noun = Noun("identity", "identities");
        assert_eq!(footer(&all, noun), "-- 2 identities\n");
        assert_eq!(footer(&json!({"items": [1], "total": 1}), noun), "-- 1 identity\n");
        assert_eq!(footer(&json!({"items": [], "total": 0}), noun), "-- 0 identities\n");
        let page = json!({"items": [1, 2], "total": 5, "limit": 2, "offset": 2});
        assert!(footer(&page, noun).starts_with("-- 2 of 5 shown"));
    }

    #[test]
    fn details_flatten_to_dotted_keys_with_utc_times() {
        let v = json!({"id": 3, "settings": {"limits": {"max_hops": 0}, "headers": ["A", "B"], "regex": null},
                       "created_at_ms": 0});
        let text = detail(&v, &[]);
        assert!(text.contains("settings.limits.max_hops  0\n"), "{text}");
        assert!(text.contains("settings.headers"), "{text}");
        assert!(text.contains("A,B\n"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("created_at ") && l.ends_with(" 1970-01-01 00:00:00 UTC")),
            "{text}"
        );
        assert!(!text.contains("_ms"), "a formatted date is not named _ms: {text}");
        assert!(text.contains("settings.regex") && text.contains("  -\n"), "{text}");
    }

    #[test]
    fn details_put_the_named_fields_first_and_times_last() {
        let v = json!({"created_at_ms": 0, "a": 1, "name": "x", "id": 2, "z": 3});
        let keys: Vec<String> =
            detail(&v, &["id", "name"]).lines().map(|l| l.split(' ').next().unwrap().to_string()).collect();
        assert_eq!(keys, ["id", "name", "a", "z", "created_at"]);
    }
}
