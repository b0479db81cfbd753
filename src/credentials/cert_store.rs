//! The Windows certificate store: a certificate with its private key in the personal (`My`)
//! store of the current user or of the machine, where a product finds it by thumbprint.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use windows_sys::Win32::Foundation::GetLastError;
use windows_sys::Win32::Security::Cryptography::{
    CERT_CONTEXT, CERT_FIND_SHA1_HASH, CERT_KEY_PROV_INFO_PROP_ID, CERT_QUERY_ENCODING_TYPE,
    CERT_STORE_ADD_REPLACE_EXISTING, CERT_STORE_CTRL_COMMIT, CERT_STORE_PROV_SYSTEM_W,
    CERT_SYSTEM_STORE_CURRENT_USER, CERT_SYSTEM_STORE_LOCAL_MACHINE, CRYPT_EXPORTABLE,
    CRYPT_INTEGER_BLOB, CRYPT_MACHINE_KEYSET, CRYPT_USER_KEYSET, CertAddCertificateContextToStore,
    CertCloseStore, CertControlStore, CertDeleteCertificateFromStore, CertEnumCertificatesInStore,
    CertFindCertificateInStore, CertFreeCertificateContext, CertGetCertificateContextProperty,
    CertOpenStore, HCERTSTORE, PFXImportCertStore, PKCS_7_ASN_ENCODING, X509_ASN_ENCODING,
};
use zeroize::Zeroizing;

use super::{Certificate, PfxEncryption};
use crate::error::{Error, Result};
use crate::ids::Thumbprint;

const ENCODING: CERT_QUERY_ENCODING_TYPE = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;

/// Whose personal certificate store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreLocation {
    /// The current user's (`Cert:\CurrentUser\My`): no administrator rights needed.
    CurrentUser,
    /// The machine's (`Cert:\LocalMachine\My`), for services: needs an elevated process.
    LocalMachine,
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreLocation::CurrentUser => "CurrentUser\\My",
            StoreLocation::LocalMachine => "LocalMachine\\My",
        })
    }
}

/// What [`CertificateStore::import`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreImport {
    /// The certificate and its private key were added.
    Imported,
    /// The store already held the certificate with a private key: nothing was added.
    AlreadyPresent,
}

/// The personal (`My`) certificate store of the current user or of the machine (Windows only).
///
/// [`import`](Self::import) adds a certificate with its private key, unless the store holds it
/// already (found by thumbprint), so running an installer twice adds nothing the second time.
/// The private key is not exportable unless [`exportable_key`](Self::exportable_key) says so.
///
/// ```no_run
/// use entra_appreg::credentials::{Certificate, CertificateStore, StoreImport, StoreLocation};
/// let certificate = Certificate::generate("Contoso Backup", 365)?;
/// let store = CertificateStore::new(StoreLocation::CurrentUser);
/// assert_eq!(store.import(&certificate)?, StoreImport::Imported);
/// assert!(store.contains(certificate.thumbprint())?);
/// # Ok::<(), entra_appreg::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CertificateStore {
    location: StoreLocation,
    exportable_key: bool,
}

impl CertificateStore {
    /// The personal store of `location`; imported keys are not exportable.
    pub fn new(location: StoreLocation) -> Self {
        Self {
            location,
            exportable_key: false,
        }
    }

    /// Whether an imported private key may be exported again (default: no).
    pub fn exportable_key(mut self, exportable: bool) -> Self {
        self.exportable_key = exportable;
        self
    }

    /// Whose store this is.
    pub fn location(&self) -> StoreLocation {
        self.location
    }

    /// Whether the store holds the certificate with this thumbprint together with a private key.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io), with the Windows error as its source, when the store
    /// cannot be opened.
    pub fn contains(&self, thumbprint: &Thumbprint) -> Result<bool> {
        let store = self.open()?;
        Ok(store
            .find(thumbprint)
            .is_some_and(|found| found.has_private_key()))
    }

