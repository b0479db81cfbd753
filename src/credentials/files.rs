//! Writing certificate files: atomically, never over an existing file unless asked, and with
//! owner-only permissions for anything that holds key material.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Whether a file holds key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sensitivity {
    Public,
    Secret,
}

/// Writes `bytes` to `path` through a temporary file in the same folder, then links it into
/// place: a reader never sees half a file, and an existing file is replaced only when
/// `overwrite` is set. Secret files are created with mode 0600 on Unix, and on Windows with a
/// protected DACL for the current user, SYSTEM and Administrators only.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    sensitivity: Sensitivity,
    overwrite: bool,
) -> Result<()> {
    let io = |action: &'static str, e: std::io::Error| Error::io(action, path, e);
    if !overwrite && path.exists() {
        return Err(Error::invalid_input(
            "output file",
            format!(
                "{} already exists; choose another folder or allow overwriting",
                path.display()
            ),
        ));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = create_new(&tmp, sensitivity).map_err(|e| io("create a file beside", e))?;
        file.write_all(bytes).map_err(|e| io("write", e))?;
        file.sync_all().map_err(|e| io("flush", e))?;
        drop(file);
        if overwrite {
            std::fs::rename(&tmp, path).map_err(|e| io("move into place", e))
        } else {
            // A hard link fails if the target appeared meanwhile: no silent overwrite.
            std::fs::hard_link(&tmp, path).map_err(|e| io("create", e))?;
            let _ = std::fs::remove_file(&tmp);
            Ok(())
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `tmp`, which must not exist, with access fit for `sensitivity` from the first moment:
/// the file is never readable by others between its creation and a later restriction.
fn create_new(tmp: &Path, sensitivity: Sensitivity) -> std::io::Result<std::fs::File> {
    #[cfg(windows)]
    if sensitivity == Sensitivity::Secret {
        return super::windows::create_owner_only(tmp);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(match sensitivity {
            Sensitivity::Secret => 0o600,
            Sensitivity::Public => 0o644,
        });
    }
    #[cfg(not(any(unix, windows)))]
    let _ = sensitivity;
    options.open(tmp)
}

/// The files a certificate was written to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CertificateFiles {
    /// The certificate as PEM.
    pub certificate_pem: Option<PathBuf>,
    /// The private key as PKCS#8 PEM (owner-only).
    pub private_key_pem: Option<PathBuf>,
    /// The certificate as DER (`.cer`), what the Entra portal uploads.
    pub certificate_cer: Option<PathBuf>,
    /// Certificate and key as a password-protected PFX (owner-only).
    pub pfx: Option<PathBuf>,
}

/// Where and how to write a certificate's files.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CertificateOutput {
    /// The folder (created if missing).
    pub dir: std::path::PathBuf,
    /// The file name stem (`<stem>.pem`, `<stem>.key.pem`, `<stem>.cer`, `<stem>.pfx`).
    pub stem: String,
    /// Replace existing files (default: refuse).
    pub overwrite: bool,
    /// Also write a PFX protected by this password.
    pub pfx_password: Option<secrecy::SecretString>,
    /// The PFX's encryption.
    pub pfx_encryption: super::PfxEncryption,
}

impl CertificateOutput {
    /// Files named `<stem>.*` in `dir`, no PFX, no overwriting.
    pub fn new(dir: impl Into<std::path::PathBuf>, stem: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            stem: stem.into(),
            overwrite: false,
            pfx_password: None,
            pfx_encryption: super::PfxEncryption::default(),
        }
    }
}

impl CertificateOutput {
    /// The paths [`Certificate::write_files`](super::Certificate::write_files) writes for a
    /// certificate with its private key: `<stem>.pem`, `<stem>.key.pem`, `<stem>.cer`, and
    /// `<stem>.pfx` when a PFX password is set.
    pub fn planned_files(&self) -> CertificateFiles {
        let path = |ext: &str| self.dir.join(format!("{}.{ext}", self.stem));
        CertificateFiles {
            certificate_pem: Some(path("pem")),
            private_key_pem: Some(path("key.pem")),
            certificate_cer: Some(path("cer")),
            pfx: self.pfx_password.as_ref().map(|_| path("pfx")),
        }
    }

