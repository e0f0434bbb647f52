//! PostgreSQL sources (issue 12, in progress): connecting from the
//! connection string a person pastes. The snapshot and the restore build
//! on [`ConnSpec`]; until they exist, no PostgreSQL source can be added.

pub mod catalog;
mod conn;
pub mod copy;
pub mod password;
pub mod snapshot;

pub use conn::{ConnSpec, SslMode};
