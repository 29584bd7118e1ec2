// A connection named through a type alias in some methods is the same connection: the compiler
// checks that the methods take one type, whatever they call it.
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{Answer, PostgresReadStore, ReadOnly};
use serde::{Deserialize, Serialize};

/// The read store's connection, named once for the whole module.
type Db = PgConnection;

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Pinged;

pub struct Pings;

#[projection]
impl Pings {
    #[on]
    async fn pinged(&self, _event: &Pinged, db: &mut Db) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pings SET n = n + 1").execute(&mut *db).await?;
        Ok(())
    }

    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pings SET n = 0").execute(&mut *db).await?;
        Ok(())
    }

    #[query]
    async fn count(&self, _query: &PingCount, db: &mut ReadOnly<'_, PgConnection>) -> Result<i64, sqlx::Error> {
        db.fetch_one(sqlx::query_scalar("SELECT n FROM pings")).await
    }
}

#[derive(Query)]
#[query(output = i64, read_model = Pings)]
pub struct PingCount;

fn answers<P: Answer<PingCount, Store = PostgresReadStore>>() {}

fn main() {
    answers::<Pings>();
}
