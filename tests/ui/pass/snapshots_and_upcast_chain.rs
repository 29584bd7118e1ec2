use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

// Declared through `macro_rules!`, so generated code must not depend on call-site hygiene.
macro_rules! declare {
    () => {
        #[derive(Event, Serialize, Deserialize, Debug, Clone)]
        #[event(name = "bank.MoneyDeposited", version = 1)]
        pub struct DepositedV1 {
            pub cents: i64,
        }

        #[derive(Event, Serialize, Deserialize, Debug, Clone)]
        #[event(name = "bank.MoneyDeposited", version = 2, upcast_from = DepositedV1)]
        pub struct Deposited {
            pub cents: i64,
            pub currency: String,
        }

        impl From<DepositedV1> for Deposited {
            fn from(v1: DepositedV1) -> Self {
                Self {
                    cents: v1.cents,
                    currency: "EUR".into(),
                }
            }
        }

        #[derive(Default, Clone, Debug, Serialize, Deserialize)]
        pub struct Account {
            balance: i64,
        }

        #[aggregate(snapshot_every = 100, snapshot_version = 3)]
        impl Account {
            #[apply]
            fn deposited(&mut self, event: &Deposited) {
                self.balance += event.cents;
            }
        }
    };
}

declare!();

fn main() {
    assert_eq!(
        (
            Deposited::OLDEST_VERSION,
            Deposited::VERSION,
            DepositedV1::OLDEST_VERSION
        ),
        (1, 2, 1)
    );
    assert_eq!((Account::SNAPSHOT_EVERY, Account::SNAPSHOT_VERSION), (100, 3));
    let state = Account { balance: 7 }.to_snapshot().unwrap().unwrap();
    let back = Account::from_snapshot(&state).unwrap().unwrap();
    assert_eq!(back.balance, 7);
}
