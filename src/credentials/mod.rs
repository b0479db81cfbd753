//! Credentials: the certificate or secret the product signs in with, handed over safely,
//! audited and rotated.
//!
//! - [`Certificate`]: generate an RSA-2048 certificate, or import one (PEM, DER, PFX), and
//!   export it (PEM, CER, private key PEM, PFX with AES-256 or legacy 3DES).
//! - [`NewCredential`]: what [`AppRegistration::with_credential`](crate::registration::AppRegistration::with_credential)
//!   attaches in the registration's own round trips (a certificate rides in the app's creation,
//!   a secret beside the service principal's).
//! - [`CredentialProvisioner`]: add, list, rotate and remove credentials of an existing app.
//! - [`ConnectionDetails`]: what the product's connection wizard asks for.
//!
//! Credentials the crate creates carry a display name starting with [`CREATED_BY`], so a
//! re-run can recognise them; credentials it did not create are never removed.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::ids::Thumbprint;

#[cfg(all(windows, feature = "pfx"))]
mod cert_store;
mod certificate;
mod connection;
mod files;
pub(crate) mod issued;
pub(crate) mod journal;
#[cfg(feature = "pfx")]
mod pfx;
pub(crate) mod provisioner;
mod trust;
#[cfg(windows)]
mod windows;

#[cfg(all(windows, feature = "pfx"))]
#[cfg_attr(docsrs, doc(cfg(all(windows, feature = "pfx"))))]
pub use cert_store::{CertificateStore, StoreImport, StoreLocation};
pub use certificate::{
    CLOCK_SKEW_BACKDATE, Certificate, DEFAULT_VALID_DAYS as DEFAULT_CERTIFICATE_DAYS,
    MAX_VALID_DAYS as MAX_CERTIFICATE_DAYS, MIN_RSA_BITS,
};
pub use connection::ConnectionDetails;
pub use files::{CertificateFiles, CertificateOutput, is_safe_file_stem};
pub use issued::{CredentialKind, IssuedCredential, NewSecret};
pub use journal::{FileJournal, SecretIntent, SecretJournal};
pub(crate) use journal::{marker_of, new_marker};
pub use provisioner::{CredentialProvisioner, Rotation};

/// How a PFX file is protected. Writing or reading a PFX needs the `pfx` feature (on by
/// default); the choice exists without it, so that features only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PfxEncryption {
    /// PBES2 with AES-256 and an HMAC-SHA256 MAC: what current Windows prefers.
    #[default]
    Aes256,
    /// 3DES with an HMAC-SHA1 MAC: for Windows Server 2016 and older, which cannot read AES.
    LegacyTripleDes,
}

/// The prefix of the display name of every credential the crate creates.
pub const CREATED_BY: &str = "entra-appreg";

/// The default lifetime of a client secret: two years.
pub const DEFAULT_SECRET_DAYS: u32 = 730;

/// The longest secret lifetime the crate asks for.
pub const MAX_SECRET_DAYS: u32 = 3650;

/// Options for a new client secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretOptions {
    /// What the secret is for (shown in the portal after the [`CREATED_BY`] prefix).
    pub description: String,
    /// Lifetime in days (1 to 3650; default 730).
    pub valid_days: u32,
}

impl Default for SecretOptions {
    fn default() -> Self {
        Self {
            description: "client secret".into(),
            valid_days: DEFAULT_SECRET_DAYS,
        }
    }
}

impl SecretOptions {
    /// A secret valid for `valid_days`.
    pub fn valid_for_days(valid_days: u32) -> Self {
        Self {
            valid_days,
            ..Self::default()
        }
    }

    /// The same options with this description (shown in the portal after [`CREATED_BY`]).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.valid_days == 0 || self.valid_days > MAX_SECRET_DAYS {
            return Err(Error::invalid_input(
                "lifetime",
                format!(
                    "a secret must be valid for 1 to {MAX_SECRET_DAYS} days, not {}",
                    self.valid_days
                ),
            ));
        }
        if self.description.chars().any(crate::ids::is_hidden_char)
            || self.description.chars().count() > 200
        {
            return Err(Error::invalid_input(
                "secret description",
                "must be printable and at most 200 characters",
            ));
        }
        Ok(())
    }

    pub(crate) fn display_name(&self) -> String {
        format!(
            "{CREATED_BY}: {} {}",
            self.description,
            OffsetDateTime::now_utc().date()
        )
    }

    /// The display name of a secret created by the run with this marker: the run that created
    /// it can find it again after a lost reply, and a later run after a crash.
    pub(crate) fn display_name_for_run(&self, marker: &str) -> String {
        format!("{} [run {marker}]", self.display_name())
    }

    pub(crate) fn end(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::days(i64::from(self.valid_days))
    }
}

