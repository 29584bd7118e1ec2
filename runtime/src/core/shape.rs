//! The stored shape of an event type at one version: what the event-schema gate
//! ([`EventSchemas`](crate::event_schema::EventSchemas)) records in a lock file and compares.
//!
//! A shape is the JSON Schema `schemars` derives from the type (it follows serde's attributes),
//! when the type derives `schemars::JsonSchema`; `#[derive(Event)]` asks for it without requiring
//! it, so that events without the derive still compile (the gate then says which to describe).

use std::marker::PhantomData;

/// One event type's stored name and version, and the shape its rows have.
#[derive(Debug, Clone, PartialEq)]
pub struct EventShape {
    /// The stored name.
    pub name: &'static str,
    /// The version of the rows this shape reads.
    pub version: u32,
    /// The Rust type that reads them, for messages.
    pub rust_type: &'static str,
    /// The JSON Schema of the payload; `None` when the type does not derive `JsonSchema`.
    pub schema: Option<serde_json::Value>,
}

/// Asks for `T`'s JSON Schema by autoref specialization: `(&&Describe::<T>::new()).describe()`
/// finds [`DescribeWithSchema`] when `T: JsonSchema`, and else, one autoref further away,
/// [`DescribeWithout`]. Generated code calls it on concrete types only, where this resolves.
pub struct Describe<T>(PhantomData<T>);

impl<T> Describe<T> {
    /// The question for `T`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> std::fmt::Debug for Describe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Describe<{}>", std::any::type_name::<T>())
    }
}

impl<T> Default for Describe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The answer for a type that derives `JsonSchema`.
pub trait DescribeWithSchema {
    /// The type's JSON Schema.
    fn describe(&self) -> Option<serde_json::Value>;
}

impl<T: schemars::JsonSchema> DescribeWithSchema for &Describe<T> {
    fn describe(&self) -> Option<serde_json::Value> {
        Some(schemars::schema_for!(T).to_value())
    }
}

/// The answer for a type that does not.
pub trait DescribeWithout {
    /// Nothing.
    fn describe(&self) -> Option<serde_json::Value>;
}

impl<T> DescribeWithout for Describe<T> {
    fn describe(&self) -> Option<serde_json::Value> {
        None
    }
}
