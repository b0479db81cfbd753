//! The secret journal: what a run is about to create, so that a run killed before it could hand
//! a secret over leaves nothing live behind for long.
//!
//! A secret's value exists only in the reply to `addPassword`. If the process dies after Graph
//! created the secret but before the caller stored it, the secret stays valid (two years by
//! default) and nobody holds it. So, before it sends `addPassword`, a run records an *intent* —
//! the app, the run's marker (which the secret's display name carries) and the time — and marks
//! it done once the secret is handed over. The next run with the same journal finds intents that
//! never finished and removes exactly the secrets carrying their markers, never another
//! credential, and reports them (`retired_credentials`, warning `unfinished_secret_removed`).
//!
//! Without a journal a run still recovers in-process (a lost reply is reconciled by marker before
//! anything is sent again), but a secret created by a killed process lives until it expires or
//! someone removes it; `plan` and `audit` list such secrets by their markers as
//! `orphaned_credentials` only when a journal says they were never handed over.
//!
//! [`FileJournal`] keeps the journal in one small owner-only JSON file (`appreg` puts it in
//! `--out`), which exists only while an intent is open; embedders can keep it anywhere by
//! implementing [`SecretJournal`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::files::{Sensitivity, write_atomic};
use super::trust::{Exposure, read_trusted};
use crate::error::{Error, Result};
use crate::ids::ObjectId;

/// A run's intent to create a secret on an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretIntent {
    /// The application's object id.
    pub app_object_id: ObjectId,
    /// The run marker the secret's display name carries.
    pub marker: String,
    /// When the intent was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded: OffsetDateTime,
    /// Whether the secret was handed over.
    pub done: bool,
}

impl SecretIntent {
    /// An open intent recorded now.
    pub fn new(app_object_id: ObjectId, marker: impl Into<String>) -> Self {
        Self {
            app_object_id,
            marker: marker.into(),
            recorded: OffsetDateTime::now_utc(),
            done: false,
        }
    }
}

/// Runs `op` on `journal` off the async runtime's worker threads (a journal reads, writes and
/// `fsync`s a file): see [`crate::blocking::run`].
///
/// Requests may have been sent by then, so a journal that refuses its input (a file that is not
/// trusted, planted while the run went on) is an [`Error::Precondition`]: `InvalidInput`
/// promises that nothing was sent. Callers check the journal with [`check_before_requests`]
/// before their first request.
pub(crate) async fn off_runtime<T: Send + 'static>(
    journal: &std::sync::Arc<dyn SecretJournal>,
    op: impl FnOnce(&dyn SecretJournal) -> Result<T> + Send + 'static,
) -> Result<T> {
    let journal = std::sync::Arc::clone(journal);
    crate::blocking::run(move || op(journal.as_ref()))
        .await
        .map_err(|e| match e {
            Error::InvalidInput { what, reason } => Error::precondition(what, reason),
            e => e,
        })
}

/// [`SecretJournal::forget`], [off the runtime](off_runtime).
pub(crate) async fn forget(
    journal: &std::sync::Arc<dyn SecretJournal>,
    marker: &str,
) -> Result<()> {
    let marker = marker.to_owned();
    off_runtime(journal, move |j| j.forget(&marker)).await
}

/// [`SecretJournal::mark_done`], [off the runtime](off_runtime).
pub(crate) async fn mark_done(
    journal: &std::sync::Arc<dyn SecretJournal>,
    marker: &str,
) -> Result<()> {
    let marker = marker.to_owned();
    off_runtime(journal, move |j| j.mark_done(&marker)).await
}

/// Reads `journal` before any request is sent, so that a journal that cannot be used (not
/// trusted, unreadable) stops the run while nothing has happened: [`Error::InvalidInput`] for
/// one that is not trusted, as the journal says.
pub(crate) async fn check_before_requests(
    journal: Option<&std::sync::Arc<dyn SecretJournal>>,
) -> Result<()> {
    let Some(journal) = journal else {
        return Ok(());
    };
    let journal = std::sync::Arc::clone(journal);
    crate::blocking::run(move || journal.unfinished().map(drop)).await
}

