// Handlers, `#[reset]` and `#[query]` methods may fail with any error that can be boxed: sqlx's,
// an error type of the application, a boxed error, or through a `Result` alias.
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{Answer, ReadOnly, RecordedEvent};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Rated {
    pub stars: i64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Unrated;

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Flagged;

#[derive(Debug, thiserror::Error)]
pub enum RatingError {
    #[error("{0} stars is out of range")]
    OutOfRange(i64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub struct Ratings;

#[projection]
impl Ratings {
    #[on]
    async fn rated(&self, event: &Rated, db: &mut PgConnection) -> Result<(), RatingError> {
        if !(1..=5).contains(&event.stars) {
            return Err(RatingError::OutOfRange(event.stars));
        }
        sqlx::query("INSERT INTO ratings (stars) VALUES ($1)").bind(event.stars).execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn unrated(
        &self,
        _event: &Unrated,
        meta: &RecordedEvent,
        _db: &mut PgConnection,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("cannot unrate at {}", meta.position).into())
    }

    #[on]
    async fn flagged(&self, _event: &Flagged, db: &mut PgConnection) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM ratings").execute(&mut *db).await?;
        Ok(())
    }

    #[reset]
    async fn reset(&self, _db: &mut PgConnection) -> Result<(), std::io::Error> {
        Ok(())
    }

    #[query]
    async fn average(&self, _query: &AverageRating, db: &mut ReadOnly<'_, PgConnection>) -> Result<Option<f64>, RatingError> {
        Ok(db.fetch_one(sqlx::query_scalar("SELECT avg(stars)::float8 FROM ratings")).await?)
    }
}

#[derive(Query)]
#[query(output = Option<f64>, read_model = Ratings)]
pub struct AverageRating;

fn answers<P: Answer<AverageRating>>() {}

fn main() {
    answers::<Ratings>();
}
