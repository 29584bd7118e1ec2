//! The bank example's domain: accounts that are opened, credited and debited within an overdraft
//! limit, and transfers between them (`transfer.rs`, a process manager across two accounts).
//! `main.rs` runs it against the embedded store or Postgres.

pub mod transfer;
pub mod views;

// ANCHOR: events
use chronicle::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An account was opened with an overdraft limit.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.AccountOpened", version = 1)]
pub struct AccountOpened {
    pub account_id: String,
    pub owner: String,
    pub overdraft_limit: i64,
}

/// Money was paid into an account.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.MoneyDeposited")]
pub struct MoneyDeposited {
    pub account_id: String,
    pub amount: i64,
}

/// Money was taken out of an account.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.MoneyWithdrawn")]
pub struct MoneyWithdrawn {
    pub account_id: String,
    pub amount: i64,
}
// ANCHOR_END: events

// ANCHOR: transfer_events
/// Money left an account for a transfer (within the overdraft limit, as a withdrawal).
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.TransferDebited")]
pub struct TransferDebited {
    pub account_id: String,
    pub transfer_id: String,
    pub amount: i64,
}

/// Money of a transfer arrived in an account.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.TransferCredited")]
pub struct TransferCredited {
    pub account_id: String,
    pub transfer_id: String,
    pub amount: i64,
}

/// The debit of a transfer that could not complete was paid back.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.TransferRefunded")]
pub struct TransferRefunded {
    pub account_id: String,
    pub transfer_id: String,
    pub amount: i64,
}
// ANCHOR_END: transfer_events

// ANCHOR: commands
/// Open a new account. It creates its aggregate, so it is decided without reading a stream
/// that is not there yet (an account opened twice is still refused: see `#[command(creates)]`).
#[derive(Command, Debug, Clone)]
#[command(aggregate = Account, creates)]
pub struct OpenAccount {
    #[id]
    pub account_id: String,
    pub owner: String,
    pub overdraft_limit: i64,
}

/// Pay money into an account.
#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Deposit {
    #[id]
    pub account_id: String,
    pub amount: i64,
}

/// Take money out of an account, within its overdraft limit.
#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Withdraw {
    #[id]
    pub account_id: String,
    pub amount: i64,
}
// ANCHOR_END: commands

// ANCHOR: transfer_commands
/// Take a transfer's money out of the paying account, within its overdraft limit. Sent by the
/// transfer process manager, so it is serializable (its steps record what they send).
#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Account)]
pub struct DebitForTransfer {
    #[id]
    pub account_id: String,
    pub transfer_id: String,
    pub amount: i64,
}

/// Pay a transfer's money into the receiving account.
#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Account)]
pub struct CreditForTransfer {
    #[id]
    pub account_id: String,
    pub transfer_id: String,
    pub amount: i64,
}

/// Pay back the debit of a transfer that failed after it.
#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Account)]
pub struct RefundTransfer {
    #[id]
    pub account_id: String,
    pub transfer_id: String,
    pub amount: i64,
}
// ANCHOR_END: transfer_commands

// ANCHOR: errors
/// Why the bank refuses a command.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum BankError {
    #[error("account {0} is already open")]
    AlreadyOpen(String),
    #[error("account {0} is not open")]
    NotOpen(String),
    #[error("amounts must be positive, got {0}")]
    NotPositive(i64),
    #[error("withdrawing {requested} would take the balance below -{limit} (balance is {balance})")]
    Overdraft {
        requested: i64,
        balance: i64,
        limit: i64,
    },
}
// ANCHOR_END: errors

// ANCHOR: aggregate
/// An account's state, rebuilt from its events.
#[derive(Default, Clone, Debug)]
pub struct Account {
    open: bool,
    balance: i64,
    overdraft_limit: i64,
}

#[aggregate(name = "bank.Account")]
impl Account {
    #[handle]
    fn open(&self, command: OpenAccount) -> Result<AccountOpened, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen(command.account_id));
        }
        Ok(AccountOpened {
            account_id: command.account_id,
            owner: command.owner,
            overdraft_limit: command.overdraft_limit,
        })
    }

    #[handle]
    fn deposit(&self, command: &Deposit) -> Result<MoneyDeposited, BankError> {
        self.ensure_open(&command.account_id)?;
        if command.amount <= 0 {
            return Err(BankError::NotPositive(command.amount));
        }
        Ok(MoneyDeposited {
            account_id: command.account_id.clone(),
            amount: command.amount,
        })
    }

    #[handle]
    fn withdraw(&self, command: &Withdraw) -> Result<MoneyWithdrawn, BankError> {
        self.ensure_open(&command.account_id)?;
        self.ensure_covered(command.amount)?;
        Ok(MoneyWithdrawn {
            account_id: command.account_id.clone(),
            amount: command.amount,
        })
    }

    #[handle]
    fn debit_for_transfer(&self, command: &DebitForTransfer) -> Result<TransferDebited, BankError> {
        self.ensure_open(&command.account_id)?;
        self.ensure_covered(command.amount)?;
        Ok(TransferDebited {
            account_id: command.account_id.clone(),
            transfer_id: command.transfer_id.clone(),
            amount: command.amount,
        })
    }

    #[handle]
    fn credit_for_transfer(&self, command: &CreditForTransfer) -> Result<TransferCredited, BankError> {
        self.ensure_open(&command.account_id)?;
        Ok(TransferCredited {
            account_id: command.account_id.clone(),
            transfer_id: command.transfer_id.clone(),
            amount: command.amount,
        })
    }

    #[handle]
    fn refund_transfer(&self, command: &RefundTransfer) -> Result<TransferRefunded, BankError> {
        self.ensure_open(&command.account_id)?;
        Ok(TransferRefunded {
            account_id: command.account_id.clone(),
            transfer_id: command.transfer_id.clone(),
            amount: command.amount,
        })
    }

    #[apply]
    fn opened(&mut self, event: &AccountOpened) {
        self.open = true;
        self.overdraft_limit = event.overdraft_limit;
    }

    #[apply]
    fn deposited(&mut self, event: &MoneyDeposited) {
        self.balance += event.amount;
    }

    #[apply]
    fn withdrawn(&mut self, event: &MoneyWithdrawn) {
        self.balance -= event.amount;
    }

    #[apply]
    fn transfer_debited(&mut self, event: &TransferDebited) {
        self.balance -= event.amount;
    }

    #[apply]
    fn transfer_credited(&mut self, event: &TransferCredited) {
        self.balance += event.amount;
    }

    #[apply]
    fn transfer_refunded(&mut self, event: &TransferRefunded) {
        self.balance += event.amount;
    }

    /// The overdraft rule: the balance may not go below minus the limit.
    fn ensure_covered(&self, amount: i64) -> Result<(), BankError> {
        if amount <= 0 {
            return Err(BankError::NotPositive(amount));
        }
        if self.balance - amount < -self.overdraft_limit {
            return Err(BankError::Overdraft {
                requested: amount,
                balance: self.balance,
                limit: self.overdraft_limit,
            });
        }
        Ok(())
    }

    fn ensure_open(&self, account_id: &str) -> Result<(), BankError> {
        if self.open {
            Ok(())
        } else {
            Err(BankError::NotOpen(account_id.to_owned()))
        }
    }
}

impl Account {
    /// The balance, for tests and tools (queries read projections instead).
    pub fn balance(&self) -> i64 {
        self.balance
    }

    /// Whether the account was opened.
    pub fn is_open(&self) -> bool {
        self.open
    }
}
// ANCHOR_END: aggregate
