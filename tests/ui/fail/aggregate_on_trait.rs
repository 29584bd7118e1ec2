use chronicle::prelude::*;

#[aggregate]
pub trait Account {
    fn deposit(&self, amount: i64) -> i64;
}

fn main() {}
