//! Prometheus metrics: turn them on with `Behaviour::with_metrics`, then scrape the registry.
//!
//! ```sh
//! cargo run --example metrics
//! ```
//!
//! Needs the `metrics` cargo feature (on by default). Two nodes run in one process on the
//! in-memory transport, each registering its metrics in a `prometheus_client` registry of its
//! own. The topic `chat` is listed in `MetricsConfig`, so it gets a `topic` label of its own;
//! every other topic is counted under `topic="other"`, so remote peers cannot grow the label
//! set. Alice publishes three messages, bob receives them; after bob's next heartbeat (when the
//! gauges are sampled) the program prints the non-zero samples of bob's registry in the
//! OpenMetrics text format, as a `/metrics` endpoint would serve them (the `chat` example has
//! such an endpoint: `--metrics 127.0.0.1:9090`). METRICS.md lists every family.

use std::error::Error;
use std::time::Duration;

use gossipsub::metrics::MetricsConfig;
use gossipsub::{Behaviour, Config, Event, IdentTopic, MessageAuthenticity};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::futures::StreamExt;
use libp2p::swarm::{Swarm, SwarmEvent};
use libp2p::{Multiaddr, Transport, noise, yamux};
use prometheus_client::registry::Registry;

/// A swarm on the in-memory transport (noise, yamux) with a fresh, signing identity whose
/// gossipsub metrics go to `registry`, with a label of its own for `topic`.
fn node(registry: &mut Registry, topic: &IdentTopic) -> Result<Swarm<Behaviour>, Box<dyn Error>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            Ok(MemoryTransport::default()
                .upgrade(Version::V1)
                .authenticate(noise::Config::new(key)?)
                .multiplex(yamux::Config::default()))
        })?
        .with_behaviour(|key| {
            let behaviour =
                Behaviour::new(MessageAuthenticity::Signed(key.clone()), Config::default())?;
            Ok(behaviour.with_metrics(registry, MetricsConfig::new().with_topic(topic.hash())))
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let topic = IdentTopic::new("chat");
    let (mut alice_registry, mut bob_registry) = (Registry::default(), Registry::default());
    let mut alice = node(&mut alice_registry, &topic)?;
    let mut bob = node(&mut bob_registry, &topic)?;
    alice.behaviour_mut().subscribe(&topic)?;
    bob.behaviour_mut().subscribe(&topic)?;
    let bob_address = listen(&mut bob).await?;
    alice.dial(bob_address)?;

    let mut received = 0;
    let mut sampled_after = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::select! {
            event = alice.select_next_some() => {
                if let SwarmEvent::Behaviour(Event::Subscribed { topic: t, .. }) = event
                    && t == topic.hash()
                {
                    for n in 1..=3 {
                        alice.behaviour_mut().publish(topic.clone(), format!("message {n}"))?;
                    }
                }
            }
            event = bob.select_next_some() => {
                if let SwarmEvent::Behaviour(Event::Message { .. }) = event {
                    received += 1;
                }
            }
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                if now > deadline {
                    return Err("timed out".into());
                }
                // Gauges are sampled at every heartbeat (1 s by default): wait for the next one.
                if received == 3 {
                    let at = *sampled_after.get_or_insert(now + Duration::from_millis(1100));
                    if now >= at {
                        break;
                    }
                }
            }
        }
    }

    let mut scrape = String::new();
    prometheus_client::encoding::text::encode(&mut scrape, &bob_registry)?;
    println!(
        "bob received {received} messages; his non-zero samples (histogram buckets left out):"
    );
    for line in scrape.lines() {
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        let bucket = line.contains("_bucket{");
        if line.starts_with("gossipsub_") && !bucket && value.is_some_and(|v| v != 0.0) {
            println!("{line}");
        }
    }
    Ok(())
}
