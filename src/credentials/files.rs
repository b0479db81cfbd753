//! Writing certificate files: atomically, never over an existing file unless asked, and with
//! owner-only permissions for anything that holds key material; and reusing them only when this
//! crate wrote them (see [`CertificateOutput::load_existing`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::trust::{self, Exposure};
use crate::error::{Error, Result};
use crate::ids::Thumbprint;

/// The largest certificate, key or PFX file read back from an output folder.
const MAX_CERTIFICATE_FILE: u64 = 256 * 1024;
/// The largest record read back (one holds a thumbprint and a date).
const MAX_RECORD_FILE: u64 = 64 * 1024;
/// A temporary file older than this was left by a write that was killed: no write takes longer.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(60);

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
    remove_stale_temporaries(path);
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

/// Removes the temporary files a killed [`write_atomic`] of `path` left behind
/// (`.<name>.<32 hex digits>.tmp`, older than [`STALE_TEMPORARY`], a regular file of this user):
/// one may hold a private key. Best effort: what cannot be removed stays.
pub(crate) fn remove_stale_temporaries(path: &Path) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(id) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let stale = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_TEMPORARY);
        let tmp = entry.path();
        // Only this user's own regular files: never follow a link planted under that name.
        if stale
            && trust::check_trusted(&tmp, u64::MAX, Exposure::ReadableByOthers) == Ok(true)
            && std::fs::remove_file(&tmp).is_ok()
        {
            tracing::info!(file = %tmp.display(), "removed a temporary file a stopped run left");
        }
    }
}

