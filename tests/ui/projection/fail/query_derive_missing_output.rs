use chronicle::prelude::*;

pub struct Balances;

#[derive(Query)]
#[query(read_model = Balances)]
pub struct BalanceOf {
    pub account_id: String,
}

fn main() {
    let _ = Balances;
}
