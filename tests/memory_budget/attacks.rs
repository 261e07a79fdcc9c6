//! The attacks: builders of the attacker's next frame, one per attack of issue 7's section A,
//! and the honest traffic.

use super::*;

/// A unique id of `len` bytes.
fn unique_id(h: &mut Harness, len: usize) -> Vec<u8> {
    let n = h.next().to_le_bytes();
    let mut id = vec![b'x'; len];
    let k = len.min(8);
    id[..k].copy_from_slice(&n[..k]);
    id
}

pub(super) fn ihave_flood(h: &mut Harness, frame: usize) -> Vec<u8> {
    let max = h.max();
    let topic = pb::field(1, h.topic.as_str().as_bytes());
    let body = match frame % 3 {
        // One IHAVE with as many 2-byte ids as fit.
        0 => pb::fill(max, &[RPC_CONTROL, CTRL_IHAVE], &topic, || {
            let id = unique_id(h, 2);
            pb::field(2, &id)
        }),
        // As many IHAVE entries of one short id as fit.
        1 => pb::fill(max, &[RPC_CONTROL], &[], || {
            let mut entry = topic.clone();
            pb::bytes(&mut entry, 2, &unique_id(h, 8));
            pb::field(CTRL_IHAVE, &entry)
        }),
        // Long ids: at the id length limit, and over it.
        _ => pb::fill(max, &[RPC_CONTROL, CTRL_IHAVE], &topic, || {
            let len = if h.attack_seq.is_multiple_of(2) {
                100
            } else {
                1000
            };
            pb::field(2, &unique_id(h, len))
        }),
    };
    pb::frame(&body)
}

pub(super) fn iwant_spam(h: &mut Harness, frame: usize) -> Vec<u8> {
    let max = h.max();
    // Ids of the honest messages in our cache, asked again and again, mixed with unknown ones.
    let recent: Vec<Vec<u8>> = (h.honest_seq.saturating_sub(8)..=h.honest_seq)
        .map(|s| h.honest_id(s))
        .collect();
    let mut i = 0;
    let body = pb::fill(max, &[RPC_CONTROL, CTRL_IWANT], &[], || {
        i += 1;
        if (i + frame).is_multiple_of(2) {
            pb::field(1, &recent[i % recent.len()])
        } else {
            pb::field(1, &unique_id(h, 1 + i % 100))
        }
    });
    pb::frame(&body)
}

pub(super) fn idontwant_flood(h: &mut Harness, frame: usize) -> Vec<u8> {
    let max = h.max();
    let len = [100, 1, 40, 101][frame % 4];
    let body = pb::fill(max, &[RPC_CONTROL, CTRL_IDONTWANT], &[], || {
        pb::field(1, &unique_id(h, len))
    });
    pb::frame(&body)
}

pub(super) fn graft_flood(h: &mut Harness, frame: usize) -> Vec<u8> {
    let max = h.max();
    if frame == 0 && h.attack_seq == 0 {
        // First the attacker PRUNEs us, which puts it in backoff for the topic.
        h.next();
        let mut prune = Vec::new();
        pb::bytes(&mut prune, 1, h.topic.as_str().as_bytes());
        pb::uint(&mut prune, 3, 60);
        return pb::frame(&pb::field(RPC_CONTROL, &pb::field(CTRL_PRUNE, &prune)));
    }
    // GRAFTs for our topic during the backoff, mixed with GRAFTs for unknown topics.
    let topic = h.topic.as_str().as_bytes().to_vec();
    let body = pb::fill(max, &[RPC_CONTROL], &[], || {
        let n = h.next();
        let entry = if n.is_multiple_of(2) {
            pb::field(1, &topic)
        } else {
            pb::field(1, format!("t{n}").as_bytes())
        };
        pb::field(CTRL_GRAFT, &entry)
    });
    pb::frame(&body)
}

/// Signed peer records of fresh peers (built before the baseline; each costs a signature).
pub(super) fn peer_records(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let key = Keypair::generate_ed25519();
            let addrs = (0..4)
                .map(|a| {
                    format!("/ip4/10.{}.{}.{a}/tcp/4001", i / 256, i % 256)
                        .parse()
                        .unwrap()
                })
                .collect();
            let record = PeerRecord::new_interop(&key, addrs).expect("record");
            (
                key.public().to_peer_id().to_bytes(),
                record.into_signed_envelope().into_protobuf_encoding(),
            )
        })
        .collect()
}

