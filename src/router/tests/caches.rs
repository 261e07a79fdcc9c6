//! The message cache and the seen cache are bounded in bytes, not only by time: a peer that
//! sends valid, unique messages as fast as it can (no signature to check in the anonymous
//! modes) cannot grow them past their configured bounds.

use super::*;

/// One peer floods unique messages within a single heartbeat: both caches stay within their
/// byte bounds (oldest entries evicted first), the evictions are counted, and the newest
/// messages are still cached and delivered.
#[test]
fn unique_message_flood_keeps_both_caches_within_their_byte_bounds() {
    const CACHE_BYTES: usize = 256 * 1024;
    const SEEN_BYTES: usize = 64 * 1024;
    let mut b = config();
    b.max_cache_bytes(CACHE_BYTES).max_seen_bytes(SEEN_BYTES);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.drain();

    let mut last = None;
    for seqno in 0..20_000u64 {
        let m = message(p, seqno, &topic, 100);
        h.router.handle_rpc(h.now, p, msg_rpc(m));
        let actions = h.drain();
        if let Some(id) = delivered(&actions).pop() {
            last = Some(id);
        }
    }
    let (cache_bytes, seen_bytes) = h.router.cache_bytes();
    assert!(
        cache_bytes <= CACHE_BYTES,
        "message cache holds {cache_bytes} B"
    );
    assert!(seen_bytes <= SEEN_BYTES, "seen cache holds {seen_bytes} B");
    let c = h.router.counters();
    assert!(c.mcache_evicted > 0 && c.seen_evicted > 0, "{c:?}");
    // The newest message is still cached (served to IWANT) and was delivered.
    let last = last.expect("messages were delivered");
    assert!(h.router.mcache.contains(&last));
    assert!(h.router.seen.contains(&last));
}

/// Messages the application rejects leave their ids in the cache's windows until the window
/// is dropped; those ids are charged too, so put-then-reject cycles cannot grow the windows.
#[test]
fn rejected_messages_cannot_grow_the_cache_windows() {
    const CACHE_BYTES: usize = 64 * 1024;
    let mut b = config();
    b.max_cache_bytes(CACHE_BYTES).validate_messages(true);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.drain();
    for seqno in 0..20_000u64 {
        let m = message(p, seqno, &topic, 10);
        h.router.handle_rpc(h.now, p, msg_rpc(m));
        for id in delivered(&h.drain()) {
            h.router
                .report_validation(h.now, &id, &p, crate::MessageAcceptance::Ignore);
        }
        h.drain();
    }
    let (cache_bytes, _) = h.router.cache_bytes();
    assert!(
        cache_bytes <= CACHE_BYTES,
        "message cache holds {cache_bytes} B"
    );
    assert!(h.router.mcache.window_items() <= CACHE_BYTES / 64);
}

/// Both bounds are configuration, validated: zero is refused with the field named.
#[test]
fn cache_byte_bounds_must_be_positive() {
    for (field, set) in [
        (
            "max_cache_bytes",
            (|b: &mut ConfigBuilder| {
                b.max_cache_bytes(0);
            }) as fn(&mut ConfigBuilder),
        ),
        ("max_seen_bytes", |b: &mut ConfigBuilder| {
            b.max_seen_bytes(0);
        }),
    ] {
        let mut b = config();
        set(&mut b);
        let err = b.build().expect_err(field).to_string();
        assert!(err.contains(field), "{err}");
    }
}

/// Tables keep their peak capacity after their entries expire unless shrunk: after a flood of
/// unique messages and IDONTWANT ids has expired, the seen cache, the message cache and the
/// peer's IDONTWANT set give their memory back at the heartbeat.
#[test]
fn tables_shrink_after_a_flood_expires() {
    let (mut h, topic, p) = Harness::subscribed_with_peer(config().build().unwrap(), false);
    h.drain();
    for seqno in 0..5_000u64 {
        h.router
            .handle_rpc(h.now, p, msg_rpc(message(p, seqno, &topic, 10)));
    }
    let ids: Vec<MessageId> = (0..1_000u32)
        .map(|i| MessageId::new(i.to_be_bytes().to_vec()))
        .collect();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::IDontWant { message_ids: ids }),
    );
    h.drain();
    let peak = (
        h.router.seen.capacity(),
        h.router.mcache.capacity(),
        h.router.unwanted.capacity(),
    );
    assert!(
        peak.0 >= 5_000 && peak.1 >= 5_000 && peak.2 >= 1_000,
        "{peak:?}"
    );
    // Past seen_ttl (120 s) every entry has expired.
    for _ in 0..130 {
        h.heartbeat();
    }
    assert_eq!(h.router.cache_sizes(), (0, 0));
    let after = (
        h.router.seen.capacity(),
        h.router.mcache.capacity(),
        h.router.unwanted.capacity(),
    );
    assert!(
        after.0 < peak.0 / 4 && after.1 < peak.1 / 4 && after.2 < peak.2 / 4,
        "peak {peak:?}, after {after:?}"
    );
}

/// A cached message whose id the seen cache forgot (its byte bound, before the message left
/// the cache) is new again when it arrives: the cache's own mark of "seen", which spares
/// duplicates a seen-cache lookup, follows the seen cache.
#[test]
fn a_cached_message_the_seen_cache_forgot_is_new_again() {
    let mut b = config();
    b.max_seen_bytes(4 * 1024);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.drain();
    let first = message(p, 0, &topic, 10);
    let id = id_of(&h, &first);
    h.router.handle_rpc(h.now, p, msg_rpc(first.clone()));
    assert_eq!(delivered(&h.drain()), vec![id.clone()]);
    h.router.handle_rpc(h.now, p, msg_rpc(first.clone()));
    assert!(delivered(&h.drain()).is_empty(), "a duplicate while seen");
    for seqno in 1..100u64 {
        h.router
            .handle_rpc(h.now, p, msg_rpc(message(p, seqno, &topic, 10)));
    }
    h.drain();
    assert!(!h.router.seen.contains(&id) && h.router.mcache.contains(&id));
    let report = h.router.__invariants(h.now);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    h.router.handle_rpc(h.now, p, msg_rpc(first));
    assert_eq!(delivered(&h.drain()), vec![id.clone()], "new again");
    assert!(h.router.seen.contains(&id));
    let report = h.router.__invariants(h.now);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}
