//! The schema the migrations made, read back from the database's own catalog: tables, their
//! columns (coarse type, nullability) and the indexes the migrations name.
//!
//! `migrations/sqlite` and `migrations/postgres` are written twice by hand and must stay
//! twins; the test that compares a fresh database of each reads them through [`read_schema`]
//! and reports [`Schema::differences`].

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;

use super::Db;

/// sqlx's own bookkeeping table, not part of our schema.
const SQLX_MIGRATIONS: &str = "_sqlx_migrations";

/// One column as a catalog lists it: table, column, declared type, not null.
type ColumnRow = (String, String, String, bool);

/// A column type, coarse enough that the two backends' spellings of one migration agree.
///
/// SQLite keeps timestamps as TEXT where PostgreSQL has TIMESTAMPTZ, and integers as INTEGER
/// where PostgreSQL has BIGINT (see `migrations/*/0001_foundation.sql`), so both count as
/// the same class here; a type outside these classes is compared as spelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeClass {
    /// SQLite `integer`; PostgreSQL `bigint`, `integer`, `smallint`.
    Integer,
    /// `real`, `double precision`, `float`, `numeric`.
    Real,
    /// `text`, `varchar`; PostgreSQL's `timestamp with time zone` (TEXT on SQLite).
    Text,
    /// SQLite `blob`; PostgreSQL `bytea`.
    Blob,
    /// Any other declared type, lowercased.
    Other(String),
}

impl TypeClass {
    /// The class of a declared type as either catalog spells it.
    pub fn of(declared: &str) -> TypeClass {
        let declared = declared.trim().to_ascii_lowercase();
        // SQLite's affinity rules start the same way: a type naming INT is an integer.
        if declared.contains("int") {
            TypeClass::Integer
        } else if ["real", "double precision", "float", "numeric"].iter().any(|t| declared.starts_with(t)) {
            TypeClass::Real
        } else if declared == "text"
            || declared.starts_with("varchar")
            || declared.starts_with("character varying")
            || declared.starts_with("timestamp")
        {
            TypeClass::Text
        } else if declared == "blob" || declared == "bytea" {
            TypeClass::Blob
        } else {
            TypeClass::Other(declared)
        }
    }
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column's coarse type.
    pub type_class: TypeClass,
    /// `not null`, or part of the primary key.
    pub not_null: bool,
}

/// The tables, columns and named indexes of one database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    /// Table name → column name → column.
    pub tables: BTreeMap<String, BTreeMap<String, Column>>,
    /// Indexes created by name in the migrations (not those that back a primary key or a
    /// unique constraint, which each backend names its own way).
    pub indexes: BTreeSet<String>,
}

impl Schema {
    /// Every way `other` differs from `self`, one line each, `self` called "left"; empty
    /// when they agree. Column order is not compared (no query reads columns by position).
    pub fn differences(&self, other: &Schema) -> Vec<String> {
        let mut out = Vec::new();
        for (table, columns) in &self.tables {
            let Some(other_columns) = other.tables.get(table) else {
                out.push(format!("table {table}: only on the left"));
                continue;
            };
            for (name, column) in columns {
                match other_columns.get(name) {
                    None => out.push(format!("column {table}.{name}: only on the left")),
                    Some(o) if o != column => out.push(format!("column {table}.{name}: left {column:?}, right {o:?}")),
                    Some(_) => {}
                }
            }
            for name in other_columns.keys().filter(|n| !columns.contains_key(*n)) {
                out.push(format!("column {table}.{name}: only on the right"));
            }
        }
        for table in other.tables.keys().filter(|t| !self.tables.contains_key(*t)) {
            out.push(format!("table {table}: only on the right"));
        }
        for index in self.indexes.difference(&other.indexes) {
            out.push(format!("index {index}: only on the left"));
        }
        for index in other.indexes.difference(&self.indexes) {
            out.push(format!("index {index}: only on the right"));
        }
        out
    }
}

