//! Stream identity (issue 10, #3): an aggregate's stream is `"{name}-{id}"`, and since no
//! aggregate name contains `-`, the first `-` always ends the name. Aggregates whose stream ids
//! look alike (`Order` with id `Line-5`, `OrderLine` and `order.Line` with id `5`, `Order` with
//! id `Line`) each write and replay their own events only, and ids containing `-` come back as
//! they went in.

use chronicle::prelude::*;
use chronicle::{stream_id, Aggregate};
use serde::{Deserialize, Serialize};

/// One event type shared by every aggregate below, so that a store mixing their streams would
/// show up as foreign items in a state rather than as an unknown event.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "shop.ItemAdded")]
pub struct ItemAdded {
    pub item: String,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

macro_rules! aggregate_of_items {
    ($aggregate:ident, $name:literal, $command:ident) => {
        #[derive(Command, Debug, Clone)]
        #[command(aggregate = $aggregate)]
        pub struct $command {
            #[id]
            pub id: String,
            pub item: String,
        }

        /// The items added, in order.
        #[derive(Default, Clone, Debug)]
        pub struct $aggregate {
            pub items: Vec<String>,
        }

        #[aggregate(name = $name)]
        impl $aggregate {
            #[handle]
            fn add(&self, command: &$command) -> Result<ItemAdded, Never> {
                Ok(ItemAdded {
                    item: command.item.clone(),
                })
            }

            #[apply]
            fn added(&mut self, event: &ItemAdded) {
                self.items.push(event.item.clone());
            }
        }
    };
}

aggregate_of_items!(Order, "Order", AddToOrder);
aggregate_of_items!(OrderLine, "OrderLine", AddToOrderLine);
aggregate_of_items!(DottedLine, "order.Line", AddToDottedLine);

/// `(aggregate name, id)`: the stream id cut at its first `-`.
fn split(stream: &str) -> (&str, &str) {
    stream.split_once('-').expect("a stream id has a `-`")
}

pub async fn aggregates_whose_stream_ids_look_alike_replay_only_their_own_events<S: EventStore>(store: S) {
    let app = Chronicle::new(store.clone());
    let mut receipts = Vec::new();
    for (id, item) in [
        ("Line-5", "order Line-5, 1"),
        ("Line", "order Line"),
        ("Line-5", "order Line-5, 2"),
    ] {
        receipts.push(
            app.execute(AddToOrder {
                id: id.into(),
                item: item.into(),
            })
            .await
            .unwrap(),
        );
    }
    receipts.push(
        app.execute(AddToOrderLine {
            id: "5".into(),
            item: "order line 5".into(),
        })
        .await
        .unwrap(),
    );
    receipts.push(
        app.execute(AddToDottedLine {
            id: "5".into(),
            item: "dotted line 5".into(),
        })
        .await
        .unwrap(),
    );
    let streams: Vec<&str> = receipts.iter().map(|r| r.stream_id.as_str()).collect();
    assert_eq!(
        streams,
        [
            "Order-Line-5",
            "Order-Line",
            "Order-Line-5",
            "OrderLine-5",
            "order.Line-5"
        ]
    );
    assert_eq!(stream_id::<Order>("Line-5"), "Order-Line-5");
    assert_eq!(split("Order-Line-5"), (Order::NAME, "Line-5"));
    assert_eq!(split("OrderLine-5"), (OrderLine::NAME, "5"));
    assert_eq!(split("order.Line-5"), (DottedLine::NAME, "5"));

    // Each replays its own events, also in a process whose cache knows nothing.
    for app in [app.clone(), Chronicle::new(store.clone())] {
        let order = app.load::<Order>("Line-5").await.unwrap();
        assert_eq!(order.state.items, ["order Line-5, 1", "order Line-5, 2"]);
        assert_eq!(order.version, 2);
        let prefix = app.load::<Order>("Line").await.unwrap();
        assert_eq!(prefix.state.items, ["order Line"]);
        let line = app.load::<OrderLine>("5").await.unwrap();
        assert_eq!(line.state.items, ["order line 5"]);
        let dotted = app.load::<DottedLine>("5").await.unwrap();
        assert_eq!(dotted.state.items, ["dotted line 5"]);
        // Ids that only look like a neighbour's are empty streams.
        assert!(app.load::<Order>("Line-").await.unwrap().state.items.is_empty());
        assert!(app.load::<Order>("Line-5-").await.unwrap().state.items.is_empty());
        assert!(app.load::<Order>("Line-50").await.unwrap().state.items.is_empty());
        assert!(app.load::<OrderLine>("").await.unwrap().state.items.is_empty());
    }
    let history = app.history::<Order>("Line-5").await.unwrap();
    assert!(history.iter().all(|e| e.stream_id == "Order-Line-5"));
    assert_eq!(store.read_stream("Order-Line", 0).await.unwrap().len(), 1);
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 5);

    // A command on one never moves another: each stream is at its own version.
    let next = app
        .execute(AddToOrderLine {
            id: "5".into(),
            item: "again".into(),
        })
        .await
        .unwrap();
    assert_eq!((next.stream_id.as_str(), next.stream_version), ("OrderLine-5", 2));
    assert_eq!(app.load::<Order>("Line-5").await.unwrap().version, 2);
}

pub async fn ids_with_dashes_round_trip<S: EventStore>(store: S) {
    let app = Chronicle::new(store.clone());
    let ids = ["a-b-c", "-", "--", "-5", "5-", "Order-Line-5", "2026-12-24-7f3e"];
    for id in ids {
        let command_id = uuid::Uuid::new_v4();
        let receipt = app
            .execute_with(
                AddToOrder {
                    id: id.into(),
                    item: format!("item of {id}"),
                },
                CommandContext::new()
                    .command_id(command_id)
                    .correlation_id(command_id),
            )
            .await
            .unwrap();
        let stream = format!("Order-{id}");
        assert_eq!(receipt.stream_id, stream);
        assert_eq!(split(&receipt.stream_id), ("Order", id));
        assert_eq!(
            store.find_command(command_id).await.unwrap().as_ref(),
            Some(&receipt)
        );
        let caused = store.read_by_correlation(command_id).await.unwrap();
        assert_eq!(caused.len(), 1);
        assert_eq!(caused[0].stream_id, stream);
        let history = app.history::<Order>(id).await.unwrap();
        assert_eq!(history.len(), 1, "{id}");
        assert_eq!(history[0].stream_id, stream);
    }
    let all = store.read_all(0, 100).await.unwrap();
    let back: Vec<&str> = all.iter().map(|e| split(&e.stream_id).1).collect();
    assert_eq!(back, ids);
    for id in ids {
        let loaded = Chronicle::new(store.clone()).load::<Order>(id).await.unwrap();
        assert_eq!(loaded.state.items, [format!("item of {id}")], "{id}");
    }
}
