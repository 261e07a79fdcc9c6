//! A structural pre-check of received frames, run before the generated decoder.
//!
//! quick-protobuf 0.8 does not check that a field inside a nested message stays inside that
//! message: a length or varint that runs past the end of its parent leaves the reader's
//! position beyond the parent's end, and the next read subtracts with overflow (a panic in
//! debug builds, garbage in release builds). This module walks the frame once, without copying,
//! and rejects any frame where a field does not fit inside its enclosing message. Frames that
//! pass are parsed by the generated code with its position never passing an end.
//!
//! The walk must know which fields of `rpc.proto` are nested messages; keep [`child`] in step
//! with the schema.

/// Wire types of the protobuf encoding.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LENGTH_DELIMITED: u32 = 2;
const FIXED32: u32 = 5;

/// The longest varint quick-protobuf reads.
const MAX_VARINT_LEN: usize = 10;

/// The messages of `rpc.proto`, as far as nesting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `RPC`.
    Rpc,
    /// `ControlMessage`.
    Control,
    /// `ControlPrune`.
    Prune,
    /// A message with no nested messages (`SubOpts`, `Message`, `ControlIHave`, ...).
    Flat,
}

/// The kind of the nested message a field holds, by its full tag (`field << 3 | wire type`),
/// or `None` for scalar and unknown fields.
fn child(parent: Kind, tag: u32) -> Option<Kind> {
    match (parent, tag) {
        // subscriptions = 1, publish = 2, partial = 10
        (Kind::Rpc, 10 | 18 | 82) => Some(Kind::Flat),
        // control = 3
        (Kind::Rpc, 26) => Some(Kind::Control),
        // ihave = 1, iwant = 2, graft = 3, idontwant = 5, extensions = 6
        (Kind::Control, 10 | 18 | 26 | 42 | 50) => Some(Kind::Flat),
        // prune = 4
        (Kind::Control, 34) => Some(Kind::Prune),
        // peers = 2
        (Kind::Prune, 18) => Some(Kind::Flat),
        _ => None,
    }
}

/// Checks that every field of the RPC in `frame`, at every nesting level, lies inside its
/// enclosing message. Returns a short reason otherwise, or else the number of control
/// messages of a kind we do not know (unknown fields of `ControlMessage`), which the decoder
/// skips.
pub(crate) fn check(frame: &[u8]) -> Result<usize, &'static str> {
    let mut unknown_control = 0;
    walk(frame, Kind::Rpc, &mut unknown_control)?;
    Ok(unknown_control)
}

/// Field numbers of `ControlMessage` (ihave .. extensions).
const KNOWN_CONTROL_FIELDS: std::ops::RangeInclusive<u32> = 1..=6;

fn walk(mut buf: &[u8], kind: Kind, unknown_control: &mut usize) -> Result<(), &'static str> {
    while !buf.is_empty() {
        let (tag, rest) = varint(buf)?;
        // quick-protobuf reads tags as 32-bit varints and keeps the low 32 bits.
        let tag = tag as u32;
        if kind == Kind::Control && !KNOWN_CONTROL_FIELDS.contains(&(tag >> 3)) {
            *unknown_control += 1;
        }
        buf = match tag & 7 {
            VARINT => varint(rest)?.1,
            FIXED64 => rest.get(8..).ok_or("fixed64 field runs past its message")?,
            FIXED32 => rest.get(4..).ok_or("fixed32 field runs past its message")?,
            LENGTH_DELIMITED => {
                let (len, rest) = varint(rest)?;
                // quick-protobuf reads the lengths of known fields as 32-bit varints.
                let len = u32::try_from(len).map_err(|_| "field length overflows u32")?;
                let len = usize::try_from(len).map_err(|_| "field length overflows usize")?;
                if len > rest.len() {
                    return Err("field runs past its message");
                }
                let (body, rest) = rest.split_at(len);
                if let Some(nested) = child(kind, tag) {
                    walk(body, nested, unknown_control)?;
                }
                rest
            }
            _ => return Err("unsupported wire type"),
        };
    }
    Ok(())
}

/// Reads a varint that must end inside `buf`; returns its value and the bytes after it.
pub(crate) fn varint(buf: &[u8]) -> Result<(u64, &[u8]), &'static str> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().take(MAX_VARINT_LEN).enumerate() {
        // Bits beyond the 64th fall off the shift, as in quick-protobuf.
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, &buf[i + 1..]));
        }
    }
    Err("varint runs past its message or exceeds 10 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_nesting() {
        // RPC{control{prune{topicID "t", peers{peerID "p"}, backoff 5}}}
        let peer = [0x0a, 1, b'p'];
        let mut prune = vec![0x0a, 1, b't', 0x12, peer.len() as u8];
        prune.extend_from_slice(&peer);
        prune.extend_from_slice(&[0x18, 5]);
        let mut control = vec![0x22, prune.len() as u8];
        control.extend_from_slice(&prune);
        let mut rpc = vec![0x1a, control.len() as u8];
        rpc.extend_from_slice(&control);
        assert_eq!(check(&rpc), Ok(0));
        assert_eq!(check(&[]), Ok(0));
    }

    #[test]
    fn rejects_a_field_that_overruns_its_parent() {
        // RPC{subscriptions{topicid of 5 bytes}} where the SubOpts claims only 2 bytes.
        let rpc = [0x0a, 2, 0x12, 5, b'a', b'b', b'c', b'd', b'e'];
        assert!(check(&rpc).is_err());
    }

    #[test]
    fn rejects_a_varint_that_overruns_its_parent() {
        // RPC{subscriptions{subscribe = <varint continuing into the parent>}} then more bytes.
        let rpc = [0x0a, 2, 0x08, 0x80, 0x01, 0x00];
        assert!(check(&rpc).is_err());
    }

    #[test]
    fn rejects_truncated_and_unsupported_fields() {
        assert!(check(&[0x0a, 10, 1, 2]).is_err());
        assert!(check(&[0x09, 1, 2, 3]).is_err()); // fixed64 with 3 bytes
        assert!(check(&[0x0b]).is_err()); // start group
        assert!(check(&[0x80; 11]).is_err());
    }

    #[test]
    fn skips_unknown_fields() {
        // Unknown field 99: varint, fixed32, fixed64 and bytes.
        let mut rpc = vec![0x98, 0x06, 1];
        rpc.extend_from_slice(&[0x9d, 0x06, 1, 2, 3, 4]);
        rpc.extend_from_slice(&[0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
        rpc.extend_from_slice(&[0x9a, 0x06, 2, 0xff, 0xff]);
        assert_eq!(
            check(&rpc),
            Ok(0),
            "unknown RPC fields are not control messages"
        );
    }

    #[test]
    fn counts_unknown_control_messages() {
        // RPC{control{graft{topicID "t"}, field 9 (unknown) bytes "x", field 7 varint 1}}
        let control = [0x1a, 3, 0x0a, 1, b't', 0x4a, 1, b'x', 0x38, 1];
        let mut rpc = vec![0x1a, control.len() as u8];
        rpc.extend_from_slice(&control);
        assert_eq!(check(&rpc), Ok(2));
    }
}
