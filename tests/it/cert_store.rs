//! The Windows certificate store: a certificate goes into the personal store with its private
//! key, once however often it is imported, with a key that cannot be exported unless asked.
//! The store is read back through the system's own calls, independently of the code under test.
//! Each test removes the certificates it imported from the current user's store; their key
//! containers stay behind, since removing a certificate never deletes a key.

use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
    VerificationAlgorithm,
};
use entra_appreg::Error;
use entra_appreg::credentials::{Certificate, CertificateStore, StoreImport, StoreLocation};
use windows_sys::Win32::Security::Cryptography::{
    AT_KEYEXCHANGE, AT_SIGNATURE, BCRYPT_PAD_PKCS1, BCRYPT_PKCS1_PADDING_INFO,
    BCRYPT_SHA256_ALGORITHM, CALG_SHA1, CERT_FIND_SHA1_HASH, CERT_NCRYPT_KEY_SPEC,
    CERT_STORE_PROV_SYSTEM_W, CERT_SYSTEM_STORE_CURRENT_USER, CRYPT_ACQUIRE_ALLOW_NCRYPT_KEY_FLAG,
    CRYPT_ACQUIRE_SILENT_FLAG, CRYPT_EXPORT, CRYPT_INTEGER_BLOB, CertCloseStore,
    CertFindCertificateInStore, CertFreeCertificateContext, CertOpenStore,
    CryptAcquireCertificatePrivateKey, CryptCreateHash, CryptDestroyHash, CryptDestroyKey,
    CryptGetKeyParam, CryptGetUserKey, CryptHashData, CryptReleaseContext, CryptSignHashW,
    KP_PERMISSIONS, NCRYPT_ALLOW_EXPORT_FLAG, NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG,
    NCRYPT_EXPORT_POLICY_PROPERTY, NCryptFreeObject, NCryptGetProperty, NCryptSignHash,
    PKCS_7_ASN_ENCODING, X509_ASN_ENCODING,
};

/// Held by each test while it imports. Wine's `PFXImportCertStore` puts every imported key
/// into the one default key container (it names none: `import_key` in wine-mirror/wine
/// dlls/crypt32/pfx.c), so an import clobbers the key of the one before; Windows gives each
/// import a container of its own. Tests that import one at a time see what Windows would.
static IMPORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_import_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    IMPORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A private key the store handed out for a certificate.
enum StoreKey {
    /// A CNG key handle.
    Cng(usize),
    /// A CryptoAPI provider handle and the key's spec.
    CryptoApi(usize, u32),
}

/// Runs `f` with the private key the current user's store holds for this certificate, found
/// by thumbprint through the system's own calls: `None` when the certificate or its key is
/// missing.
fn with_store_key<T>(certificate: &Certificate, f: impl FnOnce(&StoreKey) -> T) -> Option<T> {
    let name: Vec<u16> = "My".encode_utf16().chain(std::iter::once(0)).collect();
    let store = unsafe {
        CertOpenStore(
            CERT_STORE_PROV_SYSTEM_W,
            0,
            0,
            CERT_SYSTEM_STORE_CURRENT_USER,
            name.as_ptr().cast(),
        )
    };
    assert!(!store.is_null());
    let mut hash = certificate.thumbprint().to_bytes();
    let blob = CRYPT_INTEGER_BLOB {
        cbData: 20,
        pbData: hash.as_mut_ptr(),
    };
    let context = unsafe {
        CertFindCertificateInStore(
            store,
            X509_ASN_ENCODING | PKCS_7_ASN_ENCODING,
            0,
            CERT_FIND_SHA1_HASH,
            (&blob as *const CRYPT_INTEGER_BLOB).cast(),
            std::ptr::null(),
        )
    };
    let result = if context.is_null() {
        None
    } else {
        let mut key = 0usize;
        let mut spec = 0u32;
        let mut free = 0;
        let acquired = unsafe {
            CryptAcquireCertificatePrivateKey(
                context,
                CRYPT_ACQUIRE_SILENT_FLAG | CRYPT_ACQUIRE_ALLOW_NCRYPT_KEY_FLAG,
                std::ptr::null(),
                &mut key,
                &mut spec,
                &mut free,
            )
        };
        let result = if acquired == 0 {
            None
        } else if spec == CERT_NCRYPT_KEY_SPEC {
            let result = f(&StoreKey::Cng(key));
            if free != 0 {
                unsafe { NCryptFreeObject(key) };
            }
            Some(result)
        } else {
            let result = f(&StoreKey::CryptoApi(key, spec));
            if free != 0 {
                unsafe { CryptReleaseContext(key, 0) };
            }
            Some(result)
        };
        unsafe { CertFreeCertificateContext(context) };
        result
    };
    unsafe { CertCloseStore(store, 0) };
    result
}

