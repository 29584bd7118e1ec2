// The connection may be written with different paths to the same type in different methods.
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{Answer, PostgresReadStore, ReadOnly};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Pinged;

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Ponged;

pub struct Pings;

#[projection]
impl Pings {
    #[on]
    async fn pinged(&self, _event: &Pinged, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pings SET n = n + 1").execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn ponged(&self, _event: &Ponged, db: &mut chronicle::sqlx::PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pings SET n = n - 1").execute(&mut *db).await?;
        Ok(())
    }

    #[reset]
    async fn reset(&self, db: &mut sqlx::postgres::PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pings SET n = 0").execute(&mut *db).await?;
        Ok(())
    }

    #[query]
    async fn count(&self, _query: &PingCount, db: &mut ReadOnly<'_, sqlx::PgConnection>) -> Result<i64, sqlx::Error> {
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
