#!/usr/bin/env bash
# Where the node under test's instructions go per received message, by component, in the
# forward test of `examples/compare` (ours as the node under test), counted by callgrind.
#
#   benches/recv_profile.sh                       # our feeders
#   FEEDERS=theirs benches/recv_profile.sh        # libp2p-gossipsub feeders
#   BIN=/path/to/other/compare benches/recv_profile.sh   # e.g. a build of an older commit
#
# Components are inclusive costs of named functions (callgrind_annotate), so the table
# depends on what the compiler inlined: a component whose function was inlined into its
# caller shows 0 and its cost lands in its caller or in "rest". The per-unit lines (per
# inbound frame, per encoded RPC) are the ones to compare between builds: how many forwards
# and IWANT answers a received message causes varies from run to run (timing of the gossip),
# so the per-received totals of two runs are not the same work.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-30}
SECS=${SECS:-10}
FEEDERS=${FEEDERS:-ours}
OUT=${OUT:-target/recv-profile}
# REUSE=1: only analyse the dump already in $OUT.
if [ -z "${REUSE:-}" ]; then
if [ -z "${BIN:-}" ]; then
  cargo build --release --example compare >&2
  BIN=target/release/examples/compare
fi
rm -rf "$OUT"; mkdir -p "$OUT"
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/fwd.out" \
  "$BIN" --callgrind --quick --only forward --impl-only ours --feeders "$FEEDERS" \
  --rates "$RATE" --seconds "$SECS" --queue-seconds 120 >"$OUT/fwd.log" 2>"$OUT/fwd.err" || true
fi
dump=$(ls "$OUT"/fwd.out.1-* | head -1)
window=$(grep 'callgrind-window: test=forward' "$OUT/fwd.log")
rec=$(echo "$window" | sed 's/.*received=\([0-9]*\).*/\1/')
fwd=$(echo "$window" | sed 's/.*forwarded=\([0-9]*\).*/\1/')
total=$(awk '/^summary:/ {print $2; exit}' "$dump")

inclusive=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null)
callers=$(callgrind_annotate --tree=caller --inclusive=yes --threshold=100 "$dump" 2>/dev/null)
# Inclusive instructions of the first function whose line matches the extended regex.
incl() {
  local v
  v=$(echo "$inclusive" | grep -E "$1" | head -1 | awk '{gsub(",", "", $1); print $1 + 0}' || true)
  echo "${v:-0}"
}
# Calls of a function: the sum of its callers' call counts.
calls() {
  echo "$callers" | awk -v pat="$1" '
    /^$/ { n = 0; next }
    / < / { if (match($0, /\(([0-9,]+)x\)/)) { s = substr($0, RSTART + 1, RLENGTH - 3); gsub(",", "", s); n += s } next }
    / \* / { if ($0 ~ pat) { print n; found = 1; exit } n = 0 }
    END { if (!found) print 0 }' || true
}

verify=$(incl 'wire::signing::verify_signature \[')
rpc=$(incl 'Router>::handle_rpc \[')
timeout=$(incl 'Router::handle_timeout \[')
# Inbound framing: our FrameReader, or asynchronous_codec's FramedRead in older builds.
read=$(( $(incl 'FrameReader<S> as futures_core::stream::Stream>::poll_next \[') + $(incl 'FramedRead2<T> as futures_core::stream::Stream>::poll_next \[') ))
decode=$(incl 'wire::codec::decode_frame \[')
[ "$decode" -eq 0 ] && decode=$(incl 'Codec as asynchronous_codec::decoder::Decoder>::decode \[')
drain=$(incl 'drain_router \[')
pop=$(incl 'PeerQueue::poll_pop \[')
encode=$(incl 'Codec as asynchronous_codec::encoder::Encoder>::encode \[')
flush=$(incl 'FramedWrite2<T> as futures_sink::Sink<.*>>::poll_flush \[')
muxer=$(incl 'Muxer<C>::poll_inner \[|poll_next_inbound \[')
frames=$(calls 'wire::bounds::walk \[')
encodes=$(calls 'Codec as asynchronous_codec::encoder::Encoder>::encode \[')

echo "forward test, ours as the node under test, feeders $FEEDERS, $RATE msgs/s, ${SECS} s window:"
echo "received $rec, forwarded $fwd ($(awk -v f="$fwd" -v r="$rec" 'BEGIN { printf "%.1f", f / r }') per received), inbound frames $frames, RPCs encoded $encodes"
row() { printf '| %s | %d |\n' "$1" $(( $2 / rec )); }
echo "| component | instructions per received message |"
echo "| --- | ---: |"
row "total (node-under-test thread)" "$total"
row "Ed25519 verification (verify_signature)" "$verify"
row "router: handle_rpc without the verification" $(( rpc - verify ))
row "router: heartbeat (handle_timeout)" "$timeout"
row "inbound framing (reads, without decoding)" $(( read - decode ))
row "protobuf decode" "$decode"
row "behaviour: router actions to the send queues (drain_router)" "$drain"
row "send queue pop" "$pop"
row "encode" "$encode"
row "write into the yamux stream (flush)" "$flush"
row "yamux connection (muxer poll)" "$muxer"
row "rest (swarm, tokio, connection tasks)" $(( total - rpc - timeout - read - drain - pop - encode - flush - muxer ))
echo "per inbound frame, framing without decoding: $(( (read - decode) / (frames > 0 ? frames : 1) )) instructions"
echo "per encoded RPC: $(( encode / (encodes > 0 ? encodes : 1) )) instructions"
echo "verification / instructions per received message: $(awk -v v="$verify" -v t="$total" 'BEGIN { printf "%.2f", v / t }')"
