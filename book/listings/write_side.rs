//! The book's write-side listings that are not the bank example itself: executing commands,
//! their context, and what a caller does with their errors.

// ANCHOR: execute
use chronicle::prelude::*;

// The bank of the listings above (the example's crate is called `bank`).
use bank::{Account, BankError, Deposit, OpenAccount, Withdraw};

/// Opens an account and pays into it, on any store.
pub async fn open_and_deposit<S: EventStore>(store: S) -> Result<Chronicle<S>, CommandError<BankError>> {
    let bank = Chronicle::new(store);
    let open = OpenAccount {
        account_id: "acc-42".into(),
        owner: "Ada".into(),
        overdraft_limit: 100,
    };
    bank.execute(open).await?;
    let receipt = bank
        .execute(Deposit {
            account_id: "acc-42".into(),
            amount: 250,
        })
        .await?;
    // Where the events landed: the stream, its new version and the global position.
    assert_eq!(
        (receipt.stream_id.as_str(), receipt.stream_version),
        ("bank.Account-acc-42", 2)
    );
    // The state, rebuilt from the stream: for tests and tools (read data through queries).
    let account = bank.load::<Account>("acc-42").await?;
    assert_eq!((account.state.balance(), account.version), (250, 2));
    Ok(bank)
}
// ANCHOR_END: execute

// ANCHOR: context
use uuid::Uuid;

/// A withdrawal at a branch counter, recorded with who asked for it and in answer to what.
pub async fn withdraw_at_the_counter<S: EventStore>(
    bank: &Chronicle<S>,
    request_id: Uuid,
    conversation: Uuid,
) -> Result<Receipt, CommandError<BankError>> {
    let context = CommandContext::new()
        .command_id(request_id) // default: a fresh id
        .correlation_id(conversation) // default: the command id
        .actor("teller-7")
        .with("channel", "branch");
    let withdrawal = Withdraw {
        account_id: "acc-42".into(),
        amount: 30,
    };
    bank.execute_with(withdrawal, context).await
}
// ANCHOR_END: context

// ANCHOR: errors
/// What a caller does with each way a command can end.
pub async fn withdraw_or_explain<S: EventStore>(bank: &Chronicle<S>, amount: i64) -> String {
    let withdrawal = Withdraw {
        account_id: "acc-42".into(),
        amount,
    };
    match bank.execute(withdrawal).await {
        Ok(receipt) => format!("withdrawn; the account is at version {}", receipt.stream_version),
        // A business rule said no, in your own error type; nothing was appended.
        Err(CommandError::Rejected(BankError::Overdraft { limit, .. })) => {
            format!("refused: the overdraft limit is {limit}")
        }
        Err(CommandError::Rejected(other)) => format!("refused: {other}"),
        // Every attempt met another writer on the stream.
        Err(CommandError::Concurrency { attempts, .. }) => format!("busy: gave up after {attempts} attempts"),
        // The database could not be reached: nothing was written, try again later.
        Err(CommandError::Store(error)) if error.is_transient() => format!("try again later: {error}"),
        // Anything else (`CommandError` is `#[non_exhaustive]`): bad data in the store, say.
        Err(other) => format!("failed: {other}"),
    }
}
// ANCHOR_END: errors

#[tokio::test]
async fn a_command_returns_a_receipt_and_its_context_is_recorded() {
    let bank = open_and_deposit(MemoryStore::new()).await.unwrap();
    let (request, conversation) = (Uuid::new_v4(), Uuid::new_v4());
    let first = withdraw_at_the_counter(&bank, request, conversation)
        .await
        .unwrap();
    let again = withdraw_at_the_counter(&bank, request, conversation)
        .await
        .unwrap();
    assert_eq!(first, again, "a re-submitted command returns its first receipt");
    let history = bank.history::<Account>("acc-42").await.unwrap();
    assert_eq!(history.len(), 3);
    let metadata = &history[2].metadata;
    assert_eq!(
        (
            metadata.command_id,
            metadata.correlation_id,
            metadata.actor.as_deref()
        ),
        (request, conversation, Some("teller-7"))
    );
    assert_eq!(metadata.extra["channel"], "branch");

    assert_eq!(
        withdraw_or_explain(&bank, 400).await,
        "refused: the overdraft limit is 100"
    );
    assert_eq!(
        withdraw_or_explain(&bank, -1).await,
        "refused: amounts must be positive, got -1"
    );
    assert_eq!(
        withdraw_or_explain(&bank, 20).await,
        "withdrawn; the account is at version 4"
    );
}
