//! The router's invariants as properties: a router fed an arbitrary scenario and operation
//! sequence keeps its meshes within bounds, never GRAFTs a direct or backed-off peer, and keeps
//! every store within its bound. The model and the checks are those of the `router_ops` fuzz
//! target (`tests/support/router_model.rs`); proptest draws the bytes the model is built from.
//!
//! Every check is on, those of the issue 7 items A2 (outgoing RPCs split to fit) and B5 (no
//! direct or backed-off peer taken from fanout) included.
//!
//! `PROPTEST_CASES` raises the number of cases (default 256: a few seconds).

#[path = "support/router_model.rs"]
#[allow(dead_code)]
mod router_model;

use proptest::collection::vec;
use proptest::prelude::*;
use router_model::{Kind, Mode, ModelControl, ModelMessage, ModelRpc, Op, Scenario, Sig};

use router_model::decode as from_bytes;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn router_invariants_hold_for_any_operation_sequence(bytes in vec(any::<u8>(), 64..3000)) {
        if let Some((scenario, ops)) = from_bytes(&bytes) {
            router_model::run(&scenario, &ops, &|_| true);
        }
    }
}

fn scenario(scoring: bool) -> Scenario {
    Scenario {
        d: 2, // D = 3
        d_lo_minus: 1,
        d_hi_plus: 1,
        d_out: 1,
        mode: Mode::Strict,
        validate_messages: false,
        flood_publish: false,
        scoring,
        do_px: true,
        direct: Some(7),
        max_topics_per_peer: 3,
        small_max_size: false,
        seed: 7,
    }
}

/// A scripted run that reaches what the random ones are meant to explore (a full mesh,
/// backoffs, cached and seen messages, IWANT promises, stored PX records), so the model
/// cannot silently check an empty router.
#[test]
fn the_model_reaches_meshes_backoffs_caches_and_px() {
    let message = |data| ModelMessage {
        author: 1,
        seqno: data,
        topic: 0,
        data,
        signature: Sig::Valid,
    };
    let mut ops = Vec::new();
    for p in 0..7 {
        ops.push(Op::AddPeer {
            peer: p,
            outbound: p % 2 == 0,
            kind: Kind::V1_2,
        });
        ops.push(Op::Rpc {
            from: p,
            rpc: ModelRpc {
                subscriptions: vec![(true, 0), (true, 1)],
                messages: vec![],
                control: vec![],
                ..ModelRpc::default()
            },
        });
    }
    ops.push(Op::Subscribe { topic: 0 });
    // PX is taken only from peers scoring at least accept_px_threshold (10): P5 2 × 10.
    ops.push(Op::AppScore { peer: 1, score: 2 });
    ops.push(Op::Rpc {
        from: 1,
        rpc: ModelRpc {
            subscriptions: vec![],
            messages: vec![message(1), message(2)],
            control: vec![
                ModelControl::IHave {
                    topic: 0,
                    ids: vec![5, 6],
                },
                ModelControl::Prune {
                    topic: 0,
                    peers: vec![(9, 0), (10, 0)],
                    backoff: Some(30),
                },
            ],
            ..ModelRpc::default()
        },
    });
    for _ in 0..5 {
        ops.push(Op::Tick { millis: 100 });
    }
    let reached = router_model::run(&scenario(true), &ops, &|_| false);
    assert!(reached.valid_scenario);
    assert_eq!(reached.max_mesh, 3, "{reached:?}");
    assert!(reached.grafts_sent >= 3, "{reached:?}");
    assert!(reached.max_backoffs >= 1, "{reached:?}");
    assert_eq!(reached.max_mcache, 2, "{reached:?}");
    assert_eq!(reached.max_seen, 2, "{reached:?}");
    assert_eq!(reached.max_promises, 1, "{reached:?}");
    assert_eq!(reached.max_peer_records, 2, "{reached:?}");
    assert_eq!(reached.heartbeats, 5, "{reached:?}");
}

/// Found by the `router_ops` fuzz target before issue 7 B5 was fixed: a publish to a topic we
/// are not subscribed to put a direct peer into its fanout, and subscribing then GRAFTed that
/// direct peer and put it in the mesh.
#[test]
fn subscribing_never_grafts_a_direct_peer_from_fanout() {
    let ops = vec![
        Op::AddPeer {
            peer: 7,
            outbound: true,
            kind: Kind::V1_1,
        },
        Op::Rpc {
            from: 7,
            rpc: ModelRpc {
                subscriptions: vec![(true, 0)],
                messages: vec![],
                control: vec![],
                ..ModelRpc::default()
            },
        },
        Op::Publish { topic: 0, data: 1 },
        Op::Subscribe { topic: 0 },
    ];
    router_model::run(&scenario(false), &ops, &|_| true);
}

/// A scripted run through the Partial Messages extension: meshsub 1.3 peers announce it and
/// subscribe with partial options, open groups up to the model's caps, send parts metadata
/// past the byte bounds, disconnect and let groups expire; the model's checks (group and
/// metadata bounds, the router's partial bookkeeping) hold at every step and it gets there.
#[cfg(feature = "partial-messages")]
#[test]
fn the_model_reaches_partial_groups_and_metadata_bounds() {
    use router_model::ModelPartial;
    let mut ops = vec![Op::SubscribePartial {
        topic: 0,
        requests: true,
    }];
    for p in 0..6 {
        ops.push(Op::AddPeer {
            peer: p,
            outbound: true,
            kind: Kind::V1_3,
        });
        ops.push(Op::Rpc {
            from: p,
            rpc: ModelRpc {
                subscriptions: vec![(true, 0)],
                partial_options: 3,
                extensions: true,
                ..ModelRpc::default()
            },
        });
    }
    ops.push(Op::PublishPartial {
        topic: 0,
        group: 0,
        held: 0b11,
    });
    for p in 0..6u8 {
        for g in 0..4u8 {
            ops.push(Op::Rpc {
                from: p,
                rpc: ModelRpc {
                    partial: Some(ModelPartial {
                        topic: 0,
                        group: 1 + (p * 4 + g) % 11,
                        parts: Some(10),
                        metadata: Some((0xff, 1024)),
                    }),
                    ..ModelRpc::default()
                },
            });
        }
    }
    ops.push(Op::RemovePeer { peer: 0 });
    for _ in 0..5 {
        ops.push(Op::Tick { millis: 100 });
    }
    let reached = router_model::run(&scenario(false), &ops, &|_| true);
    assert_eq!(reached.max_partial_groups, 6, "{reached:?}");
    assert!(reached.max_partial_metadata >= 4 * 1024, "{reached:?}");
}

/// Fuzz finding S1 (`fuzz/findings/router_ops-s1-score-negative-mid-heartbeat`): a trim in one
/// topic's maintenance applies the trimmed peer's P3b penalty at once, turning its score
/// negative after another of its topics was already maintained in the same heartbeat. No mesh
/// may hold a negatively scored peer once the heartbeat is over.
#[test]
fn no_mesh_keeps_a_peer_whose_score_turned_negative_during_the_heartbeat() {
    let bytes = include_bytes!("../fuzz/findings/router_ops-s1-score-negative-mid-heartbeat");
    let (scenario, ops) = from_bytes(bytes).expect("the finding decodes");
    router_model::run(&scenario, &ops, &|_| true);
}
