//! The wire layer: the protobuf schema, length-prefixed framing, conversion between protobuf
//! and crate types, and message signing / authenticity validation.
//!
//! Everything that touches protobuf stays in here; the rest of the crate sees only the types of
//! [`crate::types`].

// Until the router and the handler use the wire layer, parts of it are unused outside tests.
// Remove this once they are wired in.

pub(crate) mod bounds;
pub(crate) mod codec;
pub(crate) mod convert;
pub(crate) mod decode;
pub(crate) mod fragment;
pub(crate) mod proto;
pub(crate) mod signing;

#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod extensions_tests;
#[cfg(test)]
mod fidelity_tests;
#[cfg(test)]
mod fragment_tests;

pub(crate) use codec::{Codec, DecodedRpc, DropReason, Inbound};
pub(crate) use convert::encoded_len;
pub(crate) use decode::{DecodeDrops, DecodeLimits};
pub(crate) use fragment::{
    Usage, entry_len, field_len, fragment_for_peer, fragment_within, message_len, rpc_len,
};
pub(crate) use signing::{sign, validate};
