//! X.509 certificates: generation (RSA-2048, SHA-256), import (PEM, DER, PFX), validation,
//! thumbprints and export.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::graph::models::KeyCredential;
use crate::ids::Thumbprint;

/// The smallest RSA key Entra accepts for sign-in (AADSTS50032 below it).
pub const MIN_RSA_BITS: usize = 2048;

/// The default certificate lifetime: 365 days, within the one-year limit Microsoft's how-to
/// gives for certificates added by PATCH.
pub const DEFAULT_VALID_DAYS: u32 = 365;

/// The longest certificate lifetime the crate generates.
pub const MAX_VALID_DAYS: u32 = 3650;

/// How far before "now" a generated certificate starts, so that a machine whose clock is a
/// little behind still accepts it. Its end moves back by as much: the validity span is exactly
/// the lifetime asked for.
pub const CLOCK_SKEW_BACKDATE: time::Duration = time::Duration::minutes(5);

/// An X.509 certificate, with its RSA private key when the crate generated it or it was
/// imported with one.
///
/// `Debug` shows the thumbprint and dates, never the key; the key is read only through
/// [`Certificate::private_key_pem`] or an export.
pub struct Certificate {
    der: Vec<u8>,
    key_pkcs8: Option<SecretBox<Vec<u8>>>,
    thumbprint: Thumbprint,
    subject: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key_bits: usize,
}

impl Clone for Certificate {
    fn clone(&self) -> Self {
        Self {
            der: self.der.clone(),
            key_pkcs8: self
                .key_pkcs8
                .as_ref()
                .map(|k| SecretBox::new(Box::new(k.expose_secret().clone()))),
            thumbprint: self.thumbprint.clone(),
            subject: self.subject.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            key_bits: self.key_bits,
        }
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("thumbprint", &self.thumbprint)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_bits", &self.key_bits)
            .field(
                "private_key",
                &if self.key_pkcs8.is_some() {
                    "<present, redacted>"
                } else {
                    "<absent>"
                },
            )
            .finish()
    }
}

fn read_file(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::io("read the certificate file", path, e))
}

/// The text of a PEM file: UTF-8, with or without a byte-order mark, or UTF-16 with one.
/// `None` when the bytes are not PEM text (a DER or PFX file).
fn pem_text(bytes: &[u8]) -> Option<Zeroizing<String>> {
    let utf16 = |bom: &[u8], unit: fn([u8; 2]) -> u16| {
        let rest = bytes.strip_prefix(bom)?;
        let units = rest.chunks_exact(2).map(|c| unit([c[0], c[1]]));
        char::decode_utf16(units)
            .collect::<std::result::Result<String, _>>()
            .ok()
    };
    let text = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        String::from_utf8(rest.to_vec()).ok()
    } else {
        utf16(b"\xFF\xFE", u16::from_le_bytes)
            .or_else(|| utf16(b"\xFE\xFF", u16::from_be_bytes))
            .or_else(|| String::from_utf8(bytes.to_vec()).ok())
    }?;
    let text = Zeroizing::new(text);
    text.contains("-----BEGIN").then_some(text)
}

fn cert_error(reason: impl Into<String>) -> Error {
    Error::invalid_input("certificate", reason)
}

impl Certificate {
    /// The longest common name [`generate`](Self::generate) takes, in characters (X.509's
    /// upper bound for `commonName`, RFC 5280's `ub-common-name`).
    pub const MAX_COMMON_NAME: usize = 64;

    /// The common name for a certificate of the app `display_name`: the display name, trimmed
    /// and cut to [`MAX_COMMON_NAME`](Self::MAX_COMMON_NAME) characters, so that any display
    /// name a registration takes (up to
    /// [`MAX_DISPLAY_NAME`](crate::registration::MAX_DISPLAY_NAME) characters) gives one
    /// `generate` accepts.
    ///
    /// ```
    /// use entra_appreg::credentials::Certificate;
    /// let long = "Contoso Backup for Exchange Online, SharePoint Online and OneDrive, EU";
    /// let cn = Certificate::common_name_for(long);
    /// assert_eq!(cn.chars().count(), 64);
    /// assert!(Certificate::generate(&cn, 30).is_ok());
    /// assert_eq!(Certificate::common_name_for("  Contoso Backup "), "Contoso Backup");
    /// ```
    pub fn common_name_for(display_name: &str) -> String {
        let cn: String = display_name
            .trim()
            .chars()
            .take(Self::MAX_COMMON_NAME)
            .collect();
        cn.trim_end().to_owned()
    }

