//! Heap accounting of the router's caches, with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gossipsub::router::Router;
use gossipsub::{
    Config, MessageAcceptance, MessageAuthenticity, PeerKind, RawMessage, Rpc, Subscription,
    TopicHash,
};
use libp2p_identity::PeerId;
use mimalloc::MiMalloc;

#[path = "../../benches/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::CountingWith;
use counting_alloc::live;

// mimalloc's option API (in the linked library whatever the crate features).
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` (the same index in mimalloc v2 and v3).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Tells mimalloc to keep freed memory instead of giving it back to the kernel a while
/// (1 s by default) after it fell free: the simulator frees and reallocates about the same
/// amount all run long, and memory given back returns as fresh pages the kernel must zero.
/// Left alone if the environment sets `MIMALLOC_PURGE_DELAY`.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: a plain call into mimalloc's option API, valid at any time.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Whether [`Switched`] counts live bytes (only for `--memory`).
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Counts live heap bytes from now on (call first in `main`, before the run allocates).
pub fn start_counting() {
    COUNTING.store(true, Ordering::Relaxed);
}

/// The example's global allocator: mimalloc, counting live bytes only once
/// [`start_counting`] was called. Counting updates one atomic shared by every thread on each
/// allocation and free; with two threads per run that cache line moves between the cores
/// millions of times a second, so runs that do not report memory skip it.
pub struct Switched;

// SAFETY: forwards every call to mimalloc unchanged (through the counting wrapper when
// counting); only counts sizes. A block counted at allocation but not at its free (or the
// reverse) only shifts the counter, which `report` reads as differences.
unsafe impl GlobalAlloc for Switched {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        unsafe {
            if COUNTING.load(Ordering::Relaxed) {
                CountingWith(MiMalloc).alloc(layout)
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe {
            if COUNTING.load(Ordering::Relaxed) {
                CountingWith(MiMalloc).dealloc(ptr, layout)
            } else {
                MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        unsafe {
            if COUNTING.load(Ordering::Relaxed) {
                CountingWith(MiMalloc).alloc_zeroed(layout)
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        unsafe {
            if COUNTING.load(Ordering::Relaxed) {
                CountingWith(MiMalloc).realloc(ptr, layout, new_size)
            } else {
                MiMalloc.realloc(ptr, layout, new_size)
            }
        }
    }
}

/// Bytes per seen-cache entry and per cached message (router overhead, payload excluded:
/// payloads are `Bytes` shared with the sender, never copied) for the Ethereum preset.
pub fn report(messages: usize, payload: usize) -> (f64, f64) {
    // All messages arrive from one peer within one heartbeat: its per-heartbeat byte budget
    // must admit them (this measures the caches, not the budget).
    let config = gossipsub::ConfigBuilder::from(Config::ethereum())
        .max_message_bytes_per_peer_per_heartbeat(1 << 30)
        .build()
        .expect("valid preset");
    let heartbeat = config.heartbeat_interval();
    let history = config.history_length();
    let t0 = Instant::now();
    let mut router =
        Router::new(config, MessageAuthenticity::Anonymous, 1, 1, t0).expect("valid preset");
    let topic = TopicHash::from("/sim/memory");
    let peer = PeerId::random();
    router.add_peer(t0, peer, true);
    router.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
    router
        .subscribe(t0, topic.clone())
        .expect("the allow-all filter accepts every topic");
    router.handle_rpc(
        t0,
        peer,
        Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: topic.clone(),
            }],
            ..Rpc::default()
        },
    );
    while router.poll_action().is_some() {}
    let payloads: Vec<Bytes> = (0..2 * messages as u64)
        .map(|i| {
            let mut data = vec![0u8; payload];
            data[..8].copy_from_slice(&i.to_be_bytes());
            Bytes::from(data)
        })
        .collect();
    // Phase 1: N messages into both caches, then shifted out of the message cache.
    let mut now = t0;
    let init = live();
    feed(&mut router, &topic, peer, now, &payloads[..messages]);
    let fed = live();
    shift_out(&mut router, &mut now, heartbeat, history);
    // Phase 2: N more, with the message cache's table already grown: the seen cache's
    // growth from N to 2N entries (hash table slack included) is its cost per entry.
    let a = live();
    feed(&mut router, &topic, peer, now, &payloads[messages..]);
    assert_eq!(router.cache_sizes(), (messages, 2 * messages));
    shift_out(&mut router, &mut now, heartbeat, history);
    assert_eq!(router.cache_sizes(), (0, 2 * messages));
    let c = live();
    let per_seen = (c - a) as f64 / messages as f64;
    let per_cached = (fed - init - (c - a)) as f64 / messages as f64;
    drop(payloads);
    (per_seen, per_cached)
}

fn feed(router: &mut Router, topic: &TopicHash, peer: PeerId, now: Instant, payloads: &[Bytes]) {
    for data in payloads {
        let rpc = Rpc {
            messages: vec![RawMessage {
                source: None,
                data: data.clone(),
                data_absent: false,
                sequence_number: None,
                topic: topic.clone(),
                signature: None,
                key: None,
            }],
            ..Rpc::default()
        };
        router.handle_rpc(now, peer, rpc);
        while let Some(action) = router.poll_action() {
            if let gossipsub::router::Action::Event(gossipsub::Event::Message {
                message_id,
                propagation_source,
                ..
            }) = action
            {
                router.report_validation(
                    now,
                    &message_id,
                    &propagation_source,
                    MessageAcceptance::Accept,
                );
            }
        }
    }
}

fn shift_out(router: &mut Router, now: &mut Instant, heartbeat: Duration, history: usize) {
    for _ in 0..=history {
        *now += heartbeat + Duration::from_millis(1);
        router.handle_timeout(*now);
        while router.poll_action().is_some() {}
    }
}
