//! The names of locations (a projection's read model of one version, in a schema, a database or
//! a file of its own): derived from the store's own name, the projection's and the version, safe
//! to put into SQL and onto a file system whatever the projection is called.

/// FNV-1a 64: stable across Rust versions and builds, unlike `DefaultHasher`, so that every
/// process of every deployment derives the same name.
fn fnv1a(parts: &[&str]) -> u64 {
    parts.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, part| {
        // A separator no name can hold keeps ("ab", "c") apart from ("a", "bc").
        part.bytes()
            .chain(std::iter::once(0))
            .fold(hash, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// The identifier of `projection`'s location of `version` beside the store named `base`:
/// `bg_<base>_<projection>_<hash>_v<version>`, where the names keep only `[a-z0-9_]` (anything
/// else becomes `_`) and are cut so that the whole fits `max_len` bytes. The hash is of the names
/// as given, so two projections whose names look alike once cleaned never share a location. The
/// `bg_` prefix keeps the name clear of system names (`pg_*`) and starting with a letter.
pub(crate) fn location_identifier(base: &str, projection: &str, version: u32, max_len: usize) -> String {
    let suffix = format!("_{:016x}_v{version}", fnv1a(&[base, projection]));
    let clean = |name: &str| -> String {
        name.chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9' | '_') => c,
                _ => '_',
            })
            .collect()
    };
    let mut readable = format!("bg_{}_{}", clean(base), clean(projection));
    // ASCII only by now, so any cut is on a character boundary.
    readable.truncate(max_len.saturating_sub(suffix.len()).max(3));
    readable + &suffix
}

#[cfg(test)]
mod tests {
    use super::location_identifier;

    #[test]
    fn names_are_plain_bounded_and_distinct() {
        let plain = location_identifier("public", "bank.balances", 2, 63);
        assert!(plain.starts_with("bg_public_bank_balances_"), "{plain}");
        assert!(plain.ends_with("_v2"));
        let hostile = location_identifier("public", "Robert'); DROP SCHEMA public;--\"", 1, 63);
        assert!(hostile
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        let long = location_identifier(&"s".repeat(63), &"é".repeat(300), u32::MAX, 63);
        assert_eq!(long.len(), 63, "{long}");
        assert!(long.ends_with(&format!("_v{}", u32::MAX)));
        // Alike once cleaned, still apart; and every version apart.
        assert_ne!(
            location_identifier("public", "a.b", 1, 63),
            location_identifier("public", "a_b", 1, 63)
        );
        assert_ne!(
            location_identifier("public", "a", 1, 63),
            location_identifier("public", "a", 2, 63)
        );
        assert_ne!(
            location_identifier("ab", "c", 1, 63),
            location_identifier("a", "bc", 1, 63)
        );
        assert_eq!(plain, location_identifier("public", "bank.balances", 2, 63));
    }
}
