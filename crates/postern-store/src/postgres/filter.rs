//! The WHERE clause and the paging shared by every list, for PostgreSQL.
//!
//! In: a caller's [`Scope`], filter values and [`Page`]. Out: SQL with numbered parameters
//! (`$1`, `$2`, …) and the values bound to them. Column names come only from this crate's
//! code; every value from a caller is bound as a parameter, never spliced into the SQL.
//! Substring matches fold ASCII case only, as SQLite's `lower()` does, so both backends
//! find the same rows.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Params, get, query, query_one};
use crate::Result;
use crate::directory::{Page, Paged, Scope};

/// A bound value.
type Value = Box<dyn ToSql + Sync + Send>;

/// Conditions joined with AND, and their parameters in order.
#[derive(Default)]
pub(super) struct Filter {
    clauses: Vec<String>,
    params: Vec<Value>,
}

/// `translate(column, 'A…Z', 'a…z')`: ASCII lower case, whatever the server's locale.
pub(super) fn ascii_lower(column: &str) -> String {
    format!("translate({column}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
}

impl Filter {
    /// Binds a value and gives its placeholder (`$n`), for a clause built by the caller.
    pub fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    /// A condition whose values were bound with [`Filter::bind`].
    pub fn clause(&mut self, clause: impl Into<String>) -> &mut Self {
        self.clauses.push(clause.into());
        self
    }

    /// `column = value`.
    pub fn equals(&mut self, column: &'static str, value: impl ToSql + Sync + Send + 'static) -> &mut Self {
        let mark = self.bind(value);
        self.clause(format!("{column} = {mark}"))
    }

    /// A case-insensitive (ASCII) substring of `column`.
    pub fn contains(&mut self, column: &'static str, needle: &str) -> &mut Self {
        let mark = self.bind(needle.to_ascii_lowercase());
        self.clause(format!("strpos({}, {mark}) > 0", ascii_lower(column)))
    }

    /// Only rows whose domain `column` is in the scope; an empty list matches nothing.
    pub fn scope(&mut self, column: &'static str, scope: &Scope) -> &mut Self {
        match scope {
            Scope::All => self,
            Scope::Domains(list) if list.is_empty() => self.clause("FALSE"),
            Scope::Domains(list) => {
                let mark = self.bind(list.clone());
                self.clause(format!("{column} = ANY({mark})"))
            }
        }
    }

    /// ` WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }

    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// What one list reads: `SELECT {columns} FROM {from} {filter} ORDER BY {order}`.
pub(super) struct ListQuery<'a> {
    pub columns: &'static str,
    pub from: &'static str,
    /// What the count reads instead of `from`, when a join only adds columns.
    pub count_from: Option<&'static str>,
    pub order: &'static str,
    pub filter: &'a Filter,
}

/// One page of rows and the count of all matching rows; `decode` takes a row apart (column
/// and JSON errors surface here).
pub(super) async fn paged<T>(
    c: &impl GenericClient,
    query_: ListQuery<'_>,
    page: Page,
    decode: impl Fn(&Row) -> Result<T>,
) -> Result<Paged<T>> {
    let filter = query_.filter;
    let params = filter.params();
    let params: Params<'_> = &params;
    let count_sql = format!("SELECT COUNT(*) FROM {}{}", query_.count_from.unwrap_or(query_.from), filter.sql());
    let total: i64 = get(&query_one(c, &count_sql, params).await?, 0)?;
    let limit = page.effective_limit();
    let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {} FROM {}{} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        query_.columns,
        query_.from,
        filter.sql(),
        query_.order,
    );
    let items = query(c, &sql, params).await?.iter().map(decode).collect::<Result<Vec<_>>>()?;
    Ok(Paged { items, total: u64::try_from(total).unwrap_or(0), limit, offset: page.offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_clauses_with_numbered_values() {
        let mut f = Filter::default();
        assert_eq!(f.sql(), "");
        f.equals("kind", "ip".to_owned())
            .contains("name", "AbC")
            .scope("domain", &Scope::Domains(vec!["a.example".into()]));
        let lower = ascii_lower("name");
        assert_eq!(f.sql(), format!(" WHERE kind = $1 AND strpos({lower}, $2) > 0 AND domain = ANY($3)"));
        assert_eq!(f.params().len(), 3);
    }

    #[test]
    fn an_empty_scope_matches_nothing() {
        let mut f = Filter::default();
        f.scope("domain", &Scope::Domains(Vec::new()));
        assert_eq!(f.sql(), " WHERE FALSE");
        let mut f = Filter::default();
        f.scope("domain", &Scope::All);
        assert_eq!(f.sql(), "");
    }
}
