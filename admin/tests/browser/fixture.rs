//! What the browser tests run against: a real Postgres event store and read store in a schema
//! of the test's own, a projection run in-process that refuses one deposit until it is fixed
//! (its poison events dead-lettered), and the admin server on 127.0.0.1:0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{PostgresReadStore, ProjectionHandle, RetryPolicy};
use chronicle_admin::Admin;

/// The deposit the view refuses until fixed.
pub const UNLUCKY: i64 = 13;

#[derive(Debug, thiserror::Error)]
#[error("the view refuses a deposit of 13")]
struct Unlucky;

/// The deposits of every account; refuses deposits of [`UNLUCKY`] until `fixed`.
#[derive(Default, Clone)]
pub struct Deposits {
    pub fixed: Arc<AtomicBool>,
}

#[projection(name = "admin.deposits", version = 1)]
impl Deposits {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("CREATE TABLE IF NOT EXISTS admin_deposits (account_id TEXT, amount BIGINT)")
            .execute(&mut *db)
            .await?;
        sqlx::query("DELETE FROM admin_deposits")
            .execute(&mut *db)
            .await
            .map(drop)
    }

    #[on]
    async fn deposited(
        &self,
        event: &bank::MoneyDeposited,
        db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        if event.amount == UNLUCKY && !self.fixed.load(Ordering::SeqCst) {
            return Err(HandlerError::new(Unlucky));
        }
        sqlx::query("INSERT INTO admin_deposits VALUES ($1, $2)")
            .bind(&event.account_id)
            .bind(event.amount)
            .execute(&mut *db)
            .await
            .map(drop)
            .map_err(HandlerError::new)
    }
}

/// The stores, the bank on them, and the view's flag.
pub struct Fixture {
    pub store: PostgresStore,
    pub read: PostgresReadStore,
    pub bank: Chronicle<PostgresStore>,
    pub view: Deposits,
}

impl Fixture {
    pub async fn new() -> Self {
        let store = chronicle_tests::support::postgres_store().await;
        let read = chronicle_tests::support::postgres_read_store_beside(&store).await;
        Self {
            bank: Chronicle::new(store.clone()),
            store,
            read,
            view: Deposits::default(),
        }
    }

    /// A runner of the view that dead-letters what it cannot apply after two quick tries, with a
    /// short lease: it answers retry requests each time it renews it.
    pub fn runner(&self) -> ProjectionHandle<Deposits, PostgresStore> {
        ProjectionRunner::new(self.store.clone(), self.read.clone(), self.view.clone())
            .retry(RetryPolicy::new(2, Duration::from_millis(5)))
            .on_poison(OnPoison::DeadLetter)
            .lease(Duration::from_millis(1500))
            .spawn()
    }

    /// Opens account `id` for `owner`, with an e-mail address in the command's metadata.
    pub async fn open(&self, id: &str, owner: &str) -> Receipt {
        let context = CommandContext::new()
            .actor("teller-7")
            .with("email", format!("{id}@example.com"));
        let command = bank::OpenAccount {
            account_id: id.to_owned(),
            owner: owner.to_owned(),
            overdraft_limit: 0,
        };
        self.bank
            .execute_with(command, context)
            .await
            .expect("open an account")
    }

    pub async fn deposit(&self, id: &str, amount: i64) -> Receipt {
        let command = bank::Deposit {
            account_id: id.to_owned(),
            amount,
        };
        self.bank.execute(command).await.expect("deposit")
    }

    /// Serves `admin` on a free port of 127.0.0.1, and returns its base URL.
    pub async fn serve(admin: Admin<PostgresStore, PostgresReadStore>) -> String {
        admin.migrate().await.expect("the audit table");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the admin server");
        let address = listener.local_addr().expect("its address");
        let router = admin.router();
        tokio::spawn(async move { chronicle_admin::serve(listener, router).await });
        format!("http://{address}/")
    }
}
