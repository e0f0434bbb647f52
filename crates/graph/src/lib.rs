//! `nuage-graph`: what Nuage needs of Microsoft identity and Microsoft Graph.
//!
//! Built up in layers (see `docs/ARCHITECTURE.md`): hashing and wire types
//! first, then the one retry policy, then sign-in and the drive client.

pub mod quickxor;

pub use quickxor::QuickXorHash;
