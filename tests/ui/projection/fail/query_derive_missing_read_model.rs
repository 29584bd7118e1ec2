use chronicle::prelude::*;

#[derive(Query)]
#[query(output = Option<i64>)]
pub struct BalanceOf {
    pub account_id: String,
}

#[derive(Query)]
pub struct TotalBalance;

fn main() {}
