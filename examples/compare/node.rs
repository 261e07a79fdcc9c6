//! Nodes of either implementation on the memory transport, their configs, payloads and CPU
//! clocks.

use super::*;

pub(crate) fn memory_addr() -> Multiaddr {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "/memory/{}",
        1_000_000 + NEXT.fetch_add(1, Ordering::Relaxed)
    )
    .parse()
    .expect("memory address")
}

pub(crate) fn swarm<B: NetworkBehaviour>(key: &Keypair, behaviour: B) -> Swarm<B> {
    let transport = MemoryTransport::default()
        .upgrade(Version::V1)
        .authenticate(plaintext::Config::new(key))
        .multiplex(yamux::Config::default())
        .boxed();
    Swarm::new(
        transport,
        behaviour,
        key.public().to_peer_id(),
        libp2p::swarm::Config::with_tokio_executor()
            .with_idle_connection_timeout(Duration::from_secs(600)),
    )
}

/// D_hi of the network test; the forward test's node under test uses D_hi = D = 8 for both
/// implementations, so both forward to the same number of mesh peers (with 30 feeders
/// grafting it, ours otherwise keeps up to D_hi of them, libp2p-gossipsub fewer).
pub(crate) const MESH_N_HIGH: usize = 12;

/// `--queue-seconds`: how long publishes and forwards may wait in a send queue, for both
/// implementations (default: each one's default, 5 s and 1 s).
pub(crate) static QUEUE_DURATION: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

pub(crate) fn ours_config(
    validation: gossipsub::ValidationMode,
    mesh_n_high: usize,
) -> gossipsub::Config {
    ours_builder(validation, mesh_n_high)
        .build()
        .expect("our config")
}

/// Our config for a forward-test feeder: no gossip (IHAVE), so the node under test never
/// fetches with IWANT a publish the feeder dropped on its queue; the feeder's drops on its only
/// link are then exactly the messages the node under test never got (see `accounting.rs`).
pub(crate) fn ours_feeder_config() -> gossipsub::Config {
    let mut b = ours_builder(gossipsub::ValidationMode::None, MESH_N_HIGH);
    b.gossip_lazy(0).gossip_factor(0.0);
    b.build().expect("our feeder config")
}

fn ours_builder(
    validation: gossipsub::ValidationMode,
    mesh_n_high: usize,
) -> gossipsub::ConfigBuilder {
    let mut b = gossipsub::ConfigBuilder::default();
    b.mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(mesh_n_high)
        .gossip_lazy(6)
        .gossip_factor(0.25)
        .history_length(5)
        .history_gossip(3)
        .heartbeat_interval(HEARTBEAT)
        .seen_ttl(Duration::from_secs(120))
        .max_transmit_size(MAX_TRANSMIT)
        .idontwant_message_size_threshold(IDONTWANT_THRESHOLD)
        .idontwant_on_publish(false)
        .flood_publish(true)
        .send_queue_size(5000)
        .validation_mode(validation);
    if let Some(d) = QUEUE_DURATION.get() {
        b.forward_queue_duration(*d).publish_queue_duration(*d);
    }
    b
}

pub(crate) fn theirs_config(mesh_n_high: usize) -> libp2p_gossipsub::Config {
    let mut b = libp2p_gossipsub::ConfigBuilder::default();
    b.mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(mesh_n_high)
        .gossip_lazy(6)
        .gossip_factor(0.25)
        .history_length(5)
        .history_gossip(3)
        .heartbeat_interval(HEARTBEAT)
        .duplicate_cache_time(Duration::from_secs(120))
        .max_transmit_size(MAX_TRANSMIT)
        .idontwant_message_size_threshold(IDONTWANT_THRESHOLD)
        .idontwant_on_publish(false)
        .flood_publish(true)
        .connection_handler_queue_len(5000)
        .validation_mode(libp2p_gossipsub::ValidationMode::Strict);
    if let Some(d) = QUEUE_DURATION.get() {
        b.forward_queue_duration(*d).publish_queue_duration(*d);
    }
    b.build().expect("their config")
}

