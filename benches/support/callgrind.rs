//! Callgrind client requests (valgrind's documented amd64 sequence), shared by
//! `examples/compare/` and `examples/cost_curves.rs`: with `ENABLED` set, a measured window is
//! bracketed by CALLGRIND_ZERO_STATS and CALLGRIND_DUMP_STATS; outside valgrind they do nothing.

use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) static ENABLED: AtomicBool = AtomicBool::new(false);

/// Valgrind's client-request base of callgrind ('C', 'T').
const BASE: u64 = (b'C' as u64) << 24 | (b'T' as u64) << 16;

#[cfg(target_arch = "x86_64")]
fn request(code: u64) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let args: [u64; 6] = [code, 0, 0, 0, 0, 0];
    // SAFETY: valgrind's documented client-request sequence for amd64: the four rotations
    // of rdi add up to 128 bits (rdi is unchanged) and `xchg rbx, rbx` is a no-op; outside
    // valgrind the sequence does nothing and rdx keeps its default (0). Valgrind reads
    // `args` through rax.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") 0u64 => _,
            inout("rdi") 0u64 => _,
            options(nostack),
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn request(_code: u64) {}

/// CALLGRIND_ZERO_STATS.
pub(crate) fn zero_stats() {
    request(BASE + 1);
}

/// CALLGRIND_DUMP_STATS.
pub(crate) fn dump_stats() {
    request(BASE);
}
