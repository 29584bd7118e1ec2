// The smallest projection: handlers without the envelope, no `#[reset]` and no `#[query]`. Other
// methods and attributes of the impl block are kept as written.
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{PostgresReadStore, Projection};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Registered {
    pub email: String,
}

#[derive(Clone)]
pub struct Emails {
    table: &'static str,
}

#[projection(version = 3)]
impl Emails {
    /// Handlers may be documented.
    #[on]
    #[allow(clippy::needless_pass_by_ref_mut)]
    async fn registered(&self, event: &Registered, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(&self.insert()).bind(&event.email).execute(&mut *db).await?;
        Ok(())
    }

    /// A plain method, untouched.
    fn insert(&self) -> String {
        format!("INSERT INTO {} (email) VALUES ($1)", self.table)
    }
}

fn postgres<P: Projection<Store = PostgresReadStore>>(_: &P) {}

fn main() {
    let emails = Emails { table: "emails" };
    postgres(&emails);
    assert_eq!(emails.insert(), "INSERT INTO emails (email) VALUES ($1)");
    assert_eq!(Emails::NAME, "Emails");
    assert_eq!(Emails::VERSION, 3);
    assert_eq!(Emails::EVENT_TYPES, ["Registered"]);
    assert!(!Emails::HAS_RESET);
}
