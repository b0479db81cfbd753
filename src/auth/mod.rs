//! Signing in: the [`TokenProvider`] trait and its providers.
//!
//! - [`StaticToken`]: an access token the caller already holds.
//! - [`ClientSecretCredential`]: client credentials with a secret (a bootstrap app).
//! - [`ClientCertificateCredential`]: client credentials with a certificate (a signed assertion).
//! - [`InteractiveBrowserCredential`]: an admin signs in with the browser (authorization code
//!   with PKCE on a loopback redirect), the usual way for an installer on a desktop: the tenant
//!   has no app of its own yet.
//! - [`DeviceCodeCredential`]: an admin signs in on another device, where no browser can be
//!   shown (many tenants block this flow with Conditional Access).
//!
//! Tokens are [`AccessToken`]s: their `Debug` never shows the token, and reading it takes an
//! explicit call. Providers that fetch tokens cache them until shortly before they expire.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::cloud::Endpoints;
use crate::error::Result;
use crate::ids::{Tenant, TenantId};
use crate::retry::{RetryPolicy, Sleeper};
use crate::transport::GraphTransport;

mod browser;
mod client_certificate;
mod client_secret;
mod device_code;
pub(crate) mod oauth;

pub use crate::credentials::issued::ClientSecret;
pub use browser::{InteractiveBrowserCredential, open_browser, open_browser_with};
pub use client_certificate::{AssertionAlgorithm, ClientCertificateCredential};
pub use client_secret::ClientSecretCredential;
pub use device_code::{DeviceCodeCredential, DeviceCodePrompt};

/// The public client an admin signs in through: the one the caller named, else Microsoft Graph
/// Command Line Tools, which the China cloud does not have (AADSTS700016 there: global apps are
/// not replicated to 21Vianet), so a client must be named for it.
pub(crate) fn public_client_for(
    named: Option<crate::ids::ClientId>,
    cloud: crate::cloud::Cloud,
    what: &'static str,
    flow: &str,
) -> Result<crate::ids::ClientId> {
    match (named, cloud) {
        (Some(id), _) => Ok(id),
        (None, crate::cloud::Cloud::China) => Err(crate::Error::invalid_input(
            what,
            format!(
                "the China (21Vianet) cloud has no Microsoft Graph Command Line Tools app ({}; \
                 signing in with it fails there with AADSTS700016). For the {flow}, pass the client \
                 id of a public client registered in the tenant with with_client_id \
                 (appreg: --client-id <GUID>)",
                DeviceCodeCredential::GRAPH_COMMAND_LINE_TOOLS
            ),
        )),
        (None, _) => Ok(DeviceCodeCredential::GRAPH_COMMAND_LINE_TOOLS),
    }
}

/// The delegated scopes an admin's sign-in asks for: the caller's, else
/// [`DeviceCodeCredential::DEFAULT_PERMISSIONS`] on the cloud's Graph.
pub(crate) fn delegated_scope(scopes: Option<&[String]>, ctx: &TokenContext<'_>) -> String {
    match scopes {
        Some(s) => s.join(" "),
        None => DeviceCodeCredential::DEFAULT_PERMISSIONS
            .iter()
            .map(|p| format!("{}/{p}", ctx.endpoints.graph_resource()))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A token is refreshed when it has less than this left.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// What a provider needs to fetch a token: the transport, endpoints, tenant, sleeper and retry
/// policy of the [`Graph`](crate::Graph) client asking.
pub struct TokenContext<'a> {
    pub(crate) transport: &'a dyn GraphTransport,
    pub(crate) endpoints: &'a Endpoints,
    pub(crate) tenant: &'a Tenant,
    pub(crate) sleeper: &'a dyn Sleeper,
    pub(crate) retry: &'a RetryPolicy,
}

/// The policy of a context built without one.
static DEFAULT_RETRY: std::sync::LazyLock<RetryPolicy> =
    std::sync::LazyLock::new(RetryPolicy::default);

impl<'a> TokenContext<'a> {
    /// Builds a context (for calling a provider outside a [`Graph`](crate::Graph) client).
    pub fn new(
        transport: &'a dyn GraphTransport,
        endpoints: &'a Endpoints,
        tenant: &'a Tenant,
        sleeper: &'a dyn Sleeper,
    ) -> Self {
        Self {
            transport,
            endpoints,
            tenant,
            sleeper,
            retry: &DEFAULT_RETRY,
        }
    }

    /// Retries sign-in requests that failed before they were sent as `policy` says (default:
    /// [`RetryPolicy::default`]). A [`Graph`](crate::Graph) client passes its own policy.
    pub fn with_retry_policy(mut self, policy: &'a RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How sign-in requests are retried.
    pub fn retry_policy(&self) -> &'a RetryPolicy {
        self.retry
    }

    /// The transport that carries token requests.
    pub fn transport(&self) -> &'a dyn GraphTransport {
        self.transport
    }

    /// The cloud's endpoints.
    pub fn endpoints(&self) -> &'a Endpoints {
        self.endpoints
    }

    /// The tenant signed in to.
    pub fn tenant(&self) -> &'a Tenant {
        self.tenant
    }

    /// The sleeper for any wait (device-code polling).
    pub fn sleeper(&self) -> &'a dyn Sleeper {
        self.sleeper
    }
}

