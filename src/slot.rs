//! Key-to-slot hashing and compact slot sets.
//!
//! Redis Cluster splits the key space into [`SLOT_COUNT`] hash slots. A key's slot is
//! CRC16-XMODEM of the key (or of its `{hashtag}`) modulo 16384, exactly as
//! `CLUSTER KEYSLOT` computes it.

use std::fmt;
use std::str::FromStr;

use crc16::{State, XMODEM};
use serde::{Serialize, Serializer};

/// Number of hash slots in a Redis Cluster; fixed by the protocol.
pub const SLOT_COUNT: u16 = 16384;

/// Returns the hash slot of `key`, identical to `CLUSTER KEYSLOT`.
///
/// Only the first `{` counts. If a `}` follows it with at least one byte in between, only the
/// bytes between them are hashed; otherwise the whole key is. Keys are bytes because Redis keys
/// are binary-safe.
///
/// ```
/// assert_eq!(slotwatch::slot::key_slot(b"user:1"), 10778);
/// assert_eq!(slotwatch::slot::key_slot(b"{user:1}.profile"), 10778);
/// ```
pub fn key_slot(key: &[u8]) -> u16 {
    State::<XMODEM>::calculate(hash_tag(key)) % SLOT_COUNT
}

/// Returns the part of `key` that is hashed: the hashtag if there is a non-empty one.
fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => &rest[..close],
        _ => key,
    }
}

/// Error for slot text that is not a slot, a range `a-b`, or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotParseError {
    /// The text is not a decimal number below 16384.
    #[error("expected a slot number 0-16383, found {0:?}")]
    BadSlot(String),
    /// A range whose start is after its end.
    #[error("slot range {start}-{end} is reversed")]
    Reversed {
        /// First slot as written.
        start: u16,
        /// Last slot as written.
        end: u16,
    },
}

/// Parses one slot number, rejecting anything outside `0..16384`.
pub fn parse_slot(text: &str) -> Result<u16, SlotParseError> {
    // u16::from_str accepts a leading '+'; Redis never prints one, so require digits only.
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlotParseError::BadSlot(text.to_owned()));
    }
    match text.parse::<u16>() {
        Ok(slot) if slot < SLOT_COUNT => Ok(slot),
        _ => Err(SlotParseError::BadSlot(text.to_owned())),
    }
}

/// An inclusive range of slots, printed as Redis prints it: `0-5460`, or `7` for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRange {
    /// First slot in the range.
    pub start: u16,
    /// Last slot in the range (inclusive).
    pub end: u16,
}

impl SlotRange {
    /// Builds a range; `start` must not exceed `end`.
    pub fn new(start: u16, end: u16) -> Result<Self, SlotParseError> {
        if start > end {
            return Err(SlotParseError::Reversed { start, end });
        }
        if end >= SLOT_COUNT {
            return Err(SlotParseError::BadSlot(end.to_string()));
        }
        Ok(SlotRange { start, end })
    }

    /// A range holding exactly one slot.
    pub fn single(slot: u16) -> Self {
        SlotRange {
            start: slot,
            end: slot,
        }
    }

    /// Number of slots in the range.
    pub fn len(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Always false: a range holds at least one slot. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Iterates over the slots in the range.
    pub fn slots(&self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl FromStr for SlotRange {
    type Err = SlotParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('-') {
            Some((a, b)) => SlotRange::new(parse_slot(a)?, parse_slot(b)?),
            None => Ok(SlotRange::single(parse_slot(text)?)),
        }
    }
}

impl Serialize for SlotRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

const WORDS: usize = SLOT_COUNT as usize / 64;

/// A set of slots stored as a 2 KiB bitmap, so that membership, counting and set algebra over
/// all 16384 slots stay cheap and allocation-free.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SlotSet {
    bits: Box<[u64; WORDS]>,
}

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet {
            bits: Box::new([0; WORDS]),
        }
    }
}

impl SlotSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding every slot.
    pub fn full() -> Self {
        SlotSet {
            bits: Box::new([u64::MAX; WORDS]),
        }
    }

    /// Adds one slot (slots at or above 16384 are ignored).
    pub fn insert(&mut self, slot: u16) {
        if slot < SLOT_COUNT {
            self.bits[usize::from(slot / 64)] |= 1 << (slot % 64);
        }
    }

    /// Adds every slot of `range`.
    pub fn insert_range(&mut self, range: SlotRange) {
        for slot in range.slots() {
            self.insert(slot);
        }
    }

    /// True if `slot` is in the set.
    pub fn contains(&self, slot: u16) -> bool {
        slot < SLOT_COUNT && self.bits[usize::from(slot / 64)] & (1 << (slot % 64)) != 0
    }

    /// Number of slots in the set.
    pub fn len(&self) -> u32 {
        self.bits.iter().map(|w| w.count_ones()).sum()
    }

    /// True if the set holds no slot.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    /// Iterates over the slots in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.bits.iter().enumerate().flat_map(|(i, &word)| {
            let mut w = word;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as u16;
                w &= w - 1;
                Some(i as u16 * 64 + bit)
            })
        })
    }

    /// The set as maximal ranges of adjacent slots, ascending.
    pub fn ranges(&self) -> Vec<SlotRange> {
        ranges_of(self.iter())
    }
}