/// The CryptoAPI key of a provider. Wine reports the key spec as 3 (both bits); the key is
/// one of the two.
fn user_key(provider: usize, spec: u32) -> (usize, u32) {
    let mut user_key = 0usize;
    let found = [spec, AT_KEYEXCHANGE, AT_SIGNATURE]
        .into_iter()
        .find(|&spec| unsafe { CryptGetUserKey(provider, spec, &mut user_key) } != 0);
    let spec = found.unwrap_or_else(|| panic!("{}", std::io::Error::last_os_error()));
    (user_key, spec)
}

/// Whether the current user's store holds this certificate with a private key that may be
/// exported: `None` when the certificate or its key is missing.
fn key_exportable(certificate: &Certificate) -> Option<bool> {
    with_store_key(certificate, |key| match *key {
        StoreKey::Cng(key) => {
            let mut policy = 0u32;
            let mut size = 0u32;
            let status = unsafe {
                NCryptGetProperty(
                    key,
                    NCRYPT_EXPORT_POLICY_PROPERTY,
                    (&mut policy as *mut u32).cast(),
                    4,
                    &mut size,
                    0,
                )
            };
            assert_eq!(status, 0, "the export policy of the key");
            policy & (NCRYPT_ALLOW_EXPORT_FLAG | NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG) != 0
        }
        StoreKey::CryptoApi(provider, spec) => {
            let (user_key, _) = user_key(provider, spec);
            let mut permissions = 0u32;
            let mut size = 4u32;
            assert_ne!(
                unsafe {
                    CryptGetKeyParam(
                        user_key,
                        KP_PERMISSIONS,
                        (&mut permissions as *mut u32).cast(),
                        &mut size,
                        0,
                    )
                },
                0,
                "the permissions of the key"
            );
            unsafe { CryptDestroyKey(user_key) };
            permissions & CRYPT_EXPORT != 0
        }
    })
}

