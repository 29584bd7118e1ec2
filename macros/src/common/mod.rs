//! What every macro shares: error collection, attribute keys, the typo policy, reading types and
//! methods, and paths into the runtime.

mod attr;
mod errors;
mod method;
mod names;
mod types;
mod typo;

pub use attr::{parse_keys, reject_generics, type_value, Slot};
pub use errors::Errors;
pub use method::{receiver, strip_method_attributes, take_role, typed_args, Receiver, Roles, Synonym};
pub use names::distinct_stored_names;
pub use types::{
    generic_args, is_unit, last_ident, plain_name, single_arg, slice_element, taken, type_key, ungroup, Taken,
};
pub use typo::closest;

use proc_macro2::TokenStream;
use quote::quote;

/// The hidden module of the facade crate through which all generated code reaches the runtime,
/// so users need only `chronicle` in their `Cargo.toml`.
pub fn private() -> TokenStream {
    quote!(::chronicle::__private)
}
