//! Data transforms: how the payload on the wire relates to the payload the application sees.
//!
//! The router applies a [`DataTransform`] at its edge:
//! - inbound, to every new message before its id is computed and before validation: the
//!   message-id function and the application ([`Event::Message`](crate::Event::Message)) see
//!   the transformed (for snappy: decompressed) data. A message whose transform fails is
//!   rejected as invalid (counter `messages_transform_failed`, a `debug` event, and the
//!   invalid-message penalty when scoring is on); its id is computed from the wire data with
//!   [`ConfigBuilder::invalid_message_id_fn`](crate::ConfigBuilder::invalid_message_id_fn) and
//!   marked seen, so copies of it are dropped as duplicates without transforming them again.
//! - outbound, to the data given to `publish`, which goes on the wire in transformed form;
//!   the id of our own message is computed over the data as given, exactly as receivers
//!   compute it after their inbound transform.
//!
//! The message cache keeps messages in wire form, byte for byte as received: forwards and
//! IWANT replies send the wire form, never a re-encoding. The transformed data lives only in
//! the [`Message`](crate::Message) handed to the application. IDONTWANT's size threshold
//! applies to the wire size, which is what an IDONTWANT saves.

use bytes::Bytes;

use crate::types::TopicHash;

/// Why a data transform failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransformError {
    /// The data would expand beyond the configured bound.
    #[error("transformed data of {len} bytes exceeds the bound of {max} bytes")]
    TooLarge {
        /// The length the data declares (or would have).
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The data is not in the expected encoding.
    #[error("invalid encoding: {0}")]
    Invalid(String),
}

/// Converts between the data on the wire and the data the application (and the message-id
/// function) sees. See the [module docs](self) for where the router applies it.
pub trait DataTransform: Send + 'static {
    /// Wire data of a received message on `topic` → the data the application sees. An error
    /// rejects the message as invalid.
    fn inbound_transform(&self, topic: &TopicHash, data: Bytes) -> Result<Bytes, TransformError>;

    /// Application data published on `topic` → the data put on the wire. An error fails the
    /// publish.
    fn outbound_transform(&self, topic: &TopicHash, data: Bytes) -> Result<Bytes, TransformError>;
}

/// The default transform: the wire data is the application data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityTransform;

impl DataTransform for IdentityTransform {
    fn inbound_transform(&self, _topic: &TopicHash, data: Bytes) -> Result<Bytes, TransformError> {
        Ok(data)
    }

    fn outbound_transform(&self, _topic: &TopicHash, data: Bytes) -> Result<Bytes, TransformError> {
        Ok(data)
    }
}

/// Snappy block ("raw") compression on the wire, as Ethereum's `ssz_snappy` gossip encoding
/// uses: the wire data is compressed, the application sees it decompressed.
///
/// Inbound, the length the compressed data declares is checked against
/// [`max_decompressed_len`](Self::max_decompressed_len) before anything is allocated, so a
/// small message cannot expand into a large buffer (a snappy bomb). Outbound, data longer
/// than the bound is refused, since no receiver with the same bound would accept it.
#[cfg(feature = "snappy")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnappyTransform {
    max_decompressed_len: usize,
}

#[cfg(feature = "snappy")]
impl SnappyTransform {
    /// A snappy transform that refuses data that decompresses to more than
    /// `max_decompressed_len` bytes (Ethereum: `MAX_PAYLOAD_SIZE`, 10 MiB).
    pub fn new(max_decompressed_len: usize) -> Self {
        SnappyTransform {
            max_decompressed_len,
        }
    }

    /// The bound on decompressed data.
    pub fn max_decompressed_len(&self) -> usize {
        self.max_decompressed_len
    }
}