/// Merges ascending slots into maximal ranges of adjacent slots.
pub fn ranges_of(slots: impl IntoIterator<Item = u16>) -> Vec<SlotRange> {
    let mut out: Vec<SlotRange> = Vec::new();
    for slot in slots {
        match out.last_mut() {
            Some(last) if last.end.checked_add(1) == Some(slot) => last.end = slot,
            _ => out.push(SlotRange::single(slot)),
        }
    }
    out
}

/// Prints ranges comma-separated, e.g. `0-5460,5462`; empty prints as `-`.
pub fn format_ranges(ranges: &[SlotRange]) -> String {
    if ranges.is_empty() {
        return "-".to_owned();
    }
    let mut out = String::new();
    for (i, r) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&r.to_string());
    }
    out
}

impl FromIterator<u16> for SlotSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        let mut set = SlotSet::new();
        for slot in iter {
            set.insert(slot);
        }
        set
    }
}

impl fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotSet({})", format_ranges(&self.ranges()))
    }
}

impl fmt::Display for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_ranges(&self.ranges()))
    }
}

impl FromStr for SlotSet {
    type Err = SlotParseError;

    /// Parses comma- or space-separated slots and ranges, e.g. `0-5460,5462`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut set = SlotSet::new();
        for part in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
        {
            set.insert_range(part.parse()?);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors_match_cluster_keyslot() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(key_slot(b"user:1"), 10778);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b""), 0);
        // The CRC16-XMODEM check value of "123456789" is 0x31C3 = 12739.
        assert_eq!(key_slot(b"123456789"), 12739);
    }

    #[test]
    fn hashtag_rule_follows_redis() {
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        // Empty tag: the whole key is hashed, not "" and not "bar".
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        // Only the first '{' counts; the tag runs to the first '}' after it.
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"a{b}c{d}"), b"b");
        assert_eq!(hash_tag(b"{a"), b"{a");
        assert_eq!(hash_tag(b"a}"), b"a}");
        assert_eq!(hash_tag(b"{}"), b"{}");
        assert_eq!(hash_tag(b"}{x}"), b"x");
    }

    #[test]
    fn ranges_parse_and_print() {
        let r: SlotRange = "0-5460".parse().unwrap();
        assert_eq!((r.start, r.end, r.len()), (0, 5460, 5461));
        assert_eq!(r.to_string(), "0-5460");
        assert!(
            !SlotRange::single(7).is_empty(),
            "a range holds at least one slot"
        );
        assert_eq!("7".parse::<SlotRange>().unwrap().to_string(), "7");
        assert!("16384".parse::<SlotRange>().is_err());
        assert!("10-2".parse::<SlotRange>().is_err());
        assert!("+5".parse::<SlotRange>().is_err());
        // Six digits are never a slot, even when the number would fit.
        assert!("000001".parse::<SlotRange>().is_err());
        assert!("".parse::<SlotRange>().is_err());
        assert!("1-".parse::<SlotRange>().is_err());
    }

    #[test]
    fn set_merges_adjacent_slots() {
        let set: SlotSet = "5,0-3,4,10,12-13".parse().unwrap();
        assert_eq!(set.len(), 9);
        assert_eq!(set.to_string(), "0-5,10,12-13");
        assert_eq!(
            SlotSet::full().ranges(),
            vec![SlotRange::new(0, 16383).unwrap()]
        );
        assert_eq!(SlotSet::new().to_string(), "-");
    }

    #[test]
    fn slots_past_the_last_are_ignored() {
        let mut set = SlotSet::new();
        set.insert(16383);
        set.insert(16384);
        set.insert(u16::MAX);
        assert_eq!(set.to_string(), "16383");
        assert!(!set.contains(16384));
    }

    proptest! {
        #[test]
        fn set_roundtrips_through_text(slots in proptest::collection::vec(0u16..SLOT_COUNT, 0..200)) {
            let set: SlotSet = slots.iter().copied().collect();
            let text = set.to_string();
            let back: SlotSet = if text == "-" { SlotSet::new() } else { text.parse().unwrap() };
            prop_assert_eq!(&back, &set);
            let mut sorted = slots.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), sorted.clone());
            prop_assert_eq!(set.len() as usize, sorted.len());
            let total: u32 = set.ranges().iter().map(|r| r.len()).sum();
            prop_assert_eq!(total, set.len());
        }

        #[test]
        fn key_slot_is_in_range(key in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert!(key_slot(&key) < SLOT_COUNT);
        }
    }
}
