//! The message cache: recent messages kept for `history_length` heartbeats, the newest
//! `history_gossip` of which are advertised in IHAVE.
//!
//! Messages awaiting application validation live here too (not yet `validated`): they are
//! neither gossiped nor served to IWANT until accepted.
//!
//! The cache also indexes its messages by a fast hash of the fields a message id is computed
//! from (author, seqno, topic, data), so a duplicate of a cached message finds its id without
//! running the message-id function again (SHA-256 over the payload for content ids): in a mesh
//! of degree D, every message arrives about D times.
//!
//! The cache is bounded in bytes (`max_cache_bytes`) as well as in time: every id put into a
//! window is charged [`ENTRY_OVERHEAD`] plus its id and message sizes until its window is
//! dropped (an entry removed after a reject keeps its id in the window, so it stays charged),
//! and when a put goes over the bound the oldest ids are dropped first. What IWANT serving
//! remembers (each peer's transmissions of each message, for `gossip_retransmission`) is
//! charged to the same bound, [`IWANT_SERVED_CHARGE`] per (message, peer), so peers asking
//! for every cached message cannot grow it past the bound either.

use std::collections::VecDeque;

use libp2p_identity::PeerId;

use super::Map;
use super::shrink::ShrinkIfSparse;
use crate::types::{MessageId, RawMessage, TopicHash};

/// Bytes charged per cached message besides its id and encoded size: the entry, its map and
/// window slots and the duplicate index (measured with `benches/memory.rs`: 703 B per message
/// besides its payload).
pub(crate) const ENTRY_OVERHEAD: usize = 640;

/// One (peer, transmissions) pair of [`Served`]: the peer's 64-bit key (a hash of its id
/// with the cache's randomly seeded hasher) and a count.
type ServedSlot = (u64, u32);

/// Bytes charged per slot of the (message, peer) pairs remembered for
/// `gossip_retransmission`: a [`ServedSlot`] (16 bytes) in an exact-size vector, plus the
/// allocator's header and rounding (a first slot takes a 32-byte chunk of glibc's malloc).
/// Charged per slot allocated (capacity), not per pair used.
pub(crate) const IWANT_SERVED_CHARGE: usize = 32;

// A slot's charge covers its size and an allocation header: a larger slot must raise it.
const _: () = assert!(IWANT_SERVED_CHARGE >= std::mem::size_of::<ServedSlot>() + 16);

/// How many times each peer has had one message from us through IWANT: sorted by peer key,
/// with no spare capacity, so its memory is its slots times [`IWANT_SERVED_CHARGE`] at most.
/// (A hash map of peer ids took 3 slots of 88 bytes for its first peer, 264 bytes against
/// the 128 then charged, and up to twice the slots it used when grown.) Peers are keyed by a
/// seeded 64-bit hash of their id: two peers sharing a key (about 2^-64 per pair, and the
/// seed is secret) would share one retransmission count.
#[derive(Default)]
struct Served(Vec<ServedSlot>);

