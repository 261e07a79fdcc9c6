//! The heartbeat trims a mesh that reached D_hi, as go (`len(peers) >= Dhi`) and
//! libp2p-gossipsub (`peers.len() >= mesh_n_high`) do (issue 11). Inbound GRAFTs are refused
//! from D_hi on, so a mesh grown by inbound GRAFTs stops at exactly D_hi: with a trim only above
//! D_hi it would stay there for good, about half again as many mesh peers as D, each one a
//! duplicate per message.

use super::*;

#[test]
fn a_mesh_filled_to_d_hi_by_inbound_grafts_is_trimmed_to_d() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let inbound = h.add_peers(20, &topic, false);
    graft_all(&mut h, &inbound, &topic);
    let d_hi = h.router.config().mesh_n_high();
    assert_eq!(h.mesh_len(&topic), d_hi, "inbound GRAFTs stop at D_hi");
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), h.router.config().mesh_n());
}

/// One below D_hi is left alone: the trim is for a mesh at its bound, not a busy one.
#[test]
fn a_mesh_below_d_hi_is_not_trimmed() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let d_hi = h.router.config().mesh_n_high();
    let inbound = h.add_peers(d_hi - 1, &topic, false);
    h.heartbeat();
    graft_all(&mut h, &inbound, &topic);
    assert_eq!(h.mesh_len(&topic), d_hi - 1);
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), d_hi - 1);
}

/// Every peer in `peers` sends us a GRAFT for `topic`.
fn graft_all(h: &mut Harness, peers: &[PeerId], topic: &TopicHash) {
    for p in peers {
        h.router.handle_rpc(
            h.now,
            *p,
            control_rpc(ControlAction::Graft {
                topic: topic.clone(),
            }),
        );
    }
    h.drain();
}