/// The display name the crate gives a certificate it registers.
pub(crate) fn certificate_display_name(cert: &Certificate) -> String {
    // An imported certificate's subject is not ours to trust: keep it printable and bounded.
    let subject: String = cert
        .subject()
        .chars()
        .filter(|c| !crate::ids::is_hidden_char(*c))
        .take(200)
        .collect();
    format!("{CREATED_BY}: {subject}")
}

/// A credential to attach.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum NewCredential {
    /// Register this certificate (its public part only is uploaded).
    Certificate(Box<Certificate>),
    /// Create a client secret.
    Secret(SecretOptions),
}

impl NewCredential {
    /// Its kind.
    pub fn kind(&self) -> CredentialKind {
        match self {
            NewCredential::Certificate(_) => CredentialKind::Certificate,
            NewCredential::Secret(_) => CredentialKind::Secret,
        }
    }

    /// Checks what can be checked without the tenant (lifetimes, an expired certificate, a
    /// certificate without its private key).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a secret lifetime outside 1 to 3650 days or an unprintable
    /// description, or a certificate that is expired or lacks its private key.
    pub fn check(&self) -> Result<()> {
        match self {
            NewCredential::Certificate(c) => c.check_usable(true),
            NewCredential::Secret(s) => s.check(),
        }
    }
}

impl IssuedCredential {
    pub(crate) fn for_certificate(cert: &Certificate, key_id: crate::ids::KeyId) -> Self {
        IssuedCredential::Certificate {
            key_id,
            thumbprint: cert.thumbprint().clone(),
            not_before: cert.not_before(),
            not_after: cert.not_after(),
        }
    }
}

/// A credential of an application, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CredentialInfo {
    /// Certificate or secret.
    pub kind: CredentialKind,
    /// The credential id.
    pub key_id: crate::ids::KeyId,
    /// Its display name.
    pub display_name: Option<String>,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// The certificate's thumbprint (certificates whose key was read).
    pub thumbprint: Option<Thumbprint>,
    /// Whether the crate created it (its display name starts with [`CREATED_BY`]).
    pub created_by_crate: bool,
}

impl CredentialInfo {
    /// Whether it expires within `days` from now (or has expired).
    pub fn expires_within(&self, days: u32) -> bool {
        self.expires
            .is_some_and(|e| e <= OffsetDateTime::now_utc() + time::Duration::days(i64::from(days)))
    }
}

impl fmt::Display for CredentialInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.key_id)?;
        if let Some(t) = &self.thumbprint {
            write!(f, " (thumbprint {t})")?;
        }
        if let Some(n) = &self.display_name {
            // A name from Graph: on one line, and unable to drive a terminal.
            write!(f, " \"{}\"", crate::redact::for_terminal_line(n))?;
        }
        match self.expires {
            Some(e) => write!(f, ", expires {}", e.date()),
            None => write!(f, ", no expiry"),
        }
    }
}

/// A credential that expires within the days asked about, or has expired.
///
/// Its `Display`, and its JSON (a string), is the warning for an admin: "… expires within 30
/// days: rotate it" or "… has expired: rotate it".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpiringCredential {
    /// The credential.
    pub credential: CredentialInfo,
    /// The window it was checked against, in days.
    pub within_days: u32,
    /// Whether it has already expired.
    pub expired: bool,
}

impl fmt::Display for ExpiringCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.expired {
            write!(f, "{} has expired: rotate it", self.credential)
        } else {
            write!(
                f,
                "{} expires within {} days: rotate it",
                self.credential, self.within_days
            )
        }
    }
}

impl Serialize for ExpiringCredential {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The credentials that expire within `days` (or have expired).
pub fn expiry_warnings(credentials: &[CredentialInfo], days: u32) -> Vec<ExpiringCredential> {
    let now = OffsetDateTime::now_utc();
    credentials
        .iter()
        .filter(|c| c.expires_within(days))
        .map(|c| ExpiringCredential {
            credential: c.clone(),
            within_days: days,
            expired: c.expires.is_some_and(|e| e <= now),
        })
        .collect()
}

pub(crate) fn is_created_by_crate(display_name: Option<&str>) -> bool {
    display_name.is_some_and(|n| n.starts_with(CREATED_BY))
}

/// Maps Graph's lifetime-policy refusal to a clear error.
pub(crate) fn lifetime_policy_error(e: Error, kind: CredentialKind, days: i64) -> Error {
    match &e {
        Error::Graph(g) if g.code.as_deref() == Some("CredentialInvalidLifetimeAsPerAppPolicy") => {
            let policy = g.message.as_deref().and_then(|m| {
                let start = m.find("policy '")? + 8;
                let len = m[start..].find('\'')?;
                Some(m[start..start + len].to_owned())
            });
            Error::CredentialLifetimePolicy {
                kind,
                requested_days: days,
                policy,
                request_id: g.request_id.clone(),
            }
        }
        _ => e,
    }
}
