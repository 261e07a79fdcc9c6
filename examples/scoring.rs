//! Peer scoring: set up score parameters for a topic, watch a misbehaving peer's score fall
//! below the thresholds, and explain both peers' scores term by term.
//!
//! ```sh
//! cargo run --example scoring
//! ```
//!
//! Three nodes run in one process on the in-memory transport: alice and mallory both connect
//! to bob. Bob turns on peer scoring (`Behaviour::with_peer_score`) with parameters for the
//! topic `blocks`, and validates every message (`validate_messages(true)`). Alice publishes
//! three valid blocks and earns first-delivery credit (P2); mallory publishes three invalid
//! ones, which bob rejects, and pays the invalid-message penalty (P4, the square of the
//! count). At his next heartbeat bob reports `Event::PeerScoreBelowThreshold` for each
//! threshold mallory fell below (0, gossip, publish), then the program prints `Behaviour::peer_score_breakdown` for both and exits.

use std::error::Error;
use std::time::Duration;

use gossipsub::{
    Behaviour, Config, ConfigBuilder, Event, IdentTopic, MessageAcceptance, MessageAuthenticity,
    PeerScoreParams, PeerScoreThresholds, ScoreThreshold, TopicScoreParams,
};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::futures::StreamExt;
use libp2p::swarm::{Swarm, SwarmEvent};
use libp2p::{Multiaddr, Transport, identity::Keypair, noise, yamux};

/// A swarm on the in-memory transport (noise, yamux) with a fresh identity; `build` makes its
/// gossipsub behaviour from the identity key.
fn node(
    build: impl FnOnce(&Keypair) -> Result<Behaviour, Box<dyn Error + Send + Sync>>,
) -> Result<Swarm<Behaviour>, Box<dyn Error>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            Ok(MemoryTransport::default()
                .upgrade(Version::V1)
                .authenticate(noise::Config::new(key)?)
                .multiplex(yamux::Config::default()))
        })?
        .with_behaviour(build)?
        .build())
}

/// Listens on a free in-memory port and returns the address.
async fn listen(swarm: &mut Swarm<Behaviour>) -> Result<Multiaddr, Box<dyn Error>> {
    swarm.listen_on("/memory/0".parse()?)?;
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return Ok(address);
        }
    }
}

/// Score parameters for one topic. Every deployment should tune these to its traffic; the
/// values here make the effect visible within a second.
fn score_params(topic: &IdentTopic) -> PeerScoreParams {
    let blocks = TopicScoreParams {
        topic_weight: 1.0,
        // P1: 0.1 per second in the mesh, at most 10 s counted.
        time_in_mesh_weight: 0.1,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 10.0,
        // P2: +1 for each message the peer was first to deliver (and we accepted).
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 100.0,
        // P3 and P3b stay off here: they need the topic's expected message rate.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: -8 times the square of the number of rejected messages (decaying by 1 % a second).
        invalid_message_deliveries_weight: -8.0,
        invalid_message_deliveries_decay: 0.99,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams::default();
    params.topics.insert(topic.hash(), blocks);
    params
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let topic = IdentTopic::new("blocks");
    let signed = |key: &Keypair, config: Config| {
        Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)
    };
    let mut alice = node(|key| Ok(signed(key, Config::default())?))?;
    let mut mallory = node(|key| Ok(signed(key, Config::default())?))?;
    let mut bob = node(|key| {
        let config = ConfigBuilder::default().validate_messages(true).build()?;
        let mut behaviour = signed(key, config)?;
        // Default thresholds: gossip -10, publish -50, graylist -80.
        behaviour.with_peer_score(score_params(&topic), PeerScoreThresholds::default())?;
        Ok(behaviour)
    })?;
    for swarm in [&mut alice, &mut bob, &mut mallory] {
        swarm.behaviour_mut().subscribe(&topic)?;
    }
    let bob_address = listen(&mut bob).await?;
    alice.dial(bob_address.clone())?;
    mallory.dial(bob_address)?;
    let (alice_id, bob_id, mallory_id) = (
        *alice.local_peer_id(),
        *bob.local_peer_id(),
        *mallory.local_peer_id(),
    );
    println!("alice is {alice_id}\nmallory is {mallory_id}");

    let mut published = false;
    let mut verdicts = 0;
    let mut mallory_reported = false;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);

    while verdicts < 6 || !mallory_reported {
        tokio::select! {
            _ = alice.select_next_some() => {}
            _ = mallory.select_next_some() => {}
            event = bob.select_next_some() => match event {
                SwarmEvent::Behaviour(Event::Message { propagation_source, message_id, message }) => {
                    // Bob's validation: a block must start with "block ".
                    let verdict = if message.data.starts_with(b"block ") {
                        MessageAcceptance::Accept
                    } else {
                        MessageAcceptance::Reject
                    };
                    bob.behaviour_mut().report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        verdict,
                    );
                    verdicts += 1;
                }
                SwarmEvent::Behaviour(Event::PeerScoreBelowThreshold { peer_id, score, threshold }) => {
                    let who = if peer_id == mallory_id { "mallory" } else { "alice" };
                    println!("bob: {who}'s score {score:.1} fell below the {threshold:?} threshold");
                    // One event per threshold crossed, lowest last.
                    mallory_reported |= peer_id == mallory_id && threshold == ScoreThreshold::Publish;
                }
                _ => {}
            },
            _ = tick.tick() => {
                if tokio::time::Instant::now() > deadline {
                    return Err("timed out".into());
                }
                // Publish once alice and mallory have bob in their meshes.
                let ready = |swarm: &Swarm<Behaviour>| {
                    swarm.behaviour().mesh_peers(&topic.hash()).any(|p| *p == bob_id)
                };
                if !published && ready(&alice) && ready(&mallory) {
                    for n in 1..=3 {
                        alice.behaviour_mut().publish(topic.clone(), format!("block {n}"))?;
                        mallory.behaviour_mut().publish(topic.clone(), format!("garbage {n}"))?;
                    }
                    published = true;
                }
            }
        }
    }

    for (name, peer) in [("alice", alice_id), ("mallory", mallory_id)] {
        let breakdown = bob
            .behaviour()
            .peer_score_breakdown(&peer)
            .ok_or("not scored")?;
        println!("bob's view of {name}: {breakdown}");
    }
    Ok(())
}
