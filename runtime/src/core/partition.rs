//! Partitions of a projection: which streams each of its `count` partitions owns.
//!
//! A stream belongs to one partition for good: its **partition key** is a stable hash of its id
//! (the first 28 bits of the MD5 digest, which Postgres computes the same way in a generated
//! column, so that a partition's read is an index range, not a scan of the log), and its
//! partition is the key modulo the count. Events of one stream are therefore always handled by
//! one partition, in order; events of different streams in different partitions are not ordered
//! with each other.

use md5::{Digest, Md5};

use crate::core::error::StoreError;

/// The most partitions a projection may have.
pub const MAX_PARTITIONS: u32 = 256;

/// One partition of a partitioned projection: `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// Which partition, from 0.
    pub index: u32,
    /// How many there are (at least 1).
    pub count: u32,
}

impl Partition {
    /// Partition `index` of `count`; `None` unless `index < count <= MAX_PARTITIONS`.
    pub fn new(index: u32, count: u32) -> Option<Self> {
        (index < count && count <= MAX_PARTITIONS).then_some(Self { index, count })
    }

    /// This partition, if it is one [`new`](Self::new) would make; otherwise the error a store
    /// refuses it with (the fields are public, so anything can be asked for).
    pub(crate) fn checked(self) -> Result<Self, StoreError> {
        Self::new(self.index, self.count).ok_or_else(|| self.invalid())
    }

    /// The error a store refuses this partition with.
    pub(crate) fn invalid(self) -> StoreError {
        StoreError::InvalidPartition {
            index: self.index,
            count: self.count,
        }
    }

    /// `count`, if a projection may have that many partitions (1 to [`MAX_PARTITIONS`]).
    pub(crate) fn checked_count(count: u32) -> Result<u32, StoreError> {
        Partition { index: 0, count }.checked().map(|p| p.count)
    }

    /// Every partition of `count`, in order.
    pub fn all(count: u32) -> impl Iterator<Item = Partition> {
        (0..count).map(move |index| Partition { index, count })
    }

    /// The partition of `count` that owns `stream_id`.
    pub fn of(stream_id: &str, count: u32) -> Self {
        let count = count.max(1);
        Self {
            index: partition_key(stream_id) % count,
            count,
        }
    }

    /// Whether this partition owns `stream_id`.
    pub fn owns(&self, stream_id: &str) -> bool {
        partition_key(stream_id) % self.count.max(1) == self.index
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {}", self.index, self.count)
    }
}

/// The stable 28-bit hash of a stream id that partitions are taken from: the first seven hex
/// digits of its MD5 digest. Postgres's `chronicle_events.partition_key` is the same value,
/// `('x' || substr(md5(stream_id), 1, 7))::bit(28)::integer`.
pub fn partition_key(stream_id: &str) -> u32 {
    let digest = Md5::digest(stream_id.as_bytes());
    (u32::from(digest[0]) << 20)
        | (u32::from(digest[1]) << 12)
        | (u32::from(digest[2]) << 4)
        | (u32::from(digest[3]) >> 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_first_seven_hex_digits_of_the_md5_digest() {
        // md5("bank.Account-a") = 6e7ea3b1...; `echo -n bank.Account-a | md5sum`
        let hex = format!("{:x}", Md5::digest(b"bank.Account-a"));
        let expected = u32::from_str_radix(&hex[..7], 16).unwrap();
        assert_eq!(partition_key("bank.Account-a"), expected);
        assert!(partition_key("anything") < 1 << 28);
    }

    #[test]
    fn every_stream_has_one_partition_and_they_spread() {
        let mut counts = [0_u32; 4];
        for n in 0..4_000 {
            let stream = format!("bank.Account-{n}");
            let owner = Partition::of(&stream, 4);
            assert!(owner.owns(&stream));
            assert_eq!(Partition::all(4).filter(|p| p.owns(&stream)).count(), 1);
            counts[owner.index as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1_200).contains(&c)), "{counts:?}");
    }

    #[test]
    fn partitions_are_checked() {
        assert!(Partition::new(0, 1).is_some());
        assert!(Partition::new(1, 1).is_none());
        assert!(Partition::new(0, MAX_PARTITIONS + 1).is_none());
        assert_eq!(Partition::all(3).count(), 3);
    }
}
