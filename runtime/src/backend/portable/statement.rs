//! Statements written once for every SQL engine: text with `$1, $2, ...` placeholders and a
//! closed set of values, turned into each driver's statement when it runs.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A value bound to a portable statement: the types every SQL engine Chronicle supports can
/// store and compare. `None` binds a `NULL` of the type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SqlValue {
    /// `BOOLEAN` (MariaDB: `TINYINT(1)`).
    Bool(Option<bool>),
    /// `INTEGER`.
    I32(Option<i32>),
    /// `BIGINT`.
    I64(Option<i64>),
    /// `DOUBLE PRECISION` (SQLite: `REAL`).
    F64(Option<f64>),
    /// `TEXT` or `VARCHAR`.
    Text(Option<String>),
    /// `BYTEA` (SQLite: `BLOB`; MariaDB: `BLOB` or `VARBINARY`).
    Bytes(Option<Vec<u8>>),
    /// `UUID` on Postgres; 16 bytes on SQLite and MariaDB.
    Uuid(Option<Uuid>),
    /// `TIMESTAMPTZ` on Postgres, `DATETIME(6)` on MariaDB, text on SQLite; always UTC.
    Timestamp(Option<DateTime<Utc>>),
}

macro_rules! sql_value_from {
    ($variant:ident: $($type:ty => $convert:expr),+ $(,)?) => {$(
        impl From<$type> for SqlValue {
            fn from(value: $type) -> Self {
                let convert: fn($type) -> _ = $convert;
                SqlValue::$variant(Some(convert(value)))
            }
        }

        impl From<Option<$type>> for SqlValue {
            fn from(value: Option<$type>) -> Self {
                let convert: fn($type) -> _ = $convert;
                SqlValue::$variant(value.map(convert))
            }
        }
    )+};
}

sql_value_from!(Bool: bool => |v| v);
sql_value_from!(I32: i32 => |v| v, i16 => i32::from, u16 => i32::from);
sql_value_from!(I64: i64 => |v| v, u32 => i64::from);
sql_value_from!(F64: f64 => |v| v, f32 => f64::from);
sql_value_from!(Text: String => |v| v, &str => str::to_owned, &String => String::clone);
sql_value_from!(Bytes: Vec<u8> => |v| v, &[u8] => <[u8]>::to_vec);
sql_value_from!(Uuid: Uuid => |v| v);
sql_value_from!(Timestamp: DateTime<Utc> => |v| v);

impl From<&i64> for SqlValue {
    fn from(value: &i64) -> Self {
        SqlValue::I64(Some(*value))
    }
}

/// A statement of a projection written once for every SQL engine (see [`sql`]); `O` is what a
/// row of its answer becomes (see [`sql_as`]), `NoRows` for a statement that is only executed.
///
/// The text numbers its placeholders `$1`, `$2`, ... in the order values are bound, as Postgres
/// and SQLite read them; on MariaDB they become `?`, the values following the placeholders'
/// order (a placeholder used twice binds its value twice). Write the rest in the SQL the engines
/// share: `CREATE TABLE IF NOT EXISTS`, `VARCHAR(n)` for keys (MariaDB indexes no `TEXT`),
/// `BIGINT`, multi-row `VALUES`, `CASE`, `IN (...)`.
#[derive(Clone)]
pub struct SqlStatement<O = NoRows> {
    pub(super) text: String,
    pub(super) values: Vec<SqlValue>,
    output: PhantomData<fn() -> O>,
}

/// The output of a [`SqlStatement`] that returns no rows: it can be executed, not fetched.
#[derive(Debug, Clone, Copy)]
pub struct NoRows;

/// A portable statement with `text`, to execute (`db.execute(sql("...").bind(..))`).
pub fn sql(text: impl Into<String>) -> SqlStatement<NoRows> {
    SqlStatement::new(text)
}

/// A portable statement with `text` whose rows become `O` (a tuple, or a type deriving
/// `sqlx::FromRow`): what queries fetch.
pub fn sql_as<O>(text: impl Into<String>) -> SqlStatement<O> {
    SqlStatement::new(text)
}

