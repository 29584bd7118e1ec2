//! Relays and consumers against the real brokers: the log published to RabbitMQ and NATS JetStream,
//! read back with the brokers' own clients and by consumers into read stores of their own.
//!
//! - `rabbitmq.rs`: every event once, in order, with its headers, confirmed before the
//!   checkpoint moves; filters; a broker that cannot be reached at start;
//! - `nats.rs`: the same on JetStream, a re-publish after a crash stored once (by
//!   `Nats-Msg-Id`), and a server killed and restarted mid-stream (a throwaway one);
//! - `consume.rs`: consumers fed from each broker into a read store of their own: exactly once,
//!   poison messages, rebuilds, standby, a broker away at start;
//! - `kill.rs`: a relay process killed (`kill -9`) at random moments, again and again, with a
//!   consumer downstream;
//! - `consumer_kill.rs`: a consumer process killed at random moments, again and again;
//! - `restart.rs`: a RabbitMQ node (a throwaway one) stopped and started mid-stream;
//! - `subscribe.rs`: the subscribers on their own: order, filters, redelivery, dead letters,
//!   resuming after a sequence, backlogs, unreadable messages, unreachable brokers.

mod consume;
mod consumer_kill;
mod kill;
mod nats;
mod rabbitmq;
mod restart;
mod subscribe;

use chronicle::prelude::*;
use chronicle_tests::support;

/// A migrated Postgres store in a fresh schema, a read store beside it for the relay's
/// checkpoint, and a `Chronicle` writing the bank's commands to it.
pub async fn bank() -> (PostgresStore, PostgresReadStore, Chronicle<PostgresStore>) {
    let store = support::postgres_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    let bank = Chronicle::new(store.clone());
    (store, read, bank)
}

/// Opens `accounts` accounts and makes `deposits` deposits to each, interleaved; returns the
/// last receipt.
pub async fn traffic(bank: &Chronicle<PostgresStore>, accounts: usize, deposits: usize) -> Receipt {
    let mut last = None;
    for n in 0..accounts {
        last = Some(
            bank.execute(bank::OpenAccount {
                account_id: format!("acc-{n}"),
                owner: format!("owner {n}"),
                overdraft_limit: 0,
            })
            .await
            .expect("open"),
        );
    }
    for round in 0..deposits {
        for n in 0..accounts {
            last = Some(
                bank.execute(bank::Deposit {
                    account_id: format!("acc-{n}"),
                    amount: i64::try_from(round + 1).expect("small"),
                })
                .await
                .expect("deposit"),
            );
        }
    }
    last.expect("at least one command")
}

/// Makes `rounds` deposits to each of the accounts `acc-0` .. that [`traffic`] opened, interleaved;
/// returns the last receipt.
pub async fn more_deposits(bank: &Chronicle<PostgresStore>, accounts: usize, rounds: usize) -> Receipt {
    let mut last = None;
    for round in 0..rounds {
        for n in 0..accounts {
            last = Some(
                bank.execute(bank::Deposit {
                    account_id: format!("acc-{n}"),
                    amount: i64::try_from(round + 100).expect("small"),
                })
                .await
                .expect("deposit"),
            );
        }
    }
    last.expect("at least one command")
}

/// Checks that `received` holds every event of the log exactly once, in position order per
/// stream, given the store's whole log.
pub async fn assert_each_event_once(store: &PostgresStore, received: &[chronicle::RecordedEvent]) {
    let log = store.read_all(0, 1_000_000).await.expect("the log");
    let mut ids: Vec<_> = received.iter().map(|event| event.event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), received.len(), "an event arrived twice");
    assert_eq!(received.len(), log.len(), "not every event arrived");
    let mut last_version = std::collections::HashMap::new();
    for event in received {
        let previous = last_version.insert(event.stream_id.clone(), event.stream_version);
        assert_eq!(
            previous.map_or(1, |version| version + 1),
            event.stream_version,
            "stream {} out of order",
            event.stream_id
        );
    }
}
