//! How our messages are authored and signed, and how received messages are validated.

use libp2p_identity::{Keypair, PeerId};

/// How messages we publish are authored and signed.
///
/// It must fit the config's [`ValidationMode`] (how received messages are checked), or
/// [`Behaviour::new`](crate::Behaviour::new) refuses the pair.
///
/// ```
/// use gossipsub::{Behaviour, Config, ConfigBuilder, MessageAuthenticity, ValidationMode};
/// use libp2p::identity::Keypair;
///
/// // Signed messages, checked strictly (the default): most networks.
/// let key = Keypair::generate_ed25519();
/// let signed = Behaviour::new(MessageAuthenticity::Signed(key), Config::default())?;
///
/// // No author, no signature (Ethereum consensus); message ids are then content-based.
/// let config = ConfigBuilder::default()
///     .validation_mode(ValidationMode::Anonymous)
///     .build()?;
/// let anonymous = Behaviour::new(MessageAuthenticity::Anonymous, config)?;
///
/// // Unsigned messages cannot pass strict validation: refused.
/// assert!(Behaviour::new(MessageAuthenticity::Anonymous, Config::default()).is_err());
/// # drop((signed, anonymous));
/// # Ok::<(), gossipsub::ConfigError>(())
/// ```
#[derive(Clone)]
pub enum MessageAuthenticity {
    /// Sign every message with this key; `from` is its peer id and `seqno` is set
    /// (StrictSign). Pairs with [`ValidationMode::Strict`].
    Signed(Keypair),
    /// Set `from` to this peer id and a `seqno`, but do not sign. Pairs with
    /// [`ValidationMode::Permissive`] or [`ValidationMode::None`].
    Author(PeerId),
    /// Set `from` to a fresh random peer id per message and a random `seqno`, without signing.
    RandomAuthor,
    /// Set none of `from`, `seqno`, `signature` and `key` (StrictNoSign). Pairs with
    /// [`ValidationMode::Anonymous`]; use a content-based message-id function.
    Anonymous,
}

impl MessageAuthenticity {
    /// Whether messages are signed.
    pub fn is_signing(&self) -> bool {
        matches!(self, MessageAuthenticity::Signed(_))
    }

    /// Whether messages carry no author at all.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, MessageAuthenticity::Anonymous)
    }

    /// A short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            MessageAuthenticity::Signed(_) => "Signed",
            MessageAuthenticity::Author(_) => "Author",
            MessageAuthenticity::RandomAuthor => "RandomAuthor",
            MessageAuthenticity::Anonymous => "Anonymous",
        }
    }
}

impl std::fmt::Debug for MessageAuthenticity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessageAuthenticity::Signed(k) => {
                write!(f, "Signed({})", k.public().to_peer_id())
            }
            MessageAuthenticity::Author(p) => write!(f, "Author({p})"),
            MessageAuthenticity::RandomAuthor => f.write_str("RandomAuthor"),
            MessageAuthenticity::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// How the authenticity fields of received messages are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidationMode {
    /// StrictSign: `from`, `seqno` and a valid `signature` are required. The default.
    #[default]
    Strict,
    /// A signature is verified when present; `from` and `seqno` are optional.
    Permissive,
    /// StrictNoSign: `from`, `seqno`, `signature` and `key` must all be absent.
    Anonymous,
    /// Nothing is checked.
    None,
}

impl ValidationMode {
    /// A short name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            ValidationMode::Strict => "Strict",
            ValidationMode::Permissive => "Permissive",
            ValidationMode::Anonymous => "Anonymous",
            ValidationMode::None => "None",
        }
    }
}