pub(crate) enum Ev {
    /// A new message delivered to the application; its first 8 bytes.
    Message(u64),
    Subscribed,
    /// Sends to `peer` were dropped: for ours, publishes (full queue or expired: `publish` +
    /// `timeout`, exact for a node that forwards and gossips nothing); libp2p-gossipsub's
    /// classes cannot tell publishes from the rest (`None`).
    SlowPeer {
        peer: PeerId,
        publishes: Option<u64>,
    },
    Other,
}

pub(crate) enum Node {
    Ours(Box<Swarm<gossipsub::Behaviour>>),
    Theirs(
        Box<Swarm<libp2p_gossipsub::Behaviour>>,
        Option<Box<prometheus_client::registry::Registry>>,
    ),
}

impl Node {
    pub(crate) fn new(
        which: Impl,
        key: Keypair,
        validation: gossipsub::ValidationMode,
        metrics: bool,
        mesh_n_high: usize,
    ) -> Self {
        Self::with_config(
            which,
            key,
            ours_config(validation, mesh_n_high),
            metrics,
            mesh_n_high,
        )
    }

    /// A forward-test feeder: ours skips verification and gossips nothing
    /// ([`ours_feeder_config`]); libp2p-gossipsub verifies strictly (its defaults otherwise).
    pub(crate) fn feeder(which: Impl, key: Keypair) -> Self {
        Self::with_config(which, key, ours_feeder_config(), false, MESH_N_HIGH)
    }

