// A projection on SQLite, with the defaults: the name is the type's name and the version is 1.
use chronicle::prelude::*;
use chronicle::sqlx::{self, SqliteConnection};
use chronicle::{Answer, Projection, ReadOnly, RecordedEvent, SqliteReadStore};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct TaskAdded {
    pub title: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct TaskDone {
    pub title: String,
}

pub struct OpenTasks;

#[projection]
impl OpenTasks {
    #[on]
    async fn added(&self, event: &TaskAdded, meta: &RecordedEvent, db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO open_tasks (title, stream_id) VALUES (?, ?)")
            .bind(&event.title)
            .bind(&meta.stream_id)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[on]
    async fn done(&self, event: &TaskDone, db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM open_tasks WHERE title = ?").bind(&event.title).execute(&mut *db).await?;
        Ok(())
    }

    #[reset]
    async fn clear(&self, db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM open_tasks").execute(&mut *db).await?;
        Ok(())
    }

    #[query]
    async fn count(&self, _query: &CountOpenTasks, db: &mut ReadOnly<'_, SqliteConnection>) -> Result<i64, sqlx::Error> {
        db.fetch_one(sqlx::query_scalar("SELECT count(*) FROM open_tasks")).await
    }
}

#[derive(Query)]
#[query(output = i64, read_model = OpenTasks)]
pub struct CountOpenTasks;

fn answers<P: Answer<CountOpenTasks, Store = SqliteReadStore>>() {}

fn main() {
    answers::<OpenTasks>();
    assert_eq!(OpenTasks::NAME, "OpenTasks");
    assert_eq!(OpenTasks::VERSION, 1);
    assert_eq!(OpenTasks::EVENT_TYPES, ["TaskAdded", "TaskDone"]);
    assert!(OpenTasks::HAS_RESET);
}
