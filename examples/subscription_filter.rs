//! Subscription filters: which topics a node may join, and which remote subscriptions it keeps
//! track of.
//!
//! ```sh
//! cargo run --example subscription_filter
//! ```
//!
//! Two nodes run in one process on the in-memory transport. Bob is built with
//! `Behaviour::new_with_subscription_filter` and a filter that allows only topics under
//! `/app/` (any `Fn(&TopicHash) -> bool` is a filter; `AllowListSubscriptionFilter` and
//! `RegexSubscriptionFilter` are ready-made ones). Bob's own subscription to a topic outside
//! the filter fails with `SubscriptionError::NotAllowed`. Alice subscribes to two allowed
//! topics and three others: bob reports `Event::Subscribed` for the allowed two only, keeps
//! no state for the rest, and counts them in `Counters::subscriptions_ignored`. The program
//! prints what bob saw and exits.

use std::error::Error;
use std::time::Duration;

use gossipsub::{Behaviour, Config, Event, IdentTopic, MessageAuthenticity, TopicHash};
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut alice = node(|key| {
        Ok(Behaviour::new(
            MessageAuthenticity::Signed(key.clone()),
            Config::default(),
        )?)
    })?;
    let mut bob = node(|key| {
        // Only topics under `/app/`, for us and for every remote peer.
        let filter = |topic: &TopicHash| topic.as_str().starts_with("/app/");
        Ok(Behaviour::new_with_subscription_filter(
            MessageAuthenticity::Signed(key.clone()),
            Config::default(),
            filter,
        )?)
    })?;

    bob.behaviour_mut()
        .subscribe(&IdentTopic::new("/app/chat"))?;
    match bob.behaviour_mut().subscribe(&IdentTopic::new("ads")) {
        Err(error) => println!("bob: subscribing to \"ads\" failed: {error}"),
        Ok(_) => return Err("the filter let bob subscribe to \"ads\"".into()),
    }
    let alice_topics = ["/app/chat", "/app/news", "ads", "spam/1", "spam/2"];
    for name in alice_topics {
        alice.behaviour_mut().subscribe(&IdentTopic::new(name))?;
    }

    let bob_address = listen(&mut bob).await?;
    alice.dial(bob_address)?;
    let alice_id = *alice.local_peer_id();

    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Every subscription alice announces is either tracked (and reported) or ignored.
    let mut reported = 0;
    while reported < 2 || bob.behaviour().counters().subscriptions_ignored < 3 {
        tokio::select! {
            _ = alice.select_next_some() => {}
            event = bob.select_next_some() => {
                if let SwarmEvent::Behaviour(Event::Subscribed { topic, .. }) = event {
                    println!("bob: alice subscribed to {topic}");
                    reported += 1;
                }
            }
            _ = tick.tick() => {
                if tokio::time::Instant::now() > deadline {
                    return Err("timed out".into());
                }
            }
        }
    }

    let mut tracked: Vec<_> = bob
        .behaviour()
        .all_peers()
        .filter(|(peer, _)| **peer == alice_id)
        .flat_map(|(_, topics)| topics.into_iter().map(|t| t.as_str().to_owned()))
        .collect();
    tracked.sort();
    println!(
        "bob: alice announced {} topics: {alice_topics:?}",
        alice_topics.len()
    );
    println!("bob: topics tracked for alice: {tracked:?}");
    println!(
        "bob: subscriptions ignored: {}",
        bob.behaviour().counters().subscriptions_ignored
    );
    Ok(())
}
