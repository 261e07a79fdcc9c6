//! Peer exchange at the swarm level: PX with signed peer records, and forged records in PX
//! refused and never dialled.

use super::*;

// ---------------------------------------------------------------------------------------------
// (b) Peer exchange with signed peer records.
// ---------------------------------------------------------------------------------------------

/// A node P with D_hi 3 refuses GRAFTs from further inbound peers (and trims its mesh) with
/// PRUNE carrying peer exchange. Six nodes Y_i are connected only to P, and P knows their
/// signed records (as identify would give them). Some pruned Y_i reports
/// `Event::PeerExchange` from P with the record of another Y_j, dials Y_j on its own (the test
/// never connects two Ys and there is no other discovery), and the connection is established
/// on an address taken from Y_j's signed record.
#[tokio::test]
async fn pruned_peer_connects_to_peers_offered_in_px() {
    init_tracing();
    let p_config = fast_config()
        .mesh_n(2)
        .mesh_n_low(1)
        .mesh_n_high(3)
        .retain_scores(1)
        .mesh_outbound_min(0)
        .do_px(true)
        .prune_peers(8)
        .build()
        .expect("config");
    let (p, p_node) = shared(Probe::new(p_config, false));
    let p_id = id(&p);
    let ys: Vec<(Handle, Box<dyn Node>)> = (0..6)
        .map(|_| shared(Probe::new(fast_config().build().expect("config"), false)))
        .collect();
    let (ys, y_nodes): (Vec<Handle>, Vec<Box<dyn Node>>) = ys.into_iter().unzip();
    let mut nodes = vec![p_node];
    nodes.extend(y_nodes);
    let mut net = Net::new(nodes);

    // Each Y signs a record over its listen address once the swarm reported it.
    assert!(
        net.wait_for(TIMEOUT, |_| ys
            .iter()
            .all(|y| lock(y).behaviour().local_peer_record().is_some()))
            .await,
        "the Ys did not build their signed records"
    );
    for y in &ys {
        let y = lock(y);
        let record = y.behaviour().local_peer_record().expect("record").clone();
        assert_eq!(record.addresses(), std::slice::from_ref(&y.addr));
        let added = lock(&p)
            .behaviour_mut()
            .add_peer_record(record.to_signed_envelope())
            .expect("a valid record");
        assert_eq!(added, *y.swarm.local_peer_id());
    }

    for i in 0..net.nodes.len() {
        net.nodes[i].subscribe(TOPIC);
    }
    for i in 1..net.nodes.len() {
        net.connect(i, 0);
    }
    let y_ids: Vec<PeerId> = ys.iter().map(id).collect();
    let y_addr: Vec<Multiaddr> = ys.iter().map(|y| lock(y).addr.clone()).collect();

    // Some Y got PX from P and connected, as the dialler, to a Y that the PX listed.
    let px_dial = |i: usize| -> Option<(PeerId, Multiaddr, Vec<Multiaddr>)> {
        let y = lock(&ys[i]);
        y.log.dialed.iter().find_map(|(peer, addr)| {
            if *peer == p_id {
                return None;
            }
            y.log
                .px
                .iter()
                .filter(|(from, _)| *from == p_id)
                .flat_map(|(_, records)| records)
                .find(|r| r.peer_id() == *peer)
                .map(|r| (*peer, addr.clone(), r.addresses().to_vec()))
        })
    };
    let done = net
        .wait_for(TIMEOUT, |_| (0..ys.len()).any(|i| px_dial(i).is_some()))
        .await;
    let summary: Vec<_> = ys
        .iter()
        .map(|y| {
            let y = lock(y);
            (y.log.px.len(), y.log.dialed.len(), y.mesh().len())
        })
        .collect();
    assert!(
        done,
        "no Y connected to a peer offered by PX (px events, dialled, mesh) per Y: {summary:?}; \
         P's mesh {:?}",
        lock(&p).mesh()
    );

    let mut checked = 0;
    for (i, y) in ys.iter().enumerate() {
        let Some((peer, addr, record_addrs)) = px_dial(i) else {
            continue;
        };
        checked += 1;
        let j = y_ids
            .iter()
            .position(|q| *q == peer)
            .unwrap_or_else(|| panic!("Y{i} dialled {peer}, which is not a Y"));
        assert_ne!(i, j);
        // The record is Y_j's own, and the dialled address is the one it signed.
        assert_eq!(record_addrs, vec![y_addr[j].clone()]);
        assert_eq!(
            addr, y_addr[j],
            "Y{i} reached Y{j} on an address not in its record"
        );
        assert!(
            lock(y).log.dialing.contains(&peer),
            "Y{i} connected to Y{j} without a Dialing event for it"
        );
        assert_eq!(
            lock(y).behaviour().counters().px_records_invalid,
            0,
            "P's records were refused"
        );
    }
    assert!(checked >= 1);
}

