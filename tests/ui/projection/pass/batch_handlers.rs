// Batch handlers take a run of events as a slice, with or without their envelopes, beside
// handlers of one event; on Postgres and on SQLite. The projection still applies one event at a
// time (a slice of one) where the runner asks it to.
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection, SqliteConnection};
use chronicle::{PostgresReadStore, Projection, RecordedEvent, SqliteReadStore};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub account_id: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub account_id: String,
    pub amount: i64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Closed {
    pub account_id: String,
}

// ANCHOR: batch
pub struct Balances;

#[projection]
impl Balances {
    #[on]
    async fn opened(&self, events: &[Opened], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        let ids: Vec<&str> = events.iter().map(|e| e.account_id.as_str()).collect();
        sqlx::query("INSERT INTO balances SELECT id, 0 FROM UNNEST($1::text[]) AS id")
            .bind(ids)
            .execute(db)
            .await
            .map(drop)
    }

    #[on]
    async fn deposited(
        &self,
        events: &[Deposited],
        metas: &[RecordedEvent],
        db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        assert_eq!(events.len(), metas.len());
        let ids: Vec<&str> = events.iter().map(|e| e.account_id.as_str()).collect();
        let amounts: Vec<i64> = events.iter().map(|e| e.amount).collect();
        sqlx::query(
            "UPDATE balances b SET balance = b.balance + d.amount \
             FROM (SELECT id, sum(amount)::bigint AS amount FROM UNNEST($1::text[], $2::bigint[]) AS d(id, amount) \
                   GROUP BY id) d WHERE b.id = d.id",
        )
        .bind(ids)
        .bind(amounts)
        .execute(db)
        .await
        .map(drop)
    }

    #[on]
    async fn closed(&self, event: &Closed, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM balances WHERE id = $1")
            .bind(&event.account_id)
            .execute(db)
            .await
            .map(drop)
    }
}
// ANCHOR_END: batch

pub struct Counts;

#[projection]
impl Counts {
    #[on]
    async fn deposited(&self, events: &[Deposited], db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE counts SET deposits = deposits + ?")
            .bind(events.len() as i64)
            .execute(db)
            .await
            .map(drop)
    }
}

fn postgres<P: Projection<Store = PostgresReadStore>>(_: &P) {}
fn sqlite<P: Projection<Store = SqliteReadStore>>(_: &P) {}

fn main() {
    postgres(&Balances);
    sqlite(&Counts);
    assert_eq!(Balances::EVENT_TYPES, ["Opened", "Deposited", "Closed"]);
    assert_eq!(Counts::EVENT_TYPES, ["Deposited"]);
}
