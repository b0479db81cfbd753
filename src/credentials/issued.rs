//! What a credential is, and the one a call issued: a leaf that depends only on the crate's
//! ids, so that errors can carry an issued credential without depending on anything above.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::Thumbprint;

/// How the product signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CredentialKind {
    /// An X.509 certificate with an RSA-2048 key.
    Certificate,
    /// A client secret.
    Secret,
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialKind::Certificate => "certificate",
            CredentialKind::Secret => "secret",
        })
    }
}

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

/// A new client secret: shown once, by Graph, in the reply that created it.
///
/// `Debug` and `Serialize` never include the value; read it with [`ClientSecret::expose_secret`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct NewSecret {
    /// The credential id.
    pub key_id: crate::ids::KeyId,
    /// The secret.
    #[serde(skip)]
    pub secret: ClientSecret,
    /// The first characters, as the portal shows them.
    pub hint: Option<String>,
    /// The display name.
    pub display_name: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
}

/// The credential a call attached.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum IssuedCredential {
    /// A certificate.
    Certificate {
        /// The keyCredential id.
        key_id: crate::ids::KeyId,
        /// Its thumbprint.
        thumbprint: Thumbprint,
        /// Start of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_before: OffsetDateTime,
        /// End of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
    },
    /// A client secret.
    Secret(NewSecret),
}

impl IssuedCredential {
    /// The credential id.
    pub fn key_id(&self) -> crate::ids::KeyId {
        match self {
            IssuedCredential::Certificate { key_id, .. } => *key_id,
            IssuedCredential::Secret(s) => s.key_id,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> CredentialKind {
        match self {
            IssuedCredential::Certificate { .. } => CredentialKind::Certificate,
            IssuedCredential::Secret(_) => CredentialKind::Secret,
        }
    }

    /// When it expires.
    pub fn expires(&self) -> Option<OffsetDateTime> {
        match self {
            IssuedCredential::Certificate { not_after, .. } => Some(*not_after),
            IssuedCredential::Secret(s) => s.expires,
        }
    }
}
