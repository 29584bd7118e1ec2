//! The audit log: an aggregate's history with every event's metadata, and everything one request
//! caused, found by its correlation id.

use bank::{Account, AccountEvent, Withdraw};
use chronicle::prelude::*;
use uuid::Uuid;

use super::write::{deposit, open};

pub async fn history_lists_every_event_with_its_metadata_in_order<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    let request = Uuid::new_v4();
    let upstream = Uuid::new_v4();
    let command = Uuid::new_v4();
    bank.execute_with(
        open("h-1"),
        CommandContext::new().actor("clerk-1").correlation_id(request),
    )
    .await
    .unwrap();
    bank.execute_with(
        deposit("h-1", 70),
        CommandContext::new()
            .command_id(command)
            .correlation_id(request)
            .causation_id(upstream)
            .actor("teller-7")
            .with("channel", "branch")
            .with("reason", "salary"),
    )
    .await
    .unwrap();
    bank.execute(Withdraw {
        account_id: "h-1".into(),
        amount: 20,
    })
    .await
    .unwrap();
    bank.execute(open("other")).await.unwrap();

    let history = bank.history::<Account>("h-1").await.unwrap();
    assert_eq!(history.len(), 3, "only this account's events");
    assert!(matches!(history[0].event, AccountEvent::AccountOpened(_)));
    assert!(matches!(&history[1].event, AccountEvent::MoneyDeposited(d) if d.amount == 70));
    assert!(matches!(&history[2].event, AccountEvent::MoneyWithdrawn(w) if w.amount == 20));
    assert_eq!(
        history.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(history
        .windows(2)
        .all(|w| w[0].position < w[1].position && w[0].recorded_at <= w[1].recorded_at));
    assert!(history.iter().all(|e| e.stream_id == "bank.Account-h-1"));
    assert_eq!(
        history.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
        ["bank.AccountOpened", "bank.MoneyDeposited", "bank.MoneyWithdrawn"]
    );
    assert!(history.iter().all(|e| e.event_version == 1));

    let opened = &history[0].metadata;
    assert_eq!(opened.actor.as_deref(), Some("clerk-1"));
    assert_eq!(opened.correlation_id, request);
    assert_eq!(
        opened.causation_id, opened.command_id,
        "caused by its command by default"
    );

    let deposited = &history[1];
    assert_eq!(deposited.metadata.command_id, command);
    assert_eq!(deposited.metadata.correlation_id, request);
    assert_eq!(deposited.metadata.causation_id, upstream);
    assert_eq!(deposited.metadata.actor.as_deref(), Some("teller-7"));
    assert_eq!(
        deposited.metadata.extra,
        serde_json::json!({"channel": "branch", "reason": "salary"})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(
        deposited.event_id,
        store.read_stream("bank.Account-h-1", 1).await.unwrap()[0].event_id
    );

    let withdrawn = &history[2].metadata;
    assert_eq!(withdrawn.actor, None);
    assert!(withdrawn.extra.is_empty());
    assert_eq!(withdrawn.correlation_id, withdrawn.command_id);

    assert!(bank.history::<Account>("never-opened").await.unwrap().is_empty());
}

pub async fn read_by_correlation_finds_everything_one_request_caused<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    let transfer = Uuid::new_v4();
    let unrelated = Uuid::new_v4();
    bank.execute(open("c-1")).await.unwrap();
    bank.execute(open("c-2")).await.unwrap();
    let in_request = |id: Uuid| CommandContext::new().correlation_id(id).actor("api");
    bank.execute_with(
        Withdraw {
            account_id: "c-1".into(),
            amount: 30,
        },
        in_request(transfer),
    )
    .await
    .unwrap();
    bank.execute_with(deposit("c-1", 5), in_request(unrelated))
        .await
        .unwrap();
    bank.execute_with(deposit("c-2", 30), in_request(transfer))
        .await
        .unwrap();

    let caused = store.read_by_correlation(transfer).await.unwrap();
    assert_eq!(
        caused
            .iter()
            .map(|e| (e.stream_id.as_str(), e.event_type.as_str()))
            .collect::<Vec<_>>(),
        [
            ("bank.Account-c-1", "bank.MoneyWithdrawn"),
            ("bank.Account-c-2", "bank.MoneyDeposited")
        ],
        "across streams, in log order"
    );
    assert!(caused.windows(2).all(|w| w[0].position < w[1].position));
    assert!(caused.iter().all(|e| e.metadata.correlation_id == transfer));
    // Events decode with their envelope as in `history`.
    let decoded = chronicle::Envelope::<AccountEvent>::decode(&caused[1]).unwrap();
    assert!(matches!(decoded.event, AccountEvent::MoneyDeposited(d) if d.amount == 30));
    assert_eq!(decoded.metadata.actor.as_deref(), Some("api"));

    assert_eq!(store.read_by_correlation(unrelated).await.unwrap().len(), 1);
    assert!(store
        .read_by_correlation(Uuid::new_v4())
        .await
        .unwrap()
        .is_empty());
}
