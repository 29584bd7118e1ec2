use chronicle::prelude::*;

#[derive(Default, Clone, Debug)]
pub struct Account {
    pub balance: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Deposit {
    #[id]
    pub account_id: String,
    pub amount: i64,
}

fn main() {}
