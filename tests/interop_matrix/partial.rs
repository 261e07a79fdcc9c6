//! The Partial Messages extension between our node and libp2p-gossipsub 0.50.1 with its
//! `partial-messages` feature ("theirs"), on the memory transport: parts both ways when both
//! request them, metadata only to a peer that supports but did not request, and full messages
//! (not partials) to a peer that supports neither.

use super::common;

use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use common::{fast_config, memory_addr, memory_swarm};
use futures::StreamExt;
use libp2p::identity::{Keypair, PeerId};
use libp2p::swarm::{Swarm, SwarmEvent};
use libp2p_gossipsub::partial_messages as theirs;

const TOPIC: &str = "partial-topic";
const TIMEOUT: Duration = Duration::from_secs(20);

/// A message of eight one-byte parts, in both crates' traits. Parts metadata: one byte, bit
/// `i` set when part `i` is held. Parts: `(index, value)` pairs.
#[derive(Clone, Debug)]
struct Parts {
    group: Vec<u8>,
    parts: [Option<u8>; 8],
}

impl Parts {
    fn new(group: &[u8], held: &[usize]) -> Self {
        let mut parts = [None; 8];
        for &i in held {
            parts[i] = Some(i as u8 + 100);
        }
        Parts {
            group: group.to_vec(),
            parts,
        }
    }

    fn bits(&self) -> u8 {
        self.parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .fold(0, |acc, (i, _)| acc | (1 << i))
    }

    /// The parts a peer with metadata `has` lacks, encoded.
    fn lacking(&self, has: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            if let Some(v) = part
                && has & (1 << i) == 0
            {
                out.extend_from_slice(&[i as u8, *v]);
            }
        }
        out
    }
}

fn first_byte(metadata: Option<&[u8]>) -> u8 {
    metadata.and_then(|m| m.first().copied()).unwrap_or(0)
}

impl gossipsub::partial::Partial for Parts {
    fn group_id(&self) -> Bytes {
        Bytes::from(self.group.clone())
    }

    fn parts_metadata(&self) -> Bytes {
        Bytes::from(vec![self.bits()])
    }

    fn parts_for_peer(
        &self,
        _peer: &PeerId,
        peer_metadata: Option<&[u8]>,
    ) -> Result<gossipsub::partial::PartsForPeer, gossipsub::partial::PartialError> {
        let has = first_byte(peer_metadata);
        let out = self.lacking(has);
        Ok(gossipsub::partial::PartsForPeer {
            parts: (!out.is_empty()).then(|| Bytes::from(out)),
            peer_metadata: Some(Bytes::from(vec![has | self.bits()])),
        })
    }

    fn merge_metadata(
        &self,
        known: &[u8],
        update: &[u8],
    ) -> Result<Bytes, gossipsub::partial::PartialError> {
        Ok(Bytes::from(vec![
            first_byte(Some(known)) | first_byte(Some(update)),
        ]))
    }
}

/// Their metadata: one byte of held parts, merged by OR.
#[derive(Debug)]
struct Bits(Vec<u8>);

impl theirs::Metadata for Bits {
    fn as_slice(&self) -> &[u8] {
        &self.0
    }

    fn update(&mut self, data: &[u8]) -> Result<bool, theirs::PartialError> {
        let merged = first_byte(Some(&self.0)) | first_byte(Some(data));
        let changed = merged != first_byte(Some(&self.0));
        self.0 = vec![merged];
        Ok(changed)
    }
}

impl theirs::Partial for Parts {
    fn group_id(&self) -> Vec<u8> {
        self.group.clone()
    }

    fn metadata(&self) -> Box<dyn theirs::Metadata> {
        Box::new(Bits(vec![self.bits()]))
    }

    fn partial_action_from_metadata(
        &self,
        _peer_id: PeerId,
        metadata: Option<&[u8]>,
    ) -> Result<theirs::PartialAction, theirs::PartialError> {
        let has = first_byte(metadata);
        let out = self.lacking(has);
        Ok(theirs::PartialAction {
            need: has & !self.bits() != 0,
            send: (!out.is_empty()).then(|| {
                (
                    out,
                    Box::new(Bits(vec![has | self.bits()])) as Box<dyn theirs::Metadata>,
                )
            }),
        })
    }
}