impl fmt::Debug for TokenContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenContext")
            .field("endpoints", self.endpoints)
            .field("tenant", self.tenant)
            .finish_non_exhaustive()
    }
}

/// Supplies access tokens for Microsoft Graph.
#[async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A token for the cloud's Graph resource, valid for at least a few minutes.
    ///
    /// # Errors
    ///
    /// [`Error::Auth`](crate::Error::Auth) when the sign-in is refused (with its AADSTS code and
    /// correlation id), [`Error::Transport`](crate::Error::Transport) when the token endpoint
    /// cannot be reached, [`Error::Decode`](crate::Error::Decode) when its reply is not an OAuth
    /// reply.
    async fn token(&self, ctx: &TokenContext<'_>) -> Result<AccessToken>;

    /// Drops any cached token (called after Graph refused one with 401).
    fn invalidate(&self) {}

    /// Refuses, before anything is sent, endpoints this provider cannot sign in to (a
    /// device-code sign-in to the China cloud without a public client of its own, say).
    /// [`GraphBuilder::build`](crate::graph::GraphBuilder::build) calls it. The default accepts
    /// every endpoint.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) (by convention) naming why the provider
    /// cannot sign in to these endpoints.
    fn check_endpoints(&self, endpoints: &Endpoints) -> Result<()> {
        let _ = endpoints;
        Ok(())
    }
}

/// A provider shared between clients (`Arc<dyn TokenProvider>` included): one sign-in and one
/// token cache serve them all.
#[async_trait]
impl<T: TokenProvider + ?Sized> TokenProvider for std::sync::Arc<T> {
    async fn token(&self, ctx: &TokenContext<'_>) -> Result<AccessToken> {
        (**self).token(ctx).await
    }

    fn invalidate(&self) {
        (**self).invalidate();
    }

    fn check_endpoints(&self, endpoints: &Endpoints) -> Result<()> {
        (**self).check_endpoints(endpoints)
    }
}

/// An OAuth access token. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    expires_at: Option<SystemTime>,
}

impl AccessToken {
    /// Wraps a token; its expiry is read from the JWT `exp` claim when there is one.
    pub fn new(token: impl Into<String>) -> Self {
        let secret = SecretString::from(token.into());
        let expires_at = decode_claims(secret.expose_secret())
            .and_then(|c| c.exp)
            .and_then(|exp| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(exp)));
        Self { secret, expires_at }
    }

    /// Wraps a token with a known lifetime from now.
    pub fn with_lifetime(token: impl Into<String>, lifetime: Duration) -> Self {
        Self {
            secret: SecretString::from(token.into()),
            // A lifetime past what the clock can represent is no known expiry, not a panic.
            expires_at: SystemTime::now().checked_add(lifetime),
        }
    }

    /// The token itself. Handle with care: never log it.
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether it is still usable for at least [`REFRESH_MARGIN`].
    pub fn is_fresh(&self) -> bool {
        match self.expires_at {
            Some(at) => at
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > REFRESH_MARGIN),
            None => true,
        }
    }

    /// The claims of a JWT access token, decoded without verifying the signature (Graph does
    /// that). `None` when the token is not a readable JWT.
    pub fn claims(&self) -> Option<TokenClaims> {
        decode_claims(self.secret.expose_secret())
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The claims of an access token that the crate reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TokenClaims {
    /// Tenant GUID.
    #[serde(default)]
    pub tid: Option<TenantId>,
    /// Object id of the signed-in user or service principal.
    #[serde(default)]
    pub oid: Option<String>,
    /// App id of the client that got the token.
    #[serde(default, alias = "azp")]
    pub appid: Option<String>,
    /// Application permissions (app-only tokens).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Delegated scopes, space-separated (user tokens).
    #[serde(default)]
    pub scp: Option<String>,
    /// Directory role template ids of the signed-in user.
    #[serde(default)]
    pub wids: Vec<String>,
    /// Audience.
    #[serde(default)]
    pub aud: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default)]
    pub exp: Option<u64>,
}

