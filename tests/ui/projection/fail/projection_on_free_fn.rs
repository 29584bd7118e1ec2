use chronicle::prelude::*;

#[projection]
fn opened(balance: i64) -> i64 {
    balance
}

fn main() {
    let _ = opened(1);
}
