//! The book's given/when/then tests of the bank's decisions (write-side chapter).

// ANCHOR: harness
use chronicle::testing::AggregateTest;

// The bank of the listings above (the example's crate is called `bank`).
use bank::{Account, AccountEvent, AccountOpened, BankError, Deposit, OpenAccount, Withdraw};

fn opened(overdraft_limit: i64) -> AccountOpened {
    AccountOpened {
        account_id: "a".into(),
        owner: "Ada".into(),
        overdraft_limit,
    }
}

#[test]
fn a_new_account_can_be_opened() {
    AggregateTest::<Account>::given_no_history()
        .when(OpenAccount {
            account_id: "a".into(),
            owner: "Ada".into(),
            overdraft_limit: 100,
        })
        .then_expect_events([opened(100).into()]);
}

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

#[test]
fn a_closed_account_says_why() {
    AggregateTest::<Account>::given_no_history()
        .when(Deposit {
            account_id: "a".into(),
            amount: 5,
        })
        .then_expect_error_message("account a is not open");
}

#[test]
fn the_raw_decision_for_other_assertions() {
    let events = AggregateTest::<Account>::given([opened(0).into()])
        .when(Deposit {
            account_id: "a".into(),
            amount: 5,
        })
        .into_result()
        .unwrap();
    assert!(matches!(&events[..], [AccountEvent::MoneyDeposited(d)] if d.amount == 5));
}
// ANCHOR_END: harness
