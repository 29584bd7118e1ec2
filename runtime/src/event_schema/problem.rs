//! What the gate reports: each disagreement of the code with the lock file, each difference in a
//! shape, what they mean for the rows already stored, and the fix each names.

use std::fmt;

/// The environment variable that makes [`EventSchemas::check_or_update`](super::EventSchemas::check_or_update)
/// write the lock file instead of checking it.
pub const UPDATE_VARIABLE: &str = "CHRONICLE_UPDATE_EVENT_LOCK";

/// One disagreement between the code and the lock file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// A type whose shape cannot be described: it does not derive `schemars::JsonSchema`.
    Undescribed {
        /// The stored name.
        name: String,
        /// The version.
        version: u32,
        /// The Rust type.
        rust_type: String,
    },
    /// Two Rust types read one stored name and version, with different shapes.
    Conflict {
        /// The stored name.
        name: String,
        /// The version.
        version: u32,
        /// The two types.
        rust_types: [String; 2],
    },
    /// A stored shape changed, and the version did not.
    Changed {
        /// The stored name.
        name: String,
        /// The version.
        version: u32,
        /// The Rust type that reads it now.
        rust_type: String,
        /// What changed.
        changes: Vec<Change>,
    },
    /// A version the lock records that the code no longer reads: rows of it may still exist.
    Disappeared {
        /// The stored name.
        name: String,
        /// The version.
        version: u32,
        /// The versions the code reads of that name (none: the event is read by no type).
        read: Option<(u32, u32)>,
    },
    /// A version the code reads that the lock does not record yet.
    Unrecorded {
        /// The stored name.
        name: String,
        /// The version.
        version: u32,
        /// The Rust type.
        rust_type: String,
    },
}

/// One difference in a shape, at a field of the event or of a type it holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A field that rows stored before do not have.
    Added {
        /// The field (`Type.field` inside a nested type).
        field: String,
        /// Whether reading requires it (then old rows fail to read).
        required: bool,
    },
    /// A field rows stored before have, which the type no longer reads.
    Removed {
        /// The field.
        field: String,
    },
    /// A field read as another type.
    Retyped {
        /// The field.
        field: String,
        /// Its schema before, as compact JSON.
        before: String,
        /// Its schema now.
        after: String,
    },
    /// A field that may be missing before and is required now.
    NowRequired {
        /// The field.
        field: String,
    },
    /// A field that was required and may be missing now.
    NowOptional {
        /// The field.
        field: String,
    },
    /// Any other difference, at a place in the schema.
    Other {
        /// Where (`""`: the whole shape).
        at: String,
        /// Before, as compact JSON.
        before: String,
        /// Now.
        after: String,
    },
}

impl Change {
    /// Whether rows stored before may no longer read as the type now says.
    pub fn breaks_stored_rows(&self) -> bool {
        !matches!(
            self,
            Change::Added { required: false, .. } | Change::NowOptional { .. }
        )
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added {
                field,
                required: true,
            } => {
                write!(
                    f,
                    "field `{field}` added, and required: rows stored before do not have it"
                )
            }
            Change::Added {
                field,
                required: false,
            } => {
                write!(
                    f,
                    "field `{field}` added, optional: rows stored before read without it"
                )
            }
            Change::Removed { field } => write!(f, "field `{field}` removed: rows stored before hold it"),
            Change::Retyped { field, before, after } => {
                write!(f, "field `{field}` retyped: was {before}, is {after}")
            }
            Change::NowRequired { field } => {
                write!(
                    f,
                    "field `{field}` is now required: rows stored before may not have it"
                )
            }
            Change::NowOptional { field } => write!(f, "field `{field}` is now optional"),
            Change::Other { at, before, after } if at.is_empty() => {
                write!(f, "the shape was {before}, is {after}")
            }
            Change::Other { at, before, after } => write!(f, "`{at}` was {before}, is {after}"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Undescribed {
                name,
                version,
                rust_type,
            } => write!(
                f,
                "`{name}` version {version} (`{rust_type}`) has no described shape: add \
                 `#[derive(schemars::JsonSchema)]` to `{rust_type}` (and to the types its fields hold)"
            ),
            Problem::Conflict {
                name,
                version,
                rust_types: [a, b],
            } => write!(
                f,
                "`{name}` version {version} is read by `{a}` and by `{b}` with different shapes: rows \
                 of one name and version have one shape; give one of them another name or version"
            ),
            Problem::Changed {
                name,
                version,
                rust_type,
                changes,
            } => {
                let breaks = changes.iter().any(Change::breaks_stored_rows);
                if breaks {
                    writeln!(
                        f,
                        "`{name}` version {version} (`{rust_type}`) changed its stored shape without a new version:"
                    )?;
                } else {
                    writeln!(
                        f,
                        "`{name}` version {version} (`{rust_type}`) changed its shape in a way rows stored before \
                         still read:"
                    )?;
                }
                for change in changes {
                    writeln!(f, "    - {change}")?;
                }
                if breaks {
                    write!(
                        f,
                        "  fix: bump it to `version = {next}` and keep this shape as a struct of its own, \
                         `#[event(name = \"{name}\", version = {version})]`, named in `upcast_from` with a \
                         `From` impl (the book's \"Evolving events\"); or, if no row of version {version} \
                         was ever stored, record the new shape deliberately ({UPDATE_VARIABLE}=1)",
                        next = version + 1
                    )
                } else {
                    write!(
                        f,
                        "  fix: record the new shape deliberately ({UPDATE_VARIABLE}=1)"
                    )
                }
            }
            Problem::Disappeared {
                name,
                version,
                read: None,
            } => write!(
                f,
                "`{name}` version {version} is read by no type any more, and rows of it may still be in \
                 the log: keep a type that reads it (an aggregate's event, or `upcast_from` of a newer \
                 version); remove it from the lock only once no row of it can exist"
            ),
            Problem::Disappeared {
                name,
                version,
                read: Some((oldest, newest)),
            } if version < oldest => write!(
                f,
                "`{name}` version {version} is no longer read: the types read versions {oldest} to \
                 {newest}, so the `upcast_from` chain has a hole below version {oldest}. Keep the \
                 version {version} shape as a struct, `#[event(name = \"{name}\", version = {version})]`, \
                 and name it in `upcast_from` of version {next}; remove it from the lock only once no row \
                 of it can exist",
                next = version + 1
            ),
            Problem::Disappeared {
                name,
                version,
                read: Some((_, newest)),
            } => write!(
                f,
                "`{name}` version {version} is recorded in the lock, and the newest type reads version \
                 {newest}: a program that wrote version {version} came first (a rollback?); rows of it \
                 will not read. Keep the version that wrote them, or remove it from the lock only once \
                 no row of it can exist"
            ),
            Problem::Unrecorded {
                name,
                version,
                rust_type,
            } => write!(
                f,
                "`{name}` version {version} (`{rust_type}`) is not in the lock yet: record it deliberately \
                 ({UPDATE_VARIABLE}=1) and commit the lock file"
            ),
        }
    }
}

/// The report of `problems` with the lock at `path`.
pub(crate) fn report(path: &str, problems: &[Problem]) -> String {
    let mut text = format!(
        "the events disagree with the lock file `{path}` ({} problem{}):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for problem in problems {
        text.push_str("\n- ");
        text.push_str(&problem.to_string());
    }
    text
}
