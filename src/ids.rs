//! Identifier newtypes, validated when they are built.
//!
//! Entra identifiers are GUIDs, but a GUID for a tenant is not interchangeable with a GUID for an
//! application object: each kind gets its own type so that a client id can never be passed where
//! an object id is expected. [`UniqueName`] also knows how to quote itself for an OData key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

macro_rules! guid_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an already parsed GUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The GUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                parse_guid(s, $what).map(Self)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;

            fn try_from(s: &str) -> Result<Self, Error> {
                s.parse()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }
    };
}

/// Parses a GUID in its canonical hyphenated form (braces and case are accepted).
fn parse_guid(s: &str, what: &'static str) -> Result<Uuid, Error> {
    let trimmed = s.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(trimmed);
    if inner.len() != 36 {
        return Err(Error::invalid_input(
            what,
            format!(
                "expected a GUID like 00000000-0000-0000-0000-000000000000, got {}",
                quote_for_error(s)
            ),
        ));
    }
    Uuid::parse_str(inner).map_err(|_| {
        Error::invalid_input(
            what,
            format!(
                "expected a GUID like 00000000-0000-0000-0000-000000000000, got {}",
                quote_for_error(s)
            ),
        )
    })
}

/// Whether a character must not appear in a name an admin reads: a control character, or an
/// invisible formatting character (zero-width, bidirectional override, byte-order mark) that can
/// make a name look like another one in the portal.
pub(crate) fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Quotes caller input for an error message, bounded and with control characters escaped.
pub(crate) fn quote_for_error(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    format!("\"{out}\"")
}

guid_newtype!(
    /// The GUID of an Entra tenant (the `tid` claim of its tokens).
    ///
    /// ```
    /// use entra_appreg::TenantId;
    /// let t: TenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47".parse().unwrap();
    /// assert_eq!(t.to_string(), "72f988bf-86f1-41af-91ab-2d7cd011db47");
    /// assert!("contoso.com".parse::<TenantId>().is_err());
    /// ```
    TenantId,
    "tenant id"
);
guid_newtype!(
    /// The application (client) id of an app registration: its `appId`.
    ClientId,
    "client id"
);
guid_newtype!(
    /// The directory object id of an application, service principal or other object: its `id`.
    ObjectId,
    "object id"
);
guid_newtype!(
    /// The id of an app role (an application permission), unique only within one resource.
    AppRoleId,
    "app role id"
);
guid_newtype!(
    /// The id of one credential of an application: the `keyId` of a certificate
    /// (`keyCredential`) or a client secret (`passwordCredential`).
    KeyId,
    "credential key id"
);

/// A tenant as a caller names it: its GUID, or one of its verified domains.
///
/// ```
/// use entra_appreg::Tenant;
/// assert!(matches!("contoso.onmicrosoft.com".parse::<Tenant>(), Ok(Tenant::Domain(_))));
/// assert!(matches!("72f988bf-86f1-41af-91ab-2d7cd011db47".parse::<Tenant>(), Ok(Tenant::Id(_))));
/// assert!("not a tenant".parse::<Tenant>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tenant {
    /// The tenant GUID.
    Id(TenantId),
    /// A domain of the tenant, such as `contoso.onmicrosoft.com`.
    Domain(String),
}

impl Tenant {
    /// The tenant as it appears in a login URL path.
    pub fn as_path_segment(&self) -> String {
        self.to_string()
    }

    /// The GUID, when the tenant was named by it.
    pub fn id(&self) -> Option<TenantId> {
        match self {
            Tenant::Id(id) => Some(*id),
            Tenant::Domain(_) => None,
        }
    }
}

impl FromStr for Tenant {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.len() == 36 || s.starts_with('{') {
            return s.parse().map(Tenant::Id);
        }
        let valid_domain = !s.is_empty()
            && s.len() <= 253
            && s.contains('.')
            && s.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid_domain {
            return Err(Error::invalid_input(
                "tenant",
                format!(
                    "expected a tenant GUID or a domain such as contoso.onmicrosoft.com, got {}",
                    quote_for_error(s)
                ),
            ));
        }
        Ok(Tenant::Domain(s.to_ascii_lowercase()))
    }
}

