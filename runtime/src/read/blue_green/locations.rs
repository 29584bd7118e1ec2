//! Which location queries read, and the locations a process has open: the live pointer, cached
//! briefly, and one store per (projection, version), opened once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::core::location::Locations;
use crate::core::read_store::ReadStoreError;
use crate::read::layout::live_name;

/// How long a query trusts the live pointer it read: a hot query loop reads the pointer row a
/// few times a second rather than once per query. The grace period before an old location is
/// dropped is far longer ([`MIN_GRACE`](super::MIN_GRACE)).
pub(crate) const LIVE_POINTER_TTL: Duration = Duration::from_millis(100);

/// The version a deployment of `version` reads when `live` is live: the live one while its own
/// is newer (and still being built), its own otherwise (the same one, or an older deployment's,
/// which its runner keeps up to date until it is retired; or the first build, before any is
/// live).
pub(crate) fn serving(live: Option<u32>, version: u32) -> u32 {
    match live {
        Some(live) if live < version => live,
        _ => version,
    }
}

/// Which read model of a projection run blue/green queries read, as the store tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pointer {
    /// The live version, once one has become live.
    pub(crate) live: Option<u32>,
    /// Before any version is live: the version of a read model a plain runner built in the store
    /// itself (its `<projection>` checkpoint row), which queries read until the first location
    /// has caught up, rather than one still being built.
    pub(crate) plain: Option<u32>,
}

/// The live pointer of `projection` in `base`, and the plain read model's version before any
/// version is live.
pub(crate) async fn read_pointer<R: Locations>(
    base: &R,
    projection: &str,
) -> Result<Pointer, ReadStoreError> {
    let live = base
        .read_checkpoint(live_name(projection))
        .await?
        .map(|row| row.version);
    let plain = match live {
        Some(_) => None,
        None => base.read_checkpoint(projection).await?.map(|row| row.version),
    };
    Ok(Pointer { live, plain })
}

/// A process's open locations and the live pointers it read, shared by the clones of a
/// [`ReadSide`](crate::ReadSide).
pub(crate) struct LocationCache<R> {
    stores: Mutex<HashMap<(String, u32), R>>,
    live: Mutex<HashMap<String, (Pointer, Instant)>>,
}

impl<R> Default for LocationCache<R> {
    fn default() -> Self {
        Self {
            stores: Mutex::default(),
            live: Mutex::default(),
        }
    }
}

impl<R> fmt::Debug for LocationCache<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open = lock(&self.stores).len();
        f.debug_struct("LocationCache")
            .field("open", &open)
            .finish_non_exhaustive()
    }
}

/// Only inserts and removals happen under these locks: a poisoned one is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<R: Locations> LocationCache<R> {
    /// The live pointer of `projection` as `base` holds it, read again once the cached one is
    /// older than [`LIVE_POINTER_TTL`].
    pub(crate) async fn pointer(&self, base: &R, projection: &str) -> Result<Pointer, ReadStoreError> {
        if let Some((pointer, read_at)) = lock(&self.live).get(projection) {
            if read_at.elapsed() < LIVE_POINTER_TTL {
                return Ok(*pointer);
            }
        }
        let pointer = read_pointer(base, projection).await?;
        lock(&self.live).insert(projection.to_owned(), (pointer, Instant::now()));
        Ok(pointer)
    }

    /// The store of `projection`'s location of `version`, opened (and created) on first use.
    pub(crate) async fn store(&self, base: &R, projection: &str, version: u32) -> Result<R, ReadStoreError> {
        let key = (projection.to_owned(), version);
        if let Some(store) = lock(&self.stores).get(&key) {
            return Ok(store.clone());
        }
        // Two tasks may open it at once: both get a working store, and one of them is kept.
        let store = base.at_location(projection, version).await?;
        Ok(lock(&self.stores).entry(key).or_insert(store).clone())
    }

    /// Closes the locations of `projection` older than `version` that this process has open and
    /// will not read again (its queries read `version` or newer now), other than `keep`.
    pub(crate) fn forget_older(&self, projection: &str, version: u32, keep: u32) {
        lock(&self.stores).retain(|(name, v), _| name != projection || *v >= version || *v == keep);
    }

    /// Closes the location of `projection` of `version` (it is being dropped).
    pub(crate) fn forget(&self, projection: &str, version: u32) {
        lock(&self.stores).remove(&(projection.to_owned(), version));
    }
}