/// Signs `message` (PKCS#1 v1.5) with the key the store holds for `signer`, and says whether
/// the signature verifies against `verifier`'s public key, checked with a library other than
/// the system's.
fn store_key_signs(signer: &Certificate, verifier: &Certificate, message: &[u8]) -> Option<bool> {
    with_store_key(signer, |key| {
        let (signature, algorithm): (Vec<u8>, &'static dyn VerificationAlgorithm) = match *key {
            StoreKey::Cng(key) => {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
                let padding = BCRYPT_PKCS1_PADDING_INFO {
                    pszAlgId: BCRYPT_SHA256_ALGORITHM,
                };
                let mut signature = vec![0u8; 512];
                let mut size = 0u32;
                let status = unsafe {
                    NCryptSignHash(
                        key,
                        (&padding as *const BCRYPT_PKCS1_PADDING_INFO).cast(),
                        digest.as_ref().as_ptr(),
                        digest.as_ref().len() as u32,
                        signature.as_mut_ptr(),
                        signature.len() as u32,
                        &mut size,
                        BCRYPT_PAD_PKCS1,
                    )
                };
                assert_eq!(status, 0, "signing with the CNG key");
                signature.truncate(size as usize);
                (signature, &RSA_PKCS1_2048_8192_SHA256)
            }
            StoreKey::CryptoApi(provider, spec) => {
                let (user_key, spec) = user_key(provider, spec);
                unsafe { CryptDestroyKey(user_key) };
                // SHA-1: the one hash every CryptoAPI RSA provider signs with.
                let mut hash = 0usize;
                assert_ne!(
                    unsafe { CryptCreateHash(provider, CALG_SHA1, 0, 0, &mut hash) },
                    0,
                    "{}",
                    std::io::Error::last_os_error()
                );
                assert_ne!(
                    unsafe { CryptHashData(hash, message.as_ptr(), message.len() as u32, 0) },
                    0
                );
                let mut signature = vec![0u8; 512];
                let mut size = signature.len() as u32;
                let signed = unsafe {
                    CryptSignHashW(
                        hash,
                        spec,
                        std::ptr::null(),
                        0,
                        signature.as_mut_ptr(),
                        &mut size,
                    )
                };
                assert_ne!(signed, 0, "{}", std::io::Error::last_os_error());
                unsafe { CryptDestroyHash(hash) };
                signature.truncate(size as usize);
                // CryptoAPI writes the signature little-endian.
                signature.reverse();
                (signature, &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY)
            }
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(verifier.der()).unwrap();
        let public_key = &parsed.public_key().subject_public_key.data;
        UnparsedPublicKey::new(algorithm, public_key.as_ref())
            .verify(message, &signature)
            .is_ok()
    })
}

#[test]
fn a_certificate_is_imported_with_its_key_once_and_found_by_thumbprint() {
    let _imports = one_import_at_a_time();
    let certificate = Certificate::generate("Contoso Store Test", 30).unwrap();
    let store = CertificateStore::new(StoreLocation::CurrentUser);
    assert!(!store.contains(certificate.thumbprint()).unwrap());
    assert_eq!(store.import(&certificate).unwrap(), StoreImport::Imported);
    assert!(store.contains(certificate.thumbprint()).unwrap());
    assert_eq!(
        key_exportable(&certificate),
        Some(false),
        "exportable by default"
    );
    assert_eq!(
        store_key_signs(&certificate, &certificate, b"the product signs in"),
        Some(true),
        "the stored key signs for the certificate"
    );
    // The check can fail: another certificate's stored key does not sign for this one.
    let other = Certificate::generate("Contoso Store Other", 30).unwrap();
    assert_eq!(store.import(&other).unwrap(), StoreImport::Imported);
    assert_eq!(store_key_signs(&other, &certificate, b"x"), Some(false));
    assert_eq!(store_key_signs(&other, &other, b"x"), Some(true));
    assert!(store.remove(other.thumbprint()).unwrap());
    assert_eq!(
        store.import(&certificate).unwrap(),
        StoreImport::AlreadyPresent
    );
    assert!(store.remove(certificate.thumbprint()).unwrap());
    assert!(!store.contains(certificate.thumbprint()).unwrap());
    assert_eq!(key_exportable(&certificate), None);
    assert!(!store.remove(certificate.thumbprint()).unwrap());
}

#[test]
fn an_exportable_key_is_only_made_when_asked_for() {
    let _imports = one_import_at_a_time();
    let certificate = Certificate::generate("Contoso Store Export", 30).unwrap();
    let store = CertificateStore::new(StoreLocation::CurrentUser).exportable_key(true);
    assert_eq!(store.import(&certificate).unwrap(), StoreImport::Imported);
    assert_eq!(key_exportable(&certificate), Some(true));
    assert!(store.remove(certificate.thumbprint()).unwrap());
}

#[test]
fn a_certificate_without_its_key_is_refused() {
    let _imports = one_import_at_a_time();
    let with_key = Certificate::generate("Contoso Store Public", 30).unwrap();
    let public = Certificate::from_der(with_key.der()).unwrap();
    let err = CertificateStore::new(StoreLocation::CurrentUser)
        .import(&public)
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert!(
        !CertificateStore::new(StoreLocation::CurrentUser)
            .contains(with_key.thumbprint())
            .unwrap()
    );
}

/// The machine's store, for services: imported and found like the user's, or, in a process
/// that is not elevated, refused with advice to elevate.
#[test]
fn the_machine_store_takes_the_certificate_or_says_to_elevate() {
    let _imports = one_import_at_a_time();
    let certificate = Certificate::generate("Contoso Store Machine", 30).unwrap();
    let store = CertificateStore::new(StoreLocation::LocalMachine);
    match store.import(&certificate) {
        Ok(imported) => {
            assert_eq!(imported, StoreImport::Imported);
            assert!(store.contains(certificate.thumbprint()).unwrap());
            assert_eq!(
                store.import(&certificate).unwrap(),
                StoreImport::AlreadyPresent
            );
            assert!(store.remove(certificate.thumbprint()).unwrap());
            assert!(!store.contains(certificate.thumbprint()).unwrap());
        }
        Err(e) => {
            let Error::Io { source, path, .. } = &e else {
                panic!("{e:?}")
            };
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
            assert_eq!(path.to_str(), Some("Cert:\\LocalMachine\\My"));
            assert!(
                e.report().to_string().contains("Run as administrator"),
                "{e}"
            );
        }
    }
}
