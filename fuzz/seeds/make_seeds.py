#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the rpc_decode target into corpus/rpc_decode/."""
import os

def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)

def field(num, value):
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    return varint(num << 3 | 2) + varint(len(value)) + value

def frame(rpc):
    return varint(len(rpc)) + rpc

sub = field(1, field(1, 1) + field(2, b"topic-a"))
unsub = field(1, field(1, 0) + field(2, b"topic-b"))
msg = field(2, field(1, b"\x00\x24\x08\x01\x12\x20" + bytes(32)) + field(2, b"hello")
            + field(3, bytes(8)) + field(4, b"topic-a") + field(5, bytes(64)))
msg_no_data = field(2, field(4, b"topic-a"))
ihave = field(1, field(1, b"topic-a") + field(2, b"id-1") + field(2, b"id-2"))
iwant = field(2, field(1, b"id-1"))
graft = field(3, field(1, b"topic-a"))
prune = field(4, field(1, b"topic-a") + field(2, field(1, b"\x00\x01\x02") + field(2, b"rec")) + field(3, 60))
idontwant = field(5, field(1, b"id-3"))
control = field(3, ihave + iwant + graft + prune + idontwant)
# meshsub 1.3: partial options on a subscription, ControlExtensions{partialMessages},
# RPC.partial = PartialMessagesExtension{topicID, groupID, partialMessage, partsMetadata}.
sub_partial = field(1, field(1, 1) + field(2, b"topic-a") + field(3, 1) + field(4, 1))
extensions = field(3, field(6, field(10, 1)))
partial = field(10, field(1, b"topic-a") + field(2, bytes(32)) + field(3, b"parts") + field(4, b"\x0f"))
partial_no_group = field(10, field(1, b"topic-a") + field(3, b"parts"))
partial_big_metadata = field(10, field(1, b"topic-a") + field(2, b"g") + field(4, bytes(1025)))

seeds = {
    "subscribe": b"\x03\x00" + frame(sub + unsub),
    "message": b"\x03\x00" + frame(msg),
    "message_without_data": b"\x03\x00" + frame(msg_no_data),
    "control": b"\x03\x00" + frame(control),
    "two_frames_chunked": b"\x03\x07" + frame(sub) + frame(control),
    "oversized_then_ok": b"\x00\x05" + frame(control + control) + frame(b""),
    "tight_limits": b"\x07\x00" + frame(sub + unsub + msg + control),
    "partial": b"\x03\x00" + frame(sub_partial + extensions + partial),
    "partial_malformed": b"\x03\x00" + frame(partial_no_group) + frame(partial_big_metadata + partial),
}
out = os.path.join(os.path.dirname(__file__), "..", "corpus", "rpc_decode")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
