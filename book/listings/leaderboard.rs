//! The book's Redis view (levels chapter): a leaderboard in a sorted set.

// ANCHOR: leaderboard
use std::time::Duration;

use bank::{Deposit, MoneyDeposited, OpenAccount};
use chronicle::prelude::*;
use chronicle::{redis, ReadStoreError};

/// Each account's deposits, summed, in the sorted set at `key`.
pub struct Leaderboard {
    pub key: String,
}

#[projection(name = "bank.leaderboard", version = 1)]
impl Leaderboard {
    #[reset]
    async fn reset(&self, db: &mut RedisWrites) -> Result<(), ReadStoreError> {
        db.queue(redis::cmd("DEL").arg(&self.key))?;
        Ok(())
    }

    /// Queued, and committed with the runner's checkpoint in one `MULTI`/`EXEC`.
    #[on]
    async fn deposited(&self, event: &MoneyDeposited, db: &mut RedisWrites) -> Result<(), ReadStoreError> {
        db.queue(
            redis::cmd("ZINCRBY")
                .arg(&self.key)
                .arg(event.amount)
                .arg(&event.account_id),
        )?;
        Ok(())
    }

    /// Reads only: `ReadOnly<'_, RedisWrites>` has no way to queue a write.
    #[query]
    async fn top(
        &self,
        query: &TopDepositors,
        db: &mut ReadOnly<'_, RedisWrites>,
    ) -> Result<Vec<(String, f64)>, ReadStoreError> {
        let last = isize::try_from(query.count).unwrap_or(isize::MAX) - 1;
        db.zrevrange_with_scores(&self.key, 0, last).await
    }
}

/// The `count` accounts that deposited most, with their totals.
#[derive(Query)]
#[query(output = Vec<(String, f64)>, read_model = Leaderboard)]
pub struct TopDepositors {
    pub count: usize,
}

/// The bank's deposits into `boards` (say `RedisReadStore::open("redis://127.0.0.1:6379")?`,
/// migrated), then the leader, consistent with the last deposit.
pub async fn the_leader(
    store: PostgresStore,
    boards: RedisReadStore,
    board: Leaderboard,
) -> Result<Option<(String, f64)>, Box<dyn std::error::Error>> {
    let read_side = ReadSide::new(store.clone(), boards);
    // Queries answer from a value of the projection; the runner owns the other.
    let view = Leaderboard {
        key: board.key.clone(),
    };
    let runner = read_side.runner(board).spawn();

    let bank = Chronicle::new(store);
    for (account, amount) in [("ada", 30), ("grace", 50)] {
        bank.execute(OpenAccount {
            account_id: account.into(),
            owner: account.into(),
            overdraft_limit: 0,
        })
        .await?;
        bank.execute(Deposit {
            account_id: account.into(),
            amount,
        })
        .await?;
    }
    let receipt = bank
        .execute(Deposit {
            account_id: "ada".into(),
            amount: 5,
        })
        .await?;
    let top = read_side
        .query_consistent(
            &view,
            &TopDepositors { count: 1 },
            &receipt,
            Duration::from_secs(10),
        )
        .await?;
    runner.stop().await.into_result()?;
    Ok(top.into_iter().next())
}
// ANCHOR_END: leaderboard

#[tokio::test]
async fn grace_leads_the_board() {
    let store = chronicle_tests::support::postgres_store().await;
    // A key prefix of the test's own, with the view's key under it, keeps runs apart.
    let boards = chronicle_tests::support::redis_read_store().await;
    let board = Leaderboard {
        key: format!("{}:leaderboard", boards.key_prefix()),
    };
    let leader = the_leader(store, boards.clone(), board).await.unwrap();
    chronicle_tests::support::delete_redis_keys(&boards).await;
    assert_eq!(leader, Some(("grace".to_owned(), 50.0)));
}