    fn with_config(
        which: Impl,
        key: Keypair,
        ours: gossipsub::Config,
        metrics: bool,
        mesh_n_high: usize,
    ) -> Self {
        match which {
            Impl::Ours => {
                let b = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    ours,
                )
                .expect("our behaviour");
                Node::Ours(Box::new(swarm(&key, b)))
            }
            Impl::Theirs => {
                let b = libp2p_gossipsub::Behaviour::new(
                    libp2p_gossipsub::MessageAuthenticity::Signed(key.clone()),
                    theirs_config(mesh_n_high),
                )
                .expect("their behaviour");
                let (b, registry) = if metrics {
                    let mut r = prometheus_client::registry::Registry::default();
                    let b = b.with_metrics(&mut r, libp2p_gossipsub::MetricsConfig::default());
                    (b, Some(Box::new(r)))
                } else {
                    (b, None)
                };
                Node::Theirs(Box::new(swarm(&key, b)), registry)
            }
        }
    }

    pub(crate) fn listen(&mut self) -> Multiaddr {
        let addr = memory_addr();
        match self {
            Node::Ours(s) => s.listen_on(addr.clone()),
            Node::Theirs(s, _) => s.listen_on(addr.clone()),
        }
        .expect("listen");
        addr
    }

    pub(crate) fn dial(&mut self, addr: Multiaddr) {
        match self {
            Node::Ours(s) => s.dial(addr),
            Node::Theirs(s, _) => s.dial(addr),
        }
        .expect("dial");
    }

    pub(crate) fn subscribe(&mut self) {
        match self {
            Node::Ours(s) => {
                s.behaviour_mut()
                    .subscribe(&gossipsub::IdentTopic::new(TOPIC))
                    .expect("subscribe");
            }
            Node::Theirs(s, _) => {
                s.behaviour_mut()
                    .subscribe(&libp2p_gossipsub::IdentTopic::new(TOPIC))
                    .expect("subscribe");
            }
        }
    }

    pub(crate) fn publish(&mut self, data: Vec<u8>) -> bool {
        match self {
            Node::Ours(s) => s
                .behaviour_mut()
                .publish(gossipsub::IdentTopic::new(TOPIC), data)
                .is_ok(),
            Node::Theirs(s, _) => s
                .behaviour_mut()
                .publish(libp2p_gossipsub::IdentTopic::new(TOPIC), data)
                .is_ok(),
        }
    }

    /// Publishes `data` for the forward test's accounting: true when the message was queued
    /// or refused by every full send queue. Ours counts a refused publish in the
    /// `FailedMessages::publish` of its `SlowPeer` event, which the feeders add to their drops,
    /// so it must be counted as published too (else drops exceed what was published).
    /// libp2p-gossipsub feeders are not checkable: as [`Node::publish`].
    pub(crate) fn publish_offered(&mut self, data: Vec<u8>) -> bool {
        match self {
            Node::Ours(s) => matches!(
                s.behaviour_mut()
                    .publish(gossipsub::IdentTopic::new(TOPIC), data),
                Ok(_) | Err(gossipsub::PublishError::AllQueuesFull(_))
            ),
            Node::Theirs(..) => self.publish(data),
        }
    }

    pub(crate) async fn next_event(&mut self) -> Ev {
        fn index(data: &[u8]) -> u64 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[..8]);
            u64::from_be_bytes(b)
        }
        match self {
            Node::Ours(s) => match s.select_next_some().await {
                SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => {
                    Ev::Message(index(&message.data))
                }
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) => Ev::Subscribed,
                SwarmEvent::Behaviour(gossipsub::Event::SlowPeer {
                    peer_id,
                    failed_messages,
                }) => Ev::SlowPeer {
                    peer: peer_id,
                    publishes: Some((failed_messages.publish + failed_messages.timeout) as u64),
                },
                _ => Ev::Other,
            },
            Node::Theirs(s, _) => match s.select_next_some().await {
                SwarmEvent::Behaviour(libp2p_gossipsub::Event::Message { message, .. }) => {
                    Ev::Message(index(&message.data))
                }
                SwarmEvent::Behaviour(libp2p_gossipsub::Event::Subscribed { .. }) => Ev::Subscribed,
                SwarmEvent::Behaviour(libp2p_gossipsub::Event::SlowPeer { peer_id, .. }) => {
                    Ev::SlowPeer {
                        peer: peer_id,
                        publishes: None,
                    }
                }
                _ => Ev::Other,
            },
        }
    }

    /// Messages received on the wire that were duplicates, if this node can tell.
    pub(crate) fn wire_duplicates(&self) -> Option<u64> {
        match self {
            Node::Ours(s) => Some(s.behaviour().counters().messages_duplicate),
            Node::Theirs(_, Some(registry)) => {
                let mut text = String::new();
                prometheus_client::encoding::text::encode(&mut text, registry).ok()?;
                let sum = |name: &str| -> u64 {
                    text.lines()
                        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
                        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                        .sum()
                };
                Some(
                    sum("topic_msg_recv_counts_unfiltered_total")
                        .saturating_sub(sum("topic_msg_recv_counts_total")),
                )
            }
            Node::Theirs(_, None) => None,
        }
    }

    pub(crate) fn mesh_size(&self) -> usize {
        match self {
            Node::Ours(s) => s
                .behaviour()
                .mesh_peers(&gossipsub::IdentTopic::new(TOPIC).hash())
                .count(),
            Node::Theirs(s, _) => s
                .behaviour()
                .mesh_peers(&libp2p_gossipsub::IdentTopic::new(TOPIC).hash())
                .count(),
        }
    }
}

pub(crate) fn payload(index: u64) -> Vec<u8> {
    let mut data = vec![0xa5u8; MSG_SIZE];
    data[..8].copy_from_slice(&index.to_be_bytes());
    data
}

/// CPU time used by the whole process so far.
pub(crate) fn process_cpu() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

/// CPU time used by the calling thread so far.
pub(crate) fn thread_cpu() -> Duration {
    cpu_time::ThreadTime::now().as_duration()
}