    /// [`generate`](Self::generate) off the async runtime's worker threads: RSA key generation
    /// takes tens of milliseconds of CPU, which would hold up every other task on the thread
    /// (every tenant of a [`Fleet`](crate::fleet::Fleet), say). On tokio's blocking pool when a
    /// tokio runtime runs; inline otherwise.
    ///
    /// # Errors
    ///
    /// As [`generate`](Self::generate).
    pub async fn generate_async(common_name: &str, valid_days: u32) -> Result<Self> {
        let common_name = common_name.to_owned();
        crate::blocking::run(move || Self::generate(&common_name, valid_days)).await
    }

    /// Generates a self-signed certificate with a new RSA 2048-bit key, signed with SHA-256,
    /// subject `CN=<common_name>`, valid for exactly `valid_days` days (1 to 3650; 365 is the
    /// safe choice, see [`DEFAULT_VALID_DAYS`]: a registration adding a certificate valid for
    /// longer warns with `certificate_over_one_year`) from [`CLOCK_SKEW_BACKDATE`] before now.
    ///
    /// ```
    /// use entra_appreg::credentials::Certificate;
    /// let cert = Certificate::generate("Contoso Backup", 365)?;
    /// assert_eq!(cert.not_after() - cert.not_before(), time::Duration::days(365));
    /// # Ok::<(), entra_appreg::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty, over-long (more than 64 characters) or unprintable
    /// common name, or a lifetime outside 1 to [`MAX_VALID_DAYS`] days; an error from the key
    /// generator otherwise.
    pub fn generate(common_name: &str, valid_days: u32) -> Result<Self> {
        let cn = common_name.trim();
        if cn.is_empty()
            || cn.chars().any(crate::ids::is_hidden_char)
            || cn.chars().count() > Self::MAX_COMMON_NAME
        {
            return Err(cert_error(
                "the common name must be 1 to 64 printable characters",
            ));
        }
        check_valid_days(valid_days)?;
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(|e| cert_error(format!("RSA key generation failed: {e}")))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| cert_error(e.to_string()))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        // Truncate to whole seconds: X.509 times have no fractions, and Graph's dates must
        // equal the certificate's.
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        // Backdated a little for clock skew; the span is still exactly the lifetime asked for,
        // so a 365-day certificate stays within the one year Microsoft allows between the
        // keyCredential's start and end ("Add a certificate to an app using Microsoft Graph",
        // https://learn.microsoft.com/graph/applications-how-to-add-certificate).
        let not_before = now - CLOCK_SKEW_BACKDATE;
        params.not_before = not_before;
        params.not_after = not_before + time::Duration::days(i64::from(valid_days));
        let mut serial = [0u8; 16];
        serial.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from(serial.to_vec()));
        let cert = params
            .self_signed(&key)
            .map_err(|e| cert_error(format!("signing the certificate failed: {e}")))?;
        let key_der = SecretBox::new(Box::new(key.serialized_der().to_vec()));
        // rcgen keeps its own copy of the key's DER: wiped, not just freed.
        let mut key = key;
        zeroize::Zeroize::zeroize(&mut key);
        // The key was made here for this certificate: no need to parse it back and compare.
        Self::parse(cert.der().to_vec(), Some(key_der), KeyCheck::Trusted)
    }

    /// Reads a certificate (and its private key, when present) from PEM text: `CERTIFICATE`,
    /// with `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the text holds no `CERTIFICATE` block, a block cannot be
    /// parsed, or the key does not belong to the certificate or is not an RSA key of at least 2048
    /// bits.
    pub fn from_pem(pem_text: &str) -> Result<Self> {
        let blocks = pem::parse_many(pem_text).map_err(|e| {
            // The parser quotes the text's tags: bounded, without its control characters.
            let e = crate::redact::short(&e.to_string());
            cert_error(format!("the PEM text cannot be read: {e}"))
        })?;
        let mut cert = None;
        let mut key = None;
        for block in blocks {
            let tag = block.tag().to_owned();
            // Every block's bytes are wiped once used: one of them is the private key.
            let contents = Zeroizing::new(block.into_contents());
            match tag.as_str() {
                "CERTIFICATE" if cert.is_none() => cert = Some(contents.to_vec()),
                "CERTIFICATE" => {}
                "PRIVATE KEY" => key = Some(SecretBox::new(Box::new(contents.to_vec()))),
                "RSA PRIVATE KEY" => key = Some(pkcs1_to_pkcs8(&contents)?),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(cert_error(
                        "the private key is encrypted: export it unencrypted, or give a PFX file with its password",
                    ));
                }
                "EC PRIVATE KEY" => {
                    return Err(cert_error(
                        "the private key is an EC key: Entra app sign-in here needs an RSA key of at least 2048 bits",
                    ));
                }
                other => {
                    tracing::debug!(tag = other, "ignoring a PEM block");
                }
            }
        }
        let der = cert.ok_or_else(|| cert_error("the PEM text holds no CERTIFICATE block"))?;
        Self::from_parts(der, key)
    }

    /// Reads a DER (`.cer`) certificate, without a private key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the bytes are not an X.509 certificate with an RSA key of at
    /// least 2048 bits.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::from_parts(der.to_vec(), None)
    }

    /// Reads a certificate from a PEM, DER or PFX file, by content.
    ///
    /// PEM text may be UTF-8 (with or without a byte-order mark) or UTF-16 with a byte-order
    /// mark, which is what Windows PowerShell 5.1's `>` and `Out-File` write, and may have
    /// Windows line endings.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read; [`Error::InvalidInput`] when its content is
    /// not a usable certificate (as [`from_pem`](Self::from_pem), [`from_der`](Self::from_der)
    /// and, with the `pfx` feature, `from_pfx`; a wrong PFX password included).
    pub fn from_file(path: &std::path::Path, pfx_password: Option<&SecretString>) -> Result<Self> {
        let bytes = read_file(path)?;
        if let Some(text) = pem_text(&bytes) {
            return Self::from_pem(&text);
        }
        if bytes.starts_with(b"-----") {
            return Err(cert_error(
                "the PEM file is neither UTF-8 nor UTF-16 text with a byte-order mark",
            ));
        }
        if let Ok(cert) = Self::from_der(&bytes) {
            return Ok(cert);
        }
        #[cfg(feature = "pfx")]
        {
            let password = pfx_password
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            Self::from_pfx(&bytes, &SecretString::from(password))
        }
        #[cfg(not(feature = "pfx"))]
        {
            let _ = pfx_password;
            Err(cert_error(
                "the file is neither PEM nor DER (PFX needs the `pfx` feature)",
            ))
        }
    }

    /// Reads a certificate and its private key from two PEM files, as
    /// [`from_file`](Self::from_file) reads PEM text.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be read; [`Error::InvalidInput`] when a file is not PEM
    /// text, or the two do not make a usable certificate with its key.
    pub fn from_pem_files(certificate: &std::path::Path, key: &std::path::Path) -> Result<Self> {
        let text = |path: &std::path::Path| -> Result<Zeroizing<String>> {
            pem_text(&read_file(path)?)
                .ok_or_else(|| cert_error(format!("{} is not PEM text", path.display())))
        };
        let both = Zeroizing::new(format!("{}\n{}", *text(certificate)?, *text(key)?));
        Self::from_pem(&both)
    }

    pub(crate) fn from_parts(der: Vec<u8>, key_pkcs8: Option<SecretBox<Vec<u8>>>) -> Result<Self> {
        Self::parse(der, key_pkcs8, KeyCheck::MustMatch)
    }

    fn parse(der: Vec<u8>, key_pkcs8: Option<SecretBox<Vec<u8>>>, check: KeyCheck) -> Result<Self> {
        let (rest, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| cert_error("the data is not an X.509 certificate in DER form"))?;
        // Bytes after the certificate are not part of it: the thumbprint and the uploaded key
        // are the certificate's own.
        let length = der.len() - rest.len();
        let spki = parsed.public_key();
        let key_bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
            Ok(_) => {
                return Err(cert_error(
                    "the certificate's key is not RSA: Entra app sign-in here needs an RSA key of at least 2048 bits",
                ));
            }
            Err(_) => return Err(cert_error("the certificate's public key cannot be read")),
        };
        if key_bits < MIN_RSA_BITS {
            return Err(cert_error(format!(
                "the certificate's RSA key has {key_bits} bits; Entra refuses sign-in with less than {MIN_RSA_BITS} (AADSTS50032)"
            )));
        }
        if let Some(key) = key_pkcs8.as_ref().filter(|_| check == KeyCheck::MustMatch) {
            let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(key.expose_secret())
                .map_err(|_| cert_error("the private key is not an RSA key in PKCS#8 form"))?;
            use aws_lc_rs::signature::KeyPair as _;
            if pair.public_key().as_ref() != spki.subject_public_key.data.as_ref() {
                return Err(cert_error(
                    "the private key does not belong to this certificate",
                ));
            }
        }
        let validity = parsed.validity();
        let subject = parsed.subject().to_string();
        let (not_before, not_after) = (
            validity.not_before.to_datetime(),
            validity.not_after.to_datetime(),
        );
        let mut der = der;
        der.truncate(length);
        Ok(Self {
            thumbprint: Thumbprint::of_der(&der),
            subject,
            not_before,
            not_after,
            key_bits,
            key_pkcs8,
            der,
        })
    }

    /// Checks that the certificate can be used now: not expired, not yet-to-start by more than
    /// a day, and with its private key when `need_private_key`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming what is wrong: expired, valid only from more than a day
    /// ahead, or without its private key when one is needed.
    pub fn check_usable(&self, need_private_key: bool) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        if self.not_after <= now {
            return Err(cert_error(format!(
                "the certificate {} expired on {}: use a current certificate",
                self.thumbprint,
                self.not_after.date()
            )));
        }
        if self.not_before > now + time::Duration::days(1) {
            return Err(cert_error(format!(
                "the certificate {} is not valid before {}",
                self.thumbprint,
                self.not_before.date()
            )));
        }
        if need_private_key && self.key_pkcs8.is_none() {
            return Err(cert_error(format!(
                "the certificate {} comes without its private key, which the product needs to sign in: give the PEM with its key, or a PFX",
                self.thumbprint
            )));
        }
        Ok(())
    }

    /// The DER bytes (the `.cer` file).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The thumbprint Entra shows (SHA-1, uppercase hex).
    pub fn thumbprint(&self) -> &Thumbprint {
        &self.thumbprint
    }

    /// `x5t`: base64url of the SHA-1 of the DER certificate.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.thumbprint.to_bytes())
    }

    /// `x5t#S256`: base64url of the SHA-256 of the DER certificate.
    pub fn x5t_s256(&self) -> String {
        use sha2::Digest;
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&self.der))
    }

    /// The subject, such as `CN=Contoso Backup`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The RSA key size in bits.
    pub fn key_bits(&self) -> usize {
        self.key_bits
    }

    /// Whether the private key is present.
    pub fn has_private_key(&self) -> bool {
        self.key_pkcs8.is_some()
    }

    /// The certificate as PEM text.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }

    /// The private key as PKCS#8 PEM text. Handle with care.
    pub fn private_key_pem(&self) -> Option<SecretString> {
        self.key_pkcs8.as_ref().map(|k| {
            let block = pem::Pem::new("PRIVATE KEY", k.expose_secret().clone());
            let text = SecretString::from(pem::encode(&block));
            // The block's copy of the key is wiped, not just freed.
            Zeroizing::new(block.into_contents());
            text
        })
    }

    pub(crate) fn private_key_pkcs8(&self) -> Option<&[u8]> {
        self.key_pkcs8
            .as_ref()
            .map(|k| k.expose_secret().as_slice())
    }

    /// The keyCredential that registers this certificate on an application: type
    /// `AsymmetricX509Cert`, usage `Verify`, the DER in base64 (public part only), and the
    /// certificate's own validity.
    pub fn key_credential(&self, display_name: &str) -> KeyCredential {
        KeyCredential {
            key_id: Some(crate::ids::KeyId::from_uuid(uuid::Uuid::new_v4())),
            display_name: Some(display_name.to_owned()),
            kind: Some("AsymmetricX509Cert".to_owned()),
            usage: Some("Verify".to_owned()),
            key: Some(STANDARD.encode(&self.der)),
            custom_key_identifier: None,
            start_date_time: Some(self.not_before),
            end_date_time: Some(self.not_after),
        }
    }
}