/// A partial message as either side reported it: (from, group, parts, metadata).
type Seen = (PeerId, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

struct Pair {
    ours: Swarm<gossipsub::Behaviour>,
    theirs: Swarm<libp2p_gossipsub::Behaviour>,
    /// Partial messages our node reported.
    ours_got: Vec<Seen>,
    /// Partial messages their node reported.
    theirs_got: Vec<Seen>,
    /// Full messages their node received.
    theirs_full: Vec<Vec<u8>>,
}

impl Pair {
    /// Our node and theirs, connected. Partial messages enabled on [`TOPIC`] as given
    /// (`None`: not enabled, plain subscription; `Some(requests)`).
    fn new(ours_partial: Option<bool>, theirs_partial: Option<bool>) -> Self {
        Self::with(ours_partial, theirs_partial, true)
    }

    /// Like [`Pair::new`]; if `!ours_subscribes`, our node only enables partial messages on
    /// [`TOPIC`] (`ours_partial` must be `Some`) without subscribing.
    fn with(
        ours_partial: Option<bool>,
        theirs_partial: Option<bool>,
        ours_subscribes: bool,
    ) -> Self {
        let key = Keypair::generate_ed25519();
        let ours_behaviour = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            fast_config().build().expect("config"),
        )
        .expect("behaviour");
        let mut ours = memory_swarm(key, ours_behaviour);
        let addr = memory_addr();
        ours.listen_on(addr.clone()).expect("listen");
        let topic = gossipsub::IdentTopic::new(TOPIC);
        match ours_partial {
            Some(requests) if !ours_subscribes => ours
                .behaviour_mut()
                .enable_partial(&topic, requests)
                .expect("enable_partial"),
            Some(requests) => ours
                .behaviour_mut()
                .subscribe_partial(&topic, requests)
                .expect("subscribe"),
            None => ours.behaviour_mut().subscribe(&topic).expect("subscribe"),
        };

        let key = Keypair::generate_ed25519();
        let config = libp2p_gossipsub::ConfigBuilder::default()
            .heartbeat_interval(Duration::from_millis(100))
            .heartbeat_initial_delay(Duration::from_millis(10))
            .build()
            .expect("their config");
        let behaviour = libp2p_gossipsub::Behaviour::new(
            libp2p_gossipsub::MessageAuthenticity::Signed(key.clone()),
            config,
        )
        .expect("their behaviour");
        let mut their_swarm = memory_swarm(key, behaviour);
        let their_topic = libp2p_gossipsub::IdentTopic::new(TOPIC);
        if let Some(requests) = theirs_partial {
            their_swarm
                .behaviour_mut()
                .enable_partials_for_topic(their_topic.hash(), requests);
        }
        their_swarm
            .behaviour_mut()
            .subscribe(&their_topic)
            .expect("their subscribe");
        their_swarm.dial(addr).expect("dial");
        Pair {
            ours,
            theirs: their_swarm,
            ours_got: Vec::new(),
            theirs_got: Vec::new(),
            theirs_full: Vec::new(),
        }
    }

    /// Polls both swarms until `done` holds or [`TIMEOUT`] passes.
    async fn run_until(&mut self, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if done(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            let step = futures::future::poll_fn(|cx| {
                let mut progressed = false;
                for _ in 0..64 {
                    match self.ours.poll_next_unpin(cx) {
                        Poll::Ready(Some(SwarmEvent::Behaviour(gossipsub::Event::Partial {
                            propagation_source,
                            message,
                        }))) => {
                            progressed = true;
                            self.ours_got.push((
                                propagation_source,
                                message.group_id.to_vec(),
                                message.message.map(|m| m.to_vec()),
                                message.metadata.map(|m| m.to_vec()),
                            ));
                        }
                        Poll::Ready(Some(_)) => progressed = true,
                        _ => break,
                    }
                }
                for _ in 0..64 {
                    match self.theirs.poll_next_unpin(cx) {
                        Poll::Ready(Some(SwarmEvent::Behaviour(
                            libp2p_gossipsub::Event::Partial {
                                peer_id,
                                group_id,
                                message,
                                metadata,
                                ..
                            },
                        ))) => {
                            progressed = true;
                            self.theirs_got.push((peer_id, group_id, message, metadata));
                        }
                        Poll::Ready(Some(SwarmEvent::Behaviour(
                            libp2p_gossipsub::Event::Message { message, .. },
                        ))) => {
                            progressed = true;
                            self.theirs_full.push(message.data);
                        }
                        Poll::Ready(Some(_)) => progressed = true,
                        _ => break,
                    }
                }
                if progressed {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            // Re-check at least every 50 ms: meshes change silently at heartbeats.
            let _ = tokio::time::timeout(Duration::from_millis(50), step).await;
        }
    }

    /// Waits until each side has the other in its mesh for [`TOPIC`].
    async fn wait_for_mesh(&mut self) {
        let ours_hash = gossipsub::IdentTopic::new(TOPIC).hash();
        let their_hash = libp2p_gossipsub::IdentTopic::new(TOPIC).hash();
        let (ours_id, their_id) = (*self.ours.local_peer_id(), *self.theirs.local_peer_id());
        let meshed = self
            .run_until(|p| {
                p.ours
                    .behaviour()
                    .mesh_peers(&ours_hash)
                    .any(|x| *x == their_id)
                    && p.theirs
                        .behaviour()
                        .mesh_peers(&their_hash)
                        .any(|x| *x == ours_id)
            })
            .await;
        assert!(meshed, "no mesh between ours and theirs");
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Both request partial messages: our parts reach theirs, and their parts reach us, each with
/// the sender's parts metadata; a later publish sends only the part the other lacks.
#[tokio::test]
async fn partial_messages_both_ways_with_libp2p_gossipsub() {
    init_tracing();
    let mut pair = Pair::new(Some(true), Some(true));
    pair.wait_for_mesh().await;
    let (ours_id, their_id) = (*pair.ours.local_peer_id(), *pair.theirs.local_peer_id());

    // Ours to theirs.
    let sent = pair
        .ours
        .behaviour_mut()
        .publish_partial(
            gossipsub::IdentTopic::new(TOPIC),
            Parts::new(b"ours", &[0, 2]),
        )
        .expect("publish_partial");
    assert_eq!(sent, 1);
    assert!(
        pair.run_until(|p| p.theirs_got.iter().any(|s| s.1 == b"ours"))
            .await,
        "theirs did not report our partial"
    );
    let got = pair
        .theirs_got
        .iter()
        .find(|s| s.1 == b"ours")
        .cloned()
        .unwrap();
    assert_eq!(
        got,
        (
            ours_id,
            b"ours".to_vec(),
            Some(vec![0, 100, 2, 102]),
            Some(vec![0b101])
        )
    );

    // Theirs to ours.
    pair.theirs
        .behaviour_mut()
        .publish_partial(
            libp2p_gossipsub::IdentTopic::new(TOPIC),
            Parts::new(b"theirs", &[1, 3]),
        )
        .expect("their publish_partial");
    assert!(
        pair.run_until(|p| p.ours_got.iter().any(|s| s.1 == b"theirs"))
            .await,
        "ours did not report their partial"
    );
    let got = pair
        .ours_got
        .iter()
        .find(|s| s.1 == b"theirs")
        .cloned()
        .unwrap();
    assert_eq!(
        got,
        (
            their_id,
            b"theirs".to_vec(),
            Some(vec![1, 101, 3, 103]),
            Some(vec![0b1010])
        )
    );

    // One more part of ours: theirs gets exactly that part (we know what it has).
    pair.ours
        .behaviour_mut()
        .publish_partial(
            gossipsub::IdentTopic::new(TOPIC),
            Parts::new(b"ours", &[0, 2, 5]),
        )
        .expect("publish_partial");
    assert!(
        pair.run_until(|p| p.theirs_got.iter().filter(|s| s.1 == b"ours").count() >= 2)
            .await,
        "theirs did not report our second partial"
    );
    let second = pair
        .theirs_got
        .iter()
        .filter(|s| s.1 == b"ours")
        .nth(1)
        .cloned()
        .unwrap();
    assert_eq!(second.2, Some(vec![5, 105]));
    assert_eq!(second.3, Some(vec![0b100101]));
    let counters = pair.ours.behaviour().counters();
    assert_eq!(counters.partials_invalid, 0);
    assert_eq!(counters.partials_ignored, 0);
}

/// Theirs supports partial messages but does not request them: it gets only our parts
/// metadata. We request them: their parts reach us.
#[tokio::test]
async fn a_peer_that_only_supports_partials_gets_metadata_only() {
    init_tracing();
    let mut pair = Pair::new(Some(true), Some(false));
    pair.wait_for_mesh().await;
    pair.ours
        .behaviour_mut()
        .publish_partial(
            gossipsub::IdentTopic::new(TOPIC),
            Parts::new(b"ours", &[0, 2]),
        )
        .expect("publish_partial");
    assert!(
        pair.run_until(|p| p.theirs_got.iter().any(|s| s.1 == b"ours"))
            .await,
        "theirs did not report our metadata"
    );
    let got = pair.theirs_got.iter().find(|s| s.1 == b"ours").unwrap();
    assert_eq!(got.2, None, "no parts to a peer that did not request them");
    assert_eq!(got.3, Some(vec![0b101]));
    pair.theirs
        .behaviour_mut()
        .publish_partial(
            libp2p_gossipsub::IdentTopic::new(TOPIC),
            Parts::new(b"theirs", &[4]),
        )
        .expect("their publish_partial");
    assert!(
        pair.run_until(|p| p.ours_got.iter().any(|s| s.1 == b"theirs"))
            .await,
        "ours did not report their partial"
    );
    let got = pair.ours_got.iter().find(|s| s.1 == b"theirs").unwrap();
    assert_eq!(got.2, Some(vec![4, 104]));
}

/// Theirs does not enable partial messages: it gets the full message we publish, and nothing
/// from `publish_partial`.
#[tokio::test]
async fn a_peer_without_partials_gets_full_messages() {
    init_tracing();
    let mut pair = Pair::new(Some(true), None);
    pair.wait_for_mesh().await;
    let sent = pair
        .ours
        .behaviour_mut()
        .publish_partial(gossipsub::IdentTopic::new(TOPIC), Parts::new(b"ours", &[0]))
        .expect("publish_partial");
    assert_eq!(sent, 0, "theirs supports no partial messages on the topic");
    pair.ours
        .behaviour_mut()
        .publish(gossipsub::IdentTopic::new(TOPIC), b"full".to_vec())
        .expect("publish");
    assert!(
        pair.run_until(|p| p.theirs_full.iter().any(|d| d == b"full"))
            .await,
        "theirs did not receive the full message"
    );
    assert!(pair.theirs_got.is_empty());
}

/// Our node only enables partial messages on the topic (not subscribed, as the publisher of
/// test-plans' `partial-messages-fanout`) and publishes to libp2p-gossipsub by name with
/// `publish_partial_to`: theirs gets the parts and our metadata; it answers with its own
/// metadata, which reaches our application.
#[tokio::test]
async fn publish_partial_to_a_chosen_libp2p_gossipsub_peer_without_subscribing() {
    init_tracing();
    let mut pair = Pair::with(Some(false), Some(true), false);
    let their_id = *pair.theirs.local_peer_id();
    let ours_id = *pair.ours.local_peer_id();
    let hash = gossipsub::IdentTopic::new(TOPIC).hash();
    assert!(
        pair.run_until(|p| p
            .ours
            .behaviour()
            .peer_partial_options(&their_id, &hash)
            .requests_partial)
            .await,
        "their subscription with partial options never arrived"
    );
    assert_eq!(pair.ours.behaviour().mesh_peers(&hash).count(), 0);
    let sent = pair
        .ours
        .behaviour_mut()
        .publish_partial_to(hash.clone(), Parts::new(b"fan", &[0, 1, 2]), [their_id])
        .expect("publish_partial_to");
    assert_eq!(sent, 1);
    assert!(
        pair.run_until(|p| p.theirs_got.iter().any(|s| s.1 == b"fan"))
            .await,
        "theirs did not report our partial"
    );
    let got = pair
        .theirs_got
        .iter()
        .find(|s| s.1 == b"fan")
        .cloned()
        .unwrap();
    assert_eq!(
        got,
        (
            ours_id,
            b"fan".to_vec(),
            Some(vec![0, 100, 1, 101, 2, 102]),
            Some(vec![0b111])
        )
    );
    // Theirs publishes what it now holds (its application merged our parts): our node,
    // only enabled on the topic, still hears about the group.
    pair.theirs
        .behaviour_mut()
        .publish_partial(
            libp2p_gossipsub::IdentTopic::new(TOPIC),
            Parts::new(b"fan", &[0, 1, 2, 3]),
        )
        .expect("their publish_partial");
    assert!(
        pair.run_until(|p| p.ours_got.iter().any(|s| s.1 == b"fan"))
            .await,
        "ours did not report their answer"
    );
    let counters = pair.ours.behaviour().counters();
    assert_eq!(counters.partials_invalid, 0);
    assert_eq!(counters.partials_ignored, 0);
}

/// Our swarms with their listen addresses.
type OurNode = (Swarm<gossipsub::Behaviour>, libp2p::Multiaddr);
/// A condition on our swarms and the partial messages each reported.
type Done<'a> = &'a dyn Fn(&[OurNode], &[Vec<Seen>]) -> bool;

/// Three of our nodes: A only enables partial messages, B and C subscribe requesting them.
/// `publish_partial_to([B])` reaches B and never C, although C is connected and on the topic.
#[tokio::test]
async fn publish_partial_to_reaches_only_the_chosen_peer_between_our_nodes() {
    init_tracing();
    let topic = gossipsub::IdentTopic::new(TOPIC);
    let mut nodes: Vec<OurNode> = (0..3)
        .map(|_| {
            let key = Keypair::generate_ed25519();
            let behaviour = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                fast_config().build().expect("config"),
            )
            .expect("behaviour");
            let mut swarm = memory_swarm(key, behaviour);
            let addr = memory_addr();
            swarm.listen_on(addr.clone()).expect("listen");
            (swarm, addr)
        })
        .collect();
    nodes[0]
        .0
        .behaviour_mut()
        .enable_partial(&topic, false)
        .expect("enable");
    for (swarm, _) in &mut nodes[1..] {
        swarm
            .behaviour_mut()
            .subscribe_partial(&topic, true)
            .expect("subscribe");
    }
    let (b_addr, c_addr) = (nodes[1].1.clone(), nodes[2].1.clone());
    nodes[0].0.dial(b_addr).expect("dial");
    nodes[0].0.dial(c_addr.clone()).expect("dial");
    nodes[1].0.dial(c_addr).expect("dial");
    let ids: Vec<PeerId> = nodes.iter().map(|(s, _)| *s.local_peer_id()).collect();
    let mut got: Vec<Vec<Seen>> = vec![Vec::new(); 3];
    let hash = topic.hash();
    let drive = async |nodes: &mut Vec<OurNode>,
                       got: &mut Vec<Vec<Seen>>,
                       done: Done<'_>,
                       span: Duration|
           -> bool {
        let deadline = tokio::time::Instant::now() + span;
        loop {
            if done(nodes, got) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            let step = futures::future::poll_fn(|cx| {
                let mut progressed = false;
                for (i, (swarm, _)) in nodes.iter_mut().enumerate() {
                    for _ in 0..64 {
                        match swarm.poll_next_unpin(cx) {
                            Poll::Ready(Some(SwarmEvent::Behaviour(
                                gossipsub::Event::Partial {
                                    propagation_source,
                                    message,
                                },
                            ))) => {
                                progressed = true;
                                got[i].push((
                                    propagation_source,
                                    message.group_id.to_vec(),
                                    message.message.map(|m| m.to_vec()),
                                    message.metadata.map(|m| m.to_vec()),
                                ));
                            }
                            Poll::Ready(Some(_)) => progressed = true,
                            _ => break,
                        }
                    }
                }
                if progressed {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            let _ = tokio::time::timeout(Duration::from_millis(50), step).await;
        }
    };
    let ready = drive(
        &mut nodes,
        &mut got,
        &|n, _| {
            n[0].0
                .behaviour()
                .peer_partial_options(&ids[1], &hash)
                .requests_partial
                && n[0]
                    .0
                    .behaviour()
                    .peer_partial_options(&ids[2], &hash)
                    .requests_partial
        },
        TIMEOUT,
    )
    .await;
    assert!(ready, "A never learnt B's and C's partial options");
    let sent = nodes[0]
        .0
        .behaviour_mut()
        .publish_partial_to(hash.clone(), Parts::new(b"g", &[0, 1]), [ids[1]])
        .expect("publish_partial_to");
    assert_eq!(sent, 1);
    assert!(
        drive(
            &mut nodes,
            &mut got,
            &|_, g| g[1].iter().any(|s| s.1 == b"g"),
            TIMEOUT
        )
        .await,
        "B did not get the partial"
    );
    assert_eq!(
        got[1].iter().find(|s| s.1 == b"g").cloned().unwrap(),
        (
            ids[0],
            b"g".to_vec(),
            Some(vec![0, 100, 1, 101]),
            Some(vec![0b11])
        )
    );
    // Several heartbeats (100 ms): C hears nothing of the group from A.
    drive(
        &mut nodes,
        &mut got,
        &|_, _| false,
        Duration::from_millis(600),
    )
    .await;
    assert!(
        !got[2].iter().any(|s| s.0 == ids[0]),
        "C was not chosen: {:?}",
        got[2]
    );
    // A peer that is not connected is refused by name.
    let stranger = PeerId::random();
    assert_eq!(
        nodes[0].0.behaviour_mut().publish_partial_to(
            hash.clone(),
            Parts::new(b"g", &[0, 1]),
            [stranger]
        ),
        Err(gossipsub::partial::PublishPartialError::PeerNotConnected(
            stranger
        ))
    );
}