impl Served {
    /// The position of the peer with `key`, or where it would go.
    fn find(&self, key: u64) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(&key))
    }

    /// Slots allocated: what is charged.
    fn slots(&self) -> usize {
        self.0.capacity()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A cached message and what the cache knows of it.
///
/// `repr(C)`, and first in a [`Slot`] after the id: a duplicate's lookup reads the id, `seen`
/// and the message's author, seqno, data and topic, which then sit in about three cache lines
/// of the ~390-byte slot (the compiler's order put `seen` and the id at its far end, after
/// the propagation source and the IWANT records, for about five).
#[repr(C)]
pub(crate) struct CacheEntry {
    /// Whether its id is in the seen cache (kept in step by the router: set when put, which
    /// follows marking the id seen; cleared when the seen cache forgets the id), so a
    /// duplicate found through the content index needs no seen-cache lookup.
    seen: bool,
    pub(crate) validated: bool,
    /// Its key in the content index.
    content_key: u64,
    pub(crate) message: RawMessage,
    /// Who forwarded it to us first (the propagation source), for validation reports.
    pub(crate) source: Option<PeerId>,
    /// How many times each peer has had it from us through IWANT.
    iwant_served: Served,
}

/// A cached message with its id, in one slot of [`MessageCache::slots`]; `repr(C)`, the id
/// first (see [`CacheEntry`]).
#[repr(C)]
struct Slot {
    id: MessageId,
    entry: CacheEntry,
}

pub(crate) struct MessageCache {
    gossip: usize,
    /// The cached messages, each in a slot of its own (`None`: free, listed in `free`), so
    /// both indexes point at one place: a duplicate found through the content index needs
    /// no second lookup by id.
    slots: Vec<Option<Slot>>,
    /// Free slots, reused last freed first.
    free: Vec<u32>,
    /// Id -> slot of the cached message with that id.
    by_id: Map<MessageId, u32>,
    /// Content hash -> slot of a cached message with that content (see the module docs).
    by_content: Map<u64, u32>,
    /// Where the last few messages put were placed, by payload address: where the copies of a
    /// message share one payload buffer (in process, as in the simulator), a duplicate, which
    /// mostly arrives shortly after the first copy, is found without hashing its payload. Where
    /// every received copy has a buffer of its own (from the network), the hints are hit only
    /// by empty payloads (which share one static address) and cost a scan of one cache line
    /// per lookup; a hit is always checked against the cached message.
    payload_hints: PayloadHints,
    /// Newest window first; each holds the ids put in during one heartbeat, oldest first,
    /// with the bytes charged for them.
    windows: VecDeque<VecDeque<WindowItem>>,
    hasher: ahash::RandomState,
    /// Bytes charged for the ids in the windows, and their bound (which `served_bytes`
    /// counts toward too).
    bytes: usize,
    max_bytes: usize,
    /// Bytes charged for the IWANT transmissions remembered in the entries.
    served_bytes: usize,
    /// Ids held in the windows (live or removed entries).
    window_items: usize,
    /// Messages dropped before their window because of the byte bound (not yet reported).
    evicted: u64,
}

/// An id in a window, its topic (for gossip) and the bytes charged for it.
struct WindowItem {
    id: MessageId,
    topic: TopicHash,
    charge: ChargeSlot,
}

/// The bytes charged for a window item and, as a hint, the slot its message was put in, in
/// one word (a window item stays 64 bytes). Every realistic charge is below 2^32, which leaves
/// 31 bits for the slot; a larger charge is kept whole, without a slot. The slot is only a
/// hint: it may have been freed and reused since, so its id is compared before it is trusted.
#[derive(Debug, Clone, Copy)]
struct ChargeSlot(u64);

impl ChargeSlot {
    /// Set: the rest of the word is the charge, and there is no slot.
    const WIDE: u64 = 1 << 63;
    /// The slot field of an item without one (slots from here on are not hinted).
    const NO_SLOT: u32 = (1 << 31) - 1;

    fn new(charge: usize) -> Self {
        let charge = charge as u64;
        match u32::try_from(charge) {
            Ok(narrow) => ChargeSlot(u64::from(Self::NO_SLOT) << 32 | u64::from(narrow)),
            // A charge is the size of something held in memory: below 2^63.
            Err(_) => ChargeSlot(Self::WIDE | charge),
        }
    }

    fn charge(self) -> usize {
        if self.0 & Self::WIDE != 0 {
            (self.0 & !Self::WIDE) as usize
        } else {
            (self.0 & u64::from(u32::MAX)) as usize
        }
    }

    /// The hinted slot (`NO_SLOT`: none).
    fn slot(self) -> u32 {
        if self.0 & Self::WIDE != 0 {
            Self::NO_SLOT
        } else {
            (self.0 >> 32) as u32
        }
    }

    /// Hints `slot` (left without a hint if the charge is wide or the slot too high).
    fn set_slot(&mut self, slot: u32) {
        let slot = if slot < Self::NO_SLOT {
            slot
        } else {
            Self::NO_SLOT
        };
        if self.0 & Self::WIDE == 0 {
            self.0 = u64::from(slot) << 32 | (self.0 & u64::from(u32::MAX));
        }
    }
}

/// Whether two payloads are equal; copies that share one buffer (a forwarded `Bytes` in
/// process, as in the simulator) are equal without comparing their bytes.
fn same_bytes(a: &bytes::Bytes, b: &bytes::Bytes) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// Whether two messages have the same author, seqno, topic and data: the fields a message id
/// and the content key are computed from.
fn same_content(cached: &RawMessage, message: &RawMessage) -> bool {
    cached.source == message.source
        && cached.sequence_number == message.sequence_number
        && cached.topic == message.topic
        && same_bytes(&cached.data, &message.data)
}

/// How a payload is told apart in [`PayloadHints`]: the address of its first byte.
fn payload_address(data: &bytes::Bytes) -> usize {
    data.as_ptr() as usize
}

/// How many recent puts [`PayloadHints`] remembers.
const PAYLOAD_HINTS: usize = 8;

/// The payload addresses and slots of the last [`PAYLOAD_HINTS`] messages put, in a ring.
/// Only hints: a slot may have been freed and reused (or moved by compaction) since, so the
/// message found is compared with the one looked up before it is trusted. No table, so
/// nothing to keep in step on removal, and the addresses share one cache line.
#[derive(Debug)]
struct PayloadHints {
    addresses: [usize; PAYLOAD_HINTS],
    slots: [u32; PAYLOAD_HINTS],
    /// The next position to overwrite.
    next: usize,
}

impl PayloadHints {
    fn new() -> Self {
        PayloadHints {
            // A payload's address is never 0 (`Bytes` points at a static for empty data).
            addresses: [0; PAYLOAD_HINTS],
            slots: [u32::MAX; PAYLOAD_HINTS],
            next: 0,
        }
    }

    fn remember(&mut self, address: usize, slot: u32) {
        self.addresses[self.next] = address;
        self.slots[self.next] = slot;
        self.next = (self.next + 1) % PAYLOAD_HINTS;
    }

    /// The slot last put with a payload at `address`, if remembered.
    fn slot(&self, address: usize) -> Option<u32> {
        // Newest first: a reused buffer's latest message is the likelier match.
        (0..PAYLOAD_HINTS)
            .map(|back| (self.next + PAYLOAD_HINTS - 1 - back) % PAYLOAD_HINTS)
            .find(|&at| self.addresses[at] == address)
            .map(|at| self.slots[at])
    }
}

/// Below this many slots the slab is never compacted.
const MIN_SLOTS: usize = 64;

impl MessageCache {
    pub(crate) fn new(
        history_length: usize,
        history_gossip: usize,
        max_bytes: usize,
        hasher: ahash::RandomState,
    ) -> Self {
        let mut windows = VecDeque::with_capacity(history_length);
        windows.extend((0..history_length).map(|_| VecDeque::new()));
        MessageCache {
            gossip: history_gossip,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: Map::with_hasher(hasher.clone()),
            by_content: Map::with_hasher(hasher.clone()),
            payload_hints: PayloadHints::new(),
            windows,
            hasher,
            bytes: 0,
            max_bytes,
            served_bytes: 0,
            window_items: 0,
            evicted: 0,
        }
    }

    /// The key of `message` in the content index: a seeded hash of the fields its id depends on.
    pub(crate) fn content_key(&self, message: &RawMessage) -> u64 {
        self.hasher.hash_one((
            message.source,
            message.sequence_number,
            message.topic.as_str(),
            &message.data[..],
        ))
    }

    /// Looks `message` up by content: if a message with the same author, seqno, topic and
    /// data is cached, that message's id and whether it is seen (as
    /// [`MessageCache::cached_id`]); and its [`MessageCache::content_key`] when it was
    /// computed. With the payload hints on, a copy of a recent message sharing its payload
    /// buffer is found without hashing the payload (the key is then `None`: a duplicate
    /// needs none).
    pub(crate) fn find(&self, message: &RawMessage) -> (Option<u64>, Option<(&MessageId, bool)>) {
        if let Some(at) = self.payload_hints.slot(payload_address(&message.data))
            && let Some(Slot { id, entry }) = self.slot(at)
            && same_content(&entry.message, message)
        {
            return (None, Some((id, entry.seen)));
        }
        let key = self.content_key(message);
        (Some(key), self.cached_id(key, message))
    }

    /// The slot of a live entry.
    fn slot(&self, slot: u32) -> Option<&Slot> {
        self.slots.get(slot as usize)?.as_ref()
    }

    fn slot_mut(&mut self, slot: u32) -> Option<&mut Slot> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// The id of the cached message with the same author, seqno, topic and data as `message`
    /// (compared in full, so a hash collision cannot return a wrong id), and whether that id
    /// is in the seen cache.
    pub(crate) fn cached_id(&self, key: u64, message: &RawMessage) -> Option<(&MessageId, bool)> {
        let Slot { id, entry } = self.slot(*self.by_content.get(&key)?)?;
        same_content(&entry.message, message).then_some((id, entry.seen))
    }

    /// Records whether the cached message with `id` (if any) is in the seen cache.
    pub(crate) fn set_seen(&mut self, id: &MessageId, seen: bool) {
        if let Some(entry) = self.get_mut(id) {
            entry.seen = seen;
        }
    }

    /// The cached ids and whether each is marked seen (for the invariant check).
    pub(crate) fn seen_marks(&self) -> impl Iterator<Item = (&MessageId, bool)> {
        self.slots.iter().flatten().map(|s| (&s.id, s.entry.seen))
    }

    /// Adds a message whose id was just marked seen; returns `false` (and changes nothing) if
    /// the id is already cached.
    pub(crate) fn put(
        &mut self,
        id: MessageId,
        message: RawMessage,
        validated: bool,
        source: Option<PeerId>,
    ) -> bool {
        let content_key = self.content_key(&message);
        self.put_with_key(id, message, validated, source, content_key)
    }

    /// As [`MessageCache::put`], with the message's [`MessageCache::content_key`] already
    /// computed (the receive path has it from its duplicate check).
    pub(crate) fn put_with_key(
        &mut self,
        id: MessageId,
        message: RawMessage,
        validated: bool,
        source: Option<PeerId>,
        content_key: u64,
    ) -> bool {
        if self.by_id.contains_key(&id) {
            return false;
        }
        let charge = ENTRY_OVERHEAD + id.as_bytes().len() + message.encoded_len();
        if let Some(window) = self.windows.front_mut() {
            window.push_back(WindowItem {
                id: id.clone(),
                topic: message.topic.clone(),
                charge: ChargeSlot::new(charge),
            });
            self.bytes += charge;
            self.window_items += 1;
        }
        let address = payload_address(&message.data);
        let slot = Slot {
            id: id.clone(),
            entry: CacheEntry {
                message,
                validated,
                source,
                iwant_served: Served::default(),
                content_key,
                seen: true,
            },
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = Some(slot);
                index
            }
            None => {
                // The byte bound keeps the entries far below u32::MAX (each is charged
                // ENTRY_OVERHEAD bytes); a full slab would refuse the message.
                let Ok(index) = u32::try_from(self.slots.len()) else {
                    return false;
                };
                self.slots.push(Some(slot));
                index
            }
        };
        if let Some(item) = self.windows.front_mut().and_then(VecDeque::back_mut) {
            item.charge.set_slot(index);
        }
        // Only the content index's pick is hinted, so that both find the same entry (two
        // cached entries share content only under an id function not derived from it).
        if *self.by_content.entry(content_key).or_insert(index) == index {
            self.payload_hints.remember(address, index);
        }
        self.by_id.insert(id, index);
        self.shed();
        true
    }

    /// Drops the oldest ids while over the byte bound (the newest is always kept).
    fn shed(&mut self) {
        while self.bytes + self.served_bytes > self.max_bytes && self.window_items > 1 {
            self.drop_oldest();
        }
    }

    /// Takes the entry with `id` out of the cache (its window item stays).
    fn take(&mut self, id: &MessageId) -> Option<CacheEntry> {
        let index = self.by_id.remove(id)?;
        let Slot { entry, .. } = self.slots.get_mut(index as usize)?.take()?;
        self.forget(index, entry.iwant_served.slots(), entry.content_key);
        Some(entry)
    }

    /// Drops the entry with `id` where it lies (its window item stays); returns whether it
    /// was cached. Unlike [`MessageCache::take`], the slot (about 350 bytes, cold when its
    /// window expires) is not copied out first: only the fields with something to release
    /// are read.
    fn discard(&mut self, id: &MessageId) -> bool {
        let Some(index) = self.by_id.remove(id) else {
            return false;
        };
        let Some(cell) = self.slots.get_mut(index as usize) else {
            return false;
        };
        let Some(Slot { entry, .. }) = cell.as_ref() else {
            return false;
        };
        let (served, content_key) = (entry.iwant_served.slots(), entry.content_key);
        *cell = None;
        self.forget(index, served, content_key);
        true
    }

    /// The bookkeeping of an entry just taken out of slot `index`: the slot is free, its
    /// IWANT records are no longer charged, and the content index no longer points at it.
    fn forget(&mut self, index: u32, served_slots: usize, content_key: u64) {
        self.free.push(index);
        self.served_bytes -= served_slots * IWANT_SERVED_CHARGE;
        if self.by_content.get(&content_key) == Some(&index) {
            self.by_content.remove(&content_key);
        }
    }

    /// Drops the oldest id of the oldest non-empty window, and its message if still cached.
    fn drop_oldest(&mut self) {
        let Some(item) = self.windows.iter_mut().rev().find_map(VecDeque::pop_front) else {
            return;
        };
        self.release(&item);
        if self.discard(&item.id) {
            self.evicted += 1;
        }
    }

    fn release(&mut self, item: &WindowItem) {
        self.bytes -= item.charge.charge();
        self.window_items -= 1;
    }

    /// Slots allocated for messages (the id table's capacity).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.by_id.capacity()
    }

    /// Bytes charged: the ids in the windows (see [`ENTRY_OVERHEAD`]) and the IWANT
    /// transmissions remembered (see [`IWANT_SERVED_CHARGE`]).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes + self.served_bytes
    }

    /// Bytes charged for the ids in the windows alone.
    #[cfg(test)]
    pub(crate) fn window_bytes(&self) -> usize {
        self.bytes
    }

    /// Ids held in the windows, including those of removed messages.
    #[cfg(test)]
    pub(crate) fn window_items(&self) -> usize {
        self.window_items
    }

    /// Messages dropped early because of the byte bound since the last call.
    pub(crate) fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    pub(crate) fn get(&self, id: &MessageId) -> Option<&CacheEntry> {
        self.slot(*self.by_id.get(id)?).map(|s| &s.entry)
    }

    fn get_mut(&mut self, id: &MessageId) -> Option<&mut CacheEntry> {
        let index = *self.by_id.get(id)?;
        self.slot_mut(index).map(|s| &mut s.entry)
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, id: &MessageId) -> bool {
        self.by_id.contains_key(id)
    }

    /// The message for an IWANT from `peer`, if it is validated and the peer has asked for it
    /// fewer than `max_transmissions` times; counts this transmission. Remembering a new
    /// (message, peer) pair is charged to the byte bound, which may drop the oldest messages
    /// first (the one asked for too, if it is the oldest: then `None`).
    pub(crate) fn get_for_iwant(
        &mut self,
        id: &MessageId,
        peer: PeerId,
        max_transmissions: u32,
    ) -> Option<&RawMessage> {
        let entry = self.get(id)?;
        if !entry.validated {
            return None;
        }
        let key = self.hasher.hash_one(peer);
        let at = match entry.iwant_served.find(key) {
            Ok(at) if entry.iwant_served.0[at].1 >= max_transmissions => return None,
            Ok(at) => at,
            Err(_) => {
                // Charged before it is allocated: shedding may drop this message too.
                self.served_bytes += IWANT_SERVED_CHARGE;
                self.shed();
                let Some(entry) = self.get_mut(id) else {
                    self.served_bytes -= IWANT_SERVED_CHARGE;
                    return None;
                };
                let served = &mut entry.iwant_served;
                let at = served.find(key).unwrap_or_else(|at| at);
                let before = served.slots();
                served.0.reserve_exact(1);
                served.0.insert(at, (key, 0));
                // The charge follows the slots actually allocated (one more, unless the
                // allocator gave spare ones).
                let grown = served.slots() - before;
                self.served_bytes =
                    self.served_bytes - IWANT_SERVED_CHARGE + grown * IWANT_SERVED_CHARGE;
                self.shed();
                at
            }
        };
        let entry = self.get_mut(id)?;
        let (_, served) = entry.iwant_served.0.get_mut(at)?;
        *served += 1;
        Some(&entry.message)
    }

    /// Marks a message as accepted by the application and returns it with its source.
    pub(crate) fn validate(&mut self, id: &MessageId) -> Option<(RawMessage, Option<PeerId>)> {
        let entry = self.get_mut(id)?;
        if entry.validated {
            return None;
        }
        entry.validated = true;
        Some((entry.message.clone(), entry.source))
    }

    /// Removes a message (rejected or ignored by the application). Its id stays in its window
    /// and is skipped when gossiping.
    pub(crate) fn remove(&mut self, id: &MessageId) -> Option<CacheEntry> {
        self.take(id)
    }

    /// The validated ids of the newest `history_gossip` windows, grouped by topic.
    pub(crate) fn gossip_ids(&self) -> Map<TopicHash, Vec<MessageId>> {
        let mut by_topic: Map<TopicHash, Vec<MessageId>> = Map::with_hasher(self.hasher.clone());
        // Ids of one topic mostly follow each other: they gather in `run` until the topic
        // changes, then join the map, so the map hashes a topic once per run, not per id.
        let mut run: Option<(&TopicHash, Vec<MessageId>)> = None;
        for window in self.windows.iter().take(self.gossip) {
            for WindowItem { id, topic, charge } in window {
                // The item's slot, if it still holds its id, is the entry `get` would find
                // (an id has one slot): no lookup of the id in the table.
                let entry = match self.slot(charge.slot()) {
                    Some(s) if s.id == *id => Some(&s.entry),
                    _ => self.get(id),
                };
                if !entry.is_some_and(|e| e.validated) {
                    continue;
                }
                match &mut run {
                    Some((current, ids)) if *current == topic => ids.push(id.clone()),
                    _ => {
                        if let Some((done, ids)) = run.replace((topic, vec![id.clone()])) {
                            Self::join_run(&mut by_topic, done, ids);
                        }
                    }
                }
            }
        }
        if let Some((done, ids)) = run {
            Self::join_run(&mut by_topic, done, ids);
        }
        by_topic
    }

    /// Appends a run of `topic`'s ids to its group (in order).
    fn join_run(
        by_topic: &mut Map<TopicHash, Vec<MessageId>>,
        topic: &TopicHash,
        ids: Vec<MessageId>,
    ) {
        // Look up before inserting: `entry` would clone the topic for every run.
        match by_topic.get_mut(topic) {
            Some(group) => group.extend(ids),
            None => {
                by_topic.insert(topic.clone(), ids);
            }
        }
    }

    /// Starts a new window and drops the messages of the oldest one.
    pub(crate) fn shift(&mut self) {
        // The oldest window, emptied, becomes the newest: it keeps its capacity, so a window
        // is not grown again from nothing every heartbeat (given back after a burst, below).
        let mut window = self.windows.pop_back().unwrap_or_default();
        for item in window.drain(..) {
            self.release(&item);
            self.discard(&item.id);
        }
        window.shrink_if_sparse();
        self.windows.push_front(window);
        // A burst leaves the tables at their peak capacity: give it back once it has passed.
        self.by_id.shrink_if_sparse();
        self.by_content.shrink_if_sparse();
        self.compact_if_sparse();
    }

    /// Moves the live entries to the front of a slab left mostly free by a burst, and gives
    /// the rest back (the same rule as the tables' `shrink_if_sparse`).
    fn compact_if_sparse(&mut self) {
        let live = self.by_id.len();
        if self.slots.len() <= MIN_SLOTS || live.saturating_mul(4) >= self.slots.len() {
            return;
        }
        let mut moved = vec![u32::MAX; self.slots.len()];
        let mut slots = Vec::with_capacity(live * 2);
        for (old, slot) in self.slots.drain(..).enumerate() {
            if let Some(slot) = slot {
                // At most the old length, which fitted in u32.
                moved[old] = slots.len() as u32;
                slots.push(Some(slot));
            }
        }
        self.slots = slots;
        self.free = Vec::new();
        // Every hinted slot has moved.
        self.payload_hints = PayloadHints::new();
        for index in self.by_id.values_mut().chain(self.by_content.values_mut()) {
            *index = moved[*index as usize];
        }
        for item in self.windows.iter_mut().flatten() {
            let slot = moved.get(item.charge.slot() as usize).copied();
            item.charge.set_slot(slot.unwrap_or(ChargeSlot::NO_SLOT));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// A lower bound of the heap bytes the IWANT transmission records hold: their slots
    /// (capacity) times the size of one slot, without allocator headers or hash-table
    /// control bytes.
    #[cfg(test)]
    pub(crate) fn served_allocation(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .map(|s| s.entry.iwant_served.slots() * std::mem::size_of::<ServedSlot>())
            .sum()
    }

    /// (message, peer) pairs remembered for IWANT retransmission limits.
    #[cfg(test)]
    pub(crate) fn served_entries(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .map(|s| s.entry.iwant_served.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// `gossip_ids` as it was before window items kept slot hints: one id lookup per item.
    fn gossip_ids_by_lookup(mc: &MessageCache) -> Map<TopicHash, Vec<MessageId>> {
        let mut by_topic: Map<TopicHash, Vec<MessageId>> = Map::with_hasher(mc.hasher.clone());
        for window in mc.windows.iter().take(mc.gossip) {
            for WindowItem { id, topic, .. } in window {
                if mc.get(id).is_some_and(|e| e.validated) {
                    by_topic.entry(topic.clone()).or_default().push(id.clone());
                }
            }
        }
        by_topic
    }

    #[test]
    fn charge_and_slot_share_a_word_exactly() {
        assert_eq!(std::mem::size_of::<WindowItem>(), 64);
        for charge in [
            0,
            640,
            u32::MAX as usize,
            u32::MAX as usize + 1,
            usize::MAX >> 1,
        ] {
            let mut c = ChargeSlot::new(charge);
            assert_eq!((c.charge(), c.slot()), (charge, ChargeSlot::NO_SLOT));
            for slot in [0, 7, ChargeSlot::NO_SLOT - 1, ChargeSlot::NO_SLOT, u32::MAX] {
                c.set_slot(slot);
                let hinted = charge <= u32::MAX as usize && slot < ChargeSlot::NO_SLOT;
                let want = if hinted { slot } else { ChargeSlot::NO_SLOT };
                assert_eq!((c.charge(), c.slot()), (charge, want), "{charge} {slot}");
            }
        }
    }

    /// Slots freed and reused (by other ids, or by the same id put again), slabs compacted:
    /// the slot hints never change what is gossiped.
    #[test]
    fn slot_hints_gossip_exactly_what_id_lookups_do() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3);
        let mut mc =
            MessageCache::new(5, 4, usize::MAX, ahash::RandomState::with_seeds(1, 2, 3, 4));
        let mut compactions = 0;
        for step in 0..20_000u32 {
            let n: u8 = rng.gen_range(0..200);
            let id = MessageId::new(vec![n]);
            match rng.gen_range(0..10) {
                0..=3 => {
                    let topic = if n.is_multiple_of(2) { "a" } else { "b" };
                    mc.put(id, msg(topic, n), rng.gen_bool(0.7), None);
                }
                4..=6 => {
                    mc.remove(&id);
                }
                7 => {
                    mc.validate(&id);
                }
                _ if step.is_multiple_of(50) => {
                    let before = mc.slots.len();
                    mc.shift();
                    compactions += usize::from(mc.slots.len() < before);
                }
                _ => {}
            }
            assert_eq!(mc.gossip_ids(), gossip_ids_by_lookup(&mc), "step {step}");
        }
        assert!(compactions > 0, "the slab was never compacted");
    }

    /// `find` (payload hints first) gives what the content index alone gives, whatever
    /// happened to the hinted slots: freed and reused by other messages, messages sharing a
    /// buffer with another author or seqno, copies in buffers of their own, compaction.
    #[test]
    fn payload_hints_find_exactly_what_the_content_index_finds() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(5);
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let mut mc = MessageCache::new(3, 2, usize::MAX, hasher);
        let buffers: Vec<Bytes> = (0..40u8).map(|n| Bytes::from(vec![n; 64])).collect();
        // A message's content (buffer, seqno, topic) decides its id, as in the router.
        let message = |b: usize, seq: u64, own_buffer: bool| RawMessage {
            data: if own_buffer {
                Bytes::copy_from_slice(&buffers[b])
            } else {
                buffers[b].clone()
            },
            sequence_number: Some(seq),
            topic: TopicHash::from_raw(if seq.is_multiple_of(2) { "a" } else { "b" }),
            ..msg("t", 0)
        };
        let id = |b: usize, seq: u64| MessageId::new(vec![b as u8, seq as u8]);
        let (mut hits, mut compactions) = (0, 0);
        for step in 0..20_000u32 {
            let (b, seq) = (rng.gen_range(0..buffers.len()), rng.gen_range(0..3u64));
            let m = message(b, seq, rng.gen_bool(0.1));
            match rng.gen_range(0..10) {
                0..=2 => {
                    let key = mc.content_key(&m);
                    let (found_key, found) = mc.find(&m);
                    assert_eq!(found, mc.cached_id(key, &m), "step {step}");
                    match found_key {
                        Some(found_key) => assert_eq!(found_key, key),
                        None => hits += 1,
                    }
                }
                3..=5 => {
                    mc.put(id(b, seq), m.clone(), true, None);
                }
                6..=7 => {
                    mc.remove(&id(b, seq));
                }
                _ if step.is_multiple_of(100) => {
                    let before = mc.slots.len();
                    mc.shift();
                    compactions += usize::from(mc.slots.len() < before);
                }
                _ => {}
            }
        }
        assert!(hits > 100, "the hints were hit {hits} times");
        assert!(compactions > 0, "the slab was never compacted");
    }

    /// Two cached entries with the same content (an id function not derived from it): `find`
    /// returns the content index's entry, the first, not the newest hinted one.
    #[test]
    fn payload_hints_agree_with_the_content_index_on_shared_content() {
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let mut mc = MessageCache::new(3, 2, usize::MAX, hasher);
        let m = msg("t", 7);
        let (a, b) = (MessageId::new(vec![1]), MessageId::new(vec![2]));
        assert!(mc.put(a.clone(), m.clone(), true, None));
        assert!(mc.put(b, m.clone(), true, None));
        let key = mc.content_key(&m);
        assert_eq!(mc.cached_id(key, &m).map(|(id, _)| id), Some(&a));
        assert_eq!(mc.find(&m).1.map(|(id, _)| id), Some(&a));
    }

    fn msg(topic: &str, n: u8) -> RawMessage {
        RawMessage {
            source: None,
            data: Bytes::from(vec![n]),
            data_absent: false,
            sequence_number: None,
            topic: TopicHash::from_raw(topic),
            signature: None,
            key: None,
        }
    }

    #[test]
    fn messages_leave_gossip_then_cache_as_windows_shift() {
        let mut mc =
            MessageCache::new(5, 3, usize::MAX, ahash::RandomState::with_seeds(1, 2, 3, 4));
        let id = MessageId::new(vec![1]);
        assert!(mc.put(id.clone(), msg("t", 1), true, None));
        assert!(!mc.put(id.clone(), msg("t", 1), true, None));
        for shifts in 1..=5 {
            let gossiped = mc.gossip_ids().contains_key(&TopicHash::from_raw("t"));
            assert_eq!(gossiped, shifts <= 3, "after {} shifts", shifts - 1);
            assert!(mc.contains(&id));
            mc.shift();
        }
        assert!(!mc.contains(&id));
    }

    #[test]
    fn unvalidated_messages_are_not_gossiped_or_served() {
        let mut mc =
            MessageCache::new(5, 3, usize::MAX, ahash::RandomState::with_seeds(1, 2, 3, 4));
        let id = MessageId::new(vec![7]);
        let peer = PeerId::random();
        mc.put(id.clone(), msg("t", 7), false, None);
        assert!(mc.gossip_ids().is_empty());
        assert!(mc.get_for_iwant(&id, peer, 3).is_none());
        assert!(mc.validate(&id).is_some());
        assert!(mc.validate(&id).is_none(), "validated only once");
        assert_eq!(mc.gossip_ids().len(), 1);
        for _ in 0..3 {
            assert!(mc.get_for_iwant(&id, peer, 3).is_some());
        }
        assert!(
            mc.get_for_iwant(&id, peer, 3).is_none(),
            "retransmission cap"
        );
        assert!(mc.get_for_iwant(&id, PeerId::random(), 3).is_some());
    }

    #[test]
    fn content_index_finds_the_id_of_identical_messages_only() {
        let mut mc =
            MessageCache::new(2, 1, usize::MAX, ahash::RandomState::with_seeds(1, 2, 3, 4));
        let id = MessageId::new(vec![1]);
        let m = msg("t", 1);
        mc.put(id.clone(), m.clone(), true, None);
        let copy = RawMessage {
            data: Bytes::from(m.data.to_vec()),
            ..m.clone()
        };
        assert_eq!(
            mc.cached_id(mc.content_key(&copy), &copy),
            Some((&id, true))
        );
        let other = msg("t", 2);
        assert_eq!(mc.cached_id(mc.content_key(&other), &other), None);
        let other_topic = msg("u", 1);
        assert_eq!(
            mc.cached_id(mc.content_key(&other_topic), &other_topic),
            None
        );
        // A colliding key never yields the id of a different message.
        assert_eq!(mc.cached_id(mc.content_key(&m), &other), None);
        mc.shift();
        mc.shift();
        assert_eq!(
            mc.cached_id(mc.content_key(&m), &m),
            None,
            "gone with its window"
        );
        assert!(mc.by_content.is_empty());
        assert!(mc.slots.iter().all(Option::is_none));
    }

    /// After a burst the slab of entries is compacted at a shift, and both indexes still
    /// find every message that stayed.
    #[test]
    fn entries_left_after_a_burst_are_compacted_and_still_found() {
        let mut mc =
            MessageCache::new(3, 2, usize::MAX, ahash::RandomState::with_seeds(1, 2, 3, 4));
        let message = |n: u16| RawMessage {
            data: Bytes::from(n.to_be_bytes().to_vec()),
            ..msg("t", 0)
        };
        let id = |n: u16| MessageId::new(n.to_be_bytes());
        for n in 0..1000 {
            assert!(mc.put(id(n), message(n), true, None));
        }
        mc.shift();
        // Rejected messages leave free slots behind; the ones kept are scattered.
        for n in (0..1000).filter(|n| n % 50 != 0) {
            assert!(mc.remove(&id(n)).is_some());
        }
        // One slot reused from the free list.
        assert!(mc.put(id(5000), message(5000), true, None));
        assert_eq!(mc.slots.len(), 1000);
        mc.shift();
        assert_eq!(mc.len(), 21);
        assert!(mc.slots.len() <= 42, "compacted: {}", mc.slots.len());
        for n in (0..1000).step_by(50).chain([5000]) {
            let m = message(n);
            assert_eq!(
                mc.cached_id(mc.content_key(&m), &m),
                Some((&id(n), true)),
                "{n}"
            );
            assert_eq!(mc.get(&id(n)).map(|e| &e.message), Some(&m));
        }
        assert_eq!(mc.by_content.len(), 21);
        // A message put after compaction lands in a slot of its own.
        assert!(mc.put(id(6000), message(6000), true, None));
        assert_eq!(mc.get(&id(6000)).map(|e| &e.message), Some(&message(6000)));
        assert_eq!(mc.get(&id(5000)).map(|e| &e.message), Some(&message(5000)));
        // The burst's window goes; the newer messages stay.
        mc.shift();
        assert_eq!(mc.len(), 2);
        assert!(mc.contains(&id(5000)) && mc.contains(&id(6000)));
    }

    /// What IWANT serving remembers is charged at least the memory it holds, however the
    /// requests spread: one peer asking for many messages (a record of one peer each), or
    /// many peers asking for one. (Each record was a hash map: its first peer took a table of
    /// 3 slots of 88 bytes, over 2.9 times the 128 bytes charged, and a table grown past 28
    /// peers had twice the slots it used; an attacker asking once for every cached message
    /// held about 3 times the bytes `max_cache_bytes` allows.)
    #[test]
    fn iwant_records_hold_no_more_memory_than_they_are_charged() {
        let mut mc =
            MessageCache::new(5, 3, usize::MAX, ahash::RandomState::with_seeds(1, 2, 3, 4));
        let ids: Vec<MessageId> = (0..50u8).map(|n| MessageId::new(vec![n])).collect();
        for (n, id) in ids.iter().enumerate() {
            mc.put(id.clone(), msg("t", n as u8), true, None);
        }
        let within_charge = |mc: &MessageCache, what: &str| {
            let charged = mc.bytes() - mc.window_bytes();
            assert!(
                mc.served_allocation() <= charged,
                "{what}: {} bytes held, {charged} charged",
                mc.served_allocation()
            );
        };
        let spammer = PeerId::random();
        for id in &ids {
            assert!(mc.get_for_iwant(id, spammer, 3).is_some());
            within_charge(&mc, "one peer asking for every message");
        }
        for asked in 2..=100 {
            assert!(mc.get_for_iwant(&ids[0], PeerId::random(), 3).is_some());
            within_charge(&mc, &format!("{asked} peers asking for one message"));
        }
        assert_eq!(mc.served_entries(), 149);
        // Repeats of a pair are counted in place, up to the retransmission cap.
        let charged = mc.bytes();
        for _ in 0..2 {
            assert!(mc.get_for_iwant(&ids[1], spammer, 3).is_some());
        }
        assert!(mc.get_for_iwant(&ids[1], spammer, 3).is_none());
        assert_eq!(mc.bytes(), charged);
        for _ in 0..5 {
            mc.shift();
        }
        assert_eq!((mc.bytes(), mc.served_entries()), (0, 0));
    }

    #[test]
    fn oldest_messages_are_dropped_past_the_byte_bound() {
        let one = {
            let m = msg("t", 0);
            ENTRY_OVERHEAD + 1 + m.encoded_len()
        };
        let mut mc = MessageCache::new(5, 3, 3 * one, ahash::RandomState::with_seeds(1, 2, 3, 4));
        mc.put(MessageId::new(vec![0]), msg("t", 0), true, None);
        mc.shift();
        for n in 1..5u8 {
            mc.put(MessageId::new(vec![n]), msg("t", n), true, None);
            assert!(mc.bytes() <= 3 * one);
        }
        // The oldest window went first, then the oldest ids of the current one.
        assert_eq!(mc.take_evicted(), 2);
        assert!(!mc.contains(&MessageId::new(vec![0])));
        assert!(!mc.contains(&MessageId::new(vec![1])));
        assert!(mc.contains(&MessageId::new(vec![4])));
        // A removed message keeps its id charged until its window is dropped.
        mc.remove(&MessageId::new(vec![4]));
        assert_eq!(mc.bytes(), 3 * one);
        for _ in 0..5 {
            mc.shift();
        }
        assert_eq!((mc.len(), mc.bytes(), mc.window_items()), (0, 0, 0));
    }
}
