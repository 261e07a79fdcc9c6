//! GossipSub (meshsub 1.0–1.2 with floodsub fallback) for rust-libp2p.
//!
//! The protocol logic lives in a sans-IO [`router::Router`] that never reads the clock; the
//! [`Behaviour`] is a thin `NetworkBehaviour` around it that owns the timer and the streams.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
pub use config::{Config, ConfigBuilder, MessageIdFn};
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

/// MIGRATING.md's code (the worked migrations from libp2p-gossipsub), compiled as doc tests.
#[doc = include_str!("../MIGRATING.md")]
#[cfg(doctest)]
pub struct MigratingDoctests;

/// The README's usage snippet, compiled as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
