//! Client credentials with a secret.

use std::fmt;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::oauth::client_credentials;
use super::{AccessToken, TokenCache, TokenContext, TokenProvider};
use crate::error::Result;
use crate::ids::ClientId;

/// A client secret. `Debug` and `Display` never show it; reading it takes
/// [`ClientSecret::expose_secret`].
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// Wraps a secret value.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }

    /// The secret value. Handle with care: never log it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for ClientSecret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Signs in as an application with its client secret (OAuth client credentials).
///
/// Used by a non-interactive bootstrap app (GRAPH.md §5), and to check that a newly created
/// secret works.
#[derive(Debug)]
pub struct ClientSecretCredential {
    client_id: ClientId,
    secret: ClientSecret,
    scope: Option<String>,
    cache: TokenCache,
}

impl ClientSecretCredential {
    /// A credential for this app and secret, for the cloud's Graph `.default` scope.
    pub fn new(client_id: ClientId, secret: ClientSecret) -> Self {
        Self {
            client_id,
            secret,
            scope: None,
            cache: TokenCache::default(),
        }
    }

    /// Requests another resource's `.default` scope (for example Exchange Online's).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The app this credential signs in as.
    pub fn client_id(&self) -> ClientId {
        self.client_id
    }
}

#[async_trait]
impl TokenProvider for ClientSecretCredential {
    async fn token(&self, ctx: &TokenContext<'_>) -> Result<AccessToken> {
        self.cache
            .get_or_fetch(|| async {
                client_credentials(
                    ctx,
                    self.client_id,
                    self.scope.as_deref(),
                    &[("client_secret", self.secret.expose_secret())],
                )
                .await
            })
            .await
    }

    fn invalidate(&self) {
        self.cache.invalidate();
    }
}
