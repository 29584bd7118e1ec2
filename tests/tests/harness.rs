//! The given/when/then harness on the bank aggregate: decisions tested without a database; and
//! the given/then harness of projections, on temporary SQLite files.

use bank::{
    Account, AccountOpened, BankError, Deposit, MoneyDeposited, MoneyWithdrawn, OpenAccount, Withdraw,
};
use chronicle::testing::AggregateTest;

fn opened(limit: i64) -> AccountOpened {
    AccountOpened {
        account_id: "a".into(),
        owner: "Ada".into(),
        overdraft_limit: limit,
    }
}

#[test]
fn opening_a_new_account_records_it() {
    AggregateTest::<Account>::given_no_history()
        .when(OpenAccount {
            account_id: "a".into(),
            owner: "Ada".into(),
            overdraft_limit: 10,
        })
        .then_expect_events([opened(10).into()]);
}

#[test]
fn withdrawing_within_the_overdraft_is_accepted() {
    AggregateTest::<Account>::given([
        opened(100).into(),
        MoneyDeposited {
            account_id: "a".into(),
            amount: 20,
        }
        .into(),
    ])
    .when(Withdraw {
        account_id: "a".into(),
        amount: 120,
    })
    .then_expect_events([MoneyWithdrawn {
        account_id: "a".into(),
        amount: 120,
    }
    .into()]);
}

// ANCHOR: overdraft
#[test]
fn withdrawing_past_the_overdraft_is_rejected() {
    let error = AggregateTest::<Account>::given([opened(100).into()])
        .when(Withdraw {
            account_id: "a".into(),
            amount: 101,
        })
        .then_expect_error();
    assert_eq!(
        error,
        BankError::Overdraft {
            requested: 101,
            balance: 0,
            limit: 100
        }
    );
}
// ANCHOR_END: overdraft

#[test]
fn error_messages_can_be_asserted() {
    AggregateTest::<Account>::given_no_history()
        .when(Deposit {
            account_id: "a".into(),
            amount: 5,
        })
        .then_expect_error_message("account a is not open");
}

#[test]
#[should_panic(expected = "but the test expected")]
fn a_different_event_fails_the_test() {
    AggregateTest::<Account>::given([opened(0).into()])
        .when(Deposit {
            account_id: "a".into(),
            amount: 5,
        })
        .then_expect_events([MoneyDeposited {
            account_id: "a".into(),
            amount: 6,
        }
        .into()]);
}

#[test]
#[should_panic(expected = "but the test expected a rejection")]
fn an_accepted_command_fails_an_error_expectation() {
    let _ = AggregateTest::<Account>::given([opened(0).into()])
        .when(Deposit {
            account_id: "a".into(),
            amount: 5,
        })
        .then_expect_error();
}

mod projections {
    //! The given/then harness of projections: the bank's views on a temporary SQLite file,
    //! without an event store, a runner or a server.

    use bank::views::{AccountBalances, BalanceOf, Richest, TopAccounts};
    use bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};
    use chronicle::sqlx::{self, SqliteConnection};
    use chronicle::testing::{ProjectionTest, ProjectionTestError};
    use chronicle::SqlReadStore;

    fn opened(id: &str, owner: &str) -> AccountOpened {
        AccountOpened {
            account_id: id.into(),
            owner: owner.into(),
            overdraft_limit: 0,
        }
    }

    #[tokio::test]
    async fn events_given_to_a_view_show_in_its_answers() {
        let store = SqlReadStore::temporary().await.expect("a temporary store");
        let mut test = ProjectionTest::new(store, AccountBalances).await.expect("reset");
        test.given("bank.Account-a", opened("a", "Ada"))
            .await
            .expect("opened");
        test.given(
            "bank.Account-a",
            MoneyDeposited {
                account_id: "a".into(),
                amount: 50,
            },
        )
        .await
        .expect("deposited");
        let withdrawn = test
            .given(
                "bank.Account-a",
                MoneyWithdrawn {
                    account_id: "a".into(),
                    amount: 20,
                },
            )
            .await
            .expect("withdrawn");
        assert_eq!((withdrawn.stream_version, withdrawn.position), (3, 3));
        let balance = test
            .answer(&BalanceOf {
                account_id: "a".into(),
            })
            .await
            .expect("the query answers")
            .expect("the account is in the view");
        assert_eq!((balance.owner.as_str(), balance.balance), ("Ada", 30));
        assert!(test
            .answer(&BalanceOf {
                account_id: "b".into()
            })
            .await
            .expect("the query answers")
            .is_none());
        assert_eq!(test.events().len(), 3);
    }

    #[tokio::test]
    async fn each_test_has_a_store_of_its_own() {
        let mut first = ProjectionTest::new(SqlReadStore::temporary().await.expect("store"), TopAccounts)
            .await
            .expect("reset");
        let second = ProjectionTest::new(SqlReadStore::temporary().await.expect("store"), TopAccounts)
            .await
            .expect("reset");
        first
            .given("bank.Account-a", opened("a", "Ada"))
            .await
            .expect("opened");
        assert_eq!(
            first.answer(&Richest { limit: 5 }).await.expect("answer").len(),
            1
        );
        assert!(second
            .answer(&Richest { limit: 5 })
            .await
            .expect("answer")
            .is_empty());
    }

    /// A view whose handler refuses an account, to see the harness name the event.
    #[derive(Default)]
    struct Refusing;

    #[chronicle::projection(name = "test.refusing", version = 1)]
    impl Refusing {
        #[on]
        async fn opened(&self, event: &AccountOpened, db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
            // A real statement that fails: an account id is not JSON.
            sqlx::query("SELECT json_extract($1, '$')")
                .bind(&event.account_id)
                .execute(&mut *db)
                .await
                .map(drop)
        }
    }

    #[tokio::test]
    async fn a_failing_handler_is_reported_with_its_event() {
        let store = chronicle::SqliteReadStore::temporary().await.expect("store");
        let mut test = ProjectionTest::new(store, Refusing).await.expect("reset");
        let error = test
            .given("bank.Account-x", opened("x", "Xavier"))
            .await
            .expect_err("the handler fails");
        assert!(matches!(error, ProjectionTestError::Handler { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("bank.AccountOpened") && text.contains("stream `bank.Account-x` version 1"),
            "{text}"
        );
    }
}
