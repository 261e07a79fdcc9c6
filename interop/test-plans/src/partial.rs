//! The harness' partial message (test-plans gossipsub-interop, go node `partial.go`): a group
//! of eight parts of [`PART_LEN`] bytes.
//!
//! - Group id: the script's `groupID` as 8 big-endian bytes.
//! - Parts metadata: one byte, bit `i` set when part `i` is held.
//! - Encoded parts (`partialMessage`): one bitmap byte naming the parts included, those parts
//!   in ascending order, then the 8-byte group id.
//! - `addPartialMessage` with bitmap `b` fills the parts of `b`: part `i` is 128 big-endian
//!   u64 counters starting at `groupID + 128 i`.
//! - A node logs `All parts received` (field `group id`, the u64) on stdout when its copy of a
//!   group becomes complete, also when `addPartialMessage` gives it every part.

/// Bytes per part.
pub const PART_LEN: usize = 1024;
/// Parts per group.
pub const PARTS: usize = 8;

/// Why encoded parts were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartsError {
    /// Shorter than a bitmap byte and a group id.
    TooShort,
    /// The trailing group id is not this group's.
    WrongGroup,
    /// The payload is not the parts its bitmap names.
    BadLength,
}

/// One node's copy of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialGroup {
    group_id: u64,
    parts: [Option<Vec<u8>>; PARTS],
}

impl PartialGroup {
    /// An empty copy of `group_id`.
    pub fn new(group_id: u64) -> Self {
        PartialGroup {
            group_id,
            parts: Default::default(),
        }
    }

    /// A copy holding the parts of `bitmap` (`addPartialMessage`).
    pub fn filled(group_id: u64, bitmap: u8) -> Self {
        let mut g = Self::new(group_id);
        for i in (0..PARTS).filter(|i| bitmap & (1 << i) != 0) {
            let mut part = Vec::with_capacity(PART_LEN);
            let first = group_id.wrapping_add((i * PART_LEN / 8) as u64);
            for j in 0..(PART_LEN / 8) as u64 {
                part.extend_from_slice(&first.wrapping_add(j).to_be_bytes());
            }
            g.parts[i] = Some(part);
        }
        g
    }

    /// The group id as the script gives it.
    pub fn id(&self) -> u64 {
        self.group_id
    }

    /// The group id on the wire.
    pub fn group_id_bytes(&self) -> [u8; 8] {
        self.group_id.to_be_bytes()
    }

    /// The harness' group id of wire bytes (8 bytes, big-endian).
    pub fn parse_group_id(bytes: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }

    /// Parts metadata: bit `i` set when part `i` is held.
    pub fn bitmap(&self) -> u8 {
        (0..PARTS)
            .filter(|&i| self.parts[i].is_some())
            .fold(0, |m, i| m | (1 << i))
    }

    /// Whether every part is held.
    pub fn complete(&self) -> bool {
        self.bitmap() == u8::MAX
    }

    /// The parts a peer holding `peer_has` lacks and we hold, encoded; `None` if there are none.
    pub fn encode_for(&self, peer_has: u8) -> Option<Vec<u8>> {
        let send = self.bitmap() & !peer_has;
        if send == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(1 + send.count_ones() as usize * PART_LEN + 8);
        out.push(send);
        for part in (0..PARTS)
            .filter(|i| send & (1 << i) != 0)
            .filter_map(|i| self.parts[i].as_ref())
        {
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&self.group_id_bytes());
        Some(out)
    }

    /// Adds the parts of `other` (same group) we lack; returns whether any was new.
    pub fn merge(&mut self, other: &PartialGroup) -> bool {
        let mut changed = false;
        for (mine, theirs) in self.parts.iter_mut().zip(&other.parts) {
            if mine.is_none() && theirs.is_some() {
                mine.clone_from(theirs);
                changed = true;
            }
        }
        changed
    }

    /// Adds the parts of `encoded` we lack; returns whether any was new. Nothing is added
    /// when `encoded` is malformed.
    pub fn extend(&mut self, encoded: &[u8]) -> Result<bool, PartsError> {
        let Some((&bitmap, rest)) = encoded.split_first() else {
            return Err(PartsError::TooShort);
        };
        let Some(split) = rest.len().checked_sub(8) else {
            return Err(PartsError::TooShort);
        };
        let (payload, group) = rest.split_at(split);
        if group != self.group_id_bytes() {
            return Err(PartsError::WrongGroup);
        }
        if payload.len() != bitmap.count_ones() as usize * PART_LEN {
            return Err(PartsError::BadLength);
        }
        let mut changed = false;
        let chunks = payload.chunks_exact(PART_LEN);
        for (i, chunk) in (0..PARTS).filter(|i| bitmap & (1 << i) != 0).zip(chunks) {
            if self.parts[i].is_none() {
                self.parts[i] = Some(chunk.to_vec());
                changed = true;
            }
        }
        Ok(changed)
    }
}

