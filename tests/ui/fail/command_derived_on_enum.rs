use chronicle::prelude::*;

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub enum AccountCommand {
    Deposit { account_id: String, amount: i64 },
    Withdraw { account_id: String, amount: i64 },
}

fn main() {}
