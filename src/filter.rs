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
///
/// libp2p-gossipsub's `TopicSubscriptionFilter::can_subscribe(&mut self, ..)` is
/// [`allow`](Self::allow) here (`&self`: a filter is a rule, not a state machine). Its
/// per-peer and per-RPC caps are the two optional methods, which the router applies together
/// with the config's `max_topics_per_peer` and `max_subscriptions_per_rpc` (the smaller wins).
pub trait SubscriptionFilter: Send + 'static {
    /// Whether `topic` may be subscribed to (by us) or tracked (for a remote peer).
    fn allow(&self, topic: &TopicHash) -> bool;

    /// At most this many topics tracked per remote peer; further subscriptions of that peer
    /// are ignored and counted. `None` (the default): only the config's cap.
    fn max_topics_per_peer(&self) -> Option<usize> {
        None
    }

    /// At most this many subscription changes processed from one received RPC; the rest are
    /// ignored and counted. `None` (the default): only the config's cap.
    fn max_subscriptions_per_rpc(&self) -> Option<usize> {
        None
    }
}

/// The smaller of two optional caps.
fn min_cap(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// libp2p-gossipsub's name for [`AllowListSubscriptionFilter`].
pub use AllowListSubscriptionFilter as WhitelistSubscriptionFilter;

/// Adds caps on the topics per peer and the subscriptions per RPC to another filter
/// (libp2p-gossipsub's `MaxCountSubscriptionFilter`, same fields). Unlike there, an RPC over
/// `max_subscriptions_per_request` is not refused whole: its first entries up to the cap are
/// processed, the rest ignored and counted (`subscriptions_ignored`), as for the config's cap.
#[derive(Debug, Clone)]
pub struct MaxCountSubscriptionFilter<T: SubscriptionFilter> {
    /// The filter that decides which topics are allowed at all.
    pub filter: T,
    /// At most this many topics tracked per remote peer.
    pub max_subscribed_topics: usize,
    /// At most this many subscription changes processed per received RPC.
    pub max_subscriptions_per_request: usize,
}

impl<T: SubscriptionFilter + Default> Default for MaxCountSubscriptionFilter<T> {
    /// The inner filter's default with libp2p-gossipsub's caps: 100 topics per peer and 100
    /// subscriptions per RPC.
    fn default() -> Self {
        MaxCountSubscriptionFilter {
            filter: T::default(),
            max_subscribed_topics: 100,
            max_subscriptions_per_request: 100,
        }
    }
}

impl<T: SubscriptionFilter> SubscriptionFilter for MaxCountSubscriptionFilter<T> {
    fn allow(&self, topic: &TopicHash) -> bool {
        self.filter.allow(topic)
    }

    fn max_topics_per_peer(&self) -> Option<usize> {
        min_cap(
            Some(self.max_subscribed_topics),
            self.filter.max_topics_per_peer(),
        )
    }

    fn max_subscriptions_per_rpc(&self) -> Option<usize> {
        min_cap(
            Some(self.max_subscriptions_per_request),
            self.filter.max_subscriptions_per_rpc(),
        )
    }
}

/// Allows a topic only if both filters allow it; the caps are the smaller of the two
/// (libp2p-gossipsub's `CombinedSubscriptionFilters`, same fields).
#[derive(Debug, Clone, Default)]
pub struct CombinedSubscriptionFilters<T: SubscriptionFilter, S: SubscriptionFilter> {
    /// The first filter.
    pub filter1: T,
    /// The second filter.
    pub filter2: S,
}

impl<T: SubscriptionFilter, S: SubscriptionFilter> SubscriptionFilter
    for CombinedSubscriptionFilters<T, S>
{
    fn allow(&self, topic: &TopicHash) -> bool {
        self.filter1.allow(topic) && self.filter2.allow(topic)
    }

    fn max_topics_per_peer(&self) -> Option<usize> {
        min_cap(
            self.filter1.max_topics_per_peer(),
            self.filter2.max_topics_per_peer(),
        )
    }

    fn max_subscriptions_per_rpc(&self) -> Option<usize> {
        min_cap(
            self.filter1.max_subscriptions_per_rpc(),
            self.filter2.max_subscriptions_per_rpc(),
        )
    }
}

/// Allows the topics a function allows (libp2p-gossipsub's `CallbackSubscriptionFilter`; a
/// bare closure is a filter here too). The function is `Fn`, not `FnMut`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallbackSubscriptionFilter<F>(pub F);

impl<F: Fn(&TopicHash) -> bool + Send + 'static> SubscriptionFilter
    for CallbackSubscriptionFilter<F>
{
    fn allow(&self, topic: &TopicHash) -> bool {
        (self.0)(topic)
    }
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

    #[test]
    fn capped_and_combined_filters_keep_the_smaller_caps() {
        let t = |s: &str| TopicHash::from_raw(s);
        let capped = MaxCountSubscriptionFilter {
            filter: WhitelistSubscriptionFilter([t("a"), t("b")].into_iter().collect()),
            max_subscribed_topics: 7,
            max_subscriptions_per_request: 9,
        };
        assert!(capped.allow(&t("a")) && !capped.allow(&t("c")));
        assert_eq!(capped.max_topics_per_peer(), Some(7));
        assert_eq!(capped.max_subscriptions_per_rpc(), Some(9));
        let combined = CombinedSubscriptionFilters {
            filter1: capped,
            filter2: MaxCountSubscriptionFilter {
                filter: CallbackSubscriptionFilter(|t: &TopicHash| t.as_str() != "b"),
                max_subscribed_topics: 3,
                max_subscriptions_per_request: 20,
            },
        };
        assert!(combined.allow(&t("a")) && !combined.allow(&t("b")));
        assert_eq!(combined.max_topics_per_peer(), Some(3));
        assert_eq!(combined.max_subscriptions_per_rpc(), Some(9));
        assert_eq!(AllowAllSubscriptionFilter.max_topics_per_peer(), None);
        let default = MaxCountSubscriptionFilter::<AllowAllSubscriptionFilter>::default();
        assert_eq!(default.max_topics_per_peer(), Some(100));
    }
}
