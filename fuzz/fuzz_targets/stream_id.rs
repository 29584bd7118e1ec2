//! Stream ids: the limits every store checks (`check_stream_id`), and the way from an aggregate's
//! name and id to a stream id (`stream_id`) and back (`aggregate_of`).
//!
//! Input: an aggregate name and an id, separated by the first NUL byte (the id may hold more).
//!
//! Checked beyond "no panic": `check_stream_id` accepts exactly the non-empty ids of at most
//! `MAX_STREAM_ID_BYTES` bytes without NUL and without `TENANT_SEPARATOR`, and its error is `InvalidStreamId` quoting at most 80
//! characters of the id; a valid aggregate name and any id make a stream id whose aggregate is
//! that name and whose rest is the id; `aggregate_of` is always a prefix without `-`.

#![no_main]

use chronicle::{aggregate_of, check_stream_id, is_valid_aggregate_name, stream_id, Aggregate};
use chronicle::{StoreError, MAX_STREAM_ID_BYTES, TENANT_SEPARATOR};
use chronicle_fuzz::Wallet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (name, id) = match data.iter().position(|byte| *byte == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(name), Ok(id)) = (std::str::from_utf8(name), std::str::from_utf8(id)) else {
        return;
    };

    for text in [name, id] {
        checked(text);
        let aggregate = aggregate_of(text);
        assert!(text.starts_with(aggregate));
        assert!(!aggregate.contains('-'));
        assert_eq!(aggregate.len() == text.len(), !text.contains('-'));
    }

    assert_eq!(
        is_valid_aggregate_name(name),
        !name.is_empty() && !name.contains('-')
    );
    if is_valid_aggregate_name(name) {
        let stream = format!("{name}-{id}");
        assert_eq!(aggregate_of(&stream), name);
        assert_eq!(&stream[name.len() + 1..], id);
        checked(&stream);
    }

    let stream = stream_id::<Wallet>(id);
    assert_eq!(aggregate_of(&stream), Wallet::NAME);
    assert_eq!(stream.strip_prefix("wallet.Wallet-"), Some(id));
    assert_eq!(
        check_stream_id(&stream).is_ok(),
        stream.len() <= MAX_STREAM_ID_BYTES && !id.contains(['\0', TENANT_SEPARATOR])
    );
});

/// Checks `text` and that the verdict is the documented one.
fn checked(text: &str) {
    let valid =
        !text.is_empty() && text.len() <= MAX_STREAM_ID_BYTES && !text.contains(['\0', TENANT_SEPARATOR]);
    match check_stream_id(text) {
        Ok(()) => assert!(valid, "{text:?} was accepted"),
        Err(StoreError::InvalidStreamId { stream_id, reason }) => {
            assert!(!valid, "{text:?} was refused: {reason}");
            assert!(stream_id.chars().count() <= 80);
            assert!(text.starts_with(&stream_id));
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("{text:?}: not InvalidStreamId but {other:?}"),
    }
}
