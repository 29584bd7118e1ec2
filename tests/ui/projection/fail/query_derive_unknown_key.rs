use chronicle::prelude::*;

pub struct Balances;

#[derive(Query)]
#[query(output = Option<i64>, read_modle = Balances)]
pub struct BalanceOf {
    pub account_id: String,
}

fn main() {
    let _ = Balances;
}
