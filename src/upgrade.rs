//! The stream upgrade: negotiates one of our protocols (the handler frames the stream).

use std::{convert::Infallible, sync::Arc};

use futures::{
    AsyncRead, AsyncWrite,
    future::{Ready, ready},
};
use libp2p_core::upgrade::{InboundUpgrade, OutboundUpgrade, UpgradeInfo};
use libp2p_swarm::StreamProtocol;

use crate::types::PeerKind;

/// A protocol we advertise, together with the [`PeerKind`] a peer speaking it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolId {
    /// The protocol string offered in multistream-select.
    pub(crate) protocol: StreamProtocol,
    /// What a peer that negotiates `protocol` is.
    pub(crate) kind: PeerKind,
}

impl AsRef<str> for ProtocolId {
    fn as_ref(&self) -> &str {
        self.protocol.as_ref()
    }
}

/// The protocol ids for our [`PeerKind`]s, most preferred first: meshsub 1.3, 1.2, 1.1, 1.0,
/// and floodsub when `floodsub` is set.
#[cfg(test)]
pub(crate) fn default_protocols(floodsub: bool) -> Vec<(StreamProtocol, PeerKind)> {
    protocols(
        crate::config::DEFAULT_PROTOCOL_ID_PREFIX,
        PeerKind::Gossipsubv1_3,
        floodsub,
    )
}

/// The protocol ids we offer, most preferred first: `<prefix>/1.3.0` down to `<prefix>/1.0.0`,
/// from `max` (a meshsub kind) down, then `/floodsub/1.0.0` when `floodsub` is set. A prefix
/// that does not make a valid protocol name yields no meshsub ids (config validation refuses
/// such prefixes).
pub(crate) fn protocols(
    prefix: &str,
    max: PeerKind,
    floodsub: bool,
) -> Vec<(StreamProtocol, PeerKind)> {
    const MESHSUB: [(PeerKind, &str); 4] = [
        (PeerKind::Gossipsubv1_3, "1.3.0"),
        (PeerKind::Gossipsubv1_2, "1.2.0"),
        (PeerKind::Gossipsubv1_1, "1.1.0"),
        (PeerKind::Gossipsub, "1.0.0"),
    ];
    let start = MESHSUB
        .iter()
        .position(|(kind, _)| *kind == max)
        .unwrap_or(0);
    let mut out: Vec<(StreamProtocol, PeerKind)> = MESHSUB[start..]
        .iter()
        .filter_map(|(kind, version)| {
            let name = format!("{prefix}/{version}");
            // The public ids are static strings (no allocation kept per connection).
            let protocol = match kind.protocol() {
                Some(public) if public == name => StreamProtocol::new(public),
                _ => StreamProtocol::try_from_owned(name).ok()?,
            };
            Some((protocol, *kind))
        })
        .collect();
    if floodsub {
        out.push((
            StreamProtocol::new(crate::protocol::FLOODSUB),
            PeerKind::Floodsub,
        ));
    }
    out
}

/// The upgrade for both directions: offers every configured protocol (in preference order)
/// and yields the stream with the [`PeerKind`] of the protocol that was negotiated.
#[derive(Debug, Clone)]
pub struct Upgrade {
    /// Shared: the swarm asks every connection for its listen protocols (and their list) on
    /// each of its polls, so cloning the upgrade and listing them must not allocate.
    protocols: Arc<[ProtocolId]>,
}

impl Upgrade {
    /// An upgrade offering `protocols` (most preferred first).
    pub(crate) fn new(protocols: &[(StreamProtocol, PeerKind)]) -> Self {
        Upgrade {
            protocols: protocols
                .iter()
                .map(|(protocol, kind)| ProtocolId {
                    protocol: protocol.clone(),
                    kind: *kind,
                })
                .collect(),
        }
    }

    fn negotiated<S: AsyncRead + AsyncWrite>(
        &self,
        socket: S,
        info: ProtocolId,
    ) -> Ready<Result<Output<S>, Infallible>> {
        ready(Ok((socket, info.kind)))
    }
}

/// The offered protocols, in preference order, without copying the list.
#[derive(Debug, Clone)]
pub struct ProtocolIter {
    protocols: Arc<[ProtocolId]>,
    next: usize,
}

impl Iterator for ProtocolIter {
    type Item = ProtocolId;

