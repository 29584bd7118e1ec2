//! Transfers between two accounts: a `Transfer` aggregate that records the request and its end,
//! and the `TransferProcess` process manager that debits the paying account (whose overdraft
//! rule may refuse), waits for an approval when the amount is large, credits the receiving one,
//! and pays the debit back when the credit is refused or the approval does not come in time.

use std::time::Duration;

use chronicle::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{CreditForTransfer, DebitForTransfer, RefundTransfer, TransferCredited, TransferDebited};

/// Transfers of this amount or more wait for an approval after the debit.
pub const APPROVAL_THRESHOLD: i64 = 10_000;

// ANCHOR: events
/// A transfer was asked for. `approval_window_secs` is set when the amount needs an approval:
/// how long the process waits for it.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.TransferRequested")]
pub struct TransferRequested {
    pub transfer_id: String,
    pub from: String,
    pub to: String,
    pub amount: i64,
    pub approval_window_secs: Option<u64>,
}

/// Somebody approved a large transfer.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.TransferApproved")]
pub struct TransferApproved {
    pub transfer_id: String,
    pub approved_by: String,
}

/// The money arrived: the transfer is done.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.TransferCompleted")]
pub struct TransferCompleted {
    pub transfer_id: String,
}

/// The transfer did not happen; any debit was paid back.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "bank.TransferFailed")]
pub struct TransferFailed {
    pub transfer_id: String,
    pub reason: String,
}
// ANCHOR_END: events

// ANCHOR: commands
/// Ask for a transfer of `amount` from one account to another.
#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Transfer, creates)]
pub struct RequestTransfer {
    #[id]
    pub transfer_id: String,
    pub from: String,
    pub to: String,
    pub amount: i64,
    /// How long a large transfer waits for its approval.
    pub approval_window: Duration,
}

/// Approve a large transfer.
#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Transfer)]
pub struct ApproveTransfer {
    #[id]
    pub transfer_id: String,
    pub approved_by: String,
}

/// Record that the money arrived.
#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Transfer)]
pub struct CompleteTransfer {
    #[id]
    pub transfer_id: String,
}

/// Record that the transfer did not happen.
#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Transfer)]
pub struct FailTransfer {
    #[id]
    pub transfer_id: String,
    pub reason: String,
}
// ANCHOR_END: commands

/// Why a transfer's own commands are refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TransferError {
    #[error("transfer {0} was already requested")]
    AlreadyRequested(String),
    #[error("transfer {0} was never requested")]
    Unknown(String),
    #[error("transfer {0} is over")]
    Over(String),
    #[error("a transfer moves a positive amount between two accounts")]
    Invalid,
}

/// Where a transfer stands, as its own stream records it.
#[derive(Default, Clone, Debug, PartialEq)]
pub enum TransferState {
    #[default]
    None,
    Requested,
    Approved,
    Completed,
    Failed,
}

/// A transfer's record: the request, an approval, its end.
#[derive(Default, Clone, Debug)]
pub struct Transfer {
    state: TransferState,
}

#[aggregate(name = "bank.Transfer")]
impl Transfer {
    #[handle]
    fn request(&self, command: &RequestTransfer) -> Result<TransferRequested, TransferError> {
        if self.state != TransferState::None {
            return Err(TransferError::AlreadyRequested(command.transfer_id.clone()));
        }
        if command.amount <= 0 || command.from == command.to {
            return Err(TransferError::Invalid);
        }
        Ok(TransferRequested {
            transfer_id: command.transfer_id.clone(),
            from: command.from.clone(),
            to: command.to.clone(),
            amount: command.amount,
            approval_window_secs: (command.amount >= APPROVAL_THRESHOLD)
                .then_some(command.approval_window.as_secs()),
        })
    }

    #[handle]
    fn approve(&self, command: &ApproveTransfer) -> Result<TransferApproved, TransferError> {
        self.ensure_running(&command.transfer_id)?;
        Ok(TransferApproved {
            transfer_id: command.transfer_id.clone(),
            approved_by: command.approved_by.clone(),
        })
    }

    #[handle]
    fn complete(&self, command: &CompleteTransfer) -> Result<TransferCompleted, TransferError> {
        self.ensure_running(&command.transfer_id)?;
        Ok(TransferCompleted {
            transfer_id: command.transfer_id.clone(),
        })
    }

    #[handle]
    fn fail(&self, command: &FailTransfer) -> Result<TransferFailed, TransferError> {
        self.ensure_running(&command.transfer_id)?;
        Ok(TransferFailed {
            transfer_id: command.transfer_id.clone(),
            reason: command.reason.clone(),
        })
    }

    #[apply]
    fn requested(&mut self, _: &TransferRequested) {
        self.state = TransferState::Requested;
    }

    #[apply]
    fn approved(&mut self, _: &TransferApproved) {
        self.state = TransferState::Approved;
    }

    #[apply]
    fn completed(&mut self, _: &TransferCompleted) {
        self.state = TransferState::Completed;
    }

    #[apply]
    fn failed(&mut self, _: &TransferFailed) {
        self.state = TransferState::Failed;
    }

    fn ensure_running(&self, transfer_id: &str) -> Result<(), TransferError> {
        match self.state {
            TransferState::None => Err(TransferError::Unknown(transfer_id.to_owned())),
            TransferState::Completed | TransferState::Failed => {
                Err(TransferError::Over(transfer_id.to_owned()))
            }
            TransferState::Requested | TransferState::Approved => Ok(()),
        }
    }
}