impl<O> SqlStatement<O> {
    fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            values: Vec::new(),
            output: PhantomData,
        }
    }

    /// Binds the next placeholder's value (`$1` first).
    pub fn bind(mut self, value: impl Into<SqlValue>) -> Self {
        self.values.push(value.into());
        self
    }

    /// Appends `text` as it is (names of the projection's tables, keywords; never values).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub fn push_bind(&mut self, value: impl Into<SqlValue>) -> &mut Self {
        self.values.push(value.into());
        let placeholder = format!("${}", self.values.len());
        self.text.push_str(&placeholder);
        self
    }

    /// Appends one parenthesized tuple of placeholders per item, separated by commas, binding
    /// what `bind_row` binds for each: the rows of a multi-row `VALUES`, or an `IN (...)` list
    /// (one value per tuple).
    ///
    /// ```ignore
    /// let mut insert = sql("INSERT INTO owners (account_id, owner) VALUES ");
    /// insert.push_tuples(events, |row, e| {
    ///     row.push_bind(&e.account_id).push_bind(&e.owner);
    /// });
    /// ```
    pub fn push_tuples<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut bind_row: impl FnMut(&mut SqlTuple<'_, O>, T),
    ) -> &mut Self {
        for (index, item) in items.into_iter().enumerate() {
            if index > 0 {
                self.text.push_str(", ");
            }
            self.text.push('(');
            let mut tuple = SqlTuple {
                statement: self,
                empty: true,
            };
            bind_row(&mut tuple, item);
            self.text.push(')');
        }
        self
    }

    /// The statement's text, with its `$n` placeholders.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The values bound so far, in order.
    pub fn values(&self) -> &[SqlValue] {
        &self.values
    }
}

impl<O> std::fmt::Debug for SqlStatement<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStatement")
            .field("text", &self.text)
            .field("values", &self.values.len())
            .finish()
    }
}

/// One tuple of [`SqlStatement::push_tuples`]: its values, separated by commas.
pub struct SqlTuple<'s, O> {
    statement: &'s mut SqlStatement<O>,
    empty: bool,
}

impl<O> std::fmt::Debug for SqlTuple<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTuple").field("empty", &self.empty).finish()
    }
}

impl<O> SqlTuple<'_, O> {
    /// Appends the next value of the tuple.
    pub fn push_bind(&mut self, value: impl Into<SqlValue>) -> &mut Self {
        if !self.empty {
            self.statement.text.push_str(", ");
        }
        self.empty = false;
        self.statement.push_bind(value);
        self
    }

    /// Appends SQL text inside the tuple as it is (a constant, say `0`), as one of its items.
    pub fn push(&mut self, text: &str) -> &mut Self {
        if !self.empty {
            self.statement.text.push_str(", ");
        }
        self.empty = false;
        self.statement.text.push_str(text);
        self
    }
}

/// How an engine reads quoted strings and comments, which placeholders inside are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quoting {
    /// Standard SQL (Postgres, SQLite): a quote inside a string is doubled. Only SQLite's
    /// statements are checked this way (Postgres checks its own).
    #[cfg_attr(not(any(test, feature = "sqlite")), allow(dead_code))]
    Standard,
    /// MariaDB: a backslash escapes too, and `#` opens a comment.
    MySql,
}

/// The numbered placeholders (`$n`) of `text` where they stand, in order: their byte ranges and
/// the index into the bound values each names. `$n` inside quoted strings, quoted names and
/// comments is text. A number without a bound value is an error: MariaDB needs each one's value,
/// and SQLite would quietly read NULL.
pub(super) fn placeholders(
    text: &str,
    bound: usize,
    quoting: Quoting,
) -> Result<Vec<(std::ops::Range<usize>, usize)>, String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            quote @ (b'\'' | b'"' | b'`') => at = after_quoted(bytes, at, quote, quoting),
            b'-' if bytes.get(at + 1) == Some(&b'-') => at = after_line(bytes, at),
            b'#' if quoting == Quoting::MySql => at = after_line(bytes, at),
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = text[at + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| at + 2 + end + 2)
            }
            b'$' if bytes.get(at + 1).is_some_and(u8::is_ascii_digit) => {
                let digits = bytes[at + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                let name = &text[at..at + 1 + digits];
                let number: usize = name[1..]
                    .parse()
                    .map_err(|_| format!("placeholder `{name}` is out of range"))?;
                if number == 0 || number > bound {
                    return Err(format!(
                        "the statement names `{name}` but {bound} value(s) are bound"
                    ));
                }
                found.push((at..at + 1 + digits, number - 1));
                at += 1 + digits;
            }
            _ => at += 1,
        }
    }
    Ok(found)
}

