//! The event-schema gate: events are a contract with every row already stored, so a change to a
//! stored shape without a new version must fail before it is deployed.
//!
//! [`EventSchemas`] collects the stored shape of every event type and version an application
//! reads (an aggregate's events, and the older shapes their `upcast_from` chains read), as the
//! JSON Schema `schemars` derives (events derive `schemars::JsonSchema` for it). A lock file
//! committed with the application records them; [`EventSchemas::check`] compares the code with it
//! and names each problem: a shape changed without a new version (which field, how), a version
//! that disappeared while rows of it may exist (an `upcast_from` chain that no longer reaches it),
//! a shape recorded nowhere yet, a type that cannot be described. Updating the lock is a
//! deliberate act: [`EventSchemas::write`], or [`EventSchemas::check_or_update`] with
//! `CHRONICLE_UPDATE_EVENT_LOCK=1` in the environment.
//!
//! ```
//! # use chronicle::event_schema::EventSchemas;
//! # fn gate<A: chronicle::Aggregate>() {
//! let schemas = EventSchemas::new().aggregate::<A>();
//! if let Err(problems) = schemas.check_or_update("events.lock.json") {
//!     panic!("{problems}");
//! }
//! # }
//! ```
//!
//! `compare.rs` holds the comparison, `problem.rs` what it reports (and the fixes), `lock.rs` the
//! file, `error.rs` the gate's error.

mod compare;
mod error;
mod lock;
mod problem;

use std::collections::BTreeMap;
use std::path::Path;

pub use self::error::SchemaGateError;
pub use self::lock::{LockedShape, SchemaLock};
pub use self::problem::{Change, Problem, UPDATE_VARIABLE};
use crate::core::aggregate::Aggregate;
use crate::core::event::{Event, EventSet};
use crate::core::shape::EventShape;

/// The stored shapes of the event types an application reads, by stored name and version.
#[derive(Debug, Clone, Default)]
pub struct EventSchemas {
    shapes: Vec<EventShape>,
}

impl EventSchemas {
    /// No shapes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// With the shapes of `A`'s events and of the older versions they read.
    pub fn aggregate<A: Aggregate>(self) -> Self {
        self.events::<A::Event>()
    }

    /// With the shapes of an event set (an aggregate's generated enum) and the older versions
    /// its types read.
    pub fn events<S: EventSet>(mut self) -> Self {
        self.shapes.extend(S::shapes());
        self
    }

    /// With the shapes of one event type (one read from another service, say) and the older
    /// versions it reads.
    pub fn event<E: Event>(mut self) -> Self {
        E::shapes(&mut self.shapes);
        self
    }

    /// Every shape collected, as found (an event of two aggregates appears twice).
    pub fn shapes(&self) -> &[EventShape] {
        &self.shapes
    }

    /// The lock these shapes make: each stored name and version once, its schema normalized
    /// (descriptions and titles, which change no stored row, left out). Fails when a type cannot
    /// be described or two types describe one version differently.
    pub fn lock(&self) -> Result<SchemaLock, Vec<Problem>> {
        let mut events: BTreeMap<String, BTreeMap<u32, LockedShape>> = BTreeMap::new();
        let mut problems = Vec::new();
        for shape in &self.shapes {
            let Some(schema) = &shape.schema else {
                problems.push(Problem::Undescribed {
                    name: shape.name.to_owned(),
                    version: shape.version,
                    rust_type: shape.rust_type.to_owned(),
                });
                continue;
            };
            let locked = LockedShape {
                rust_type: shape.rust_type.to_owned(),
                schema: lock::normalized(schema),
            };
            let versions = events.entry(shape.name.to_owned()).or_default();
            match versions.get(&shape.version) {
                Some(seen) if seen.schema != locked.schema => problems.push(Problem::Conflict {
                    name: shape.name.to_owned(),
                    version: shape.version,
                    rust_types: [seen.rust_type.clone(), locked.rust_type],
                }),
                Some(_) => {}
                None => {
                    versions.insert(shape.version, locked);
                }
            }
        }
        if problems.is_empty() {
            Ok(SchemaLock { events })
        } else {
            Err(problems)
        }
    }

    /// Compares the code's shapes with the lock file at `path`; `Ok` when they agree.
    pub fn check(&self, path: impl AsRef<Path>) -> Result<(), SchemaGateError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let current = self.lock().map_err(|problems| SchemaGateError::Problems {
            path: shown.clone(),
            problems,
        })?;
        let locked = SchemaLock::read(path)?;
        let problems = compare::problems(&locked, &current);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SchemaGateError::Problems {
                path: shown,
                problems,
            })
        }
    }

    /// Writes the code's shapes to the lock file at `path`, replacing what it recorded: the
    /// deliberate update, once a change is known to be safe for the rows already stored.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), SchemaGateError> {
        let path = path.as_ref();
        let current = self.lock().map_err(|problems| SchemaGateError::Problems {
            path: path.display().to_string(),
            problems,
        })?;
        current.write(path)
    }

    /// [`write`](Self::write) when the environment sets [`UPDATE_VARIABLE`] to `1`, else
    /// [`check`](Self::check): the form for a test that gates CI.
    pub fn check_or_update(&self, path: impl AsRef<Path>) -> Result<(), SchemaGateError> {
        if std::env::var(UPDATE_VARIABLE).is_ok_and(|value| value == "1") {
            self.write(path)
        } else {
            self.check(path)
        }
    }
}
