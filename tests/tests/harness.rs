//! The given/when/then harness on the bank aggregate: decisions tested without a database.

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