impl Transfer {
    /// Where the transfer stands.
    pub fn state(&self) -> &TransferState {
        &self.state
    }
}

// ANCHOR: process
/// Where one transfer's process stands: its state, kept per transfer id in the stream
/// `bank.transfer_process-<transfer id>`, one event per step.
#[derive(Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferProcess {
    pub transfer_id: String,
    pub stage: Stage,
    pub from: String,
    pub to: String,
    pub amount: i64,
    pub needs_approval: bool,
    /// The approval window closed while the debit was still on its way.
    pub approval_expired: bool,
}

/// The stages of a transfer.
#[derive(Default, Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Stage {
    #[default]
    Started,
    Debiting,
    AwaitingApproval,
    Crediting,
    Refunding,
    Done,
}

/// What comes back to the process when a deadline it set is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TransferDeadline {
    /// The approval window of a large transfer closed.
    ApprovalExpired,
}

#[process_manager(
    name = "bank.transfer_process",
    commands(
        DebitForTransfer,
        CreditForTransfer,
        RefundTransfer,
        CompleteTransfer,
        FailTransfer
    )
)]
impl TransferProcess {
    /// A transfer begins: take the money from the paying account.
    #[on(correlate = transfer_id)]
    fn requested(&mut self, event: &TransferRequested, process: &mut Process<Self>) {
        self.transfer_id = event.transfer_id.clone();
        self.from = event.from.clone();
        self.to = event.to.clone();
        self.amount = event.amount;
        self.needs_approval = event.approval_window_secs.is_some();
        self.stage = Stage::Debiting;
        process.send(DebitForTransfer {
            account_id: event.from.clone(),
            transfer_id: event.transfer_id.clone(),
            amount: event.amount,
        });
        if let Some(window) = event.approval_window_secs {
            process.schedule(Duration::from_secs(window), TransferDeadline::ApprovalExpired);
        }
    }

    /// The overdraft rule refused the debit: nothing moved, the transfer fails.
    #[rejected]
    fn debit_refused(
        &mut self,
        command: &DebitForTransfer,
        error: &crate::BankError,
        process: &mut Process<Self>,
    ) {
        self.stage = Stage::Done;
        process.send(FailTransfer {
            transfer_id: command.transfer_id.clone(),
            reason: error.to_string(),
        });
        process.finish();
    }

    /// The money left the paying account: credit it, or wait for the approval.
    #[on(correlate = transfer_id)]
    fn debited(&mut self, event: &TransferDebited, process: &mut Process<Self>) {
        if self.stage != Stage::Debiting {
            return;
        }
        if self.approval_expired {
            self.refund("the approval did not come in time", process);
        } else if self.needs_approval {
            self.stage = Stage::AwaitingApproval;
        } else {
            self.credit(&event.transfer_id, process);
        }
    }

    /// The approval came in time: credit the receiving account.
    #[on(correlate = transfer_id)]
    fn approved(&mut self, event: &TransferApproved, process: &mut Process<Self>) {
        if self.stage == Stage::AwaitingApproval {
            process.cancel(TransferDeadline::ApprovalExpired);
            self.credit(&event.transfer_id, process);
        }
    }

    /// The approval did not come: pay the debit back.
    #[deadline]
    fn expired(&mut self, deadline: &TransferDeadline, process: &mut Process<Self>) {
        let TransferDeadline::ApprovalExpired = deadline;
        match self.stage {
            // The debit is still under way: it is refunded once it lands.
            Stage::Debiting => self.approval_expired = true,
            Stage::AwaitingApproval => self.refund("the approval did not come in time", process),
            _ => {}
        }
    }

    /// The receiving account refused the money (it is not open): compensate the debit.
    #[rejected]
    fn credit_refused(
        &mut self,
        _: &CreditForTransfer,
        error: &crate::BankError,
        process: &mut Process<Self>,
    ) {
        self.refund(&error.to_string(), process);
    }

    /// The money arrived.
    #[on(correlate = transfer_id)]
    fn credited(&mut self, event: &TransferCredited, process: &mut Process<Self>) {
        if self.stage == Stage::Crediting {
            self.stage = Stage::Done;
            process.send(CompleteTransfer {
                transfer_id: event.transfer_id.clone(),
            });
            process.finish();
        }
    }
}

impl TransferProcess {
    fn credit(&mut self, transfer_id: &str, process: &mut Process<Self>) {
        self.stage = Stage::Crediting;
        process.send(CreditForTransfer {
            account_id: self.to.clone(),
            transfer_id: transfer_id.to_owned(),
            amount: self.amount,
        });
    }

    /// Compensation: the debit is paid back and the transfer recorded as failed.
    fn refund(&mut self, reason: &str, process: &mut Process<Self>) {
        let transfer_id = self.transfer_id.clone();
        self.stage = Stage::Done;
        process.send(RefundTransfer {
            account_id: self.from.clone(),
            transfer_id: transfer_id.clone(),
            amount: self.amount,
        });
        process.send(FailTransfer {
            transfer_id,
            reason: reason.to_owned(),
        });
        process.finish();
    }
}
// ANCHOR_END: process