    fn next(&mut self) -> Option<ProtocolId> {
        let protocol = self.protocols.get(self.next)?.clone();
        self.next += 1;
        Some(protocol)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.protocols.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for ProtocolIter {}

/// The negotiated stream (framed by the handler: [`crate::wire::FrameReader`] inbound, the
/// codec outbound) and the kind of the negotiated protocol.
pub(crate) type Output<S> = (S, PeerKind);

impl UpgradeInfo for Upgrade {
    type Info = ProtocolId;
    type InfoIter = ProtocolIter;

    fn protocol_info(&self) -> Self::InfoIter {
        ProtocolIter {
            protocols: Arc::clone(&self.protocols),
            next: 0,
        }
    }
}

impl<S> InboundUpgrade<S> for Upgrade
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = Output<S>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: S, info: Self::Info) -> Self::Future {
        self.negotiated(socket, info)
    }
}

impl<S> OutboundUpgrade<S> for Upgrade
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = Output<S>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: S, info: Self::Info) -> Self::Future {
        self.negotiated(socket, info)
    }
}

#[cfg(test)]
mod tests {
    use futures::{FutureExt, io::Cursor};

    use super::*;

    fn kinds(u: &Upgrade) -> Vec<(String, PeerKind)> {
        u.protocol_info()
            .map(|p| (p.as_ref().to_owned(), p.kind))
            .collect()
    }

    #[test]
    fn default_protocols_are_in_preference_order() {
        let with = default_protocols(true);
        let names: Vec<_> = with.iter().map(|(p, k)| (p.as_ref(), *k)).collect();
        assert_eq!(
            names,
            vec![
                ("/meshsub/1.3.0", PeerKind::Gossipsubv1_3),
                ("/meshsub/1.2.0", PeerKind::Gossipsubv1_2),
                ("/meshsub/1.1.0", PeerKind::Gossipsubv1_1),
                ("/meshsub/1.0.0", PeerKind::Gossipsub),
                ("/floodsub/1.0.0", PeerKind::Floodsub),
            ]
        );
        assert_eq!(default_protocols(false).len(), 4);
    }

    #[test]
    fn upgrade_advertises_every_protocol_with_its_kind() {
        let u = Upgrade::new(&default_protocols(true));
        for (name, kind) in kinds(&u) {
            assert_eq!(kind.protocol(), Some(name.as_str()));
        }
        assert_eq!(kinds(&u).len(), 5);
    }

    #[test]
    fn negotiated_protocol_decides_the_peer_kind() {
        let protocols = default_protocols(true);
        for (protocol, kind) in &protocols {
            let u = Upgrade::new(&protocols);
            let info = u
                .protocol_info()
                .find(|p| &p.protocol == protocol)
                .expect("advertised");
            let socket = Cursor::new(Vec::<u8>::new());
            let out = InboundUpgrade::upgrade_inbound(u.clone(), socket, info.clone())
                .now_or_never()
                .expect("ready")
                .expect("infallible");
            assert_eq!(out.1, *kind);
            let socket = Cursor::new(Vec::<u8>::new());
            let out = OutboundUpgrade::upgrade_outbound(u, socket, info)
                .now_or_never()
                .expect("ready")
                .expect("infallible");
            assert_eq!(out.1, *kind);
        }
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    #[test]
    fn a_prefix_and_max_protocol_choose_the_offered_ids() {
        let names = |p: Vec<(StreamProtocol, PeerKind)>| -> Vec<String> {
            p.into_iter().map(|(s, _)| s.as_ref().to_owned()).collect()
        };
        assert_eq!(
            names(protocols("/mynet", PeerKind::Gossipsubv1_3, false)),
            [
                "/mynet/1.3.0",
                "/mynet/1.2.0",
                "/mynet/1.1.0",
                "/mynet/1.0.0"
            ]
        );
        assert_eq!(
            names(protocols("/meshsub", PeerKind::Gossipsubv1_1, true)),
            ["/meshsub/1.1.0", "/meshsub/1.0.0", "/floodsub/1.0.0"]
        );
        assert_eq!(
            protocols("/x", PeerKind::Gossipsub, false),
            vec![(
                StreamProtocol::try_from_owned("/x/1.0.0".into()).unwrap(),
                PeerKind::Gossipsub
            )]
        );
    }
}
