use chronicle::prelude::*;

#[projection]
pub trait Balances {
    fn balance(&self) -> i64;
}

fn main() {}