    /// The certificate an earlier run wrote here, so that a re-run after a failure uses the key
    /// already on disk instead of stopping at the existing files: `Ok(None)` when none of the
    /// files exist, the certificate with its files when the PEM certificate and private key
    /// exist, belong together and are usable (and the PFX too, when one is asked for), and an
    /// error when only some of them exist or they do not fit.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when only some of the files exist, they cannot be read, or they do
    /// not belong together or hold no usable certificate with its key.
    pub fn load_existing(&self) -> Result<Option<(super::Certificate, CertificateFiles)>> {
        let planned = self.planned_files();
        let all = [
            &planned.certificate_pem,
            &planned.private_key_pem,
            &planned.certificate_cer,
            &planned.pfx,
        ];
        if !all.iter().copied().flatten().any(|p| p.exists()) {
            return Ok(None);
        }
        let incomplete = |why: String| {
            Error::invalid_input(
                "output file",
                format!(
                    "{} holds files of an earlier certificate for {}, but {why}; choose another folder",
                    self.dir.display(),
                    self.stem
                ),
            )
        };
        let read = |p: &Option<PathBuf>| -> Result<String> {
            let p = p.as_ref().expect("planned");
            std::fs::read_to_string(p)
                .map_err(|e| incomplete(format!("{} cannot be read ({e})", p.display())))
        };
        let pem = read(&planned.certificate_pem)? + &read(&planned.private_key_pem)?;
        let certificate = super::Certificate::from_pem(&pem).map_err(|e| {
            incomplete(format!(
                "they are not a usable certificate with its key ({e})"
            ))
        })?;
        certificate
            .check_usable(true)
            .map_err(|e| incomplete(e.to_string()))?;
        let mut files = planned.clone();
        if planned
            .certificate_cer
            .as_ref()
            .is_some_and(|p| !p.exists())
        {
            files.certificate_cer = None;
        }
        if let (Some(p), Some(password)) = (&planned.pfx, &self.pfx_password) {
            #[cfg(feature = "pfx")]
            {
                let bytes = std::fs::read(p).map_err(|e| {
                    incomplete(format!("the PFX {} cannot be read ({e})", p.display()))
                })?;
                let from_pfx = super::Certificate::from_pfx(&bytes, password)
                    .map_err(|e| incomplete(e.to_string()))?;
                if from_pfx.thumbprint() != certificate.thumbprint() {
                    return Err(incomplete("the PFX holds another certificate".into()));
                }
            }
            #[cfg(not(feature = "pfx"))]
            let _ = (p, password);
        }
        Ok(Some((certificate, files)))
    }

    /// Checks, without writing anything, that
    /// [`Certificate::write_files`](super::Certificate::write_files) would not meet an existing
    /// file (unless `overwrite` is set). A caller runs it before signing in or sending anything,
    /// so a collision is reported while nothing has changed yet; `write_files` checks again.
    ///
    /// ```
    /// use entra_appreg::credentials::CertificateOutput;
    /// let dir = std::env::temp_dir().join(format!("appreg-doc-{}", std::process::id()));
    /// let out = CertificateOutput::new(&dir, "contoso-backup");
    /// assert!(out.check_available().is_ok());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first planned file that already exists (never when
    /// `overwrite` is set).
    pub fn check_available(&self) -> Result<()> {
        if self.overwrite {
            return Ok(());
        }
        let planned = self.planned_files();
        let existing = [
            &planned.certificate_pem,
            &planned.private_key_pem,
            &planned.certificate_cer,
            &planned.pfx,
        ]
        .into_iter()
        .flatten()
        .find(|p| p.exists());
        match existing {
            Some(p) => Err(Error::invalid_input(
                "output file",
                format!(
                    "{} already exists; choose another folder or allow overwriting",
                    p.display()
                ),
            )),
            None => Ok(()),
        }
    }
}