#[cfg(feature = "snappy")]
impl DataTransform for SnappyTransform {
    fn inbound_transform(&self, _topic: &TopicHash, data: Bytes) -> Result<Bytes, TransformError> {
        let len =
            snap::raw::decompress_len(&data).map_err(|e| TransformError::Invalid(e.to_string()))?;
        if len > self.max_decompressed_len {
            return Err(TransformError::TooLarge {
                len,
                max: self.max_decompressed_len,
            });
        }
        snap::raw::Decoder::new()
            .decompress_vec(&data)
            .map(Bytes::from)
            .map_err(|e| TransformError::Invalid(e.to_string()))
    }

    fn outbound_transform(&self, _topic: &TopicHash, data: Bytes) -> Result<Bytes, TransformError> {
        if data.len() > self.max_decompressed_len {
            return Err(TransformError::TooLarge {
                len: data.len(),
                max: self.max_decompressed_len,
            });
        }
        snap::raw::Encoder::new()
            .compress_vec(&data)
            .map(Bytes::from)
            .map_err(|e| TransformError::Invalid(e.to_string()))
    }
}

#[cfg(all(test, feature = "snappy"))]
mod tests {
    use super::*;

    fn topic() -> TopicHash {
        TopicHash::from("t")
    }

    /// A snappy block header: the decompressed length as a varint, then nothing. The smallest
    /// possible "bomb": 5 bytes that declare 4 GiB - 1.
    fn varint(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn snappy_round_trips() {
        let t = SnappyTransform::new(1 << 20);
        for data in [
            Vec::new(),
            b"hello".to_vec(),
            vec![7u8; 100_000],
            (0..50_000u32).map(|i| (i * 31 % 251) as u8).collect(),
        ] {
            let wire = t
                .outbound_transform(&topic(), Bytes::from(data.clone()))
                .unwrap();
            if data.len() == 100_000 {
                assert!(wire.len() < data.len() / 10, "repetitive data compresses");
            }
            let back = t.inbound_transform(&topic(), wire).unwrap();
            assert_eq!(back.as_ref(), data.as_slice());
        }
    }

    #[test]
    fn snappy_bomb_is_refused_by_its_declared_length() {
        let t = SnappyTransform::new(1 << 20);
        // Honest compression of 2 MiB of zeros: a few hundred bytes that expand past the bound.
        let bomb = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 2 << 20])
            .unwrap();
        assert!(bomb.len() < 200_000);
        assert_eq!(
            t.inbound_transform(&topic(), Bytes::from(bomb)),
            Err(TransformError::TooLarge {
                len: 2 << 20,
                max: 1 << 20
            })
        );
        // A bare header declaring 4 GiB - 1: refused before any allocation.
        let header = varint(u32::MAX as u64);
        assert_eq!(
            t.inbound_transform(&topic(), Bytes::from(header)),
            Err(TransformError::TooLarge {
                len: u32::MAX as usize,
                max: 1 << 20
            })
        );
        // Exactly at the bound is fine.
        let at = snap::raw::Encoder::new()
            .compress_vec(&vec![1u8; 1 << 20])
            .unwrap();
        assert_eq!(
            t.inbound_transform(&topic(), Bytes::from(at))
                .unwrap()
                .len(),
            1 << 20
        );
    }

    #[test]
    fn snappy_invalid_data_is_an_error() {
        let t = SnappyTransform::new(1 << 20);
        // Declares 10 bytes, then a literal tag promising more bytes than follow.
        let mut bad = varint(10);
        bad.extend_from_slice(&[0x24, b'a']);
        assert!(matches!(
            t.inbound_transform(&topic(), Bytes::from(bad)),
            Err(TransformError::Invalid(_))
        ));
        assert!(matches!(
            t.inbound_transform(&topic(), Bytes::from_static(&[0xff; 12])),
            Err(TransformError::Invalid(_))
        ));
    }

    #[test]
    fn snappy_outbound_refuses_data_over_the_bound() {
        let t = SnappyTransform::new(10);
        assert_eq!(
            t.outbound_transform(&topic(), Bytes::from_static(&[0; 11])),
            Err(TransformError::TooLarge { len: 11, max: 10 })
        );
    }
}