/// Where intents to create secrets are kept between runs.
///
/// The crate calls it from async code on tokio's blocking pool (when a tokio runtime runs), so
/// an implementation may block: write a file, `fsync`, call a database.
pub trait SecretJournal: Send + Sync {
    /// Records an intent before `addPassword` is sent.
    ///
    /// # Errors
    ///
    /// When the intent cannot be stored; the run then stops before anything is created.
    fn record(&self, intent: &SecretIntent) -> Result<()>;
    /// Marks the intent with this marker done: its secret was handed over.
    ///
    /// # Errors
    ///
    /// When the mark cannot be stored. The secret is handed over all the same: a registration
    /// reports the failure as the warning `journal_not_updated`, a
    /// [`CredentialProvisioner`](super::CredentialProvisioner) logs it.
    fn mark_done(&self, marker: &str) -> Result<()>;
    /// Intents that never finished.
    ///
    /// # Errors
    ///
    /// When the journal cannot be read.
    fn unfinished(&self) -> Result<Vec<SecretIntent>>;
    /// Forgets an intent whose secrets were removed (or never existed).
    ///
    /// # Errors
    ///
    /// When the journal cannot be updated.
    fn forget(&self, marker: &str) -> Result<()>;
}

/// A [`SecretJournal`] in one JSON file, written atomically with owner-only permissions.
///
/// The file decides which secrets a run deletes, so it is read only when nobody else could have
/// put it there: a regular file (not a link, a device or a pipe) of the user this runs as, open
/// to nobody else (on Windows: owned by that user, SYSTEM or Administrators, and a DACL allowing
/// only them), of at most [`MAX_BYTES`](Self::MAX_BYTES). Anything else is refused with
/// [`Error::InvalidInput`] naming the file, before any request. A registration acts only on the
/// intents for the app it registers, and removes only secrets whose display name starts with
/// [`CREATED_BY`](super::CREATED_BY) and carries the intent's marker.
///
/// ```no_run
/// use entra_appreg::credentials::FileJournal;
/// let journal = FileJournal::in_folder("./appreg-out");
/// # let _ = journal;
/// ```
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileJournal {
    /// The file name `appreg` uses in its output folder.
    pub const FILE_NAME: &'static str = "appreg-journal.json";
    /// The largest journal read: one holds a few intents of about 150 bytes each.
    pub const MAX_BYTES: u64 = 1024 * 1024;

    /// A journal kept in this file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// A journal kept in [`FILE_NAME`](Self::FILE_NAME) in this folder.
    pub fn in_folder(dir: impl AsRef<Path>) -> Self {
        Self::new(dir.as_ref().join(Self::FILE_NAME))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The intents in the file. The file is read only when it is trusted (see
    /// [`FileJournal`]); a parse error says where, never what the file holds.
    fn read(&self) -> Result<Vec<SecretIntent>> {
        let Some(bytes) = read_trusted(
            "secret journal",
            &self.path,
            Self::MAX_BYTES,
            Exposure::OwnerOnly,
        )?
        else {
            return Ok(Vec::new());
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::Io {
            action: "read the secret journal",
            path: self.path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "it is not a journal this tool wrote ({}); move it away to start a new one",
                    crate::redact::json_error_position(&e)
                ),
            ),
        })
    }

    fn write(&self, intents: &[SecretIntent]) -> Result<()> {
        // Nothing left to finish: no file is left behind either.
        if intents.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("remove the secret journal", &self.path, e)),
            };
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::files::create_dir_owner_only(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(intents).unwrap_or_default();
        write_atomic(&self.path, &bytes, Sensitivity::Secret, true)?;
        // Read back under the trust rules: in a folder where an owner-only file cannot be made
        // (a FAT or network share, a mount that shows every file open to all), the run stops
        // here, before addPassword, instead of making a secret it could not clean up later.
        self.read().map(drop)
    }

    fn update(&self, f: impl FnOnce(&mut Vec<SecretIntent>)) -> Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut intents = self.read()?;
        f(&mut intents);
        self.write(&intents)
    }
}

impl SecretJournal for FileJournal {
    fn record(&self, intent: &SecretIntent) -> Result<()> {
        self.update(|all| all.push(intent.clone()))
    }

    fn mark_done(&self, marker: &str) -> Result<()> {
        // A finished intent has nothing left to clean up: it is dropped, so the file stays small.
        self.update(|all| all.retain(|i| i.marker != marker))
    }

    fn unfinished(&self) -> Result<Vec<SecretIntent>> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        Ok(self.read()?.into_iter().filter(|i| !i.done).collect())
    }

    fn forget(&self, marker: &str) -> Result<()> {
        self.update(|all| all.retain(|i| i.marker != marker))
    }
}

