//! Blue/green locations in MariaDB: a database per (projection, version) on the store's server,
//! named after the store's database, the projection and the version, with Chronicle's tables of
//! its own (so its own checkpoint, and its own named locks, which are keyed on the database).

use sqlx::mysql::MySqlPoolOptions;

use super::errors::read_store_error;
use super::read_store::MySqlReadStore;
use crate::backend::sql::section;
use crate::core::location::location_identifier;
use crate::core::location::Locations;
use crate::core::read_store::ReadStoreError;

const READ_STORE_SQL: &str = include_str!("sql/read_store.sql");

/// The longest database name MariaDB keeps.
const MAX_DATABASE_NAME_LEN: usize = 64;

impl MySqlReadStore {
    /// The database of `projection`'s location of `version`.
    fn location_database(&self, projection: &str, version: u32) -> String {
        let options = self.pool().connect_options();
        location_identifier(
            options.get_database().unwrap_or_default(),
            projection,
            version,
            MAX_DATABASE_NAME_LEN,
        )
    }

    /// Runs one of the location statements for the database `location`, on the store's pool.
    async fn location_statement(&self, name: &str, location: &str) -> Result<(), ReadStoreError> {
        let statement = section(READ_STORE_SQL, name).replace("{location}", location);
        sqlx::raw_sql(&statement)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(read_store_error)
    }
}

impl Locations for MySqlReadStore {
    async fn at_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<Self, ReadStoreError> {
        let database = self.location_database(projection, version);
        self.location_statement("create_location", &database).await?;
        let options = (*self.pool().connect_options()).clone().database(&database);
        // Lazily: a location is opened while the store may be away, and its first statement
        // reports that as any statement would.
        let pool = MySqlPoolOptions::new()
            .max_connections(self.pool().options().get_max_connections())
            .connect_lazy_with(options);
        let location = MySqlReadStore::from_pool(pool);
        location.migrate().await?;
        Ok(location)
    }

    async fn drop_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<(), ReadStoreError> {
        let database = self.location_database(projection, version);
        self.location_statement("drop_location", &database).await
    }

    async fn delete_checkpoint<'a>(&'a self, name: &'a str) -> Result<bool, ReadStoreError> {
        let done = sqlx::query(section(READ_STORE_SQL, "delete_checkpoint"))
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(read_store_error)?;
        Ok(done.rows_affected() == 1)
    }
}
