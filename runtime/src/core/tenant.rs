//! Tenants: the owner of a stream, kept beside its id in every event store.
//!
//! A store bound to a tenant ([`EventStore::for_tenant`](crate::EventStore::for_tenant)) writes
//! that tenant into every event it appends and reads only that tenant's streams, commands and
//! correlations: the same stream id in two tenants is two streams. A store not bound to one is
//! the tenant [`Tenant::none`] (`""`), so an application that never names a tenant keeps one
//! log exactly as before. A subscription ([`EventSource`](crate::EventSource)) reads every
//! tenant's events in log order, each carrying its [`RecordedEvent::tenant`](crate::RecordedEvent::tenant).

use std::fmt;

use super::error::StoreError;

/// The longest tenant id any store accepts, in bytes.
pub const MAX_TENANT_BYTES: usize = 64;

/// What a tenant id must look like, for error messages.
const RULE: &str = "use 1 to 64 ASCII letters, digits, `_`, `-` and `.`, starting with a letter or digit";

/// A tenant id: 1 to [`MAX_TENANT_BYTES`] ASCII letters, digits, `_`, `-` and `.`, starting with
/// a letter or a digit; or the empty id of [`Tenant::none`], the tenant of a store bound to
/// none.
///
/// Plain characters only, so that an id is the same text in a log line, a URL, a Redis key and
/// SQL (where it is always bound as a parameter anyway), and so that two ids that look alike are
/// alike.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tenant(String);

impl Tenant {
    /// The tenant `id`, refused with [`StoreError::InvalidName`] unless it keeps the rule above.
    pub fn new(id: &str) -> Result<Self, StoreError> {
        if is_valid_tenant(id) {
            return Ok(Self(id.to_owned()));
        }
        Err(StoreError::InvalidName {
            kind: "tenant",
            name: id.chars().take(80).collect(),
            rule: RULE,
        })
    }

    /// No tenant: the id `""` that a store bound to no tenant writes and reads.
    pub fn none() -> Self {
        Self(String::new())
    }

    /// The tenant of a stored event or row: its id was checked when it was written, so it is
    /// taken as it is (a tool reading a damaged row still gets a value to show).
    pub(crate) fn of_stored(id: &str) -> Self {
        Self(id.to_owned())
    }

    /// Whether this is [`Tenant::none`].
    pub fn is_none(&self) -> bool {
        self.0.is_empty()
    }

    /// The id as stored (`""` for none).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tenant({:?})", self.0)
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Tenant {
    type Err = StoreError;

    fn from_str(id: &str) -> Result<Self, StoreError> {
        Self::new(id)
    }
}

/// The character between a tenant and a stream id in [`tenant_stream_key`]; no stream id may
/// contain it ([`check_stream_id`](crate::check_stream_id)), so keys of two tenants' streams, or
/// of a tenant's and of no tenant's, never meet.
pub const TENANT_SEPARATOR: char = '\u{1f}';

/// One key for the stream `stream_id` of `tenant`, where a single text must name both (the state
/// cache and turns of a process, a consumer's record of the versions it applied): the stream id
/// itself for no tenant, so keys kept before tenants existed stay valid, else the tenant,
/// [`TENANT_SEPARATOR`] and the stream id.
pub fn tenant_stream_key<'a>(tenant: &str, stream_id: &'a str) -> std::borrow::Cow<'a, str> {
    if tenant.is_empty() {
        std::borrow::Cow::Borrowed(stream_id)
    } else {
        std::borrow::Cow::Owned(format!("{tenant}{TENANT_SEPARATOR}{stream_id}"))
    }
}

/// Whether `id` is a tenant id [`Tenant::new`] accepts.
pub fn is_valid_tenant(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && id.len() <= MAX_TENANT_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_tenants() {
        for ok in ["acme", "a", "Acme-2.eu_west", "0", &"x".repeat(64)] {
            assert_eq!(Tenant::new(ok).expect(ok).as_str(), ok);
        }
        assert!(Tenant::none().is_none() && Tenant::none().as_str().is_empty());
    }

    #[test]
    fn hostile_ids_are_refused() {
        for bad in [
            "",
            " acme",
            "acme ",
            "-acme",
            ".acme",
            "ac me",
            "a'b",
            "a\"b",
            "a;b",
            "x' OR '1'='1",
            "acme'); DROP TABLE chronicle_events; --",
            "a\0b",
            "a*",
            "a:b",
            "a/b",
            "ä",
            "acme\n",
            &"x".repeat(65),
        ] {
            assert!(
                matches!(
                    Tenant::new(bad),
                    Err(StoreError::InvalidName { kind: "tenant", .. })
                ),
                "{bad:?}"
            );
        }
    }
}
