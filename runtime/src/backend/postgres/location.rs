//! Blue/green locations in Postgres: a schema per (projection, version) in the store's database,
//! named after the store's schema, the projection and the version, with Chronicle's tables of
//! its own (so its own checkpoint, and its own advisory lock, which is keyed on the schema).

use super::errors::read_store_error;
use super::read_store::PostgresReadStore;
use super::schema::MAX_IDENTIFIER_LEN;
use crate::backend::sql::section;
use crate::core::location::location_identifier;
use crate::core::location::Locations;
use crate::core::read_store::ReadStoreError;

const READ_STORE_SQL: &str = include_str!("sql/read_store.sql");

impl PostgresReadStore {
    /// The schema of `projection`'s location of `version`.
    fn location_schema(&self, projection: &str, version: u32) -> String {
        location_identifier(self.schema(), projection, version, MAX_IDENTIFIER_LEN)
    }
}

impl Locations for PostgresReadStore {
    async fn at_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<Self, ReadStoreError> {
        let location = self
            .clone()
            .with_schema(&self.location_schema(projection, version))?;
        location.migrate().await?;
        Ok(location)
    }

    async fn drop_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<(), ReadStoreError> {
        let statement = section(READ_STORE_SQL, "drop_location")
            .replace("{location}", &self.location_schema(projection, version));
        sqlx::raw_sql(&statement)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(read_store_error)
    }

    async fn delete_checkpoint<'a>(&'a self, name: &'a str) -> Result<bool, ReadStoreError> {
        let statement = section(READ_STORE_SQL, "delete_checkpoint").replace("{schema}", self.schema());
        let done = sqlx::query(&statement)
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(read_store_error)?;
        Ok(done.rows_affected() == 1)
    }
}
