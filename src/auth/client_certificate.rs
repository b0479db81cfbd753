//! Client credentials with a certificate: a signed client assertion (RFC 7523).

use std::fmt;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use super::oauth::client_credentials;
use super::{AccessToken, TokenCache, TokenContext, TokenProvider};
use crate::credentials::Certificate;
use crate::error::{Error, Result};
use crate::ids::ClientId;

/// How the client assertion is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256), header `x5t` (SHA-1 thumbprint): the older form,
    /// for a token endpoint that does not take PS256.
    Rs256,
    /// PS256 (RSASSA-PSS with SHA-256), header `x5t#S256` (SHA-256 thumbprint). The default:
    /// the form Microsoft documents for certificate credentials
    /// (<https://learn.microsoft.com/entra/identity-platform/certificate-credentials>).
    #[default]
    Ps256,
}

/// Signs in as an application with its certificate.
///
/// ```no_run
/// # fn run(client_id: entra_appreg::ClientId) -> entra_appreg::Result<()> {
/// use entra_appreg::auth::ClientCertificateCredential;
/// use entra_appreg::credentials::Certificate;
/// let cert = Certificate::from_file("app.pem".as_ref(), None)?;
/// let credential = ClientCertificateCredential::new(client_id, cert)?;
/// # Ok(()) }
/// ```
pub struct ClientCertificateCredential {
    client_id: ClientId,
    certificate: Certificate,
    algorithm: AssertionAlgorithm,
    scope: Option<String>,
    cache: TokenCache,
}

/// How long a client assertion is valid.
const ASSERTION_LIFETIME_SECS: i64 = 600;

impl ClientCertificateCredential {
    /// A credential for this app and certificate (which must hold its private key).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when the certificate has no private key,
    /// has expired, or becomes valid only more than a day from now.
    pub fn new(client_id: ClientId, certificate: Certificate) -> Result<Self> {
        certificate.check_usable(true)?;
        Ok(Self {
            client_id,
            certificate,
            algorithm: AssertionAlgorithm::default(),
            scope: None,
            cache: TokenCache::default(),
        })
    }

    /// Chooses the assertion's signature algorithm.
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Requests another resource's `.default` scope (for example Exchange Online's).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// A signed client assertion for this audience (the token endpoint URL). Handle with care:
    /// it is a bearer credential for ten minutes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when the assertion cannot be signed with
    /// the certificate's key.
    pub fn assertion(&self, audience: &str) -> Result<SecretString> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let header = match self.algorithm {
            AssertionAlgorithm::Rs256 => {
                serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.certificate.x5t()})
            }
            AssertionAlgorithm::Ps256 => {
                serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.certificate.x5t_s256()})
            }
        };
        let client_id = self.client_id.to_string();
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = self
            .certificate
            .private_key_pkcs8()
            .ok_or_else(|| Error::invalid_input("certificate", "the private key is missing"))?;
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(key).map_err(|_| {
            Error::invalid_input("certificate", "the private key cannot be used for signing")
        })?;
        let padding: &'static dyn aws_lc_rs::signature::RsaEncoding = match self.algorithm {
            AssertionAlgorithm::Rs256 => &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            AssertionAlgorithm::Ps256 => &aws_lc_rs::signature::RSA_PSS_SHA256,
        };
        let mut signature = vec![0u8; pair.public_modulus_len()];
        pair.sign(
            padding,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| Error::invalid_input("certificate", "signing the client assertion failed"))?;
        Ok(SecretString::from(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

impl fmt::Debug for ClientCertificateCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificateCredential")
            .field("client_id", &self.client_id)
            .field("thumbprint", self.certificate.thumbprint())
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenProvider for ClientCertificateCredential {
    async fn token(&self, ctx: &TokenContext<'_>) -> Result<AccessToken> {
        self.cache
            .get_or_fetch(|| async {
                let audience = ctx
                    .endpoints
                    .oauth_url(&ctx.tenant.as_path_segment(), "token");
                let assertion = self.assertion(&audience)?;
                client_credentials(
                    ctx,
                    self.client_id,
                    self.scope.as_deref(),
                    &[
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", assertion.expose_secret()),
                    ],
                )
                .await
            })
            .await
    }

    fn invalidate(&self) {
        self.cache.invalidate();
    }
}
