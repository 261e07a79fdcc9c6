//! GossipSub (meshsub 1.0–1.3, with an opt-in floodsub fallback) for rust-libp2p 0.57.
//!
//! [`Behaviour`] is a `NetworkBehaviour`: put it in a `Swarm` (alone or next to identify, kad,
//! mdns, ...), [`subscribe`](Behaviour::subscribe) to topics, [`publish`](Behaviour::publish)
//! messages, and read [`Event`]s from the swarm. It is wire compatible with `libp2p-gossipsub`
//! 0.50 and its API follows that crate's where it can.
//!
//! Every protocol decision is made by a sans-IO [`router::Router`] that never reads the clock or
//! touches a socket; the behaviour is a thin shell around it that owns the timer and the streams.
//! The router can be driven directly (tests, simulations: see [`router`]).
//!
//! # Example
//!
//! Two swarms in one process, on the in-memory transport: the second dials the first, both
//! subscribe to a topic, and once the first sees the second's subscription it publishes a
//! message, which the second receives.
//!
//! ```
//! use std::time::Duration;
//!
//! use gossipsub::{Behaviour, Config, Event, IdentTopic, MessageAuthenticity};
//! use libp2p::core::transport::MemoryTransport;
//! use libp2p::core::upgrade::Version;
//! use libp2p::futures::StreamExt;
//! use libp2p::swarm::{Swarm, SwarmEvent};
//! use libp2p::{Transport, noise, yamux};
//!
//! /// A swarm with a fresh identity whose messages are signed with that identity.
//! fn node() -> Result<Swarm<Behaviour>, Box<dyn std::error::Error>> {
//!     Ok(libp2p::SwarmBuilder::with_new_identity()
//!         .with_tokio()
//!         .with_other_transport(|key| {
//!             Ok(MemoryTransport::default()
//!                 .upgrade(Version::V1)
//!                 .authenticate(noise::Config::new(key)?)
//!                 .multiplex(yamux::Config::default()))
//!         })?
//!         .with_behaviour(|key| {
//!             Ok(Behaviour::new(
//!                 MessageAuthenticity::Signed(key.clone()),
//!                 Config::default(),
//!             )?)
//!         })?
//!         .build())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let topic = IdentTopic::new("greetings");
//!     let mut alice = node()?;
//!     let mut bob = node()?;
//!     alice.behaviour_mut().subscribe(&topic)?;
//!     bob.behaviour_mut().subscribe(&topic)?;
//!
//!     // `/memory/0` picks a free in-memory port; dial the address Alice reports.
//!     alice.listen_on("/memory/0".parse()?)?;
//!     let address = loop {
//!         if let SwarmEvent::NewListenAddr { address, .. } = alice.select_next_some().await {
//!             break address;
//!         }
//!     };
//!     bob.dial(address)?;
//!
//!     let received = tokio::time::timeout(Duration::from_secs(30), async {
//!         loop {
//!             tokio::select! {
//!                 event = alice.select_next_some() => {
//!                     // Publishing fails with `NoPeersSubscribedToTopic` until a peer has
//!                     // told us it subscribed: wait for Bob's subscription.
//!                     if let SwarmEvent::Behaviour(Event::Subscribed { topic: t, .. }) = event
//!                         && t == topic.hash()
//!                     {
//!                         alice.behaviour_mut().publish(topic.clone(), "hello bob")?;
//!                     }
//!                 }
//!                 event = bob.select_next_some() => {
//!                     if let SwarmEvent::Behaviour(Event::Message { message, .. }) = event {
//!                         // `source` is the signed author: Alice.
//!                         assert_eq!(message.source, Some(*alice.local_peer_id()));
//!                         break Ok::<_, gossipsub::PublishError>(message.data);
//!                     }
//!                 }
//!             }
//!         }
//!     })
//!     .await??;
//!     assert_eq!(&received[..], b"hello bob");
//!     Ok(())
//! }
//! ```
//!
//! # Where to go next
//!
//! - [`Config`] and [`ConfigBuilder`]: every protocol parameter and resource limit, with the
//!   defaults of the spec and of go-libp2p-pubsub; [`Config::ethereum`] for consensus clients.
//! - [`MessageAuthenticity`] and [`ValidationMode`]: signed, authored or anonymous messages.
//! - Application validation: [`ConfigBuilder::validate_messages`] and
//!   [`Behaviour::report_message_validation_result`] (accept, reject, ignore).
//! - Peer scoring: [`Behaviour::with_peer_score`] with [`PeerScoreParams`] and
//!   [`PeerScoreThresholds`]; [`Behaviour::peer_score_breakdown`] explains a score.
//! - Which topics are tracked: [`SubscriptionFilter`] and
//!   [`Behaviour::new_with_subscription_filter`].
//! - Direct peers: [`ConfigBuilder::direct_peers`] and [`Behaviour::add_direct_peer`].
//! - Prometheus metrics (feature `metrics`, on by default): `Behaviour::with_metrics` and the
//!   `metrics` module.
//! - The `examples/` directory of the repository has a runnable program for each of these.
//!
//! # Cargo features
//!
//! - `metrics` (default): Prometheus metrics through `prometheus-client`.
//! - `snappy`: the snappy [`transform::DataTransform`] used by Ethereum consensus clients.
//! - `sim`: the deterministic network simulator (`gossipsub::sim`).