// ---------------------------------------------------------------------------------------------
// (c) Forged records in PX are refused and not dialled.
// ---------------------------------------------------------------------------------------------

/// A raw meshsub 1.1 peer subscribes to the topic and then PRUNEs our (subscribed) node,
/// offering three peers: a victim V twice, once with a record that claims V but is signed by
/// another key K, once with K's own valid record (listing V's address) filed under V's id; and
/// a node W with W's genuine signed record. Our node counts the two forgeries in
/// `px_records_invalid`, never dials V, and does dial W on the address of W's record (so the
/// PX path itself works), reporting only W's record in `Event::PeerExchange`.
#[tokio::test]
async fn forged_px_records_are_refused_and_not_dialled() {
    init_tracing();
    let (ours, ours_node) = shared(Probe::new(fast_config().build().expect("config"), false));
    let (victim, victim_node) = shared(Probe::new(fast_config().build().expect("config"), false));
    let (good, good_node) = shared(Probe::new(fast_config().build().expect("config"), false));
    let (v_id, w_id) = (id(&victim), id(&good));
    let v_addr = lock(&victim).addr.clone();
    let w_addr = lock(&good).addr.clone();
    let mut net = Net::new(vec![ours_node, victim_node, good_node]);
    net.nodes[0].subscribe(TOPIC);
    assert!(
        net.wait_for(TIMEOUT, |_| lock(&good)
            .behaviour()
            .local_peer_record()
            .is_some())
            .await,
        "W did not build its signed record"
    );
    let w_record = lock(&good)
        .behaviour()
        .local_peer_record()
        .expect("record")
        .to_signed_envelope()
        .into_protobuf_encoding();

    let k = Keypair::generate_ed25519();
    let forged = forged_peer_record(&k, &v_id, std::slice::from_ref(&v_addr));
    let k_own = PeerRecord::new_interop(&k, vec![v_addr.clone()])
        .expect("sign")
        .to_signed_envelope()
        .into_protobuf_encoding();
    let mut bytes = Vec::new();
    put_frame(&mut bytes, &subscribe_rpc(TOPIC));
    put_frame(
        &mut bytes,
        &prune_rpc(
            TOPIC,
            &[
                (v_id, Some(forged)),
                (v_id, Some(k_own)),
                (w_id, Some(w_record)),
            ],
            Some(1),
        ),
    );
    let raw = RawNode::new(Keypair::generate_ed25519(), bytes);
    let raw_id = raw.peer_id();
    net.nodes.push(Box::new(raw));
    net.events.push(Vec::new());
    net.connect(3, 0);

    let done = net
        .wait_for(TIMEOUT, |_| {
            let o = lock(&ours);
            !o.log.px.is_empty() && o.log.dialed.iter().any(|(p, _)| *p == w_id)
        })
        .await;
    let (px, counters) = {
        let o = lock(&ours);
        (o.log.px.clone(), *o.behaviour().counters())
    };
    assert!(
        done,
        "no PX dial of W; px events {px:?}, counters {counters:?}"
    );
    // Give a wrong dial of V time to show.
    net.run_for(SETTLE).await;

    let o = lock(&ours);
    assert_eq!(
        o.behaviour()
            .peer_protocol()
            .find(|(p, _)| **p == raw_id)
            .map(|(_, k)| *k),
        Some(PeerKind::Gossipsubv1_1),
        "the raw peer is not a meshsub 1.1 peer"
    );
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, NodeEvent::Subscribed { peer, topic } if *peer == raw_id && topic == TOPIC)),
        "the raw peer's subscription was not applied"
    );
    let counters = *o.behaviour().counters();
    assert_eq!(counters.px_records_invalid, 2, "{counters:?}");
    assert!(
        !o.log.dialing.contains(&v_id),
        "our node dialled the victim of a forged record"
    );
    assert!(!o.swarm.is_connected(&v_id));
    assert!(
        !net.events[1]
            .iter()
            .any(|e| matches!(e, NodeEvent::Connected { .. })),
        "the victim got a connection"
    );
    // Only W's record was accepted and reported, and W was reached on its address.
    assert_eq!(o.log.px.len(), 1, "{:?}", o.log.px);
    let (from, records) = &o.log.px[0];
    assert_eq!(*from, raw_id);
    let reported: Vec<(PeerId, Vec<Multiaddr>)> = records
        .iter()
        .map(|r| (r.peer_id(), r.addresses().to_vec()))
        .collect();
    assert_eq!(reported, vec![(w_id, vec![w_addr.clone()])]);
    assert!(o.log.dialing.contains(&w_id));
    assert!(
        o.log.dialed.contains(&(w_id, w_addr)),
        "W not reached on its record's address: {:?}",
        o.log.dialed
    );
}
