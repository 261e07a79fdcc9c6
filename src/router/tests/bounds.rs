//! Tests of the router's resource bounds: IHAVE budgets before per-id work, remote
//! subscriptions, peer-exchange records and dials, signature checks.

use super::*;

/// An IHAVE far larger than the per-heartbeat budget costs O(budget) lookups, not O(ids).
#[test]
fn oversize_ihave_costs_only_its_budget() {
    let mut b = config();
    b.max_ihave_length(100);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = h.add_peers(1, &topic, false)[0];
    h.drain();
    let ids: Vec<MessageId> = (0..100_000u32)
        .map(|i| MessageId::new(i.to_be_bytes().to_vec()))
        .collect();
    let before = h.router.seen.lookups.get();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: ids,
        }),
    );
    let lookups = h.router.seen.lookups.get() - before;
    assert!(
        lookups <= 100,
        "{lookups} seen-cache lookups for a budget of 100"
    );
    let asked: usize = control_to(&h.drain(), p)
        .iter()
        .map(|c| match c {
            ControlAction::IWant { message_ids } => message_ids.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(asked, 100);
    assert_eq!(h.router.counters().ihave_ids_over_budget, 99_900);
}
