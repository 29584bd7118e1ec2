//! Read-your-writes across processes: the command here, the view's runner in a worker process of
//! its own (`harness partition-worker`, one partition of [`BatchBalances`]), and the wait here
//! through a [`ReadSide`] that runs nothing, so that it learns of the runner's progress only from
//! the checkpoint table, as a web process beside a separate projection service does.

use std::path::Path;
use std::time::{Duration, Instant};

use bank::{Deposit, OpenAccount};
use chronicle::sqlx;
use chronicle::{Chronicle, PostgresReadStore, PostgresStore, ReadSide};

use super::processes::{finish_all, start_all};
use super::views::{BatchBalances, TABLE};
use super::worker::{View, Worker};
use crate::db::{account_id, Db, Rng};
use crate::report::Sample;
use crate::Result;

/// Accounts the deposits go to.
const ACCOUNTS: usize = 10;
/// Events per batch of the remote runner: a deposit is always a short batch.
const BATCH: usize = 100;

/// Deposits `commands` times through `store` and, after each, waits until the remote runner's
/// view holds it and reads the balance back; the latency is from the receipt to the balance read.
pub(crate) async fn measure(
    db: &Db,
    store: &PostgresStore,
    exe: &Path,
    database_url: &str,
    commands: usize,
    timeout: Duration,
) -> Result<Sample> {
    let read_schema = db.schema("ryw_remote");
    let read = PostgresReadStore::from_pool(db.pool(2).await?).with_schema(&read_schema)?;
    read.migrate().await?;
    let bank = Chronicle::new(store.clone());
    let mut receipt = None;
    for n in 0..ACCOUNTS {
        receipt = Some(
            bank.execute(OpenAccount {
                account_id: remote_account(n),
                owner: format!("remote owner {n}"),
                overdraft_limit: 0,
            })
            .await?,
        );
    }
    let worker = Worker {
        database_url: database_url.to_owned(),
        events_schema: store.schema().to_owned(),
        read_schema: read_schema.clone(),
        view: View::Batch,
        partitions: 1,
        batch: BATCH,
        lease: chronicle::DEFAULT_LEASE,
        poll: chronicle::DEFAULT_POLL_INTERVAL,
        lifetime: timeout + Duration::from_secs(600),
    };
    let processes = start_all(&worker, exe, 1).await?;
    let side = ReadSide::new(store.clone(), read.clone());
    side.wait_for::<BatchBalances>(receipt.and_then(|r| r.position), timeout)
        .await?;
    let balance_sql = format!("SELECT balance FROM \"{read_schema}\".{TABLE} WHERE account_id = $1");
    let mut balances = [0i64; ACCOUNTS];
    let mut rng = Rng::new(11);
    let mut latencies = Vec::with_capacity(commands);
    let started = Instant::now();
    for _ in 0..commands {
        let n = rng.below(ACCOUNTS);
        let amount = 1 + rng.below(1000) as i64;
        balances[n] += amount;
        let receipt = bank
            .execute(Deposit {
                account_id: remote_account(n),
                amount,
            })
            .await?;
        let t = Instant::now();
        side.wait_for::<BatchBalances>(receipt.position, timeout).await?;
        let balance: i64 = sqlx::query_scalar(&balance_sql)
            .bind(remote_account(n))
            .fetch_one(read.pool())
            .await?;
        latencies.push(t.elapsed());
        if balance != balances[n] {
            return Err(format!(
                "cross-process read-your-writes: balance {balance} read after its deposit, expected {}",
                balances[n]
            )
            .into());
        }
    }
    let sample = Sample::timed(latencies.len(), started.elapsed(), latencies);
    finish_all(processes).await?;
    read.pool().close().await;
    db.drop_schema(&read_schema).await?;
    Ok(sample)
}

/// The accounts of this measurement, apart from the in-process one's.
fn remote_account(n: usize) -> String {
    format!("remote-{}", account_id(n))
}
