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
pub(crate) mod encode_messages;
pub(crate) mod fragment;
pub(crate) mod proto;
pub(crate) mod reader;
pub(crate) mod signing;

#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod extensions_tests;
#[cfg(test)]
mod fidelity_tests;
#[cfg(test)]
pub(crate) mod fragment_tests;
#[cfg(test)]
mod partial_tests;
#[cfg(test)]
mod reader_tests;

pub(crate) use codec::{Codec, DecodedRpc, DropReason, Inbound};
pub(crate) use convert::encoded_len;
pub(crate) use decode::{DecodeDrops, DecodeLimits};
#[cfg_attr(not(feature = "partial-messages"), allow(unused_imports))]
pub use decode::{MAX_PARTIAL_GROUP_ID_LEN, MAX_PARTS_METADATA_LEN};
pub(crate) use fragment::{
    LIBP2P_MAX_CONTROL_MESSAGE_SIZE, Usage, fragment_for_peer, fragment_within, outbound_limits,
    rpc_len,
};
/// Encoded sizes, for the simulator's byte accounting.
#[cfg(feature = "sim")]
pub(crate) use fragment::{entry_len, field_len, message_len};
pub(crate) use reader::FrameReader;
pub(crate) use signing::{sign, validate, verification_cost};
