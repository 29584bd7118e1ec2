use chronicle::prelude::*;

#[derive(Command, Debug, Clone)]
pub struct Deposit {
    #[id]
    pub account_id: String,
    pub amount: i64,
}

fn main() {}