/// Directory role template ids (the `wids` claim) of the roles that matter here.
pub mod directory_roles {
    /// Global Administrator.
    pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
    /// Privileged Role Administrator.
    pub const PRIVILEGED_ROLE_ADMINISTRATOR: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
    /// Cloud Application Administrator.
    pub const CLOUD_APPLICATION_ADMINISTRATOR: &str = "158c047a-c907-4556-b7ef-446551a6b5f7";
    /// Application Administrator.
    pub const APPLICATION_ADMINISTRATOR: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";
}

impl TokenClaims {
    /// Whether the token shows a directory role that may grant Microsoft Graph app roles
    /// (Global Administrator or Privileged Role Administrator). `None` when the token carries no
    /// `wids` claim, so nothing can be concluded.
    pub fn can_grant_graph_app_roles(&self) -> Option<bool> {
        if self.wids.is_empty() {
            return None;
        }
        Some(self.wids.iter().any(|w| {
            w.eq_ignore_ascii_case(directory_roles::GLOBAL_ADMINISTRATOR)
                || w.eq_ignore_ascii_case(directory_roles::PRIVILEGED_ROLE_ADMINISTRATOR)
        }))
    }
}

fn decode_claims(token: &str) -> Option<TokenClaims> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A token the caller already has (for example from `az account get-access-token`).
///
/// It is used as is; when it expires, Graph answers 401 and the error says to sign in again.
#[derive(Clone)]
pub struct StaticToken(AccessToken);

impl StaticToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(AccessToken::new(token))
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StaticToken").field(&self.0).finish()
    }
}

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self, _ctx: &TokenContext<'_>) -> Result<AccessToken> {
        Ok(self.0.clone())
    }
}

/// A token cache shared by the providers that fetch tokens. Holding its lock while fetching
/// means concurrent requests wait for one sign-in instead of starting several.
#[derive(Default)]
pub(crate) struct TokenCache {
    slot: tokio::sync::Mutex<Option<AccessToken>>,
    invalid: std::sync::atomic::AtomicBool,
}

impl TokenCache {
    pub(crate) async fn get_or_fetch<F, Fut>(&self, fetch: F) -> Result<AccessToken>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<AccessToken>>,
    {
        let mut slot = self.slot.lock().await;
        if self
            .invalid
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            *slot = None;
        }
        if let Some(token) = slot.as_ref().filter(|t| t.is_fresh()) {
            return Ok(token.clone());
        }
        let token = fetch().await?;
        *slot = Some(token.clone());
        Ok(token)
    }

    pub(crate) fn invalidate(&self) {
        self.invalid
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.c2ln",
            e.encode(br#"{"alg":"none"}"#),
            e.encode(claims.to_string())
        )
    }

    #[test]
    fn access_token_debug_never_shows_the_token() {
        let t = AccessToken::new("eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.c2ln");
        let s = format!("{t:?} {:?}", StaticToken::new("abc.def.ghi"));
        assert!(!s.contains("eyJ") && !s.contains("def"), "{s}");
    }

    #[test]
    fn claims_give_tenant_roles_and_expiry() {
        let t = AccessToken::new(jwt(serde_json::json!({
            "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "roles": ["User.Read.All"],
            "wids": [directory_roles::CLOUD_APPLICATION_ADMINISTRATOR],
            "exp": 4_102_444_800u64
        })));
        let c = t.claims().unwrap();
        assert_eq!(
            c.tid.unwrap().to_string(),
            "72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
        assert_eq!(c.roles, vec!["User.Read.All"]);
        assert_eq!(c.can_grant_graph_app_roles(), Some(false));
        assert!(t.is_fresh());
        let expired = AccessToken::new(jwt(serde_json::json!({"exp": 1u64})));
        assert!(!expired.is_fresh());
        assert!(AccessToken::new("opaque").claims().is_none());
    }
}
