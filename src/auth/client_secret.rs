//! Client credentials with a secret.

use async_trait::async_trait;

use super::oauth::client_credentials;
use super::{AccessToken, TokenCache, TokenContext, TokenProvider};
use crate::credentials::issued::ClientSecret;
use crate::error::Result;
use crate::ids::ClientId;

/// Signs in as an application with its client secret (OAuth client credentials).
///
/// Used by a non-interactive bootstrap app
/// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>), and
/// to check that a newly created secret works.
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
