//! placeholder
use proc_macro::TokenStream;
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(_i: TokenStream) -> TokenStream {
    TokenStream::new()
}
#[proc_macro_derive(Command, attributes(command, id))]
pub fn derive_command(_i: TokenStream) -> TokenStream {
    TokenStream::new()
}
#[proc_macro_attribute]
pub fn aggregate(_a: TokenStream, i: TokenStream) -> TokenStream {
    i
}
