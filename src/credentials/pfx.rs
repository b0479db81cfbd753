//! PFX (PKCS#12) import and export.

use secrecy::{ExposeSecret, SecretBox, SecretString};

use super::PfxEncryption;
use super::certificate::Certificate;
use crate::error::{Error, Result};

impl Certificate {
    /// Exports certificate and private key as a PFX protected by `password`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the certificate has no private key or the PFX cannot be built.
    pub fn to_pfx(&self, password: &SecretString, encryption: PfxEncryption) -> Result<Vec<u8>> {
        use p12_keystore::{
            EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain,
        };
        let key = self.private_key_pkcs8().ok_or_else(|| {
            Error::invalid_input(
                "certificate",
                "a PFX needs the private key, which this certificate lacks",
            )
        })?;
        if password.expose_secret().is_empty() {
            return Err(Error::invalid_input(
                "PFX password",
                "must not be empty: a PFX holds the private key",
            ));
        }
        let pfx_err = |e: p12_keystore::error::Error| {
            Error::invalid_input("certificate", format!("the PFX cannot be built: {e}"))
        };
        let cert = p12_keystore::Certificate::from_der(self.der()).map_err(pfx_err)?;
        let private_key = p12_keystore::PrivateKey::from_der(key).map_err(pfx_err)?;
        let local_key_id = self.thumbprint().to_bytes().to_vec();
        let chain = PrivateKeyChain::new(local_key_id, private_key, vec![cert]);
        let mut store = KeyStore::new();
        store.add_entry(
            self.thumbprint().as_str(),
            KeyStoreEntry::PrivateKeyChain(chain),
        );
        let writer = store.writer(password.expose_secret());
        let writer = match encryption {
            PfxEncryption::Aes256 => writer
                .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
                .mac_algorithm(MacAlgorithm::HmacSha256),
            PfxEncryption::LegacyTripleDes => writer
                .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
                .mac_algorithm(MacAlgorithm::HmacSha1)
                .encryption_iterations(2000)
                .mac_iterations(2000),
        };
        writer.write().map_err(pfx_err)
    }

    /// Reads a PFX: the first private key with its certificate.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the bytes are not a PFX, the password is wrong, or it holds no
    /// private key with its certificate.
    pub fn from_pfx(bytes: &[u8], password: &SecretString) -> Result<Self> {
        use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
        let store =
            KeyStore::from_pkcs12(bytes, password.expose_secret(), Pkcs12ImportPolicy::Relaxed)
                .map_err(|e| {
                    Error::invalid_input(
                        "certificate",
                        format!(
                            "the PFX cannot be opened (wrong password, or not a PFX file): {e}"
                        ),
                    )
                })?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            Error::invalid_input(
                "certificate",
                "the PFX holds no private key with a certificate",
            )
        })?;
        let cert = chain.certs().first().ok_or_else(|| {
            Error::invalid_input("certificate", "the PFX's private key has no certificate")
        })?;
        Certificate::from_parts(
            cert.as_der().to_vec(),
            Some(SecretBox::new(Box::new(chain.key().as_der().to_vec()))),
        )
    }
}