/// One byte of parts metadata, if `metadata` is one.
pub fn parse_bitmap(metadata: &[u8]) -> Option<u8> {
    match metadata {
        [b] => Some(*b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_parts_count_up_from_the_group_id() {
        let g = PartialGroup::filled(40, 0b1000_0001);
        assert_eq!(g.bitmap(), 0b1000_0001);
        assert!(!g.complete());
        let encoded = g.encode_for(0).unwrap();
        assert_eq!(encoded.len(), 1 + 2 * PART_LEN + 8);
        assert_eq!(encoded[0], 0b1000_0001);
        assert_eq!(&encoded[1..9], &40u64.to_be_bytes());
        // Part 7 starts at groupID + 7 * 128 and ends at groupID + 1023.
        assert_eq!(
            &encoded[1 + PART_LEN..9 + PART_LEN],
            &(40u64 + 896).to_be_bytes()
        );
        assert_eq!(
            &encoded[1 + 2 * PART_LEN - 8..1 + 2 * PART_LEN],
            &(40u64 + 1023).to_be_bytes()
        );
        assert_eq!(&encoded[encoded.len() - 8..], &40u64.to_be_bytes());
        assert!(PartialGroup::filled(1, 0xFF).complete());
    }

    #[test]
    fn only_missing_parts_are_sent() {
        let g = PartialGroup::filled(3, 0b0000_0111);
        assert_eq!(g.encode_for(0b0000_0111), None);
        assert_eq!(g.encode_for(0xFF), None);
        let e = g.encode_for(0b0000_0101).unwrap();
        assert_eq!(e[0], 0b0000_0010);
        assert_eq!(e.len(), 1 + PART_LEN + 8);
    }

    #[test]
    fn extending_merges_parts_and_reports_news() {
        let a = PartialGroup::filled(9, 0b0000_1111);
        let b = PartialGroup::filled(9, 0b1111_0000);
        let mut c = PartialGroup::new(9);
        assert!(c.extend(&a.encode_for(0).unwrap()).unwrap());
        assert!(!c.extend(&a.encode_for(0).unwrap()).unwrap());
        assert!(!c.complete());
        assert!(c.extend(&b.encode_for(0).unwrap()).unwrap());
        assert!(c.complete());
        assert_eq!(c, PartialGroup::filled(9, 0xFF));
    }

    #[test]
    fn merging_adds_only_missing_parts() {
        let mut g = PartialGroup::new(4);
        assert!(g.merge(&PartialGroup::filled(4, 0b01)));
        assert!(!g.merge(&PartialGroup::filled(4, 0b01)));
        assert!(g.merge(&PartialGroup::filled(4, 0b11)));
        assert_eq!(g, PartialGroup::filled(4, 0b11));
    }

    #[test]
    fn malformed_parts_are_refused_whole() {
        let a = PartialGroup::filled(9, 0b11);
        let good = a.encode_for(0).unwrap();
        let mut g = PartialGroup::new(9);
        assert_eq!(g.extend(&[]), Err(PartsError::TooShort));
        assert_eq!(g.extend(&good[..5]), Err(PartsError::TooShort));
        assert_eq!(
            PartialGroup::new(10).extend(&good),
            Err(PartsError::WrongGroup)
        );
        let mut short = good.clone();
        short.remove(1);
        assert_eq!(g.extend(&short), Err(PartsError::BadLength));
        let mut lying = good.clone();
        lying[0] = 0b111;
        assert_eq!(g.extend(&lying), Err(PartsError::BadLength));
        assert_eq!(g.bitmap(), 0);
    }

    #[test]
    fn group_ids_and_metadata_parse() {
        assert_eq!(PartialGroup::parse_group_id(&7u64.to_be_bytes()), Some(7));
        assert_eq!(PartialGroup::parse_group_id(&[1, 2]), None);
        assert_eq!(parse_bitmap(&[5]), Some(5));
        assert_eq!(parse_bitmap(&[]), None);
        assert_eq!(parse_bitmap(&[1, 2]), None);
    }
}
