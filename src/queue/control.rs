//! The control lane's merging and shedding: appending small control RPCs to the queued tail,
//! and stripping gossip, then dropping the newest RPCs, when the lane is over its bounds.

use super::{Entry, Lane, QueueLimits, QueuedRpc, Shed, rpc_bytes};
use crate::types::{ControlAction, Rpc};
use crate::wire::{DecodeLimits, Usage};

/// Whether `new` may be appended to `tail`: the peer must process the result exactly as the
/// two RPCs one after the other (a receiver handles an RPC's subscriptions before its control,
/// so `new`'s subscriptions may not move ahead of `tail`'s control), and the result must stay
/// within `max_bytes` (0: never merge) and within the receiver's `decode` limits.
pub(super) fn can_merge(
    tail: &Entry,
    new: &QueuedRpc,
    new_bytes: usize,
    new_usage: &Usage,
    max_bytes: usize,
    decode: &DecodeLimits,
) -> bool {
    let reorders = !tail.item.rpc.control.is_empty() && !new.rpc.subscriptions.is_empty();
    max_bytes != 0
        && !reorders
        && new.rpc.messages.is_empty()
        && new.rpc.extensions.is_none()
        && !new.rpc.test_extension
        && tail.bytes.saturating_add(new_bytes) <= max_bytes
        && tail.usage.plus(new_usage).within(decode)
}

/// Appends `new` to `tail` (see [`can_merge`]).
pub(super) fn merge_control(tail: &mut Entry, new: QueuedRpc, new_bytes: usize, new_usage: &Usage) {
    let QueuedRpc { rpc, expires, .. } = new;
    tail.item.rpc.subscriptions.extend(rpc.subscriptions);
    tail.item.rpc.control.extend(rpc.control);
    // Gossip never outlives its own expiry; fresher gossip may go a little early.
    tail.item.expires = match (tail.item.expires, expires) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    tail.bytes = tail.bytes.saturating_add(new_bytes);
    tail.usage = tail.usage.plus(new_usage);
}

/// Brings the control lane back within `limits`: strips the IHAVE entries of its RPCs, the
/// oldest first, while it is over; then drops whole RPCs from the back (the newest).
pub(super) fn shed_control(
    lane: &mut Lane,
    limits: &QueueLimits,
    shed: &mut Shed,
    dropped: &mut Vec<QueuedRpc>,
) {
    let mut index = 0;
    while !lane.within(limits) && index < lane.entries.len() {
        let entry = &mut lane.entries[index];
        let stripped = strip_gossip(&mut entry.item.rpc);
        if stripped == 0 {
            index += 1;
            continue;
        }
        shed.gossip += stripped;
        let bytes = rpc_bytes(&entry.item.rpc);
        lane.bytes = lane.bytes.saturating_sub(entry.bytes).saturating_add(bytes);
        entry.bytes = bytes;
        entry.usage = Usage::of_rpc(&entry.item.rpc);
        if entry.item.rpc.is_empty() {
            if let Some(entry) = lane.entries.remove(index) {
                lane.bytes = lane.bytes.saturating_sub(entry.bytes);
                dropped.push(entry.item);
            }
        } else {
            index += 1;
        }
    }
    while !lane.within(limits)
        && let Some(entry) = lane.entries.pop_back()
    {
        lane.bytes = lane.bytes.saturating_sub(entry.bytes);
        shed.control += 1;
        dropped.push(entry.item);
    }
}

/// Strips the IHAVE entries of a control RPC; returns how many were removed.
pub(super) fn strip_gossip(rpc: &mut Rpc) -> usize {
    let before = rpc.control.len();
    rpc.control
        .retain(|c| !matches!(c, ControlAction::IHave { .. }));
    before - rpc.control.len()
}