impl super::Certificate {
    /// Writes the certificate (PEM and CER), its private key (PEM, owner-only) and, with a
    /// password, a PFX (owner-only). Each file is written atomically; existing files are kept
    /// unless `overwrite` is set (then nothing is written if any file exists).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the stem is not a plain file name, a PFX is asked for and
    /// cannot be built (without the `pfx` feature, or without a private key), or a file exists
    /// and `overwrite` is not set; [`Error::Io`] when a folder or file cannot be created or
    /// written.
    pub fn write_files(&self, out: &CertificateOutput) -> Result<CertificateFiles> {
        use secrecy::ExposeSecret;
        if out.stem.is_empty()
            || out.stem.contains(['/', '\\'])
            || out.stem.chars().any(char::is_control)
        {
            return Err(Error::invalid_input(
                "file name",
                "the stem must be a plain file name",
            ));
        }
        std::fs::create_dir_all(&out.dir)
            .map_err(|e| Error::io("create the folder", &out.dir, e))?;
        let path = |ext: &str| out.dir.join(format!("{}.{ext}", out.stem));
        let mut planned: Vec<(PathBuf, Vec<u8>, Sensitivity)> = vec![
            (path("pem"), self.to_pem().into_bytes(), Sensitivity::Public),
            (path("cer"), self.der().to_vec(), Sensitivity::Public),
        ];
        let key = self.private_key_pem();
        if let Some(k) = &key {
            planned.push((
                path("key.pem"),
                k.expose_secret().as_bytes().to_vec(),
                Sensitivity::Secret,
            ));
        }
        #[cfg(feature = "pfx")]
        if let Some(password) = &out.pfx_password {
            planned.push((
                path("pfx"),
                self.to_pfx(password, out.pfx_encryption)?,
                Sensitivity::Secret,
            ));
        }
        #[cfg(not(feature = "pfx"))]
        if out.pfx_password.is_some() {
            return Err(Error::invalid_input(
                "PFX",
                "writing a PFX needs the `pfx` feature",
            ));
        }
        if !out.overwrite
            && let Some((existing, _, _)) = planned.iter().find(|(p, _, _)| p.exists())
        {
            return Err(Error::invalid_input(
                "output file",
                format!(
                    "{} already exists; choose another folder or allow overwriting",
                    existing.display()
                ),
            ));
        }
        let mut files = CertificateFiles::default();
        for (p, bytes, sensitivity) in planned {
            write_atomic(&p, &bytes, sensitivity, out.overwrite)?;
            match p.extension().and_then(|e| e.to_str()) {
                Some("cer") => files.certificate_cer = Some(p),
                Some("pfx") => files.pfx = Some(p),
                _ if p.to_string_lossy().ends_with(".key.pem") => files.private_key_pem = Some(p),
                _ => files.certificate_pem = Some(p),
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_available_names_the_first_existing_file_and_writes_nothing() {
        let dir = std::env::temp_dir().join(format!("appreg-check-{}", uuid::Uuid::new_v4()));
        let mut out = CertificateOutput::new(&dir, "contoso");
        assert!(
            out.check_available().is_ok(),
            "a missing folder is available"
        );
        assert!(!dir.exists(), "the check writes nothing");
        assert_eq!(out.planned_files().pfx, None);
        out.pfx_password = Some(secrecy::SecretString::from("pw".to_owned()));
        let pfx = out.planned_files().pfx.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&pfx, b"x").unwrap();
        let err = out.check_available().unwrap_err();
        assert!(err.is_invalid_input());
        assert!(err.to_string().contains("contoso.pfx"), "{err}");
        out.overwrite = true;
        assert!(out.check_available().is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
