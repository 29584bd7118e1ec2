//! Blue/green locations in SQLite: a database file per (projection, version) beside the store's
//! file, named after that file, the projection and the version, with Chronicle's tables of its
//! own (so its own checkpoint and its own leases).

use std::io::ErrorKind;
use std::path::PathBuf;

use super::errors::read_store_error;
use super::read_store::SqliteReadStore;
use crate::backend::sql::section;
use crate::core::location::location_identifier;
use crate::core::location::Locations;
use crate::core::read_store::ReadStoreError;

const READ_STORE_SQL: &str = include_str!("sql/read_store.sql");

/// Room for the file name of a location, well within every file system's limit (255 bytes).
const MAX_FILE_NAME_LEN: usize = 120;

impl SqliteReadStore {
    /// The file of `projection`'s location of `version`: beside the store's file.
    fn location_file(&self, projection: &str, version: u32) -> PathBuf {
        let file = self.pool().connect_options().get_filename().to_path_buf();
        let name = file.file_name().map(|name| name.to_string_lossy().into_owned());
        let stem = location_identifier(
            name.as_deref().unwrap_or_default(),
            projection,
            version,
            MAX_FILE_NAME_LEN - ".db".len(),
        );
        file.with_file_name(format!("{stem}.db"))
    }
}

impl Locations for SqliteReadStore {
    async fn at_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<Self, ReadStoreError> {
        let location = SqliteReadStore::open(self.location_file(projection, version)).await?;
        location.migrate().await?;
        Ok(location)
    }

    async fn drop_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<(), ReadStoreError> {
        let file = self.location_file(projection, version);
        // The WAL and shared-memory files first: a database file without them is whole, the
        // reverse is not.
        for suffix in ["-wal", "-shm", ""] {
            let mut path = file.clone().into_os_string();
            path.push(suffix);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(error) => return Err(ReadStoreError::Database(Box::new(error))),
            }
        }
        Ok(())
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
