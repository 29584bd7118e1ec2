//! Roles of least privilege on Postgres: an owner of Chronicle's tables, a writer for command
//! processing, a projector for runners and a reader for queries, so that the database, not the
//! application, enforces who may change what.

use super::read_store::PostgresReadStore;
use super::schema::{is_valid_schema, MAX_IDENTIFIER_LEN};
use super::store::PostgresStore;
use crate::core::error::StoreError;

const ROLES_SQL: &str = include_str!("sql/roles.sql");

/// What a role name must look like, for error messages.
const RULE: &str = "use 1 to 63 lowercase ASCII letters, digits and underscores, not starting with a digit \
                    and not `pg_*` (Postgres's own)";

/// The four roles of a least-privilege deployment on Postgres, by name (configurable), set up by
/// [`PostgresStore::migrate_roles`] or printed by [`Roles::sql`] for a DBA's own run:
///
/// - the **owner** (`chronicle_owner`, cannot log in) owns the schemas and Chronicle's tables:
///   only it (or a superuser) can alter them, disable the append-only triggers or drop them;
///   migrations run as it (or as a superuser);
/// - the **writer** (`chronicle_writer`) processes commands: `SELECT` and `INSERT` on the event
///   table and nothing else on it (it is not the owner, so `UPDATE`, `DELETE`, `TRUNCATE` and
///   `ALTER TABLE ... DISABLE TRIGGER` are refused), and the snapshots;
/// - the **projector** (`chronicle_projector`) runs projections: reads events, writes
///   Chronicle's read-store tables and creates and writes its read models in the read schema;
/// - the **reader** (`chronicle_reader`) answers queries: `SELECT` on the read models the
///   projector creates (granted by default privileges) and on the checkpoints read-your-writes
///   waits on, with the position and transaction id of the events it compares them with; not
///   the events' payloads or metadata, not the dead letters.
///
/// The writer, projector and reader are created with `LOGIN` and no password: give each one
/// (`ALTER ROLE chronicle_writer PASSWORD '...'`) or map them in `pg_hba.conf`. Roles that
/// exist are kept as they are, and the grants are given again, so running it twice changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    owner: String,
    writer: String,
    projector: String,
    reader: String,
}

impl Default for Roles {
    fn default() -> Self {
        Self {
            owner: "chronicle_owner".to_owned(),
            writer: "chronicle_writer".to_owned(),
            projector: "chronicle_projector".to_owned(),
            reader: "chronicle_reader".to_owned(),
        }
    }
}

impl Roles {
    /// The roles under their default names.
    pub fn new() -> Self {
        Self::default()
    }

    /// The owner's name.
    pub fn owner(mut self, name: &str) -> Self {
        name.clone_into(&mut self.owner);
        self
    }

    /// The writer's name.
    pub fn writer(mut self, name: &str) -> Self {
        name.clone_into(&mut self.writer);
        self
    }

    /// The projector's name.
    pub fn projector(mut self, name: &str) -> Self {
        name.clone_into(&mut self.projector);
        self
    }

    /// The reader's name.
    pub fn reader(mut self, name: &str) -> Self {
        name.clone_into(&mut self.reader);
        self
    }

    /// The SQL that sets the roles up for the event store in `schema` and the read store in
    /// `read_schema` (the same one for read models beside the events), to run after both stores
    /// are migrated. Refuses a name that is not a plain identifier, and four names that are not
    /// distinct.
    pub fn sql(&self, schema: &str, read_schema: &str) -> Result<String, StoreError> {
        for schema in [schema, read_schema] {
            if !is_valid_schema(schema) {
                return Err(invalid("Postgres schema", schema));
            }
        }
        let names = [&self.owner, &self.writer, &self.projector, &self.reader];
        for name in names {
            let plain = is_valid_schema(name) && name.len() <= MAX_IDENTIFIER_LEN;
            if !plain {
                return Err(invalid("Postgres role", name));
            }
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(StoreError::InvalidName {
                    kind: "Postgres role",
                    name: (*name).clone(),
                    rule: "give the owner, writer, projector and reader four different names",
                });
            }
        }
        Ok(ROLES_SQL
            .replace("{schema}", schema)
            .replace("{read}", read_schema)
            .replace("{owner}", &self.owner)
            .replace("{writer}", &self.writer)
            .replace("{projector}", &self.projector)
            .replace("{reader}", &self.reader))
    }
}

fn invalid(kind: &'static str, name: &str) -> StoreError {
    StoreError::InvalidName {
        kind,
        name: name.to_owned(),
        rule: RULE,
    }
}

impl PostgresStore {
    /// Migrates this store and `read`, then sets up `roles` on them ([`Roles::sql`]), in one
    /// transaction. Run it as a superuser or a role that may create roles and owns the schemas
    /// (a DBA's deployment step), not as the application.
    pub async fn migrate_roles(&self, read: &PostgresReadStore, roles: &Roles) -> Result<(), StoreError> {
        self.migrate().await?;
        read.migrate()
            .await
            .map_err(|error| StoreError::Database(Box::new(error)))?;
        let sql = roles.sql(self.schema(), read.schema())?;
        sqlx::raw_sql(&sql)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(super::errors::store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::Roles;

    #[test]
    fn names_are_plain_distinct_identifiers() {
        let sql = Roles::new().sql("bank", "bank_views").unwrap();
        assert!(sql.contains(r#"GRANT SELECT, INSERT ON "bank".chronicle_events TO "chronicle_writer";"#));
        assert!(sql.contains(r#"GRANT USAGE ON SCHEMA "bank_views" TO "chronicle_reader";"#));
        assert!(!sql.contains('{'), "every placeholder replaced");
        for hostile in ["Writer", "w\"; DROP ROLE postgres; --", "pg_writer", "", "9w"] {
            assert!(
                Roles::new().writer(hostile).sql("bank", "bank").is_err(),
                "{hostile}"
            );
        }
        assert!(Roles::new().sql("pg_catalog", "bank").is_err());
        assert!(Roles::new()
            .reader("chronicle_writer")
            .sql("bank", "bank")
            .is_err());
    }
}
