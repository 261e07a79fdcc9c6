//! The built-in message id functions: the default (source and sequence number) and the
//! content-addressed one.

use libp2p_identity::PeerId;
use sha2::{Digest, Sha256};

use crate::types::{Message, MessageId};

/// Number of SHA-256 bytes kept in a content-based message id.
pub(super) const CONTENT_ID_LEN: usize = 20;

/// The default message id: base58(source) ++ decimal(seqno) when both are present (as
/// libp2p-gossipsub does), otherwise [`content_message_id`].
pub(super) fn default_message_id(message: &Message) -> MessageId {
    match (message.source, message.sequence_number) {
        (Some(source), Some(seqno)) => {
            use std::fmt::Write;
            let mut id = base58_cached(&source);
            let _ = write!(id, "{seqno}");
            MessageId::from(id)
        }
        _ => content_message_id(message),
    }
}

/// The most peer ids whose base58 form [`base58_cached`] keeps per thread.
const BASE58_CACHE_SIZE: usize = 1024;

/// `peer.to_base58()` with a small per-thread cache. Base58 is quadratic in the id's length
/// (about 1.5 µs for an Ed25519 peer id), and the default message id needs it for every copy of
/// every message received, duplicates included; authors repeat, so a cache saves nearly all of it.
fn base58_cached(peer: &PeerId) -> String {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static CACHE: RefCell<HashMap<PeerId, Box<str>>> = RefCell::new(HashMap::new());
    }
    CACHE.with_borrow_mut(|cache| {
        // Room for the decimal seqno (at most 20 digits) so the push does not reallocate.
        let mut out = String::with_capacity(64 + 20);
        if let Some(b58) = cache.get(peer) {
            out.push_str(b58);
            return out;
        }
        let b58 = peer.to_base58();
        out.push_str(&b58);
        if cache.len() >= BASE58_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(*peer, b58.into_boxed_str());
        out
    })
}

/// A content-addressed message id: the first 20 bytes of SHA-256(u64le(len(topic)) ++ topic ++ data).
pub(crate) fn content_message_id(message: &Message) -> MessageId {
    let digest = Sha256::new()
        .chain_update((message.topic.as_str().len() as u64).to_le_bytes())
        .chain_update(message.topic.as_str())
        .chain_update(&message.data)
        .finalize();
    MessageId::new(digest[..CONTENT_ID_LEN].to_vec())
}
