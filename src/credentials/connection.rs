//! What the product's connection wizard asks for.

use std::fmt;

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::{CertificateFiles, IssuedCredential};
use crate::ids::{ClientId, TenantId};

/// The tenant id, client id and credential the product needs to connect.
///
/// `Debug`, `Display` and `Serialize` never show a secret's value;
/// [`ConnectionDetails::to_json`] includes it only when asked.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ConnectionDetails {
    /// Directory (tenant) id.
    pub tenant_id: TenantId,
    /// Application (client) id.
    pub client_id: ClientId,
    /// The credential, if one was attached.
    pub credential: Option<IssuedCredential>,
    /// Where certificate files were written.
    pub files: Option<CertificateFiles>,
}

impl ConnectionDetails {
    /// The details of an app, with the credential a call attached and the files written for it.
    pub fn new(
        tenant_id: TenantId,
        client_id: ClientId,
        credential: Option<IssuedCredential>,
        files: Option<CertificateFiles>,
    ) -> Self {
        Self {
            tenant_id,
            client_id,
            credential,
            files,
        }
    }

    /// The details as JSON; the secret's value only with `include_secret`.
    pub fn to_json(&self, include_secret: bool) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if include_secret
            && let Some(IssuedCredential::Secret(s)) = &self.credential
            && let Some(c) = v.get_mut("credential")
        {
            c["secret"] = json!(s.secret.expose_secret());
        }
        v
    }
}

fn date(d: Option<OffsetDateTime>) -> String {
    d.map(|d| d.date().to_string())
        .unwrap_or_else(|| "never".into())
}

impl fmt::Display for ConnectionDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Directory (tenant) ID:   {}", self.tenant_id)?;
        writeln!(f, "Application (client) ID: {}", self.client_id)?;
        match &self.credential {
            Some(IssuedCredential::Certificate {
                thumbprint,
                not_after,
                ..
            }) => {
                writeln!(f, "Certificate thumbprint:  {thumbprint}")?;
                writeln!(f, "Certificate expires:     {}", date(Some(*not_after)))?;
                if let Some(files) = &self.files {
                    for (what, path) in [
                        ("PFX (certificate + key)", &files.pfx),
                        ("Private key (PEM)", &files.private_key_pem),
                        ("Certificate (PEM)", &files.certificate_pem),
                        ("Certificate (CER)", &files.certificate_cer),
                    ] {
                        if let Some(p) = path {
                            writeln!(f, "{what:<24} {}", p.display())?;
                        }
                    }
                }
            }
            Some(IssuedCredential::Secret(s)) => {
                writeln!(
                    f,
                    "Client secret:           (shown once, separately; key id {})",
                    s.key_id
                )?;
                writeln!(f, "Secret expires:          {}", date(s.expires))?;
            }
            None => writeln!(f, "Credential:              none attached")?,
        }
        Ok(())
    }
}