/// A new run marker: 8 lowercase hex characters, enough to tell one run's secrets from another's.
pub(crate) fn new_marker() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// The marker a secret's display name carries (`entra-appreg… [run 1a2b3c4d]`), if any: only a
/// name the crate gives its own secrets (starting with [`CREATED_BY`](super::CREATED_BY)) has one.
pub(crate) fn marker_of(display_name: Option<&str>) -> Option<&str> {
    let name = display_name.filter(|n| n.starts_with(super::CREATED_BY))?;
    let start = name.rfind("[run ")? + "[run ".len();
    let marker = name[start..].strip_suffix(']')?;
    (marker.len() == 8 && marker.bytes().all(|b| b.is_ascii_hexdigit())).then_some(marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_read_back_only_from_the_crate_s_own_shape() {
        let m = new_marker();
        let name = format!("entra-appreg: client secret 2026-11-27 [run {m}]");
        assert_eq!(marker_of(Some(&name)), Some(m.as_str()));
        for other in [
            "entra-appreg: client secret 2026-11-27",
            "admin's secret [run xyz]",
            "admin's secret [run 1a2b3c4d]",
            "Entra-appreg [run 1a2b3c4d]",
            "[run 1234567]",
            "[run 123456789]",
            // The crate's own prefix, but no marker of the crate's shape: 8 hex digits.
            "entra-appreg: client secret [run 1234567]",
            "entra-appreg: client secret [run zzzzzzzz]",
            "entra-appreg: client secret [run 1a2b3c4d",
        ] {
            assert_eq!(marker_of(Some(other)), None, "{other}");
        }
    }

    #[test]
    fn a_file_journal_keeps_only_unfinished_intents_and_is_owner_only() {
        let dir = std::env::temp_dir().join(format!("journal-{}", new_marker()));
        std::fs::create_dir_all(&dir).unwrap();
        let j = FileJournal::in_folder(&dir);
        assert!(j.unfinished().unwrap().is_empty());
        let app = ObjectId::from_uuid(uuid::Uuid::new_v4());
        j.record(&SecretIntent::new(app, "aaaaaaaa")).unwrap();
        j.record(&SecretIntent::new(app, "bbbbbbbb")).unwrap();
        j.mark_done("aaaaaaaa").unwrap();
        let open = j.unfinished().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].marker, "bbbbbbbb");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(j.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        j.forget("bbbbbbbb").unwrap();
        assert!(j.unfinished().unwrap().is_empty());
        assert!(!j.path().exists(), "an empty journal leaves no file");
        write_owner_only(j.path(), b"not json");
        assert_eq!(j.unfinished().unwrap_err().kind(), crate::ErrorKind::Io);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A file as this crate writes its own: owner-only.
    fn write_owner_only(path: &Path, bytes: &[u8]) {
        let _ = std::fs::remove_file(path);
        write_atomic(path, bytes, Sensitivity::Secret, false).unwrap();
    }

    #[test]
    fn a_journal_that_does_not_parse_is_refused_without_quoting_it() {
        let dir = std::env::temp_dir().join(format!("journal-{}", new_marker()));
        std::fs::create_dir_all(&dir).unwrap();
        let j = FileJournal::in_folder(&dir);
        for text in [
            r#"[{"app_object_id": "hunter2-secret", "marker": "x"}]"#,
            r#"{"hunter2-secret": 1}"#,
            "hunter2-secret",
            r#"[{"app_object_id": "#,
        ] {
            write_owner_only(j.path(), text.as_bytes());
            let err = j.unfinished().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Io, "{err:?}");
            let shown = format!("{err} {err:?} {}", err.report());
            assert!(!shown.contains("hunter2"), "{text}: {shown}");
            assert!(shown.contains("line 1 column"), "{shown}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_journal_creates_its_folder() {
        let dir = std::env::temp_dir().join(format!("journal-{}", new_marker()));
        // The folder does not exist yet (appreg's output folder may be new): the first record
        // creates it.
        let j = FileJournal::in_folder(dir.join("output"));
        j.record(&SecretIntent::new(
            ObjectId::from_uuid(uuid::Uuid::new_v4()),
            "aaaaaaaa",
        ))
        .unwrap();
        assert_eq!(j.unfinished().unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn finishing_an_intent_when_no_journal_file_is_left_is_not_an_error() {
        // Another handle finished it, or nothing was ever recorded.
        let dir = std::env::temp_dir().join(format!("journal-{}", new_marker()));
        std::fs::create_dir_all(&dir).unwrap();
        let j = FileJournal::in_folder(&dir);
        j.mark_done("aaaaaaaa").unwrap();
        j.forget("aaaaaaaa").unwrap();
        assert!(!j.path().exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_journal_that_cannot_be_read_is_an_error_not_an_empty_journal() {
        // A journal read as empty would leave an earlier run's secret behind without a word.
        let dir = std::env::temp_dir().join(format!("journal-{}", new_marker()));
        std::fs::create_dir_all(dir.join(FileJournal::FILE_NAME)).unwrap();
        let j = FileJournal::in_folder(&dir);
        let err = j.unfinished().unwrap_err();
        // Unix opens the folder and refuses it as no regular file; Windows cannot open it.
        assert!(
            matches!(err, Error::Io { .. }) || err.to_string().contains("not a regular file"),
            "{err:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
