use chronicle::prelude::*;

#[aggregate]
#[derive(Default, Clone, Debug)]
pub enum Door {
    #[default]
    Closed,
    Open,
}

fn main() {
    let _ = Door::Open;
}