// No unsafe code, except one cache hint in the simulator's event loop (`sim` feature only;
// see `sim::partition::prefetch`).
#![cfg_attr(not(feature = "sim"), forbid(unsafe_code))]
#![cfg_attr(feature = "sim", deny(unsafe_code))]
#![deny(missing_docs)]

mod authenticity;
mod behaviour;
/// Internal types exposed for the crate's benchmarks. Not part of the API: hidden, unstable,
/// exempt from semver.
#[doc(hidden)]
pub mod __bench {
    pub use crate::bench_support::*;
}
mod bench_support;
/// Internal wire functions exposed for the fuzz targets in `fuzz/`. Not part of the API:
/// hidden, unstable, exempt from semver.
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::fuzz_support::*;
}
mod config;
mod error;
pub mod ethereum;
mod event;
mod filter;
mod fuzz_support;
mod handler;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "partial-messages")]
pub mod partial;
pub mod protocol;
mod queue;
pub mod router;
pub mod score;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(test)]
mod test_util;
pub mod transform;
mod types;
mod upgrade;
mod wire;

pub use authenticity::{MessageAuthenticity, ValidationMode};
pub use behaviour::Behaviour;
pub use config::{Config, ConfigBuilder, DEFAULT_PROTOCOL_ID_PREFIX, MessageIdFn, TopicMeshConfig};
pub use error::{ConfigError, PublishError, SubscriptionError, ValidationError};
/// libp2p-gossipsub's name for [`ConfigError`], the error of [`ConfigBuilder::build`].
pub type ConfigBuilderError = ConfigError;
pub use event::{Event, FailedMessages, MessageAcceptance, ScoreThreshold};
pub use filter::{
    AllowAllSubscriptionFilter, AllowListSubscriptionFilter, CallbackSubscriptionFilter,
    CombinedSubscriptionFilters, MaxCountSubscriptionFilter, RegexSubscriptionFilter,
    SubscriptionFilter, WhitelistSubscriptionFilter,
};
#[cfg(feature = "metrics")]
pub use metrics::MetricsConfig;
pub use router::{Counters, PeerRecordError, verify_peer_record};
pub use score::{
    IpCidr, IpCidrError, PeerScoreParams, PeerScoreThresholds, ScoreBreakdown, ScoreParamsError,
    Term, TopicScoreBreakdown, TopicScoreParams, score_parameter_decay,
    score_parameter_decay_with_base,
};
#[cfg(feature = "snappy")]
pub use transform::SnappyTransform;
pub use transform::{DataTransform, IdentityTransform, TransformError};
pub use types::{
    ControlAction, Extensions, Hasher, IdentTopic, IdentityHash, Message, MessageId, PeerInfo,
    PeerKind, RawMessage, Rpc, Sha256Hash, Sha256Topic, Subscription, Topic, TopicHash,
};
pub use types::{PartialMessage, SubscriptionOptions};

/// MIGRATING.md's code (the worked migrations from libp2p-gossipsub), compiled as doc tests.
#[doc = include_str!("../MIGRATING.md")]
#[cfg(doctest)]
pub struct MigratingDoctests;

/// The README's code blocks as doc tests: the usage example (`examples/usage.rs`) is compiled,
/// the others run.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