/// Creates the folder `dir` when it is missing, its last component open to nobody but the
/// current user (mode 0700; on Windows a protected DACL for the user, SYSTEM and
/// Administrators, inherited by what is put in it); missing parents are made as usual. A folder
/// that exists is left as it is.
pub(crate) fn create_dir_owner_only(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create the folder", parent, e))?;
    }
    #[cfg(unix)]
    let created = {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(dir)
    };
    #[cfg(windows)]
    let created = super::windows::create_dir_owner_only(dir);
    #[cfg(not(any(unix, windows)))]
    let created = std::fs::create_dir(dir);
    match created {
        Ok(()) => Ok(()),
        // Made by a run beside this one: fine, it is a folder.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io("create the folder", dir, e)),
    }
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

    /// The file beside the certificate's files that records, by thumbprint, which certificate
    /// [`Certificate::write_files`](super::Certificate::write_files) wrote under this stem
    /// (`<stem>.appreg.json`, owner-only). [`load_existing`](Self::load_existing) reuses only
    /// the certificate it names. One file per stem: runs for different apps in one folder never
    /// write the same record.
    pub fn record_file(&self) -> PathBuf {
        self.dir.join(format!("{}.appreg.json", self.stem))
    }

    /// The certificate an earlier run of this crate wrote here, so that a re-run after a failure
    /// uses the key already on disk instead of stopping at the existing files.
    ///
    /// Files another user could have planted are never reused: the files are read only when
    /// each is a regular file (not a link) of the current user, the key and PFX open to nobody
    /// else and the certificate writable by nobody else, and only when the certificate's
    /// thumbprint is the one recorded for this stem in [`record_file`](Self::record_file),
    /// itself held to the same rules; a `.cer` beside them must hold the same certificate.
    /// Temporary files a killed write left are removed first.
    ///
    /// `Ok(None)` when none of the files exist; the certificate with its files when the PEM
    /// certificate and private key exist, were written here by this crate, belong together and
    /// are usable (and the PFX too, when one is asked for).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the file when the stem is not a safe file name, a file is
    /// not trusted (a link, another owner, open to others, too large), the certificate is not
    /// one this crate recorded here, only some of the files exist, or they do not belong
    /// together or hold no usable certificate with its key; [`Error::Io`] when a file exists
    /// and cannot be read.
    pub fn load_existing(&self) -> Result<Option<(super::Certificate, CertificateFiles)>> {
        check_stem(&self.stem)?;
        let planned = self.planned_files();
        let all = [
            &planned.certificate_pem,
            &planned.private_key_pem,
            &planned.certificate_cer,
            &planned.pfx,
        ];
        for p in all.iter().copied().flatten() {
            remove_stale_temporaries(p);
        }
        // A dangling link counts as there: it is refused below, not taken for a missing file.
        if !all
            .iter()
            .copied()
            .flatten()
            .any(|p| std::fs::symlink_metadata(p).is_ok())
        {
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
        let read = |p: &Option<PathBuf>, exposure: Exposure| -> Result<Zeroizing<Vec<u8>>> {
            let Some(p) = p else {
                return Ok(Zeroizing::new(Vec::new()));
            };
            trust::read_trusted("output file", p, MAX_CERTIFICATE_FILE, exposure)?
                .ok_or_else(|| incomplete(format!("{} is missing", p.display())))
        };
        let certificate_pem = read(&planned.certificate_pem, Exposure::ReadableByOthers)?;
        let key_pem = read(&planned.private_key_pem, Exposure::OwnerOnly)?;
        let mut pem = Zeroizing::new(Vec::with_capacity(
            certificate_pem.len() + key_pem.len() + 1,
        ));
        pem.extend_from_slice(&certificate_pem);
        pem.push(b'\n');
        pem.extend_from_slice(&key_pem);
        let text = std::str::from_utf8(&pem)
            .map_err(|_| incomplete("they are not PEM text".to_owned()))?;
        let certificate = super::Certificate::from_pem(text).map_err(|e| {
            incomplete(format!(
                "they are not a usable certificate with its key ({e})"
            ))
        })?;
        self.check_recorded(certificate.thumbprint(), &planned)?;
        certificate
            .check_usable(true)
            .map_err(|e| incomplete(e.to_string()))?;
        let mut files = planned.clone();
        if let Some(cer) = &planned.certificate_cer {
            // The file the portal uploads must be this certificate, byte for byte.
            match trust::read_trusted(
                "output file",
                cer,
                MAX_CERTIFICATE_FILE,
                Exposure::ReadableByOthers,
            )? {
                None => files.certificate_cer = None,
                Some(der) if der.as_slice() == certificate.der() => {}
                Some(_) => {
                    return Err(incomplete(format!(
                        "{} holds another certificate than {}",
                        cer.display(),
                        planned
                            .certificate_pem
                            .as_ref()
                            .map_or_else(String::new, |p| p.display().to_string())
                    )));
                }
            }
        }
        if let (Some(p), Some(password)) = (&planned.pfx, &self.pfx_password) {
            #[cfg(feature = "pfx")]
            {
                let bytes = trust::read_trusted(
                    "output file",
                    p,
                    MAX_CERTIFICATE_FILE,
                    Exposure::OwnerOnly,
                )?
                .ok_or_else(|| incomplete(format!("the PFX {} is missing", p.display())))?;
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

    /// Checks that this stem's record names `thumbprint`: the files were written here by this
    /// crate, not put there by someone else.
    fn check_recorded(&self, thumbprint: &Thumbprint, planned: &CertificateFiles) -> Result<()> {
        let record = self.record_file();
        if Record::read(&record)?.is_some_and(|w| &w.thumbprint == thumbprint) {
            return Ok(());
        }
        let key = planned
            .private_key_pem
            .as_ref()
            .map_or_else(|| self.dir.clone(), Clone::clone);
        Err(Error::invalid_input(
            "output file",
            format!(
                "{} holds the certificate {thumbprint}, which this tool did not write there ({} does not name it), so it is not used: \
                 remove the files, choose another output folder, or, if you trust that certificate, reuse it explicitly \
                 (appreg: --reuse-certificate)",
                key.display(),
                record.display()
            ),
        ))
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
        check_stem(&self.stem)?;
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
        check_stem(&out.stem)?;
        create_dir_owner_only(&out.dir)?;
        let path = |ext: &str| out.dir.join(format!("{}.{ext}", out.stem));
        let mut planned: Vec<(PathBuf, Zeroizing<Vec<u8>>, Sensitivity)> = vec![
            (
                path("pem"),
                Zeroizing::new(self.to_pem().into_bytes()),
                Sensitivity::Public,
            ),
            (
                path("cer"),
                Zeroizing::new(self.der().to_vec()),
                Sensitivity::Public,
            ),
        ];
        let key = self.private_key_pem();
        if let Some(k) = &key {
            planned.push((
                path("key.pem"),
                Zeroizing::new(k.expose_secret().as_bytes().to_vec()),
                Sensitivity::Secret,
            ));
        }
        #[cfg(feature = "pfx")]
        if let Some(password) = &out.pfx_password {
            planned.push((
                path("pfx"),
                Zeroizing::new(self.to_pfx(password, out.pfx_encryption)?),
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
        // Recorded before the files exist: a file of this certificate found here later is one
        // this crate wrote, and nothing else is.
        if key.is_some() {
            Record::write(&out.record_file(), self.thumbprint())?;
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

/// What a stem's record says: the certificate
/// [`Certificate::write_files`](super::Certificate::write_files) wrote under that stem.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Written {
    thumbprint: Thumbprint,
    #[serde(with = "time::serde::rfc3339")]
    written: time::OffsetDateTime,
}

/// A stem's record ([`CertificateOutput::record_file`]).
struct Record;

impl Record {
    /// What the record at `path` says: `None` when there is none; an error when it is not
    /// trusted or not one this crate wrote (its content is never quoted).
    fn read(path: &Path) -> Result<Option<Written>> {
        let Some(bytes) =
            trust::read_trusted("output file", path, MAX_RECORD_FILE, Exposure::OwnerOnly)?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::invalid_input(
                "output file",
                format!(
                    "{} is not a record this tool wrote ({}); move it away",
                    path.display(),
                    crate::redact::json_error_position(&e)
                ),
            )
        })
    }

    /// Records `thumbprint` at `path` (replacing what was there: the stem's files are now this
    /// certificate's), then reads it back under the trust rules, so that a folder where an
    /// owner-only file cannot be made stops the write before any certificate file exists.
    fn write(path: &Path, thumbprint: &Thumbprint) -> Result<()> {
        let written = Written {
            thumbprint: thumbprint.clone(),
            written: time::OffsetDateTime::now_utc(),
        };
        let bytes = serde_json::to_vec_pretty(&written).unwrap_or_default();
        write_atomic(path, &bytes, Sensitivity::Secret, true)?;
        Self::read(path).map(drop)
    }
}

/// Names Windows gives to devices, with or without an extension (`NUL.pem` is the device too).
const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM1", "COM2", "COM3", "COM4", "COM5",
    "COM6", "COM7", "COM8", "COM9", "COM0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7",
    "LPT8", "LPT9", "LPT0",
];

/// Whether `stem` is safe as the name of a certificate's files on every system (see
/// [`CertificateOutput`]): 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting with a dot, and not a
/// Windows device name (`CON`, `NUL.backup`, `COM1`…).
///
/// ```
/// use entra_appreg::credentials::is_safe_file_stem;
/// assert!(is_safe_file_stem("contoso-backup"));
/// assert!(!is_safe_file_stem("aux"));
/// assert!(!is_safe_file_stem("C:x"));
/// ```
pub fn is_safe_file_stem(stem: &str) -> bool {
    check_stem(stem).is_ok()
}

/// A file name stem is safe on every system: 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting
/// with a dot, and not a Windows device name. That rules out paths (`/`, `\\`), drive and
/// alternate-stream forms (`C:x`, `a:b`), and names Windows would open as a device.
pub(crate) fn check_stem(stem: &str) -> Result<()> {
    let refuse = |why: &str| {
        Error::invalid_input(
            "file name",
            format!(
                "the file name stem {:?} {why}: use 1 to 128 of the letters A-Z and a-z, digits, '.', '_' and '-'",
                crate::redact::short(stem)
            ),
        )
    };
    if stem.is_empty() || stem.len() > 128 {
        return Err(refuse("is empty or too long"));
    }
    if !stem
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(refuse("has a character that is not safe in a file name"));
    }
    if stem.starts_with('.') {
        return Err(refuse("starts with a dot"));
    }
    let base = stem.split('.').next().unwrap_or(stem);
    if WINDOWS_RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(base))
    {
        return Err(refuse("is a device name on Windows"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "pfx")]
    #[test]
    fn a_re_run_reuses_its_files_only_when_the_pfx_holds_the_same_certificate() {
        let dir = std::env::temp_dir().join(format!("appreg-reuse-{}", uuid::Uuid::new_v4()));
        let mut out = CertificateOutput::new(&dir, "contoso");
        let password = secrecy::SecretString::from("pw".to_owned());
        out.pfx_password = Some(password.clone());
        let certificate = super::super::Certificate::generate("Contoso Backup", 30).unwrap();
        let files = certificate.write_files(&out).unwrap();
        let (found, _) = out.load_existing().unwrap().expect("the files are there");
        assert_eq!(found.thumbprint(), certificate.thumbprint());
        // Another certificate's PFX under the same name: the files do not belong together.
        let other = super::super::Certificate::generate("Contoso Backup", 30).unwrap();
        let pfx = other
            .to_pfx(&password, super::super::PfxEncryption::Aes256)
            .unwrap();
        write_atomic(files.pfx.as_ref().unwrap(), &pfx, Sensitivity::Secret, true).unwrap();
        let err = out.load_existing().unwrap_err();
        assert!(err.to_string().contains("another certificate"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_name_stem_is_1_to_128_characters() {
        assert!(check_stem(&"a".repeat(128)).is_ok());
        assert!(check_stem(&"a".repeat(129)).unwrap_err().is_invalid_input());
        assert!(check_stem("").unwrap_err().is_invalid_input());
    }

    #[test]
    fn only_temporaries_older_than_a_minute_are_removed() {
        let dir = std::env::temp_dir().join(format!("appreg-stale-{}", uuid::Uuid::new_v4()));
        create_dir_owner_only(&dir).unwrap();
        let target = dir.join("contoso.key.pem");
        let tmp = |id: char| {
            dir.join(format!(
                ".contoso.key.pem.{}.tmp",
                id.to_string().repeat(32)
            ))
        };
        let (old, fresh) = (tmp('a'), tmp('b'));
        for p in [&old, &fresh] {
            std::fs::write(p, b"key").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - STALE_TEMPORARY * 2;
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        remove_stale_temporaries(&target);
        assert!(!old.exists(), "a stale temporary is removed");
        assert!(
            fresh.exists(),
            "a temporary another run may be writing stays"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

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