impl TryFrom<&str> for Tenant {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<TenantId> for Tenant {
    fn from(id: TenantId) -> Self {
        Tenant::Id(id)
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tenant::Id(id) => fmt::Display::fmt(id, f),
            Tenant::Domain(d) => f.write_str(d),
        }
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tenant::Id(id) => write!(f, "Tenant({id})"),
            Tenant::Domain(d) => write!(f, "Tenant({d})"),
        }
    }
}

/// The immutable `uniqueName` of an application: the key that makes registration idempotent.
///
/// At most 256 characters, printable, no control characters. Graph compares it case-insensitively.
/// [`UniqueName::odata_literal`] quotes it for an OData key or filter, doubling any `'`.
///
/// ```
/// use entra_appreg::UniqueName;
/// let n = UniqueName::new("o'brien-backup").unwrap();
/// assert_eq!(n.odata_literal(), "'o''brien-backup'");
/// assert!(UniqueName::new("").is_err());
/// assert!(UniqueName::new("tab\there").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UniqueName(String);

impl UniqueName {
    /// Graph's limit on the length of `uniqueName`.
    pub const MAX_LEN: usize = 256;

    /// Validates a unique name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty name, one longer than [`MAX_LEN`](Self::MAX_LEN), one
    /// with control or invisible formatting characters, or one that starts or ends with whitespace.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(Error::invalid_input("unique name", "must not be empty"));
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(Error::invalid_input(
                "unique name",
                format!(
                    "is {} characters long; Graph allows at most {}",
                    name.chars().count(),
                    Self::MAX_LEN
                ),
            ));
        }
        if name.chars().any(is_hidden_char) {
            return Err(Error::invalid_input(
                "unique name",
                format!(
                    "must not contain control or invisible formatting characters: {}",
                    quote_for_error(&name)
                ),
            ));
        }
        if name != name.trim() {
            return Err(Error::invalid_input(
                "unique name",
                "must not start or end with whitespace",
            ));
        }
        Ok(Self(name))
    }

    /// Derives a unique name from a display name: lowercase ASCII letters and digits, other runs
    /// of characters collapsed into one `-`. The same display name always gives the same result.
    ///
    /// ```
    /// use entra_appreg::UniqueName;
    /// let n = UniqueName::derive_from_display_name("Contoso Backup for Microsoft 365").unwrap();
    /// assert_eq!(n.as_str(), "contoso-backup-for-microsoft-365");
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the display name holds no ASCII letter or digit to derive a
    /// name from.
    pub fn derive_from_display_name(display_name: &str) -> Result<Self, Error> {
        let mut out = String::new();
        let mut dash = false;
        for c in display_name.chars() {
            if c.is_ascii_alphanumeric() {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(c.to_ascii_lowercase());
            } else {
                dash = true;
            }
        }
        out.truncate(Self::MAX_LEN);
        let out = out.trim_end_matches('-').to_owned();
        if out.is_empty() {
            return Err(Error::invalid_input(
                "unique name",
                format!(
                    "cannot be derived from the display name {}: it has no letters or digits; pass a unique name explicitly",
                    quote_for_error(display_name)
                ),
            ));
        }
        Self::new(out)
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an OData string literal: in single quotes, with `'` doubled.
    pub fn odata_literal(&self) -> String {
        odata_quote(&self.0)
    }
}

