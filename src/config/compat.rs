//! libp2p-gossipsub 0.50's names for [`ConfigBuilder`] setters and [`Config`] getters whose
//! names differ here. Each alias sets or reads exactly the value of the method it names, so
//! code written for that crate keeps compiling and means the same thing; MIGRATING.md maps
//! every name.

use std::time::Duration;

use super::{Config, ConfigBuilder};

impl ConfigBuilder {
    /// libp2p-gossipsub's name for [`seen_ttl`](Self::seen_ttl).
    pub fn duplicate_cache_time(&mut self, ttl: Duration) -> &mut Self {
        self.seen_ttl(ttl)
    }

    /// libp2p-gossipsub's name for [`direct_connect_ticks`](Self::direct_connect_ticks).
    pub fn check_explicit_peers_ticks(&mut self, ticks: u64) -> &mut Self {
        self.direct_connect_ticks(ticks)
    }

    /// libp2p-gossipsub's name for [`max_ihave_messages`](Self::max_ihave_messages).
    pub fn max_ihave_messages_heartbeat(&mut self, max: usize) -> &mut Self {
        self.max_ihave_messages(max)
    }

    /// libp2p-gossipsub's (misspelt) name for
    /// [`gossip_retransmission`](Self::gossip_retransmission).
    pub fn gossip_retransimission(&mut self, retransmission: u32) -> &mut Self {
        self.gossip_retransmission(retransmission)
    }

    /// libp2p-gossipsub's name for [`max_messages_per_rpc`](Self::max_messages_per_rpc)
    /// (`Some(max)`).
    pub fn max_publish_messages(&mut self, max: usize) -> &mut Self {
        self.max_messages_per_rpc(Some(max))
    }

    /// libp2p-gossipsub's name for
    /// [`max_control_bytes_per_rpc`](Self::max_control_bytes_per_rpc). There it bounds the
    /// subscriptions and control of a received RPC together and refuses the whole RPC above
    /// it; here it bounds the control entries, and only the entries over it are skipped.
    pub fn max_control_message_size(&mut self, size: usize) -> &mut Self {
        self.max_control_bytes_per_rpc(size)
    }

    /// libp2p-gossipsub's name for [`send_queue_size`](Self::send_queue_size): RPCs queued
    /// per peer (here per peer and class, and also bounded in bytes by `send_queue_bytes`).
    pub fn connection_handler_queue_len(&mut self, len: usize) -> &mut Self {
        self.send_queue_size(len)
    }
}

impl From<Config> for ConfigBuilder {
    /// A builder starting from `config`'s values, as in libp2p-gossipsub.
    fn from(config: Config) -> Self {
        ConfigBuilder::from_config(config)
    }
}

impl Config {
    /// libp2p-gossipsub's name for [`seen_ttl`](Self::seen_ttl).
    pub fn duplicate_cache_time(&self) -> Duration {
        self.seen_ttl()
    }

    /// libp2p-gossipsub's name for [`direct_connect_ticks`](Self::direct_connect_ticks).
    pub fn check_explicit_peers_ticks(&self) -> u64 {
        self.direct_connect_ticks()
    }

    /// libp2p-gossipsub's name for [`max_ihave_messages`](Self::max_ihave_messages).
    pub fn max_ihave_messages_heartbeat(&self) -> usize {
        self.max_ihave_messages()
    }

    /// libp2p-gossipsub's (misspelt) name for
    /// [`gossip_retransmission`](Self::gossip_retransmission).
    pub fn gossip_retransimission(&self) -> u32 {
        self.gossip_retransmission()
    }

    /// libp2p-gossipsub's name for [`max_messages_per_rpc`](Self::max_messages_per_rpc);
    /// `usize::MAX` when that is `None`.
    pub fn max_publish_messages(&self) -> usize {
        self.max_messages_per_rpc().unwrap_or(usize::MAX)
    }

    /// libp2p-gossipsub's name for
    /// [`max_control_bytes_per_rpc`](Self::max_control_bytes_per_rpc).
    pub fn max_control_message_size(&self) -> usize {
        self.max_control_bytes_per_rpc()
    }

    /// libp2p-gossipsub's name for [`send_queue_size`](Self::send_queue_size).
    pub fn connection_handler_queue_len(&self) -> usize {
        self.send_queue_size()
    }
}
