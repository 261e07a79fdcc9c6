//! GossipSub (meshsub 1.0–1.2 with floodsub fallback) for rust-libp2p.
//!
//! The protocol logic lives in a sans-IO [`Router`](router) that never reads the clock; the
//! [`Behaviour`] is a thin `NetworkBehaviour` around it that owns the timers and the streams.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod authenticity;
mod config;
mod error;
pub mod protocol;
mod types;
mod wire;

pub use authenticity::{MessageAuthenticity, ValidationMode};
pub use config::{Config, ConfigBuilder, MessageIdFn};
pub use error::{ConfigError, PublishError, SubscriptionError, ValidationError};
pub use types::{
    ControlAction, Hasher, IdentTopic, IdentityHash, Message, MessageId, PeerInfo, PeerKind,
    RawMessage, Rpc, Sha256Hash, Sha256Topic, Subscription, Topic, TopicHash,
};