/// Whether an imported private key must be checked against the certificate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyCheck {
    MustMatch,
    Trusted,
}

fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<SecretBox<Vec<u8>>> {
    use aws_lc_rs::encoding::AsDer;
    let pair = aws_lc_rs::rsa::KeyPair::from_der(pkcs1)
        .map_err(|_| cert_error("the RSA PRIVATE KEY block cannot be read"))?;
    let der = pair
        .as_der()
        .map_err(|_| cert_error("the RSA key cannot be converted to PKCS#8"))?;
    Ok(SecretBox::new(Box::new(der.as_ref().to_vec())))
}

/// Checks a certificate lifetime in days.
pub(crate) fn check_valid_days(days: u32) -> Result<()> {
    if days == 0 || days > MAX_VALID_DAYS {
        return Err(Error::invalid_input(
            "lifetime",
            format!("a certificate must be valid for 1 to {MAX_VALID_DAYS} days, not {days}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifetime_is_one_day_to_the_maximum_both_included() {
        assert!(check_valid_days(1).is_ok());
        assert!(check_valid_days(MAX_VALID_DAYS).is_ok());
        for days in [0, MAX_VALID_DAYS + 1] {
            let err = check_valid_days(days).unwrap_err();
            assert!(err.is_invalid_input(), "{days}: {err:?}");
        }
    }

    #[test]
    fn generated_certificate_is_rsa_2048_sha256_with_the_requested_validity() {
        let c = Certificate::generate("Contoso Backup", 30).unwrap();
        assert_eq!(c.key_bits(), 2048);
        assert_eq!(c.subject(), "CN=Contoso Backup");
        let (_, parsed) = x509_parser::parse_x509_certificate(c.der()).unwrap();
        assert_eq!(
            parsed.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.11",
            "sha256WithRSAEncryption"
        );
        assert_eq!(c.not_after() - c.not_before(), time::Duration::days(30));
        assert!(c.check_usable(true).is_ok());
        // The thumbprint is SHA-1 of the DER, as an independent computation gives it.
        use sha1::Digest;
        let hex: String = sha1::Sha1::digest(c.der())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(c.thumbprint().as_str(), hex);
        assert!(!format!("{c:?}").contains("PRIVATE"));
    }

    #[test]
    fn pem_round_trip_keeps_key_and_thumbprint() {
        let c = Certificate::generate("x", 10).unwrap();
        let pem = format!(
            "{}{}",
            c.to_pem(),
            c.private_key_pem().unwrap().expose_secret()
        );
        let back = Certificate::from_pem(&pem).unwrap();
        assert_eq!(back.thumbprint(), c.thumbprint());
        assert!(back.has_private_key());
        let cer_only = Certificate::from_der(c.der()).unwrap();
        assert!(cer_only.check_usable(true).is_err());
        assert!(cer_only.check_usable(false).is_ok());
    }

    #[test]
    fn a_key_from_another_certificate_is_refused() {
        let a = Certificate::generate("a", 10).unwrap();
        let b = Certificate::generate("b", 10).unwrap();
        let pem = format!(
            "{}{}",
            a.to_pem(),
            b.private_key_pem().unwrap().expose_secret()
        );
        let err = Certificate::from_pem(&pem).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn generate_async_works_with_and_without_a_tokio_runtime() {
        let c = futures::executor::block_on(Certificate::generate_async("x", 10)).unwrap();
        assert_eq!(c.not_after() - c.not_before(), time::Duration::days(10));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let c = rt.block_on(Certificate::generate_async("y", 11)).unwrap();
        assert_eq!(c.not_after() - c.not_before(), time::Duration::days(11));
        let err = rt
            .block_on(Certificate::generate_async("", 10))
            .unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
    }

    #[test]
    fn lifetimes_out_of_range_are_refused_before_generating() {
        assert!(Certificate::generate("x", 0).is_err());
        assert!(Certificate::generate("x", MAX_VALID_DAYS + 1).is_err());
        assert!(Certificate::generate("", 10).is_err());
    }
}
