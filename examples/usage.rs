// The README's usage example. Start one copy, which prints `listening on <address>`:
//     cargo run --example usage
// and a second one in another terminal, with that address:
//     cargo run --example usage -- /ip4/127.0.0.1/tcp/<port>
// Each copy greets every peer that joins the topic and prints what it receives. Ctrl-C stops it.
use gossipsub::{Event, IdentTopic, MessageAuthenticity};
use libp2p::futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, noise, tcp, yamux};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|key| {
            // Sign our messages with the swarm's identity key.
            Ok(gossipsub::Behaviour::new(
                MessageAuthenticity::Signed(key.clone()),
                gossipsub::Config::default(),
            )?)
        })?
        .build();

    let topic = IdentTopic::new("chat");
    swarm.behaviour_mut().subscribe(&topic)?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    // The address of another copy, if one was given.
    if let Some(address) = std::env::args().nth(1) {
        swarm.dial(address.parse::<Multiaddr>()?)?;
    }

    loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => println!("listening on {address}"),
            // A peer joined our topic: greet it. (Publishing fails with
            // `PublishError::NoPeersSubscribedToTopic` while no peer has.)
            SwarmEvent::Behaviour(Event::Subscribed {
                peer_id, topic: t, ..
            }) if t == topic.hash() => {
                let greeting = format!("hello {peer_id}");
                if let Err(error) = swarm.behaviour_mut().publish(topic.clone(), greeting) {
                    eprintln!("publish failed: {error}");
                }
            }
            SwarmEvent::Behaviour(Event::Message {
                propagation_source,
                message,
                ..
            }) => {
                let from = message.source.unwrap_or(propagation_source);
                println!("{from}: {}", String::from_utf8_lossy(&message.data));
            }
            _ => {}
        }
    }
}
