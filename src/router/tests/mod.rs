//! Router unit tests. Time moves only by passing later instants; nothing sleeps.

mod batch;
mod bounds;
mod caches;
mod core;
mod dup_senders;
mod extensions;
mod fairness;
mod hardening;
mod hostile;
mod idontwant_publish;
mod invariants;
mod mesh_trim;
mod observability;
#[cfg(feature = "partial-messages")]
mod partial;
#[cfg(feature = "partial-messages")]
mod partial_fanout;
#[cfg(feature = "partial-messages")]
mod partial_hostile;
mod per_topic;
#[cfg(feature = "partial-messages")]
mod review;
mod rules;
mod scoring;
mod sigcost;
mod transform;
mod unwanted;

use std::time::{Duration, Instant};

use bytes::Bytes;
use libp2p_identity::PeerId;

use super::{Action, Router, SendClass};
use crate::authenticity::{MessageAuthenticity, ValidationMode};
use crate::config::{Config, ConfigBuilder};
use crate::event::{Event, MessageAcceptance};
use crate::types::{ControlAction, MessageId, PeerKind, RawMessage, Rpc, Subscription, TopicHash};

pub(super) struct Harness {
    pub(super) router: Router,
    pub(super) now: Instant,
    pub(super) local: PeerId,
}

pub(super) fn config() -> ConfigBuilder {
    let mut b = ConfigBuilder::default();
    b.validation_mode(ValidationMode::None);
    b
}

impl Harness {
    pub(super) fn new(config: Config) -> Self {
        let local = PeerId::random();
        let now = crate::test_util::epoch();
        let router = Router::new(config, MessageAuthenticity::Author(local), 7, 1, now).unwrap();
        Harness { router, now, local }
    }

    /// A harness subscribed to [`Harness::topic`] with one connected peer subscribed to it
    /// (`outbound` if we dialled it), before any heartbeat.
    pub(super) fn subscribed_with_peer(
        config: Config,
        outbound: bool,
    ) -> (Self, TopicHash, PeerId) {
        let mut h = Harness::new(config);
        let topic = Harness::topic();
        h.router.subscribe(h.now, topic.clone()).unwrap();
        let p = h.add_peers(1, &topic, outbound)[0];
        (h, topic, p)
    }

    pub(super) fn topic() -> TopicHash {
        TopicHash::from_raw("t")
    }

    /// Connects `n` meshsub-1.2 peers subscribed to `topic`; returns them.
    pub(super) fn add_peers(&mut self, n: usize, topic: &TopicHash, outbound: bool) -> Vec<PeerId> {
        self.add_peers_kind(n, topic, outbound, PeerKind::Gossipsubv1_2)
    }

    pub(super) fn add_peers_kind(
        &mut self,
        n: usize,
        topic: &TopicHash,
        outbound: bool,
        kind: PeerKind,
    ) -> Vec<PeerId> {
        let peers: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
        for p in &peers {
            self.router.add_peer(self.now, *p, outbound);
            self.router.set_peer_kind(*p, kind);
            self.router.handle_rpc(
                self.now,
                *p,
                Rpc {
                    subscriptions: vec![Subscription {
                        options: Default::default(),
                        subscribe: true,
                        topic: topic.clone(),
                    }],
                    ..Rpc::default()
                },
            );
        }
        peers
    }

    pub(super) fn drain(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.router.poll_action()).collect()
    }

    /// Advances to the next heartbeat and runs it.
    pub(super) fn heartbeat(&mut self) -> Vec<Action> {
        self.now = self.now.max(self.router.poll_timeout());
        self.router.handle_timeout(self.now);
        self.drain()
    }

    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    pub(super) fn mesh_len(&self, topic: &TopicHash) -> usize {
        self.router.mesh_peers(topic).count()
    }
}

pub(super) fn message(source: PeerId, seqno: u64, topic: &TopicHash, len: usize) -> RawMessage {
    RawMessage {
        source: Some(source),
        data: Bytes::from(vec![seqno as u8; len]),
        data_absent: false,
        sequence_number: Some(seqno),
        topic: topic.clone(),
        signature: None,
        key: None,
    }
}

pub(super) fn msg_rpc(m: RawMessage) -> Rpc {
    Rpc {
        messages: vec![m],
        ..Rpc::default()
    }
}

pub(super) fn control_rpc(c: ControlAction) -> Rpc {
    Rpc {
        control: vec![c],
        ..Rpc::default()
    }
}

/// Control actions sent to `peer` in `actions`.
pub(super) fn control_to(actions: &[Action], peer: PeerId) -> Vec<ControlAction> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { peer: p, rpc, .. } if *p == peer => Some(rpc.control.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Peers that were sent a message with `id`, with the class used.
pub(super) fn message_sends(actions: &[Action], id: &MessageId) -> Vec<(PeerId, SendClass)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                peer,
                class,
                message_id: Some(m),
                ..
            } if m == id => Some((*peer, *class)),
            _ => None,
        })
        .collect()
}

pub(super) fn delivered(actions: &[Action]) -> Vec<MessageId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(Event::Message { message_id, .. }) => Some(message_id.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn id_of(h: &Harness, m: &RawMessage) -> MessageId {
    h.router.config().message_id(&m.to_message())
}
