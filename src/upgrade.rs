//! The stream upgrade: negotiates one of our protocols and frames the stream with the codec.

use std::convert::Infallible;

use asynchronous_codec::Framed;
use futures::{
    AsyncRead, AsyncWrite,
    future::{Ready, ready},
};
use libp2p_core::upgrade::{InboundUpgrade, OutboundUpgrade, UpgradeInfo};
use libp2p_swarm::StreamProtocol;

use crate::{
    types::PeerKind,
    wire::{Codec, DecodeLimits},
};

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
pub(crate) fn default_protocols(floodsub: bool) -> Vec<(StreamProtocol, PeerKind)> {
    [
        PeerKind::Gossipsubv1_3,
        PeerKind::Gossipsubv1_2,
        PeerKind::Gossipsubv1_1,
        PeerKind::Gossipsub,
    ]
    .into_iter()
    .chain(floodsub.then_some(PeerKind::Floodsub))
    .filter_map(|kind| Some((StreamProtocol::new(kind.protocol()?), kind)))
    .collect()
}

/// The upgrade for both directions: offers every configured protocol (in preference order)
/// and yields the framed stream with the [`PeerKind`] of the protocol that was negotiated.
#[derive(Debug, Clone)]
pub struct Upgrade {
    protocols: Vec<ProtocolId>,
    max_transmit_size: usize,
    decode_limits: DecodeLimits,
}

impl Upgrade {
    /// An upgrade offering `protocols` (most preferred first) whose codec refuses frames larger
    /// than `max_transmit_size` and decodes under `decode_limits`.
    pub(crate) fn new(
        protocols: &[(StreamProtocol, PeerKind)],
        max_transmit_size: usize,
        decode_limits: DecodeLimits,
    ) -> Self {
        Upgrade {
            protocols: protocols
                .iter()
                .map(|(protocol, kind)| ProtocolId {
                    protocol: protocol.clone(),
                    kind: *kind,
                })
                .collect(),
            max_transmit_size,
            decode_limits,
        }
    }

    fn frame<S: AsyncRead + AsyncWrite>(
        &self,
        socket: S,
        info: ProtocolId,
    ) -> Ready<Result<Output<S>, Infallible>> {
        ready(Ok((
            Framed::new(
                socket,
                Codec::with_limits(self.max_transmit_size, self.decode_limits),
            ),
            info.kind,
        )))
    }
}

/// What the upgrade yields: the framed stream and the kind of the negotiated protocol.
pub(crate) type Output<S> = (Framed<S, Codec>, PeerKind);

impl UpgradeInfo for Upgrade {
    type Info = ProtocolId;
    type InfoIter = std::vec::IntoIter<ProtocolId>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.protocols.clone().into_iter()
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
        self.frame(socket, info)
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
        self.frame(socket, info)
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
        let u = Upgrade::new(&default_protocols(true), 1024, DecodeLimits::UNLIMITED);
        for (name, kind) in kinds(&u) {
            assert_eq!(kind.protocol(), Some(name.as_str()));
        }
        assert_eq!(kinds(&u).len(), 5);
    }

    #[test]
    fn negotiated_protocol_decides_the_peer_kind() {
        let protocols = default_protocols(true);
        for (protocol, kind) in &protocols {
            let u = Upgrade::new(&protocols, 1024, DecodeLimits::UNLIMITED);
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
