#!/usr/bin/env bash
# Instruction counts (callgrind) per delivered and per forwarded message, ours and
# libp2p-gossipsub 0.50, from one invocation: repeatable on a noisy shared machine, unlike
# seconds.
# - forward test: `examples/compare --callgrind` has the node-under-test thread itself issue
#   CALLGRIND_ZERO_STATS / CALLGRIND_DUMP_STATS around the measured window; with
#   --separate-threads=yes that dump is a file of its own (instructions of the NUT only).
# - network test (50 nodes, every thread): the difference of the process totals of two runs
#   that publish MESSAGES_LO and MESSAGES messages, divided by the extra deliveries.
# - the Ed25519 verification (the physical limit): the dump around N verifications.
#
#   benches/callgrind.sh                 # defaults below
#   RATE=200 SECS=5 MESSAGES=40 benches/callgrind.sh
#
# Under valgrind everything runs ~50x slower on one core, so the rates are low: the figures
# are instructions per message at a load the node keeps up with (heartbeat work included).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-30}           # forward test: aggregate feeder rate, msgs/s
SECS=${SECS:-10}           # forward test: measured window, s
MESSAGES=${MESSAGES:-25}   # network test: messages published (50 nodes) ...
MESSAGES_LO=${MESSAGES_LO:-5} # ... minus a run with this many
NETRATE=${NETRATE:-10}     # network test: publish rate, msgs/s
VERIFY=${VERIFY:-200}      # Ed25519 verifications timed for the physical limit
OUT=${OUT:-target/callgrind}
cargo build --release --example compare >&2
BIN=target/release/examples/compare
rm -rf "$OUT"; mkdir -p "$OUT"

run() { # name, args...
  local name=$1; shift
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/$name.out" \
    "$BIN" --callgrind "$@" >"$OUT/$name.log" 2>"$OUT/$name.err" || true
}
# Instructions of the first dump (the measured window). Only the thread that issued the
# client requests dumps: the node-under-test thread, or the main thread for `--verify-only`.
window_instr() { # name
  local total=0 f
  for f in "$OUT/$1".out.1-*; do
    total=$((total + $(awk '/^(summary|totals):/ {print $2; exit}' "$f")))
  done
  echo "$total"
}
field() { # log, test, impl, key
  grep "callgrind-window: test=$2 impl=$3 " "$1" | tr ' ' '\n' | awk -F= -v k="$4" '$1==k {print $2}'
}

run verify --verify-only "$VERIFY"
verify=$(( $(window_instr verify) / VERIFY ))
echo "Ed25519 verify (signed 1 KiB message, libp2p-identity): $verify instructions"

for impl in ours theirs; do
  name=$impl; [ "$impl" = theirs ] && name=libp2p-gossipsub
  run "fwd-$impl" --quick --only forward --impl-only "$impl" --rates "$RATE" --seconds "$SECS" \
    --queue-seconds 120
  nut=$(window_instr "fwd-$impl")
  rec=$(field "$OUT/fwd-$impl.log" forward "$name" received)
  fwd=$(field "$OUT/fwd-$impl.log" forward "$name" forwarded)
  echo "forward[$name] at $RATE msgs/s, ${SECS} s: node-under-test thread $nut instructions, received $rec ($((nut / (rec > 0 ? rec : 1))) per received), forwarded $fwd ($((nut / (fwd > 0 ? fwd : 1))) per forward)"
  grep -h "^forward\[\|accounting" "$OUT/fwd-$impl.log" | sed 's/^ */  /'
  eval "nut_$impl=$nut rec_$impl=$rec fwd_$impl=$fwd"

  for m in "$MESSAGES_LO" "$MESSAGES"; do
    valgrind --tool=callgrind --callgrind-out-file="$OUT/net-$impl-$m.out" "$BIN" --quick \
      --only network --impl-only "$impl" --messages "$m" --publish-rate "$NETRATE" --queue-seconds 120 \
      >"$OUT/net-$impl-$m.log" 2>"$OUT/net-$impl-$m.err" || true
  done
  total() { grep -o 'Collected : [0-9]*' "$OUT/net-$impl-$1.err" | awk '{print $3}'; }
  delivered() { grep -o 'delivered [0-9]*/' "$OUT/net-$impl-$1.log" | tr -dc 0-9; }
  all=$(( $(total "$MESSAGES") - $(total "$MESSAGES_LO") ))
  del=$(( $(delivered "$MESSAGES") - $(delivered "$MESSAGES_LO") ))
  echo "network[$name] 50 nodes at $NETRATE msgs/s, $MESSAGES minus $MESSAGES_LO msgs: $all instructions (process), $del deliveries ($((all / (del > 0 ? del : 1))) per delivery)"
  grep -h "network\[" "$OUT/net-$impl-$MESSAGES.log" | sed 's/^/  /'
  eval "net_$impl=$all del_$impl=$del"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
echo "ratios ours/libp2p-gossipsub (instructions; lower is better):"
echo "  per forward (node under test): $(ratio "$(ratio "$nut_ours" "$fwd_ours")" "$(ratio "$nut_theirs" "$fwd_theirs")")"
echo "  per received (node under test): $(ratio "$(ratio "$nut_ours" "$rec_ours")" "$(ratio "$nut_theirs" "$rec_theirs")")"
echo "  per delivery (50-node network): $(ratio "$(ratio "$net_ours" "$del_ours")" "$(ratio "$net_theirs" "$del_theirs")")"
echo "verify instructions / instructions per received message (target >= 0.80):"
echo "  ours $(ratio "$verify" "$(ratio "$nut_ours" "$rec_ours")"), libp2p-gossipsub $(ratio "$verify" "$(ratio "$nut_theirs" "$rec_theirs")")"
