//! The Windows certificate store: a certificate goes into the personal store with its private
//! key, once however often it is imported, with a key that cannot be exported unless asked.
//! The store is read back through the system's own calls, independently of the code under test.
//! Each test removes the certificates it imported from the current user's store; their key
//! containers stay behind, since removing a certificate never deletes a key.
#![cfg(all(windows, feature = "pfx"))]

use entra_appreg::credentials::{Certificate, CertificateStore, StoreImport, StoreLocation};
use windows_sys::Win32::Security::Cryptography::{
    AT_KEYEXCHANGE, AT_SIGNATURE, CERT_FIND_SHA1_HASH, CERT_NCRYPT_KEY_SPEC,
    CERT_STORE_PROV_SYSTEM_W, CERT_SYSTEM_STORE_CURRENT_USER, CRYPT_ACQUIRE_ALLOW_NCRYPT_KEY_FLAG,
    CRYPT_ACQUIRE_SILENT_FLAG, CRYPT_EXPORT, CRYPT_INTEGER_BLOB, CertCloseStore,
    CertFindCertificateInStore, CertFreeCertificateContext, CertOpenStore,
    CryptAcquireCertificatePrivateKey, CryptDestroyKey, CryptGetKeyParam, CryptGetUserKey,
    CryptReleaseContext, KP_PERMISSIONS, NCRYPT_ALLOW_EXPORT_FLAG,
    NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG, NCRYPT_EXPORT_POLICY_PROPERTY, NCryptFreeObject,
    NCryptGetProperty, PKCS_7_ASN_ENCODING, X509_ASN_ENCODING,
};

/// Whether the current user's store holds this certificate with a private key that may be
/// exported: `None` when the certificate or its key is missing.
fn key_exportable(certificate: &Certificate) -> Option<bool> {
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
        let exportable = if acquired == 0 {
            None
        } else if spec == CERT_NCRYPT_KEY_SPEC {
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
            if free != 0 {
                unsafe { NCryptFreeObject(key) };
            }
            Some(policy & (NCRYPT_ALLOW_EXPORT_FLAG | NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG) != 0)
        } else {
            let mut user_key = 0usize;
            // Wine reports the key spec as 3 (both bits); the key is one of the two.
            let found = [spec, AT_KEYEXCHANGE, AT_SIGNATURE]
                .into_iter()
                .any(|spec| unsafe { CryptGetUserKey(key, spec, &mut user_key) } != 0);
            assert!(found, "{}", std::io::Error::last_os_error());
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
            if free != 0 {
                unsafe { CryptReleaseContext(key, 0) };
            }
            Some(permissions & CRYPT_EXPORT != 0)
        };
        unsafe { CertFreeCertificateContext(context) };
        exportable
    };
    unsafe { CertCloseStore(store, 0) };
    result
}

#[test]
fn a_certificate_is_imported_with_its_key_once_and_found_by_thumbprint() {
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
    let certificate = Certificate::generate("Contoso Store Export", 30).unwrap();
    let store = CertificateStore::new(StoreLocation::CurrentUser).exportable_key(true);
    assert_eq!(store.import(&certificate).unwrap(), StoreImport::Imported);
    assert_eq!(key_exportable(&certificate), Some(true));
    assert!(store.remove(certificate.thumbprint()).unwrap());
}

#[test]
fn a_certificate_without_its_key_is_refused() {
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
