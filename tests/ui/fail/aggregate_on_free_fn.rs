use chronicle::prelude::*;

#[aggregate]
fn deposit(balance: i64, amount: i64) -> i64 {
    balance + amount
}

fn main() {
    let _ = deposit(1, 2);
}
