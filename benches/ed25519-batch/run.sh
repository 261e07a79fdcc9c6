#!/usr/bin/env bash
# Instructions per Ed25519 signature, single `verify` against `verify_batch` by batch size
# (callgrind, only the function `measured`), then the torsion counterexample.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release >&2
N=${N:-192}
for args in "single $N" "batch $N 1" "batch $N 2" "batch $N 4" "batch $N 8" "batch $N 16" "batch $N 32" "batch $N 64"; do
  valgrind --tool=callgrind --toggle-collect='*measured*' --callgrind-out-file=target/cg.out \
    target/release/cost $args 2>target/cg.err >target/cg.log
  total=$(grep -o 'Collected : [0-9]*' target/cg.err | awk '{print $3}')
  echo "$(cat target/cg.log): $((total / N)) instructions per signature"
done
target/release/torsion
