//! Application validation: a node checks every message before it forwards it, and answers
//! accept, reject or ignore, with a reason of its own.
//!
//! ```sh
//! cargo run --example validation
//! ```
//!
//! Three nodes run in one process on the in-memory transport, connected in a line:
//! alice - bob - carol. Bob's config has `validate_messages(true)`, so every message he receives
//! is handed to his application (`Event::Message`) and waits for its verdict
//! (`Behaviour::report_message_validation_result`) before anything else happens to it:
//!
//! - `Accept`: forwarded to his mesh (carol) and gossiped;
//! - `Reject`: dropped; the peer that sent it is penalised when peer scoring is on (P4);
//! - `Ignore`: dropped without penalty (valid, but of no use: here, a stale reading).
//!
//! Alice publishes three temperature readings; bob accepts the first, rejects the second (not
//! a number) and ignores the third (older than one he already accepted). Carol receives only
//! the accepted one. The program prints each verdict, what carol received and bob's counters,
//! then exits.

use std::error::Error;
use std::time::Duration;

use gossipsub::{Behaviour, Config, ConfigBuilder, Event, IdentTopic, MessageAcceptance};
use gossipsub::{Message, MessageAuthenticity};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::futures::StreamExt;
use libp2p::swarm::{Swarm, SwarmEvent};
use libp2p::{Multiaddr, Transport, noise, yamux};

/// A swarm on the in-memory transport (noise, yamux) with a fresh, signing identity.
fn node(config: Config) -> Result<Swarm<Behaviour>, Box<dyn Error>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
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

/// Bob's validation: the verdict on a message and why.
struct Validator {
    /// The number of the newest reading accepted so far.
    newest: u64,
}

impl Validator {
    /// Readings look like `reading <n>: <degrees> C`.
    fn check(&mut self, message: &Message) -> (MessageAcceptance, String) {
        let text = String::from_utf8_lossy(&message.data);
        let parsed = text.strip_prefix("reading ").and_then(|rest| {
            let (n, value) = rest.split_once(": ")?;
            let degrees = value.strip_suffix(" C")?.parse::<f64>().ok()?;
            Some((n.parse::<u64>().ok()?, degrees))
        });
        match parsed {
            None => (
                MessageAcceptance::Reject,
                "not a temperature reading".into(),
            ),
            Some((n, _)) if n <= self.newest => (
                MessageAcceptance::Ignore,
                format!("stale: reading {} already accepted", self.newest),
            ),
            Some((n, degrees)) => {
                self.newest = n;
                (MessageAcceptance::Accept, format!("{degrees} degrees"))
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let topic = IdentTopic::new("temperature");
    let mut alice = node(Config::default())?;
    let mut bob = node(ConfigBuilder::default().validate_messages(true).build()?)?;
    let mut carol = node(Config::default())?;
    for swarm in [&mut alice, &mut bob, &mut carol] {
        swarm.behaviour_mut().subscribe(&topic)?;
    }
    let bob_address = listen(&mut bob).await?;
    alice.dial(bob_address.clone())?;
    carol.dial(bob_address)?;
    let (bob_id, carol_id) = (*bob.local_peer_id(), *carol.local_peer_id());

    let readings = ["reading 2: 21.5 C", "reading 3: hot", "reading 1: 20.0 C"];
    let mut validator = Validator { newest: 0 };
    let mut published = false;
    let mut verdicts = 0;
    let mut carol_received = Vec::new();
    let mut done_at = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);

    loop {
        tokio::select! {
            _ = alice.select_next_some() => {}
            event = bob.select_next_some() => {
                if let SwarmEvent::Behaviour(Event::Message { propagation_source, message_id, message }) = event {
                    let (verdict, reason) = validator.check(&message);
                    println!(
                        "bob: {verdict:?} {:?} ({reason})",
                        String::from_utf8_lossy(&message.data)
                    );
                    bob.behaviour_mut().report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        verdict,
                    );
                    verdicts += 1;
                }
            }
            event = carol.select_next_some() => {
                if let SwarmEvent::Behaviour(Event::Message { message, .. }) = event {
                    let text = String::from_utf8_lossy(&message.data).into_owned();
                    println!("carol: received {text:?}");
                    carol_received.push(text);
                }
            }
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                if now > deadline {
                    return Err("timed out".into());
                }
                // Publish once bob has both peers in his mesh (formed at his heartbeat).
                let alice_ready = alice.behaviour().mesh_peers(&topic.hash()).any(|p| *p == bob_id);
                let bob_ready = bob.behaviour().mesh_peers(&topic.hash()).any(|p| *p == carol_id);
                if !published && alice_ready && bob_ready {
                    for reading in readings {
                        alice.behaviour_mut().publish(topic.clone(), reading)?;
                    }
                    published = true;
                }
                // Once every verdict is in and carol has the accepted reading, wait a little
                // longer to show that nothing else reaches her.
                if verdicts == readings.len() && !carol_received.is_empty() {
                    let done_at = *done_at.get_or_insert(now + Duration::from_millis(500));
                    if now >= done_at {
                        break;
                    }
                }
            }
        }
    }

    let counters = bob.behaviour().counters();
    println!(
        "carol received {} message(s): {carol_received:?}",
        carol_received.len()
    );
    println!(
        "bob's counters: {} rejected, {} ignored",
        counters.messages_rejected, counters.messages_ignored
    );
    Ok(())
}
