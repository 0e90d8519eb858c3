//! The WHERE clause and the paging shared by every list and the event query.
//!
//! In: a caller's [`Scope`], filter values and [`Page`]. Out: SQL with `?` placeholders
//! and the values bound to them. Column names come only from this crate's code; every
//! value from a caller is bound as a parameter, never spliced into the SQL.

use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

use crate::Result;
use crate::directory::{Page, Paged, Scope};

/// Conditions joined with AND, and their parameters in order.
#[derive(Debug, Default)]
pub(super) struct Filter {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Filter {
    /// `column = value`.
    pub fn equals(&mut self, column: &'static str, value: impl Into<Value>) -> &mut Self {
        self.clauses.push(format!("{column} = ?"));
        self.params.push(value.into());
        self
    }

    /// A case-insensitive (ASCII) substring of `column`.
    pub fn contains(&mut self, column: &'static str, needle: &str) -> &mut Self {
        self.clauses.push(format!("instr(lower({column}), ?) > 0"));
        self.params.push(Value::Text(needle.to_ascii_lowercase()));
        self
    }

    /// The `locked` flag of a JSON [`LockState`](postern_core::tenancy::LockState) column.
    /// A row whose JSON is corrupt always matches, so that reading it reports the error
    /// instead of the row silently disappearing from the list.
    pub fn locked(&mut self, column: &'static str, locked: bool) -> &mut Self {
        self.clauses.push(format!("(json_valid({column}) = 0 OR COALESCE(json_extract({column}, '$.locked'), 0) = ?)"));
        self.params.push(Value::Integer(i64::from(locked)));
        self
    }

    /// Only rows whose domain `column` is in the scope; an empty list matches nothing.
    pub fn scope(&mut self, column: &'static str, scope: &Scope) -> &mut Self {
        match scope {
            Scope::All => {}
            Scope::Domains(list) if list.is_empty() => self.clauses.push("0".into()),
            Scope::Domains(list) => {
                let marks = vec!["?"; list.len()].join(", ");
                self.clauses.push(format!("{column} IN ({marks})"));
                self.params.extend(list.iter().map(|d| Value::Text(d.clone())));
            }
        }
        self
    }

    /// A condition with one parameter per `?` in it, e.g. `(a = ? OR b = ?)`.
    pub fn clause(&mut self, clause: &'static str, params: impl IntoIterator<Item = Value>) -> &mut Self {
        self.clauses.push(clause.into());
        self.params.extend(params);
        self
    }

    /// A condition built at run time from this crate's column names and `?` marks only
    /// (e.g. `IN (?, ?)` for a list); every value is in `params`.
    pub fn owned_clause(&mut self, clause: String, params: impl IntoIterator<Item = Value>) -> &mut Self {
        self.clauses.push(clause);
        self.params.extend(params);
        self
    }

    /// The conditions, for a query that combines them with others.
    pub fn clauses(&self) -> &[String] {
        &self.clauses
    }

    /// ` WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }

    pub fn params(&self) -> &[Value] {
        &self.params
    }
}

/// What one list reads: `SELECT {columns} FROM {from} {filter} ORDER BY {order}`.
pub(super) struct ListQuery<'a> {
    pub columns: &'static str,
    pub from: &'static str,
    /// What the count reads instead of `from`, when a join only adds columns (a count over
    /// one table does not visit every joined row).
    pub count_from: Option<&'static str>,
    pub order: &'static str,
    pub filter: &'a Filter,
}

/// One page of rows and the count of all matching rows. `read` takes the row apart
/// (SQLite types only); `decode` turns it into the model (JSON errors surface here).
pub(super) fn paged<R, T>(
    conn: &Connection,
    query: ListQuery<'_>,
    page: Page,
    read: impl Fn(&Row<'_>) -> rusqlite::Result<R>,
    decode: impl Fn(R) -> Result<T>,
) -> Result<Paged<T>> {
    let filter = query.filter;
    let count_sql = format!("SELECT COUNT(*) FROM {}{}", query.count_from.unwrap_or(query.from), filter.sql());
    let total: i64 = conn.query_row(&count_sql, params_from_iter(filter.params()), |r| r.get(0))?;
    let limit = page.effective_limit();
    let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {} FROM {}{} ORDER BY {} LIMIT {} OFFSET {}",
        query.columns,
        query.from,
        filter.sql(),
        query.order,
        limit,
        offset
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(filter.params()), read)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(decode(row?)?);
    }
    Ok(Paged { items, total: u64::try_from(total).unwrap_or(0), limit, offset: page.offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_clauses_with_bound_values() {
        let mut f = Filter::default();
        assert_eq!(f.sql(), "");
        f.equals("kind", "ip".to_owned())
            .contains("name", "AbC")
            .scope("domain", &Scope::Domains(vec!["a.example".into()]));
        assert_eq!(f.sql(), " WHERE kind = ? AND instr(lower(name), ?) > 0 AND domain IN (?)");
        assert_eq!(f.params().len(), 3);
        assert_eq!(f.params()[1], Value::Text("abc".into()));
    }

    #[test]
    fn an_empty_scope_matches_nothing() {
        let mut f = Filter::default();
        f.scope("domain", &Scope::Domains(Vec::new()));
        assert_eq!(f.sql(), " WHERE 0");
        let mut f = Filter::default();
        f.scope("domain", &Scope::All);
        assert_eq!(f.sql(), "");
    }
}
