//! Protocol identifiers and the signing prefix.

/// `/meshsub/1.3.0`: adds the Extensions control message.
pub const MESHSUB_1_3: &str = "/meshsub/1.3.0";
/// `/meshsub/1.2.0`: adds IDONTWANT.
pub const MESHSUB_1_2: &str = "/meshsub/1.2.0";
/// `/meshsub/1.1.0`: backoff, peer exchange, scoring.
pub const MESHSUB_1_1: &str = "/meshsub/1.1.0";
/// `/meshsub/1.0.0`: the original mesh protocol.
pub const MESHSUB_1_0: &str = "/meshsub/1.0.0";
/// `/floodsub/1.0.0`: flooding only, advertised when enabled in the config.
pub const FLOODSUB: &str = "/floodsub/1.0.0";

/// Prefix of the bytes a message signature covers: `"libp2p-pubsub:" ++ protobuf(message)`.
pub const SIGNING_PREFIX: &[u8] = b"libp2p-pubsub:";
