//! Stored events, as a row of any store holds them, read back the way the runtime reads them: the
//! metadata column as `Metadata`, the payload as JSON, then `decode_recorded` and
//! `Envelope::decode` through the generated event enum and its upcast chain.
//!
//! Input: a byte choosing the stored type, a byte choosing the stored version, then the payload,
//! the metadata and (for the chosen "other" type) the type's name, separated by NUL bytes.
//!
//! Checked beyond "no panic": every decode is what reading the payload as the stored version's
//! own struct and converting it along the chain gives; an unknown name or version is its typed
//! error naming the row; a decoded event encodes and decodes again to itself; metadata that
//! reads writes back and reads again the same.

#![no_main]

use chronicle::{decode_recorded, Envelope, EventSet, Metadata, RecordedEvent, StoreError};
use chronicle_fuzz::{split_strings, Credited, CreditedV1, CreditedV2, Opened, WalletEvent};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let [type_choice, version_choice, rest @ ..] = data else {
        return;
    };
    let [payload, metadata, other_type] = <[String; 3]>::try_from(split_strings(rest, 3)).unwrap();
    let event_type = match type_choice % 3 {
        0 => "wallet.Credited".to_owned(),
        1 => "wallet.Opened".to_owned(),
        _ => other_type,
    };
    let event_version = if *version_choice < 128 {
        u32::from(version_choice % 6)
    } else {
        u32::MAX - u32::from(*version_choice)
    };

    let metadata = match serde_json::from_str::<Metadata>(&metadata) {
        Ok(metadata) => {
            let written = serde_json::to_string(&metadata).expect("metadata serialises");
            let again: Metadata = serde_json::from_str(&written).expect("written metadata reads back");
            chronicle_fuzz::assert_same_metadata(&metadata, &again);
            metadata
        }
        Err(_) => chronicle_fuzz::some_metadata(),
    };
    // A store refuses a row whose payload is not JSON before any decoding (`Unreadable`).
    let Ok(payload) = RawValue::from_string(payload) else {
        return;
    };
    let row = RecordedEvent {
        position: 17,
        transaction_id: 0,
        tenant: String::new(),
        stream_id: "wallet.Wallet-w-1".to_owned(),
        stream_version: 4,
        event_id: Uuid::from_u128(1),
        event_type,
        event_version,
        payload,
        metadata,
        recorded_at: chrono::DateTime::UNIX_EPOCH,
    };

    let decoded = decode_recorded::<WalletEvent>(&row);
    match (&decoded, expected(&row)) {
        (Ok(event), Expected::Event(expected)) => {
            assert_eq!(format!("{event:?}"), format!("{expected:?}"));
            let encoded = event.to_payload().expect("a decoded event encodes");
            let again = WalletEvent::decode(event.event_type(), event.event_version(), &encoded)
                .expect("an encoded event decodes at its current version");
            assert_eq!(format!("{again:?}"), format!("{event:?}"));
        }
        (Err(StoreError::Undecodable { .. }), Expected::Undecodable) => {}
        (Err(StoreError::UnknownEventType { .. }), Expected::UnknownType) => {}
        (
            Err(StoreError::UnknownEventVersion { oldest, current, .. }),
            Expected::UnknownVersion(expected_oldest, expected_current),
        ) => assert_eq!((*oldest, *current), (expected_oldest, expected_current)),
        (got, expected) => panic!("decoded {got:?}, expected {expected:?}"),
    }
    if let Err(error) = &decoded {
        let text = error.to_string();
        assert!(
            text.contains("wallet.Wallet-w-1"),
            "the error names the row: {text}"
        );
    }
    let envelope = Envelope::<WalletEvent>::decode(&row);
    assert_eq!(envelope.is_ok(), decoded.is_ok());
    if let Ok(envelope) = envelope {
        assert_eq!(envelope.event_version, row.event_version);
        assert_eq!(envelope.metadata, row.metadata);
    }
});

/// What decoding `row` must give, found without the generated code.
#[derive(Debug)]
enum Expected {
    Event(WalletEvent),
    Undecodable,
    UnknownType,
    UnknownVersion(u32, u32),
}

fn expected(row: &RecordedEvent) -> Expected {
    let json = row.payload.get();
    let read = |result: Result<WalletEvent, serde_json::Error>| match result {
        Ok(event) => Expected::Event(event),
        Err(_) => Expected::Undecodable,
    };
    match (row.event_type.as_str(), row.event_version) {
        ("wallet.Credited", 3) => read(serde_json::from_str::<Credited>(json).map(WalletEvent::Credited)),
        ("wallet.Credited", 2) => {
            read(serde_json::from_str::<CreditedV2>(json).map(|v2| WalletEvent::Credited(v2.into())))
        }
        ("wallet.Credited", 1) => read(
            serde_json::from_str::<CreditedV1>(json)
                .map(|v1| WalletEvent::Credited(CreditedV2::from(v1).into())),
        ),
        ("wallet.Credited", _) => Expected::UnknownVersion(1, 3),
        ("wallet.Opened", 2) => read(serde_json::from_str::<Opened>(json).map(WalletEvent::Opened)),
        ("wallet.Opened", _) => Expected::UnknownVersion(2, 2),
        _ => Expected::UnknownType,
    }
}
