// A projection and a query declared by a `macro_rules!` macro, with names and types passed in from
// outside, expand as usual: the generated code does not mix hygiene contexts, and types passed as
// `$t:ty` are read through their invisible groups.
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{Answer, Projection, ReadOnly, RecordedEvent};
use serde::{Deserialize, Serialize};

macro_rules! counter {
    ($projection:ident, $event:ident, $handler:ident, $query:ident, $answer:ident, $db:ident, $connection:ty, $envelope:ty, $result:ty) => {
        #[derive(Event, Serialize, Deserialize, Debug, Clone)]
        pub struct $event {
            pub by: i64,
        }

        pub struct $projection;

        #[projection]
        impl $projection {
            #[on]
            async fn $handler(&self, event: &$event, meta: $envelope, $db: &mut $connection) -> $result {
                let _ = meta.position;
                sqlx::query("UPDATE counter SET value = value + $1").bind(event.by).execute(&mut *$db).await?;
                Ok(())
            }

            #[reset]
            async fn reset(&self, db: &mut $connection) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE counter SET value = 0").execute(&mut *db).await?;
                Ok(())
            }

            #[query]
            async fn $answer(&self, query: &$query, db: &mut ReadOnly<'_, chronicle::sqlx::PgConnection>) -> Result<i64, sqlx::Error> {
                let _ = query;
                db.fetch_one(sqlx::query_scalar("SELECT value FROM counter")).await
            }
        }

        #[derive(Query)]
        #[query(output = i64, read_model = $projection)]
        pub struct $query;
    };
}

counter!(
    Counter,
    Incremented,
    incremented,
    CounterValue,
    value,
    connection,
    PgConnection,
    &RecordedEvent,
    Result<(), sqlx::Error>
);

fn answers<P: Answer<CounterValue>>() {}

fn main() {
    answers::<Counter>();
    assert_eq!(Counter::EVENT_TYPES, ["Incremented"]);
}
