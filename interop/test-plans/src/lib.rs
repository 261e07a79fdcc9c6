//! Nodes for libp2p test-plans' `gossipsub-interop` harness
//! (<https://github.com/libp2p/test-plans/tree/master/gossipsub-interop>), written from its
//! `test-specs/implementation.md`: `test-plans-node` runs this repository's `gossipsub`,
//! `test-plans-node-libp2p-gossipsub` runs libp2p-gossipsub 0.50.1. Both share the script
//! interpreter ([`node`]); only the [`node::Gossip`] behaviour differs.

#![warn(missing_docs)]

pub mod groups;
pub mod identity;
pub mod node;
pub mod ours;
pub mod output;
pub mod partial;
pub mod reference;
pub mod script;
