//! Thin wrappers around crate-internal wire functions, for the fuzz targets in `fuzz/`.
//!
//! **Not part of the public API**: hidden from the docs, exempt from semver, and may change or
//! disappear in any release. Do not use it outside this repository.

use std::io;

use asynchronous_codec::{Decoder, Encoder};
use bytes::{Bytes, BytesMut};
use libp2p_identity::{Keypair, SigningError};

use crate::Config;
use crate::authenticity::ValidationMode;
use crate::error::ValidationError;
use crate::types::{RawMessage, Rpc};
use crate::wire::{self, Inbound};

/// What the decoder yielded for one frame.
#[derive(Debug)]
pub enum Decoded {
    /// A frame that decoded as an RPC (messages with undecodable authenticity fields already
    /// set aside and counted in `malformed`).
    Rpc {
        /// The RPC.
        rpc: Rpc,
        /// Messages taken out of it as malformed.
        malformed: usize,
        /// Control messages of an unknown kind skipped by the decoder.
        unknown_control: usize,
    },
    /// A frame that was discarded (too large or not protobuf); the stream goes on.
    Dropped(String),
}

/// The length-prefixed protobuf codec of the pubsub streams.
pub struct Codec(wire::Codec);

impl Codec {
    /// A codec for frames of at most `max_size` bytes, with no other per-RPC limit.
    pub fn new(max_size: usize) -> Self {
        Codec(wire::Codec::new(max_size))
    }

    /// The codec a node with `config` uses: frames of at most `max_transmit_size`, decoded
    /// under the per-RPC limits of `config`.
    pub fn for_config(config: &Config) -> Self {
        Codec(wire::Codec::with_limits(
            config.max_transmit_size(),
            wire::DecodeLimits::from_config(config),
        ))
    }

    /// Decodes one frame from `src`: `Ok(None)` if more bytes are needed; an error when the
    /// stream cannot continue (a broken length prefix).
    pub fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Decoded>> {
        Ok(self.0.decode(src)?.map(|inbound| match inbound {
            Inbound::Rpc(d) => Decoded::Rpc {
                malformed: d.malformed_messages.len(),
                unknown_control: d.unknown_control,
                rpc: d.rpc,
            },
            Inbound::Dropped(reason) => Decoded::Dropped(reason.to_string()),
        }))
    }

    /// Appends the frame of `rpc` to `dst`; an error if it is larger than the maximum.
    pub fn encode(&mut self, rpc: &Rpc, dst: &mut BytesMut) -> io::Result<()> {
        self.0.encode(rpc, dst)
    }
}

/// The exact protobuf size of `rpc` (without the length prefix).
pub fn encoded_len(rpc: &Rpc) -> usize {
    wire::encoded_len(rpc)
}

/// Signs `msg` (its `signature` and `key` are ignored): the signature and the `key` field.
pub fn sign(keypair: &Keypair, msg: &RawMessage) -> Result<(Bytes, Option<Bytes>), SigningError> {
    wire::sign(keypair, msg)
}

/// Checks the authenticity fields of a received message as `mode` requires.
pub fn validate(mode: ValidationMode, msg: &RawMessage) -> Result<(), ValidationError> {
    wire::validate(mode, msg)
}

/// The bytes a message signature covers (`"libp2p-pubsub:" ++ protobuf(message)`).
pub fn signing_bytes(msg: &RawMessage) -> Vec<u8> {
    wire::convert::encode_message_for_signing(msg)
}
