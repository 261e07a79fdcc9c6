//! Direct peers: peers that always get our messages, are never part of a mesh, and are
//! redialled by gossipsub itself whenever the connection drops.
//!
//! ```sh
//! cargo run --example direct_peers
//! ```
//!
//! Three nodes run in one process on the in-memory transport. Alice and bob have each other as
//! direct peers (`ConfigBuilder::direct_peers`, both sides, as the spec asks); alice learns
//! bob's address with `Behaviour::add_direct_peer` and never dials him herself: gossipsub does,
//! at its first heartbeat. Carol is an ordinary peer connected to alice. The program shows
//! that alice's mesh holds carol but not bob, that a message carol publishes still reaches bob
//! through alice, and that when alice's connection to bob is closed, gossipsub dials him again
//! after `direct_connect_ticks` heartbeats (set to 2 here; the default is 300).

use std::error::Error;
use std::time::Duration;

use gossipsub::{Behaviour, Config, ConfigBuilder, Event, IdentTopic, MessageAuthenticity};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::futures::StreamExt;
use libp2p::swarm::{Swarm, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Transport, identity::Keypair, noise, yamux};

/// A swarm on the in-memory transport (noise, yamux) with identity `key`, signing its messages.
fn node(key: Keypair, config: Config) -> Result<Swarm<Behaviour>, Box<dyn Error>> {
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|key| {
            Ok(MemoryTransport::default()
                .upgrade(Version::V1)
                .authenticate(noise::Config::new(key)?)
                .multiplex(yamux::Config::default()))
        })?
        .with_behaviour(|key| {
            Ok(Behaviour::new(
                MessageAuthenticity::Signed(key.clone()),
                config,
            )?)
        })?
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

/// What the program waits for next.
#[derive(Debug, PartialEq)]
enum Phase {
    /// Alice connected to bob and carol, and alice and carol have meshed.
    Meshed,
    /// Bob received carol's message.
    Delivered,
    /// Alice's connection to bob closed.
    Closed,
    /// Gossipsub reconnected alice to bob.
    Redialled,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let topic = IdentTopic::new("news");
    let (alice_key, bob_key) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let alice_id = alice_key.public().to_peer_id();
    let bob_id = bob_key.public().to_peer_id();

    let alice_config = ConfigBuilder::default()
        .direct_peers([bob_id])
        .direct_connect_ticks(2)
        .build()?;
    let bob_config = ConfigBuilder::default().direct_peers([alice_id]).build()?;
    let mut alice = node(alice_key, alice_config)?;
    let mut bob = node(bob_key, bob_config)?;
    let mut carol = node(Keypair::generate_ed25519(), Config::default())?;
    for swarm in [&mut alice, &mut bob, &mut carol] {
        swarm.behaviour_mut().subscribe(&topic)?;
    }

    // Alice only learns bob's address; she does not dial him.
    let bob_address = listen(&mut bob).await?;
    alice
        .behaviour_mut()
        .add_direct_peer(bob_id, vec![bob_address]);
    let alice_address = listen(&mut alice).await?;
    carol.dial(alice_address)?;
    let carol_id = *carol.local_peer_id();
    let name = |peer: &PeerId| match *peer {
        p if p == alice_id => "alice",
        p if p == bob_id => "bob",
        p if p == carol_id => "carol",
        _ => "someone else",
    };

    let mut phase = Phase::Meshed;
    let mut alice_connected_to_bob = false;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);

    while phase != Phase::Redialled {
        tokio::select! {
            event = alice.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } if peer_id == bob_id => {
                    let how = if endpoint.is_dialer() { "dialled by alice's gossipsub" } else { "dialled by bob" };
                    println!("alice: connected to bob ({how})");
                    alice_connected_to_bob = true;
                    if phase == Phase::Closed {
                        phase = Phase::Redialled;
                    }
                }
                SwarmEvent::ConnectionClosed { peer_id, .. } if peer_id == bob_id => {
                    println!("alice: connection to bob closed");
                    alice_connected_to_bob = false;
                    if phase == Phase::Closed {
                        println!("alice: waiting for gossipsub to redial bob");
                    }
                }
                _ => {}
            },
            event = bob.select_next_some() => {
                if let SwarmEvent::Behaviour(Event::Message { propagation_source, message, .. }) = event {
                    println!(
                        "bob: received {:?} from {} (written by {})",
                        String::from_utf8_lossy(&message.data),
                        name(&propagation_source),
                        message.source.as_ref().map_or("nobody", name),
                    );
                    if phase == Phase::Delivered {
                        // Close the connection; alice's gossipsub will dial bob again.
                        phase = Phase::Closed;
                        let _ = alice.disconnect_peer_id(bob_id);
                    }
                }
            }
            _ = carol.select_next_some() => {}
            _ = tick.tick() => {
                if tokio::time::Instant::now() > deadline {
                    return Err(format!("timed out waiting for {phase:?}").into());
                }
                let meshed = alice.behaviour().mesh_peers(&topic.hash()).any(|p| *p == carol_id)
                    && carol.behaviour().mesh_peers(&topic.hash()).any(|p| *p == alice_id);
                // A message goes to a direct peer only once its subscription has arrived.
                let bob_subscribed = alice
                    .behaviour()
                    .all_peers()
                    .any(|(p, topics)| *p == bob_id && topics.contains(&&topic.hash()));
                if phase == Phase::Meshed && meshed && alice_connected_to_bob && bob_subscribed {
                    let mesh: Vec<_> = alice.behaviour().mesh_peers(&topic.hash()).map(name).collect();
                    println!("alice: mesh of {topic}: {mesh:?} (bob is direct, never in a mesh)");
                    carol.behaviour_mut().publish(topic.clone(), "hello from carol")?;
                    phase = Phase::Delivered;
                }
            }
        }
    }
    Ok(())
}
