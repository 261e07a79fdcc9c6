//! Subscription filters: which topics we may join and which remote subscriptions we track.
//!
//! A filter is consulted for our own `subscribe` (a refused topic gives
//! [`SubscriptionError::NotAllowed`](crate::SubscriptionError::NotAllowed)) and for every
//! subscription a peer announces (refused ones are ignored, counted and logged). Independently
//! of the filter, a peer can hold at most `max_topics_per_peer` subscriptions with us.

use std::collections::HashSet;

use crate::types::TopicHash;

/// Decides which topics are allowed.
///
/// Ready-made filters: [`AllowAllSubscriptionFilter`] (the default), [`AllowListSubscriptionFilter`]
/// and [`RegexSubscriptionFilter`]; any `Fn(&TopicHash) -> bool + Send + 'static` closure is a
/// filter too. Give one to
/// [`Behaviour::new_with_subscription_filter`](crate::Behaviour::new_with_subscription_filter).
///
/// ```
/// use gossipsub::{
///     AllowListSubscriptionFilter, Behaviour, Config, IdentTopic, MessageAuthenticity,
///     SubscriptionError, SubscriptionFilter, TopicHash,
/// };
/// use libp2p::identity::Keypair;
///
/// let allowed = [IdentTopic::new("blocks").hash()].into_iter().collect();
/// let mut gossipsub = Behaviour::new_with_subscription_filter(
///     MessageAuthenticity::Signed(Keypair::generate_ed25519()),
///     Config::default(),
///     AllowListSubscriptionFilter(allowed),
/// )?;
/// assert!(gossipsub.subscribe(&IdentTopic::new("blocks"))?);
/// let refused = gossipsub.subscribe(&IdentTopic::new("ads"));
/// assert!(matches!(refused, Err(SubscriptionError::NotAllowed(_))));
///
/// // A closure works as a filter as well.
/// let under_app = |topic: &TopicHash| topic.as_str().starts_with("/app/");
/// assert!(under_app.allow(&TopicHash::from_raw("/app/chat")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SubscriptionFilter: Send + 'static {
    /// Whether `topic` may be subscribed to (by us) or tracked (for a remote peer).
    fn allow(&self, topic: &TopicHash) -> bool;
}

/// Allows every topic (the per-peer count is still bounded by `max_topics_per_peer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAllSubscriptionFilter;

impl SubscriptionFilter for AllowAllSubscriptionFilter {
    fn allow(&self, _topic: &TopicHash) -> bool {
        true
    }
}

/// Allows only the listed topics.
#[derive(Debug, Clone, Default)]
pub struct AllowListSubscriptionFilter(pub HashSet<TopicHash>);

impl SubscriptionFilter for AllowListSubscriptionFilter {
    fn allow(&self, topic: &TopicHash) -> bool {
        self.0.contains(topic)
    }
}

/// Allows the topics whose hash matches a regular expression.
#[derive(Debug, Clone)]
pub struct RegexSubscriptionFilter(pub regex::Regex);

impl SubscriptionFilter for RegexSubscriptionFilter {
    fn allow(&self, topic: &TopicHash) -> bool {
        self.0.is_match(topic.as_str())
    }
}

impl<F: Fn(&TopicHash) -> bool + Send + 'static> SubscriptionFilter for F {
    fn allow(&self, topic: &TopicHash) -> bool {
        self(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_allow_what_they_should() {
        let t = |s: &str| TopicHash::from_raw(s);
        assert!(AllowAllSubscriptionFilter.allow(&t("x")));
        let list = AllowListSubscriptionFilter([t("a")].into_iter().collect());
        assert!(list.allow(&t("a")) && !list.allow(&t("b")));
        let re = RegexSubscriptionFilter(regex::Regex::new("^/eth2/[0-9a-f]{8}/").unwrap());
        assert!(re.allow(&t("/eth2/deadbeef/beacon_block/ssz_snappy")));
        assert!(!re.allow(&t("/eth2/xyz/beacon_block")));
        let closure = |topic: &TopicHash| topic.as_str().starts_with("ok");
        assert!(closure.allow(&t("ok1")) && !SubscriptionFilter::allow(&closure, &t("no")));
    }
}
