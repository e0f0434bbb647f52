//! `nuage-graph`: what Nuage needs of Microsoft identity and Microsoft Graph.
//!
//! Built up in layers (see `docs/ARCHITECTURE.md`): hashing and wire types
//! first, then the one retry policy, then sign-in and the drive client.
//!
//! - [`types`] — serde wire types only (tolerant of unknown fields; secrets
//!   redacted from `Debug`).
//! - [`error`] — [`GraphError`], the typed error every call returns, with a
//!   stable [`GraphError::code`].
//! - [`retry`] — the single retry policy: [`retry::classify`] an answer,
//!   fold it into a [`retry::Backoff`] under a run's [`retry::Budget`].
//! - [`names`] — sharing-link encoding, path-segment encoding, name rules.
//! - [`quickxor`] — QuickXorHash.

// A library never panics on a value it could not get: errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod auth;
pub mod client;
pub mod error;
pub mod names;
pub mod quickxor;
pub mod retry;
pub mod session;
pub mod tokens;
pub mod types;

pub use error::{GraphError, NetworkErrorKind};
pub use names::NameError;
pub use quickxor::QuickXorHash;
pub use retry::{Backoff, Budget, Decision, RetryConfig, Step};
