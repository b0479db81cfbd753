#![doc = include_str!("../README.md")]
//!
//! ## Optional features
//!
//! - **`reqwest`** (default): [`transport::ReqwestTransport`], the HTTP transport built on reqwest
//!   with rustls. Without it, bring your own [`GraphTransport`].
//! - **`pfx`** (default): PFX (PKCS#12) import and export of certificates
//!   (`credentials::PfxEncryption`), through p12-keystore.
//! - **`fake-graph`**: [`fake::FakeGraph`], a stateful fake Entra tenant served on loopback, for
//!   tests, demos and installers' own test suites.
//! - **`cli`**: the `appreg` command-line tool for installers (clap); the library never needs it.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod cloud;
pub mod credentials;
pub mod error;
pub mod fleet;
pub mod graph;
pub mod ids;
pub mod profile;
pub mod redact;
pub mod registration;
pub mod retry;
pub mod transport;

#[cfg(feature = "fake-graph")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake-graph")))]
pub mod fake;

pub use auth::{AccessToken, TokenProvider};
pub use cloud::{Cloud, Endpoints};
pub use error::{Error, Result};
pub use graph::Graph;
pub use ids::{AppRoleId, ClientId, ObjectId, Tenant, TenantId, Thumbprint, UniqueName};
pub use transport::{GraphTransport, TransportError};
