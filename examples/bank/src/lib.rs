//! The bank example's domain: accounts that are opened, credited and debited within an overdraft
//! limit. `main.rs` runs it against the embedded store or Postgres.

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
        if command.amount <= 0 {
            return Err(BankError::NotPositive(command.amount));
        }
        if self.balance - command.amount < -self.overdraft_limit {
            return Err(BankError::Overdraft {
                requested: command.amount,
                balance: self.balance,
                limit: self.overdraft_limit,
            });
        }
        Ok(MoneyWithdrawn {
            account_id: command.account_id.clone(),
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
