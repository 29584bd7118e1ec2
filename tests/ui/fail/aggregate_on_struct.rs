use chronicle::prelude::*;

#[aggregate]
#[derive(Default, Clone, Debug)]
pub struct Account {
    pub balance: i64,
}

fn main() {
    let _ = Account::default().balance;
}