/// PRUNEs with peer exchange: valid signed records, garbage records of the maximum size and
/// over it, peer ids without records.
pub(super) fn prune_px(h: &mut Harness, frame: usize, records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let max = h.max();
    let topic = h.topic.as_str().as_bytes().to_vec();
    let kind = frame % 3;
    let mut r = 0;
    let body = pb::fill(max, &[RPC_CONTROL], &[], || {
        let mut prune = pb::field(1, &topic);
        for _ in 0..16 {
            let n = h.next() as usize;
            let mut info = Vec::new();
            match kind {
                0 => {
                    let (id, record) = &records[(frame * 64 + r) % records.len()];
                    r += 1;
                    pb::bytes(&mut info, 1, id);
                    pb::bytes(&mut info, 2, record);
                }
                1 => {
                    pb::bytes(&mut info, 1, &PeerId::random().to_bytes());
                    pb::bytes(&mut info, 2, &vec![n as u8; 4096 + (n % 2) * 4096]);
                }
                _ => pb::bytes(&mut info, 1, &PeerId::random().to_bytes()),
            }
            pb::bytes(&mut prune, 2, &info);
        }
        pb::uint(&mut prune, 3, 60);
        pb::field(CTRL_PRUNE, &prune)
    });
    pb::frame(&body)
}

pub(super) fn subscription_flood(h: &mut Harness, frame: usize) -> Vec<u8> {
    let max = h.max();
    let len = [256, 257, max / 4, 16][frame % 4];
    let subscribe = frame % 8 != 7;
    let body = pb::fill(max, &[], &[], || {
        let n = h.next();
        let mut topic = format!("{n}-").into_bytes();
        topic.resize(len.max(topic.len()), b't');
        let mut sub = Vec::new();
        pb::uint(&mut sub, 1, u64::from(subscribe));
        pb::bytes(&mut sub, 2, &topic);
        pb::field(RPC_SUBSCRIPTIONS, &sub)
    });
    pb::frame(&body)
}

/// As many small messages as fit, each from `source` with `signature` (garbage, or none).
fn small_messages(h: &mut Harness, source: PeerId, signature: Option<&[u8]>) -> Vec<u8> {
    let max = h.max();
    let from = source.to_bytes();
    let topic = h.topic.as_str().as_bytes().to_vec();
    // Message fields: from 1, data 2, seqno 3 (8 bytes big-endian), topic 4, signature 5.
    let body = pb::fill(max, &[], &[], || {
        let mut message = Vec::new();
        pb::bytes(&mut message, 1, &from);
        pb::bytes(&mut message, 2, &[7; 64]);
        pb::bytes(&mut message, 3, &h.next().to_be_bytes());
        pb::bytes(&mut message, 4, &topic);
        if let Some(signature) = signature {
            pb::bytes(&mut message, 5, signature);
        }
        pb::field(RPC_PUBLISH, &message)
    });
    pb::frame(&body)
}

pub(super) fn invalid_signatures(h: &mut Harness, _frame: usize) -> Vec<u8> {
    let attacker = h.attacker;
    small_messages(h, attacker, Some(&[9; 64]))
}

/// Messages claiming to be ours: with a garbage signature, or none when signatures are not
/// checked (then only the self-origin check stops them, before they are marked seen).
pub(super) fn forged_self_origin(h: &mut Harness, _frame: usize) -> Vec<u8> {
    let local = h.local;
    let signature = match h.router.config().validation_mode() {
        ValidationMode::Strict => Some(&[9; 64][..]),
        _ => None,
    };
    small_messages(h, local, signature)
}

/// Unsigned valid messages, as many as fit (validation mode `None`).
pub(super) fn unsigned_messages(h: &mut Harness, _frame: usize) -> Vec<u8> {
    let attacker = h.attacker;
    small_messages(h, attacker, None)
}

/// Valid messages signed by the attacker, `per_frame` per frame, the frame filled up to the
/// maximum size with an IHAVE for a topic we are not in (a small payload in a big frame: if
/// the payload kept a slice of the frame, the cache would pin the whole frame).
pub(super) fn valid_messages(h: &mut Harness, per_frame: usize) -> Vec<u8> {
    let max = h.max();
    let mut body = Vec::new();
    for _ in 0..per_frame {
        let seq = h.next();
        let message = signed_message(
            &h.attacker_key,
            h.topic.clone(),
            Bytes::from(seq.to_le_bytes().to_vec()),
            seq,
        );
        body.extend(h.body(&Rpc {
            messages: vec![message],
            ..Rpc::default()
        }));
    }
    let filler_topic = pb::field(1, b"not-our-topic");
    let filler = pb::fill(
        max - body.len(),
        &[RPC_CONTROL, CTRL_IHAVE],
        &filler_topic,
        || pb::field(2, &[b'f'; 60]),
    );
    body.extend(filler);
    pb::frame(&body)
}