/// Reads the schema of `db` from its catalog (`sqlite_master` with `pragma_table_info`, or
/// PostgreSQL's `information_schema` and `pg_indexes` in the current schema).
pub async fn read_schema(db: &Db) -> anyhow::Result<Schema> {
    let (columns, indexes): (Vec<ColumnRow>, Vec<String>) = match db {
        Db::Sqlite { read, .. } => {
            // A primary key column reports notnull = 0 in SQLite's pragma; it is not null in
            // PostgreSQL (and in practice here), so it counts as not null.
            let columns = sqlx::query_as(
                "select m.name, p.name, p.type, (p.\"notnull\" = 1 or p.pk > 0)
                 from sqlite_master m join pragma_table_info(m.name) p
                 where m.type = 'table' and m.name not like 'sqlite_%' and m.name <> $1
                 order by m.name, p.cid",
            )
            .bind(SQLX_MIGRATIONS)
            .fetch_all(read)
            .await
            .context("failed to read sqlite columns")?;
            // Indexes SQLite makes for constraints have no sql text.
            let indexes = sqlx::query_scalar(
                "select name from sqlite_master
                 where type = 'index' and sql is not null and tbl_name <> $1 order by name",
            )
            .bind(SQLX_MIGRATIONS)
            .fetch_all(read)
            .await
            .context("failed to read sqlite indexes")?;
            (columns, indexes)
        }
        Db::Postgres(pool) => {
            let columns = sqlx::query_as(
                "select c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable = 'NO'
                 from information_schema.columns c
                 join information_schema.tables t
                   on t.table_schema = c.table_schema and t.table_name = c.table_name
                 where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
                   and c.table_name <> $1
                 order by c.table_name, c.ordinal_position",
            )
            .bind(SQLX_MIGRATIONS)
            .fetch_all(pool)
            .await
            .context("failed to read postgresql columns")?;
            // Indexes that back a constraint (primary key, unique) share the constraint's name.
            let indexes = sqlx::query_scalar(
                "select i.indexname::text from pg_indexes i
                 where i.schemaname = current_schema() and i.tablename <> $1
                   and not exists (
                     select 1 from pg_constraint k
                     join pg_namespace n on n.oid = k.connamespace
                     where n.nspname = i.schemaname and k.conname = i.indexname)
                 order by 1",
            )
            .bind(SQLX_MIGRATIONS)
            .fetch_all(pool)
            .await
            .context("failed to read postgresql indexes")?;
            (columns, indexes)
        }
    };
    let mut schema = Schema { indexes: indexes.into_iter().collect(), ..Schema::default() };
    for (table, name, declared, not_null) in columns {
        let column = Column { type_class: TypeClass::of(&declared), not_null };
        schema.tables.entry(table).or_default().insert(name, column);
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(declared: &str, not_null: bool) -> Column {
        Column { type_class: TypeClass::of(declared), not_null }
    }

    /// A small schema as the SQLite migrations would spell it.
    fn sqlite_like() -> Schema {
        let mut schema = Schema::default();
        let customers = schema.tables.entry("customers".into()).or_default();
        customers.insert("id".into(), column("integer", true));
        customers.insert("phone".into(), column("text", true));
        customers.insert("name".into(), column("text", false));
        customers.insert("created_at".into(), column("text", true));
        schema.indexes.insert("customers_name".into());
        schema
    }

    /// The same schema as the PostgreSQL migrations would spell it.
    fn postgres_like() -> Schema {
        let mut schema = Schema::default();
        let customers = schema.tables.entry("customers".into()).or_default();
        customers.insert("id".into(), column("bigint", true));
        customers.insert("phone".into(), column("text", true));
        customers.insert("name".into(), column("text", false));
        customers.insert("created_at".into(), column("timestamp with time zone", true));
        schema.indexes.insert("customers_name".into());
        schema
    }

    #[test]
    fn the_two_spellings_of_one_schema_agree() {
        assert_eq!(sqlite_like().differences(&postgres_like()), Vec::<String>::new());
    }

    #[test]
    fn a_missing_column_is_reported_on_the_side_that_has_it() {
        let mut altered = postgres_like();
        altered.tables.get_mut("customers").unwrap().remove("name");
        assert_eq!(sqlite_like().differences(&altered), vec!["column customers.name: only on the left"]);
        assert_eq!(altered.differences(&sqlite_like()), vec!["column customers.name: only on the right"]);
    }

    #[test]
    fn a_missing_table_or_index_is_reported() {
        let mut altered = postgres_like();
        altered.tables.insert("orders".into(), BTreeMap::from([("id".into(), column("bigint", true))]));
        altered.indexes.clear();
        assert_eq!(
            sqlite_like().differences(&altered),
            vec!["table orders: only on the right", "index customers_name: only on the left"]
        );
    }

    #[test]
    fn a_changed_type_or_nullability_is_reported() {
        let mut altered = postgres_like();
        let customers = altered.tables.get_mut("customers").unwrap();
        customers.insert("phone".into(), column("bigint", true));
        customers.insert("name".into(), column("text", true));
        let differences = sqlite_like().differences(&altered);
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(differences[0].starts_with("column customers.name:"), "{differences:?}");
        assert!(differences[1].starts_with("column customers.phone:"), "{differences:?}");
    }

    #[test]
    fn declared_types_fall_into_their_classes() {
        assert_eq!(TypeClass::of("INTEGER"), TypeClass::Integer);
        assert_eq!(TypeClass::of("bigint"), TypeClass::Integer);
        assert_eq!(TypeClass::of("double precision"), TypeClass::Real);
        assert_eq!(TypeClass::of("timestamp with time zone"), TypeClass::Text);
        assert_eq!(TypeClass::of("bytea"), TypeClass::Blob);
        assert_eq!(TypeClass::of("jsonb"), TypeClass::Other("jsonb".into()));
    }
}