/// Quotes a string as an OData literal.
pub(crate) fn odata_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl FromStr for UniqueName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for UniqueName {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl From<UniqueName> for String {
    fn from(n: UniqueName) -> String {
        n.0
    }
}

impl fmt::Display for UniqueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UniqueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UniqueName({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_newtypes_accept_canonical_and_braced_forms() {
        let a: ClientId = "5F0F8757-988D-474C-9F85-74A6BC70DFD0".parse().unwrap();
        let b: ClientId = "{5f0f8757-988d-474c-9f85-74a6bc70dfd0}".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "5f0f8757-988d-474c-9f85-74a6bc70dfd0");
    }

    #[test]
    fn guid_newtypes_reject_other_forms_with_the_kind_in_the_message() {
        for bad in [
            "",
            "5f0f8757988d474c9f8574a6bc70dfd0",
            "5f0f8757-988d-474c-9f85-74a6bc70dfdz",
            "urn:uuid:5f0f8757-988d-474c-9f85-74a6bc70dfd0",
        ] {
            let err = bad.parse::<ObjectId>().unwrap_err();
            assert!(err.is_invalid_input(), "{bad}: {err}");
            assert!(err.to_string().contains("object id"), "{err}");
        }
    }

    #[test]
    fn tenant_parses_guid_or_domain_and_rejects_junk() {
        assert_eq!(
            "Contoso.OnMicrosoft.com".parse::<Tenant>().unwrap(),
            Tenant::Domain("contoso.onmicrosoft.com".into())
        );
        for bad in [
            "",
            "contoso",
            "con toso.com",
            "-contoso.com",
            "a/b.com",
            "x'.com",
            "72f988bf-86f1-41af-91ab-2d7cd011db4z",
        ] {
            assert!(bad.parse::<Tenant>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unique_name_limits_and_quoting() {
        assert!(UniqueName::new("a".repeat(256)).is_ok());
        assert!(UniqueName::new("a".repeat(257)).is_err());
        assert!(UniqueName::new("line\nbreak").is_err());
        assert!(UniqueName::new("contoso\u{202E}pukcab").is_err());
        assert!(UniqueName::new("contoso\u{200B}backup").is_err());
        assert!(UniqueName::new(" padded").is_err());
        assert_eq!(UniqueName::new("it's").unwrap().odata_literal(), "'it''s'");
    }

    #[test]
    fn derived_unique_name_is_deterministic_and_bounded() {
        let long = "Ä".repeat(10) + &"x y ".repeat(200);
        let a = UniqueName::derive_from_display_name(&long).unwrap();
        let b = UniqueName::derive_from_display_name(&long).unwrap();
        assert_eq!(a, b);
        assert!(a.as_str().len() <= 256);
        assert!(!a.as_str().ends_with('-'));
        assert!(UniqueName::derive_from_display_name("!!!").is_err());
    }
}

/// A certificate thumbprint as Entra shows it: SHA-1 of the DER certificate, 40 uppercase hex
/// characters.
///
/// ```
/// use entra_appreg::Thumbprint;
/// let t: Thumbprint = "5a12660bed1a1366f714a4a62b7015f3262840f1".parse().unwrap();
/// assert_eq!(t.as_str(), "5A12660BED1A1366F714A4A62B7015F3262840F1");
/// assert!("5A:12".parse::<Thumbprint>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Thumbprint(String);

impl Thumbprint {
    /// The thumbprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        use sha1::Digest;
        let digest = sha1::Sha1::digest(der);
        Self(digest.iter().map(|b| format!("{b:02X}")).collect())
    }

    /// The 40 uppercase hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The raw 20 bytes.
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.0[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
        out
    }
}

impl FromStr for Thumbprint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let cleaned: String = s.trim().chars().filter(|c| *c != ' ').collect();
        if cleaned.len() != 40 || !cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid_input(
                "thumbprint",
                format!(
                    "expected 40 hex characters (SHA-1 of the certificate), got {}",
                    quote_for_error(s)
                ),
            ));
        }
        Ok(Self(cleaned.to_ascii_uppercase()))
    }
}

impl TryFrom<String> for Thumbprint {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<Thumbprint> for String {
    fn from(t: Thumbprint) -> String {
        t.0
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({})", self.0)
    }
}