    /// Adds `certificate` with its private key, unless the store holds it (with a key) already.
    /// A copy without a key is replaced. Nothing is written to disk outside the store.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when the certificate has no private key;
    /// [`Error::Io`](crate::Error::Io), with the Windows error as its source, when the store
    /// cannot be opened or the certificate or its key cannot be imported (the machine's store
    /// needs an elevated process).
    pub fn import(&self, certificate: &Certificate) -> Result<StoreImport> {
        if !certificate.has_private_key() {
            return Err(Error::invalid_input(
                "certificate",
                "the certificate store needs the private key, which this certificate lacks",
            ));
        }
        let store = self.open()?;
        if store
            .find(certificate.thumbprint())
            .is_some_and(|found| found.has_private_key())
        {
            return Ok(StoreImport::AlreadyPresent);
        }
        // The key travels to the store as a PFX in memory, under a one-time random password.
        // 3DES is what every Windows version since Server 2008 reads.
        let password = SecretString::from(uuid::Uuid::new_v4().simple().to_string());
        let pfx = Zeroizing::new(certificate.to_pfx(&password, PfxEncryption::LegacyTripleDes)?);
        let wide_password: Zeroizing<Vec<u16>> = Zeroizing::new(
            password
                .expose_secret()
                .encode_utf16()
                .chain(std::iter::once(0))
                .collect(),
        );
        let blob = CRYPT_INTEGER_BLOB {
            cbData: pfx.len() as u32,
            pbData: pfx.as_ptr().cast_mut(),
        };
        let keyset = match self.location {
            StoreLocation::CurrentUser => CRYPT_USER_KEYSET,
            StoreLocation::LocalMachine => CRYPT_MACHINE_KEYSET,
        };
        let flags = keyset
            | if self.exportable_key {
                CRYPT_EXPORTABLE
            } else {
                0
            };
        // SAFETY: `blob` points at `pfx` and the password is NUL-terminated; both outlive the
        // call, which only reads them.
        let imported = unsafe { PFXImportCertStore(&blob, wide_password.as_ptr(), flags) };
        if imported.is_null() {
            return Err(self.failure("import the certificate and its key into"));
        }
        let imported = Store(imported);
        // SAFETY: enumerating a valid store from the start; the context is freed below.
        let context = unsafe { CertEnumCertificatesInStore(imported.0, std::ptr::null()) };
        if context.is_null() {
            return Err(self.failure("import the certificate and its key into"));
        }
        // SAFETY: both handles are valid; the store keeps its own copy of the context.
        let added = unsafe {
            CertAddCertificateContextToStore(
                store.0,
                context,
                CERT_STORE_ADD_REPLACE_EXISTING,
                std::ptr::null_mut(),
            )
        };
        let error = self.failure("add the certificate to");
        // SAFETY: the context came from CertEnumCertificatesInStore and is freed once.
        unsafe { CertFreeCertificateContext(context) };
        if added == 0 {
            return Err(error);
        }
        store.commit();
        Ok(StoreImport::Imported)
    }

    /// Removes the certificate with this thumbprint from the store: `false` when it was not
    /// there. Its private key stays in its key container.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io), with the Windows error as its source, when the store
    /// cannot be opened or the certificate cannot be deleted.
    pub fn remove(&self, thumbprint: &Thumbprint) -> Result<bool> {
        let store = self.open()?;
        let Some(found) = store.find(thumbprint) else {
            return Ok(false);
        };
        let context = found.0;
        std::mem::forget(found);
        // SAFETY: CertDeleteCertificateFromStore takes over (and frees) the context.
        if unsafe { CertDeleteCertificateFromStore(context) } == 0 {
            return Err(self.failure("remove the certificate from"));
        }
        store.commit();
        Ok(true)
    }

    fn open(&self) -> Result<Store> {
        let location = match self.location {
            StoreLocation::CurrentUser => CERT_SYSTEM_STORE_CURRENT_USER,
            StoreLocation::LocalMachine => CERT_SYSTEM_STORE_LOCAL_MACHINE,
        };
        let name: Vec<u16> = "My".encode_utf16().chain(std::iter::once(0)).collect();
        // SAFETY: `name` is NUL-terminated and outlives the call.
        let store = unsafe {
            CertOpenStore(
                CERT_STORE_PROV_SYSTEM_W,
                0,
                0,
                location,
                name.as_ptr().cast(),
            )
        };
        if store.is_null() {
            return Err(self.failure("open the certificate store"));
        }
        Ok(Store(store))
    }

    /// An error naming the store and the system's reason (read right away, before another
    /// call can overwrite it).
    fn failure(&self, action: &'static str) -> Error {
        // SAFETY: reads the calling thread's last-error value.
        let code = unsafe { GetLastError() };
        let reason = std::io::Error::from_raw_os_error(code as i32);
        let store = match self.location {
            StoreLocation::CurrentUser => "Cert:\\CurrentUser\\My",
            StoreLocation::LocalMachine => "Cert:\\LocalMachine\\My",
        };
        Error::io(action, store, reason)
    }
}

/// An open certificate store, closed on drop.
struct Store(HCERTSTORE);

impl Store {
    /// Writes changes through to where the store keeps them. Windows writes a system store at
    /// once and ignores this; Wine keeps a deletion in memory until the store is committed.
    fn commit(&self) {
        // SAFETY: a valid store; the result is ignored (best effort, see above).
        unsafe { CertControlStore(self.0, 0, CERT_STORE_CTRL_COMMIT, std::ptr::null()) };
    }

    fn find(&self, thumbprint: &Thumbprint) -> Option<Context> {
        let mut hash = thumbprint.to_bytes();
        let blob = CRYPT_INTEGER_BLOB {
            cbData: hash.len() as u32,
            pbData: hash.as_mut_ptr(),
        };
        // SAFETY: `blob` points at `hash`, both live through the call.
        let found = unsafe {
            CertFindCertificateInStore(
                self.0,
                ENCODING,
                0,
                CERT_FIND_SHA1_HASH,
                (&blob as *const CRYPT_INTEGER_BLOB).cast(),
                std::ptr::null(),
            )
        };
        (!found.is_null()).then_some(Context(found))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // SAFETY: opened by this module, closed once.
        unsafe { CertCloseStore(self.0, 0) };
    }
}

/// A certificate context, freed on drop.
struct Context(*mut CERT_CONTEXT);

impl Context {
    /// Whether the certificate is linked to a private key.
    fn has_private_key(&self) -> bool {
        let mut size = 0u32;
        // SAFETY: a size query on a valid context.
        unsafe {
            CertGetCertificateContextProperty(
                self.0,
                CERT_KEY_PROV_INFO_PROP_ID,
                std::ptr::null_mut(),
                &mut size,
            ) != 0
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context came from a find and is freed once.
        unsafe { CertFreeCertificateContext(self.0) };
    }
}
