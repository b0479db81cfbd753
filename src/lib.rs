//! Register an application in a customer's Microsoft Entra ID tenant for a Microsoft 365 backup or
//! migration product — its permissions, admin consent and a certificate or secret — in one call
//! that is safe to repeat.
//!
//! This page is a tour of the library, in the order data flows through it:
//!
//! ```text
//! TokenProvider ──token──► Graph (client) ──http::Request──► GraphTransport ──► Microsoft Graph
//! AppRegistration ──plan / apply──► RegisteredApp ──wait_until_ready──► Readiness
//! ```
//!
//! 1. [The client: `Graph`](#the-client-graph)
//! 2. [Signing in](#signing-in)
//! 3. [Bring your own transport](#bring-your-own-transport)
//! 4. [Reading an `Error`](#reading-an-error)
//! 5. [Testing with `FakeGraph` and an injected sleeper](#testing-with-fakegraph-and-an-injected-sleeper)
//! 6. [Registration: plan, apply, rotate, ready](#registration-plan-apply-rotate-ready)
//! 7. [Optional features](#optional-features)
//!
//! Every example below is compiled and run as a test, against `entra_appreg_fake::FakeGraph` (a
//! stateful fake Entra tenant on loopback, from the companion crate
//! [`entra-appreg-fake`](https://docs.rs/entra-appreg-fake)) or a closure standing in for the
//! network; only the one that needs a real tenant is compiled without running.
//! Installers that are not written in Rust use the `appreg` command instead (feature `cli`): its
//! manual is [docs/appreg.md](https://github.com/entra-appreg/entra-appreg/blob/main/docs/appreg.md).
//!
//! # The client: `Graph`
//!
//! [`Graph`] is a Microsoft Graph client for one tenant. It is cheap to clone (clones share one
//! client), and it owns everything that is not about app registrations: the endpoints of the
//! [`Cloud`], signing in through a [`TokenProvider`], carrying requests through a
//! [`GraphTransport`], retrying throttling and transient failures by a
//! [`RetryPolicy`](retry::RetryPolicy), waiting through a [`Sleeper`](retry::Sleeper), and turning
//! error replies into an [`Error`] that keeps Graph's ids.
//!
//! ```no_run
//! use entra_appreg::{Cloud, Graph};
//! use entra_appreg::auth::DeviceCodeCredential;
//!
//! # async fn run() -> entra_appreg::Result<()> {
//! let graph = Graph::builder()
//!     .tenant("contoso.onmicrosoft.com") // a domain or the tenant GUID
//!     .cloud(Cloud::Global)              // the default; also UsGov, UsGovDod, China
//!     .token_provider(DeviceCodeCredential::new(|prompt| eprintln!("{}", prompt.message)))
//!     .build()?;                         // checks the settings; sends nothing
//! println!("tenant {}", graph.tenant_id().await?); // signs in to read the tenant GUID
//! # Ok(()) }
//! ```
//!
//! [`GraphBuilder::build`](graph::GraphBuilder::build) sends nothing; the first request signs in.
//! `graph_root` and `login_root` point the client at a proxy or a fake (plain `http://` only for a
//! loopback host). The client sends any [`GraphRequest`](graph::GraphRequest), alone with
//! [`Graph::send`] / [`Graph::send_json`] or several at once with [`Graph::batch`], and counts the
//! HTTP requests it sends ([`Graph::request_count`]):
//!
//! ```
//! use entra_appreg::Graph;
//! use entra_appreg::auth::StaticToken;
//! use entra_appreg_fake::FakeGraph;
//! use entra_appreg::graph::GraphRequest;
//! use entra_appreg::graph::models::{Collection, ServicePrincipal};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeGraph::start().await;
//! let graph = Graph::builder()
//!     .tenant(fake.tenant_domain())
//!     .graph_root(fake.graph_root().as_str())
//!     .login_root(fake.login_root().as_str())
//!     .token_provider(StaticToken::new(fake.admin_token()))
//!     .build()?;
//!
//! let exchange: Collection<ServicePrincipal> = graph
//!     .send_json(
//!         &GraphRequest::get("/servicePrincipals")
//!             .query("$filter", "appId eq '00000002-0000-0ff1-ce00-000000000000'")
//!             .query("$select", "id,appId,displayName"),
//!     )
//!     .await?;
//! assert_eq!(exchange.value[0].display_name.as_deref(), Some("Office 365 Exchange Online"));
//! assert_eq!(graph.request_count(), 1);
//! # Ok(()) }
//! ```
//!
//! # Signing in
//!
//! A [`TokenProvider`] supplies the access token. Four come with the crate ([`auth`]); each caches
//! its token until shortly before it expires, and token requests travel through the client's own
//! transport and endpoints.
//!
//! | provider | for |
//! |---|---|
//! | [`StaticToken`](auth::StaticToken) | a token the caller already holds (`az account get-access-token`) |
//! | [`ClientSecretCredential`](auth::ClientSecretCredential) | a bootstrap app signing in with a secret |
//! | [`ClientCertificateCredential`](auth::ClientCertificateCredential) | a bootstrap app signing in with a certificate (a PS256 client assertion with `x5t#S256`, as Microsoft documents; RS256 with `x5t` on request) |
//! | [`InteractiveBrowserCredential`](auth::InteractiveBrowserCredential) | an administrator signing in with the browser on this machine (authorization code with PKCE): the usual way for an installer, since the tenant has no app of its own yet |
//! | [`DeviceCodeCredential`](auth::DeviceCodeCredential) | an administrator signing in on another device, where no browser can be shown (many tenants block this flow with Conditional Access) |
//!
//! ```
//! use entra_appreg::ClientId;
//! use entra_appreg::auth::{
//!     ClientCertificateCredential, ClientSecret, ClientSecretCredential, DeviceCodeCredential,
//!     InteractiveBrowserCredential, StaticToken,
//! };
//! use entra_appreg::credentials::Certificate;
//!
//! # fn main() -> entra_appreg::Result<()> {
//! let bootstrap: ClientId = "5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse()?;
//! let _held = StaticToken::new("eyJ0eXAiOi…");
//! let _secret = ClientSecretCredential::new(bootstrap, ClientSecret::new("the bootstrap app's secret"));
//! // A certificate with its private key: `Certificate::from_file` reads PEM or PFX.
//! let certificate = Certificate::generate("Contoso bootstrap", 30)?;
//! let _certificate = ClientCertificateCredential::new(bootstrap, certificate)?;
//! let _admin = InteractiveBrowserCredential::new()
//!     .on_sign_in_url(|url| eprintln!("If no browser opens, go to {url}"));
//! let _admin_elsewhere = DeviceCodeCredential::new(|prompt| eprintln!("{}", prompt.message));
//! # Ok(()) }
//! ```
//!
//! The device-code flow against the fake tenant, which approves the sign-in after one poll (the
//! poll's wait goes through the sleeper, so nothing actually waits):
//!
//! ```
//! use entra_appreg::Graph;
//! use entra_appreg::auth::DeviceCodeCredential;
//! use entra_appreg_fake::FakeGraph;
//! use entra_appreg::retry::RecordingSleeper;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeGraph::start().await;
//! let graph = Graph::builder()
//!     .tenant(fake.tenant_domain())
//!     .graph_root(fake.graph_root().as_str())
//!     .login_root(fake.login_root().as_str())
//!     .token_provider(DeviceCodeCredential::new(|prompt| {
//!         eprintln!("go to {} and type {}", prompt.verification_uri, prompt.user_code)
//!     }))
//!     .sleeper(RecordingSleeper::default())
//!     .build()?;
//! // The tenant was named by its domain: its GUID comes from the signed-in token.
//! assert_eq!(graph.tenant_id().await?, fake.tenant_id());
//! # Ok(()) }
//! ```
//!
//! Any other way of getting a token is an implementation of [`TokenProvider`]: one async method
//! that returns an [`AccessToken`] (whose `Debug` never shows the token).
//!
//! # Bring your own transport
//!
//! [`GraphTransport`] is an object-safe async trait over the [`http`] crate's types, so any HTTP
//! stack can carry the crate's traffic — a corporate proxy client, a recording layer, or a closure
//! in a unit test. Without the `reqwest` feature there is no default transport and one must be
//! given. A transport must not follow redirects, and reports with [`TransportError`] whether a
//! failed request may have reached the server, so a write that may have been applied is never
//! blindly repeated.
//!
//! ```
//! use entra_appreg::Graph;
//! use entra_appreg::auth::StaticToken;
//! use entra_appreg::graph::GraphRequest;
//! use entra_appreg::transport::TransportError;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = |request: http::Request<Vec<u8>>| async move {
//!     assert_eq!(request.uri(), "https://graph.microsoft.com/v1.0/organization");
//!     assert_eq!(request.headers()["authorization"], "Bearer a-token");
//!     Ok::<_, TransportError>(
//!         http::Response::builder()
//!             .status(200)
//!             .body(br#"{"value":[{"id":"72f988bf-86f1-41af-91ab-2d7cd011db47"}]}"#.to_vec())
//!             .unwrap(),
//!     )
//! };
//! let graph = Graph::builder()
//!     .tenant("contoso.onmicrosoft.com")
//!     .token_provider(StaticToken::new("a-token"))
//!     .transport(transport)
//!     .build()?;
//! let reply = graph.send(&GraphRequest::get("/organization")).await?;
//! assert_eq!(reply.status(), 200);
//! # Ok(()) }
//! ```
//!
//! # Reading an `Error`
//!
//! Every fallible call returns [`Result`], whose error is one [`Error`] enum. Its accessors give
//! what a support engineer asks for, whichever variant it is:
//!
//! - [`Error::status`]: the HTTP status of the failed reply;
//! - [`Error::graph_code`]: Graph's error code (`Authorization_RequestDenied`, …);
//! - [`Error::request_id`] and [`Error::client_request_id`]: the ids Microsoft support asks for;
//! - [`Error::aadsts_code`] and [`Error::correlation_id`]: the sign-in failure's AADSTS code and
//!   correlation id;
//! - [`Error::advice`]: what to do about it, such as which directory role is missing;
//! - [`Error::may_have_reached_server`] and [`Error::may_have_taken_effect`]: whether the tenant
//!   may have changed although the call failed;
//! - [`Error::is_invalid_input`] and [`Error::is_not_registered`]: the input was refused, or the
//!   app is not there, before anything was changed.
//!
//! The variants carry the rest: [`GraphError`](error::GraphError) (with the number of attempts),
//! [`AuthError`](error::AuthError), [`DecodeError`](error::DecodeError) for a reply that is not
//! what Graph sends, [`TransportError`], and [`Error::Io`] for a local file or certificate store.
//! `Display` is one short clause, as the Rust API guidelines ask, and a wrapped error's cause is
//! its [`source`](std::error::Error::source); [`Error::report`] writes everything (the error, its
//! causes, what to do, the support ids) in one message for a log or a person. No error holds a
//! token, a secret or a private key.
//!
//! ```
//! use entra_appreg::auth::StaticToken;
//! use entra_appreg::graph::GraphRequest;
//! use entra_appreg::transport::TransportError;
//! use entra_appreg::{Error, Graph};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A transport that answers as Graph does when the signed-in account lacks a role.
//! let forbidden = |_request: http::Request<Vec<u8>>| async {
//!     Ok::<_, TransportError>(
//!         http::Response::builder()
//!             .status(403)
//!             .header("request-id", "6f7c0e3a-3d3b-4c5e-9d0f-1b2a3c4d5e6f")
//!             .body(
//!                 br#"{"error":{"code":"Authorization_RequestDenied",
//!                      "message":"Insufficient privileges to complete the operation."}}"#
//!                     .to_vec(),
//!             )
//!             .unwrap(),
//!     )
//! };
//! let graph = Graph::builder()
//!     .tenant("contoso.onmicrosoft.com")
//!     .token_provider(StaticToken::new("a-token"))
//!     .transport(forbidden)
//!     .build()?;
//!
//! let error = graph.send(&GraphRequest::get("/applications")).await.unwrap_err();
//! assert_eq!(error.status(), Some(403));
//! assert_eq!(error.graph_code(), Some("Authorization_RequestDenied"));
//! assert_eq!(error.request_id(), Some("6f7c0e3a-3d3b-4c5e-9d0f-1b2a3c4d5e6f"));
//! assert!(error.may_have_reached_server() && !error.may_have_taken_effect());
//! assert!(error.advice().unwrap().contains("Global Administrator"));
//! if let Error::Graph(graph_error) = &error {
//!     assert_eq!(graph_error.attempts, 1); // a 403 is an answer, not a hiccup: no retry
//! }
//! assert_eq!(
//!     error.to_string(),
//!     "GET /applications failed with 403 Authorization_RequestDenied: \
//!      Insufficient privileges to complete the operation."
//! );
//! let report = error.report().to_string();
//! assert!(report.contains("What to do: the signed-in account lacks a directory role"));
//! assert!(report.ends_with("request-id 6f7c0e3a-3d3b-4c5e-9d0f-1b2a3c4d5e6f"));
//!
//! // Input is checked before anything is sent.
//! let refused = entra_appreg::registration::AppRegistration::new(
//!     "",
//!     entra_appreg::profile::PermissionProfile::BackupExchange,
//! )
//! .unwrap_err();
//! assert!(refused.is_invalid_input() && !refused.may_have_reached_server());
//! # Ok(()) }
//! ```
//!
//! # Testing with `FakeGraph` and an injected sleeper
//!
//! The companion crate [`entra-appreg-fake`](https://docs.rs/entra-appreg-fake)'s `FakeGraph`
//! serves a stateful fake Entra tenant on
//! loopback: applications, service principals with the real first-party app roles, grants,
//! `$batch`, and the token, device-code and browser sign-in (authorize) endpoints. Its knobs inject latency, replication lag,
//! throttling, the caller's directory role, a missing Exchange service principal and arbitrary
//! faults (`FaultRule`); its request log counts round trips and its snapshot shows the
//! tenant. An installer's own test suite can use it the same way:
//!
//! ```toml
//! [dev-dependencies]
//! entra-appreg-fake = "0.1"
//! ```
//!
//! Every wait of the crate — throttling back-off, `Retry-After`, device-code polling, replication
//! lag, waiting for a new credential to sign in — goes through the client's
//! [`Sleeper`](retry::Sleeper). [`RecordingSleeper`](retry::RecordingSleeper) returns at once and
//! remembers what it was asked to wait, so a test of minutes of back-off runs in milliseconds and
//! can still check the waits:
//!
//! ```
//! use std::time::Duration;
//!
//! use entra_appreg::Graph;
//! use entra_appreg::auth::StaticToken;
//! use entra_appreg_fake::{FakeGraph, Fault, FaultRule};
//! use entra_appreg::profile::PermissionProfile;
//! use entra_appreg::registration::AppRegistration;
//! use entra_appreg::retry::RecordingSleeper;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // New objects stay invisible for a few requests, as Entra's replication makes them, and the
//! // first attempt to create the service principal is throttled for 30 seconds.
//! let fake = FakeGraph::builder().replication_lag(2).start().await;
//! fake.inject_fault(
//!     FaultRule::new(Fault::Status { status: 429, retry_after: Some(30) })
//!         .method("POST")
//!         .path_contains("/servicePrincipals")
//!         .times(1),
//! );
//! let sleeper = RecordingSleeper::default();
//! let graph = Graph::builder()
//!     .tenant(fake.tenant_id().to_string())
//!     .graph_root(fake.graph_root().as_str())
//!     .login_root(fake.login_root().as_str())
//!     .token_provider(StaticToken::new(fake.admin_token()))
//!     .sleeper(sleeper.clone())
//!     .build()?;
//!
//! let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)?
//!     .apply(&graph)
//!     .await?;
//! assert!(app.created && app.is_complete());
//! assert!(sleeper.durations().contains(&Duration::from_secs(30))); // Retry-After, honoured
//! let tenant = fake.snapshot();
//! assert_eq!(tenant.applications.len(), 1);
//! assert_eq!(tenant.app_role_assignments.len(), 5); // each role of the profile, granted once
//! # Ok(()) }
//! ```
//!
//! # Registration: plan, apply, rotate, ready
//!
//! [`AppRegistration`] describes what should exist: a display name,
//! a unique name (the key that makes re-runs find the same app; derived from the display name
//! unless given) and a [`PermissionProfile`] — one of the four built-in
//! profiles (Backup-Exchange, Backup-SharePoint, Migration-Source, Migration-Target) or a
//! [`CustomProfile`](profile::CustomProfile) built from the [`catalog`](profile::catalog).
//! Permissions are keyed by (resource appId, app role id) and checked against the tenant's resource
//! service principals before anything is written.
//!
//! - [`plan`](registration::AppRegistration::plan) reads the tenant and returns a
//!   [`Plan`](registration::Plan): every change `apply` would make, and warnings. It writes nothing.
//! - [`apply`](registration::AppRegistration::apply) converges the tenant — the app, its declared
//!   permissions, its service principal, admin consent, and the credential given with
//!   [`with_credential`](registration::AppRegistration::with_credential) — and returns a
//!   [`RegisteredApp`]: the ids the product needs, the credential,
//!   each permission's consent, and what changed. Run it any number of times, and again after a
//!   failure at any point: it adds only what is missing and keeps what an admin added. When the
//!   signed-in account may grant some roles but not others, the app is still registered and
//!   [`consent`](registration::RegisteredApp::consent) says what is missing and which role can
//!   grant it.
//! - [`wait_until_ready`](registration::RegisteredApp::wait_until_ready) signs in as the new app,
//!   with the credential its run attached, until every resource accepts it with every granted
//!   role: Entra takes a while to replicate both. For an existing app,
//!   [`check_sign_in`](registration::AppRegistration::check_sign_in) checks the credential the
//!   product holds the same way.
//! - [`rotate`](registration::AppRegistration::rotate) adds a new credential, waits until the
//!   product can sign in with it, then removes the older ones the crate created: overlap, never a
//!   gap. [`CredentialProvisioner`](credentials::CredentialProvisioner) adds, lists and removes
//!   credentials one by one; [`audit`](registration::AppRegistration::audit),
//!   [`find`](registration::AppRegistration::find) and
//!   [`remove`](registration::AppRegistration::remove) complete the set.
//!
//! ```
//! use entra_appreg::Graph;
//! use entra_appreg::auth::StaticToken;
//! use entra_appreg::credentials::{Certificate, NewCredential};
//! use entra_appreg_fake::FakeGraph;
//! use entra_appreg::profile::PermissionProfile;
//! use entra_appreg::registration::{AppRegistration, ReadyOptions, RotateOptions};
//! use entra_appreg::retry::RecordingSleeper;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let fake = FakeGraph::start().await;
//! # let graph = Graph::builder()
//! #     .tenant(fake.tenant_id().to_string())
//! #     .graph_root(fake.graph_root().as_str())
//! #     .login_root(fake.login_root().as_str())
//! #     .token_provider(StaticToken::new(fake.admin_token()))
//! #     .sleeper(RecordingSleeper::default())
//! #     .build()?;
//! // `graph` is signed in to the fake tenant, as in the sections above.
//! let registration = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)?;
//!
//! // RSA 2048, SHA-256, valid for a year. A real installer writes it to disk first
//! // (`Certificate::write_files`), so the private key is never lost.
//! let certificate = Certificate::generate("Contoso Backup", 365)?;
//! let with_certificate = registration
//!     .clone()
//!     .with_credential(NewCredential::Certificate(Box::new(certificate)));
//!
//! let plan = with_certificate.plan(&graph).await?; // reads only
//! println!("{plan}");
//! let app = with_certificate.apply(&graph).await?;
//! println!("tenant {} client {}", app.tenant_id, app.client_id);
//! assert!(app.is_complete());
//! assert_eq!(app.graph_requests, 4); // one read, the app, its service principal, the grants
//!
//! // Signs in as the new app, with the certificate it was given, to Microsoft Graph and
//! // Exchange Online until both accept it.
//! let readiness = app.wait_until_ready(&graph, &ReadyOptions::default()).await?;
//! assert!(readiness.ready);
//!
//! // A second run finds the app and writes nothing.
//! let again = registration.apply(&graph).await?;
//! assert!(!again.created && again.changes.is_empty());
//!
//! // A new certificate; the older ones the crate created go once the new one signs in.
//! let renewed = Certificate::generate("Contoso Backup", 365)?;
//! let rotation = registration
//!     .rotate(
//!         &graph,
//!         NewCredential::Certificate(Box::new(renewed)),
//!         &RotateOptions::default(),
//!     )
//!     .await?;
//! assert_eq!(rotation.removed.len(), 1); // the certificate added above
//! # Ok(()) }
//! ```
//!
//! A registration can also observe its progress for an installer's UI
//! ([`on_progress`](registration::AppRegistration::on_progress)), keep a journal of the secrets it
//! is about to create so that a later run removes one a killed process never handed over
//! ([`with_journal`](registration::AppRegistration::with_journal)), and render the same profile as
//! the portal procedure for admins who prefer to click
//! ([`manual_instructions`](registration::AppRegistration::manual_instructions)).
//! [`fleet::Fleet`] registers the app in many tenants at once.
//!
//! # Optional features
//!
//! - **`reqwest`** (default): [`transport::ReqwestTransport`], the HTTP transport built on reqwest
//!   with rustls. Without it, bring your own [`GraphTransport`].
//! - **`pfx`** (default): PFX (PKCS#12) import and export of certificates
//!   ([`Certificate::to_pfx`](credentials::Certificate::to_pfx) and `from_pfx`), through
//!   p12-keystore.
//! - **`cli`**: the `appreg` command-line tool for installers (clap); the library never needs it.
//!
//! The fake tenant for tests, demos and installers' own test suites is not a feature: it is the
//! companion crate [`entra-appreg-fake`](https://docs.rs/entra-appreg-fake), a dev-dependency.
//!
//! Features only add: a type, a field or a variant never depends on one (without `pfx`,
//! [`PfxEncryption`](credentials::PfxEncryption) still exists, and writing a PFX is an error).
//!
//! # Stability
//!
//! - Every public enum, and every public struct whose fields are public (results, Graph models,
//!   options), is `#[non_exhaustive]`: a new variant or field is not a breaking change. Match
//!   with a wildcard arm; build a model by setting fields on its `Default` value, and options
//!   with their constructors and `with_*` methods.
//! - Each type has one public path, in its module; the most used ones are also re-exported at
//!   the root ([`Graph`], [`AppRegistration`], [`PermissionProfile`], [`RegisteredApp`],
//!   [`Error`], the ids, and the [`http`] crate the transport speaks).
#![warn(missing_docs)]
// Every fallible public function says when it fails.
#![warn(clippy::missing_errors_doc)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod cloud;
pub mod credentials;
pub mod error;
pub mod fleet;
pub mod graph;
pub mod ids;
pub mod profile;
mod progress;
pub mod readiness;
pub mod redact;
pub mod registration;
pub mod retry;
pub mod transport;

mod blocking;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use auth::{AccessToken, TokenProvider};
pub use cloud::{Cloud, Endpoints};
pub use error::{Error, ErrorKind, Result};
pub use graph::Graph;
/// The `http` crate, whose request and response types [`GraphTransport`] carries: a transport
/// written against this re-export always matches the crate's version.
pub use http;
pub use ids::{AppRoleId, ClientId, KeyId, ObjectId, Tenant, TenantId, Thumbprint, UniqueName};
pub use profile::PermissionProfile;
pub use registration::{AppRegistration, RegisteredApp};
pub use transport::{GraphTransport, TransportError};

/// The `secrecy` crate, whose `SecretString` carries secrets in and out of this crate's API (a
/// PFX password, a certificate's private key, a client secret): written against this
/// re-export, a caller always has the version the crate uses.
pub use secrecy;

/// The attribute [`GraphTransport`] and [`TokenProvider`] are declared with: implement them
/// under `#[entra_appreg::async_trait]` without depending on `async-trait` yourself.
pub use async_trait::async_trait;

/// The `reqwest` crate, whose `Client`
/// [`ReqwestTransport::with_client`](transport::ReqwestTransport::with_client) takes.
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest;
