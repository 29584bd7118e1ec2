//! `chronicle forget <subject> --yes [--tenant T]`: crypto-shredding from the command line, on
//! the log's own key table (an application that keeps its keys elsewhere forgets through
//! `Chronicle::forget` on its key store).

use chronicle::Subject;
use serde::Serialize;

use crate::args::Output;
use crate::connect::Stores;
use crate::error::CliError;
use crate::output;

/// What `forget` did.
#[derive(Serialize)]
struct Forgot<'a> {
    subject: &'a str,
    /// The subject's tenant (`""`: none).
    tenant: &'a str,
    /// Whether a key was destroyed (false: the subject had none, or was forgotten before).
    key_destroyed: bool,
    /// The snapshots deleted because their streams hold the subject's sealed fields.
    snapshots_deleted: u64,
}

pub(crate) async fn run(
    stores: &Stores,
    subject: &str,
    confirmed: bool,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    if subject.is_empty() {
        return Err(CliError::Invalid("a subject id is not empty".to_owned()));
    }
    if !confirmed {
        return Err(CliError::Invalid(format!(
            "forgetting `{subject}` destroys its key for good: run again with --yes"
        )));
    }
    let tenant = stores.log.tenant().clone();
    let keys = stores.log.key_store()?;
    let subject = Subject::new(tenant, subject);
    let forgotten = keys.forget(&subject).await?;
    let report = Forgot {
        subject: &subject.id,
        tenant: subject.tenant.as_str(),
        key_destroyed: forgotten.key_destroyed,
        snapshots_deleted: forgotten.snapshots_deleted,
    };
    match format {
        Output::Json => output::json(out, &report),
        Output::Table => {
            let what = if report.key_destroyed {
                "its key is destroyed"
            } else {
                "it had no key (or was forgotten before); the tombstone is there"
            };
            output::text(
                out,
                format!(
                    "forgot subject {subject}: {what}, {} snapshot(s) deleted. Rebuild the read models \
                     that hold its data; running applications drop it from their caches as they evict \
                     or restart.",
                    report.snapshots_deleted
                ),
            )
        }
    }
}