/// `text` with its numbered placeholders rewritten for MariaDB, which knows only `?`, and the
/// index into the bound values of each `?` in order.
#[cfg_attr(not(any(test, feature = "mysql")), allow(dead_code))]
pub(super) fn question_marks(text: &str, bound: usize) -> Result<(String, Vec<usize>), String> {
    let found = placeholders(text, bound, Quoting::MySql)?;
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut order = Vec::with_capacity(found.len());
    for (range, index) in found {
        out.push_str(&text[copied..range.start]);
        out.push('?');
        copied = range.end;
        order.push(index);
    }
    out.push_str(&text[copied..]);
    Ok((out, order))
}

/// The index just past the quoted string, name or identifier opening at `start` (a doubled
/// quote and, in strings, a backslash escape stay inside it).
fn after_quoted(bytes: &[u8], start: usize, quote: u8, quoting: Quoting) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        if bytes[at] == b'\\' && quote != b'`' && quoting == Quoting::MySql {
            at += 2;
        } else if bytes[at] == quote {
            if bytes.get(at + 1) == Some(&quote) {
                at += 2;
            } else {
                return at + 1;
            }
        } else {
            at += 1;
        }
    }
    bytes.len()
}

/// The index of the end of the line a comment opens at `start`.
fn after_line(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |end| start + end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_question_marks_in_the_order_they_appear() {
        let (text, order) = question_marks("UPDATE t SET a = $2 WHERE b = $1 OR c = $2", 2).unwrap();
        assert_eq!(text, "UPDATE t SET a = ? WHERE b = ? OR c = ?");
        assert_eq!(order, vec![1, 0, 1]);
    }

    #[test]
    fn placeholders_inside_strings_names_and_comments_stay() {
        let source = "SELECT '$1', 'it''s $2', \"$3\", `$4` -- $5\n, $1 /* $6 */ # $7";
        let (text, order) = question_marks(source, 1).unwrap();
        assert_eq!(
            text,
            "SELECT '$1', 'it''s $2', \"$3\", `$4` -- $5\n, ? /* $6 */ # $7"
        );
        assert_eq!(order, vec![0]);
    }

    #[test]
    fn a_backslash_escapes_only_on_mariadb() {
        // Standard SQL: the string is `a\`, then a placeholder.
        let standard = placeholders("SELECT 'a\\', $1", 1, Quoting::Standard).unwrap();
        assert_eq!(standard.len(), 1);
        // MariaDB: the quote is escaped, and the string runs to the end.
        let mysql = placeholders("SELECT 'a\\', $1", 1, Quoting::MySql).unwrap();
        assert!(mysql.is_empty());
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error() {
        assert!(question_marks("SELECT $2", 1).unwrap_err().contains("`$2`"));
        assert!(question_marks("SELECT $0", 1).is_err());
        assert!(question_marks("SELECT $99999999999999999999999", 1).is_err());
    }

    #[test]
    fn tuples_number_their_placeholders_after_those_bound_before() {
        let mut insert = sql("INSERT INTO t (a, b, c) VALUES ").bind(7_i64);
        insert.push_tuples([("x", 1_i64), ("y", 2)], |row, (name, n)| {
            row.push_bind(name).push_bind(n).push("0");
        });
        assert_eq!(
            insert.text(),
            "INSERT INTO t (a, b, c) VALUES ($2, $3, 0), ($4, $5, 0)"
        );
        assert_eq!(insert.values().len(), 5);
        assert_eq!(insert.values()[3], SqlValue::Text(Some("y".into())));
    }
}
