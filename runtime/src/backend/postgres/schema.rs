//! The names Chronicle puts into Postgres SQL: schemas, and the notification channel of a
//! schema's appends.

use crate::core::error::StoreError;
use crate::core::read_store::ReadStoreError;

/// The longest name Postgres keeps for an identifier such as a schema or a channel.
pub(crate) const MAX_IDENTIFIER_LEN: usize = 63;

/// What a schema name must look like, for error messages.
const RULE: &str = "use 1 to 63 lowercase ASCII letters, digits and underscores, not starting with a digit \
                    and not a system schema (`pg_*`, `information_schema`)";

/// The schema names Chronicle accepts, for event and read stores alike: `[a-z_][a-z0-9_]*`, at
/// most 63 bytes, so the name in SQL is the name a person types in `psql`; and not one of
/// Postgres' own schemas.
pub(crate) fn is_valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= MAX_IDENTIFIER_LEN
        && !schema.starts_with("pg_")
        && schema != "information_schema"
}

/// Refuses a schema name for an event store.
pub(crate) fn check_store_schema(schema: &str) -> Result<(), StoreError> {
    if is_valid_schema(schema) {
        return Ok(());
    }
    Err(StoreError::InvalidName {
        kind: "Postgres schema",
        name: schema.to_owned(),
        rule: RULE,
    })
}

/// Refuses a schema name for a read store.
pub(crate) fn check_read_schema(schema: &str) -> Result<(), ReadStoreError> {
    if is_valid_schema(schema) {
        return Ok(());
    }
    Err(ReadStoreError::InvalidName {
        kind: "Postgres schema",
        name: schema.to_owned(),
        rule: RULE,
    })
}

/// The comment on `schema`.`table`, `None` when there is no such table (or no comment): where
/// a migration leaves its layout marker, so that a complete one is not run again.
pub(crate) async fn table_comment(
    pool: &sqlx::PgPool,
    schema: &str,
    table: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT obj_description(to_regclass($1), 'pg_class')")
        .bind(format!("\"{schema}\".{table}"))
        .fetch_one(pool)
        .await
}

/// The notification channel of `schema`: `chronicle_events_<schema>`, or, when that is longer
/// than an identifier may be, a prefix of it and a hash of the whole schema name.
pub(crate) fn channel_name(schema: &str) -> String {
    const PREFIX: &str = "chronicle_events_";
    let name = format!("{PREFIX}{schema}");
    if name.len() <= MAX_IDENTIFIER_LEN {
        return name;
    }
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`. Schema names are ASCII
    // (`is_valid_schema`), so the cut is on a character boundary.
    let hash = schema.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let keep = MAX_IDENTIFIER_LEN - PREFIX.len() - 17;
    format!("{PREFIX}{}_{hash:016x}", &schema[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        for ok in ["public", "_x", "t_0a9f", "a"] {
            assert!(is_valid_schema(ok), "{ok}");
        }
        for bad in [
            "",
            "0abc",
            "Public",
            "a-b",
            "a b",
            "a\"b",
            "é",
            "pg_catalog",
            "pg_toast",
            "information_schema",
            "x; drop table chronicle_events",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_schema(bad), "{bad}");
            assert!(matches!(
                check_store_schema(bad),
                Err(StoreError::InvalidName { .. })
            ));
        }
    }

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_name("public"), "chronicle_events_public");
        let long = "a".repeat(63);
        let other = format!("{}b", "a".repeat(62));
        for schema in [&long, &other] {
            let channel = channel_name(schema);
            assert_eq!(channel.len(), MAX_IDENTIFIER_LEN, "{channel}");
            assert!(channel.starts_with("chronicle_events_aaaa"), "{channel}");
        }
        assert_ne!(channel_name(&long), channel_name(&other));
        let longest_plain = "c".repeat(MAX_IDENTIFIER_LEN - "chronicle_events_".len());
        assert_eq!(
            channel_name(&longest_plain),
            format!("chronicle_events_{longest_plain}")
        );
    }
}
