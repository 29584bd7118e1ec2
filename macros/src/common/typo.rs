//! The one typo policy of every macro: an unknown key or method attribute is taken for the known
//! name it is closest to, if it is within a few edits of it. Used both to suggest a key (the key
//! is an error anyway) and to catch a misspelt method attribute (`#[querry]`), where a wrong
//! guess would reject a correct program, so the policy is strict for short names: `#[on]`
//! catches `#[one]` and `#[no]`, not `#[do]`.

/// The known name that `written` is most likely a misspelling of.
pub fn closest<'a>(written: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (edit_distance(written, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= allowed_edits(candidate))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// One edit per three letters, and at least one: `nmae` for `name`, `snapshots_every` for
/// `snapshot_every`, `querry` for `query`.
fn allowed_edits(candidate: &str) -> usize {
    (candidate.chars().count() / 3).max(1)
}

/// Edits (insertions, deletions, substitutions, and swaps of two neighbours, the commonest typo)
/// that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // rows[i][j]: the distance between the first i letters of a and the first j of b.
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = rows[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn misspellings_are_recognised() {
        let cases = [
            ("nmae", "name"),
            ("verison", "version"),
            ("upcast_form", "upcast_from"),
            ("snapshots_every", "snapshot_every"),
            ("read_modle", "read_model"),
            ("servces", "services"),
            ("querry", "query"),
            ("handler", "handle"),
            ("one", "on"),
            ("onn", "on"),
            ("rest", "reset"),
        ];
        let known = [
            "name",
            "version",
            "upcast_from",
            "snapshot_every",
            "read_model",
            "services",
            "query",
            "handle",
            "on",
            "reset",
        ];
        for (written, meant) in cases {
            assert_eq!(closest(written, &known), Some(meant), "{written}");
        }
    }

    /// Rust's own attributes, and common attribute macros, on a method are never a misspelt role:
    /// taking one for a role would reject a correct program.
    #[test]
    fn attributes_of_rust_are_never_typos_of_a_role() {
        const ROLES: &[&str] = &["handle", "apply", "on", "reset", "query"];
        const ATTRIBUTES: &[&str] = &[
            "doc",
            "allow",
            "warn",
            "deny",
            "forbid",
            "expect",
            "cfg",
            "cfg_attr",
            "inline",
            "cold",
            "must_use",
            "deprecated",
            "track_caller",
            "test",
            "ignore",
            "should_panic",
            "automatically_derived",
            "instrument",
            "trace",
            "async_trait",
        ];
        for attribute in ATTRIBUTES {
            assert_eq!(closest(attribute, ROLES), None, "{attribute}");
        }
    }
}
