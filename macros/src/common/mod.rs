//! What every macro shares: error collection, attribute keys, and paths into the runtime.

mod attr;
mod errors;
mod types;

pub use attr::{closest, parse_keys, reject_generics, type_value, Slot};
pub use errors::Errors;
pub use types::{strip_method_attributes, type_key};

use proc_macro2::TokenStream;
use quote::quote;

/// The hidden module of the facade crate through which all generated code reaches the runtime,
/// so users need only `chronicle` in their `Cargo.toml`.
pub fn private() -> TokenStream {
    quote!(::chronicle::__private)
}
