use chronicle::prelude::*;

#[projection]
pub struct Balances {
    pub table: &'static str,
}

fn main() {
    let _ = Balances { table: "balances" }.table;
}
