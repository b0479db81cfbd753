//! Reading files that another user could have planted: certificate and key files, the record of
//! certificates this tool wrote, and the secret journal.
//!
//! An installer often runs elevated in a folder others can write to. A file found there is read
//! only when it is a regular file (not a symbolic link, a device or a pipe), belongs to the user
//! this process runs as, is open to no one else (a file with key material or state: no access
//! for group or others; a public certificate file: no write access for them), and is not larger
//! than the caller allows. The checks are made on the opened file itself, so the file cannot be
//! swapped between the check and the read.
//!
//! On Windows the same rules read: not a symbolic link or junction; owned by
//! the current user, SYSTEM or the Administrators group (what an elevated process's files get);
//! and, for key material and state, a DACL that allows nobody but those three, as the crate's
//! own owner-only files have (see [`super::windows`]).

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Who else may look at a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exposure {
    /// Key material or the tool's own state: the owner alone.
    OwnerOnly,
    /// A public certificate: others may read it, but not change it.
    ReadableByOthers,
}

/// Why a file is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Distrust {
    SymbolicLink,
    NotARegularFile,
    OtherOwner(String),
    OpenToOthers(String),
    TooLarge(u64),
}

impl std::fmt::Display for Distrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distrust::SymbolicLink => f.write_str("is a symbolic link"),
            Distrust::NotARegularFile => f.write_str("is not a regular file"),
            Distrust::OtherOwner(owner) => write!(
                f,
                "belongs to another user ({owner}), not to the user this runs as"
            ),
            Distrust::OpenToOthers(how) => write!(f, "is open to other users ({how})"),
            Distrust::TooLarge(max) => write!(f, "is larger than the {max} bytes accepted"),
        }
    }
}

/// The error for a file that is not trusted: it names the file, says why, and what to do.
pub(crate) fn distrusted(what: &'static str, path: &Path, why: &Distrust) -> Error {
    Error::invalid_input(
        what,
        format!(
            "{} {why}, so it is not used: a file there may have been planted by someone else. \
             Remove it, or use an output folder only you can write to",
            path.display()
        ),
    )
}

/// Reads `path` when it is there and trusted: `Ok(None)` when it does not exist, the bytes
/// (wiped when dropped) when it is a regular file of the current user, open to nobody else
/// beyond `exposure`, and at most `max` bytes long.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the file when it is not trusted; [`Error::Io`] when it exists
/// and cannot be read.
pub(crate) fn read_trusted(
    what: &'static str,
    path: &Path,
    max: u64,
    exposure: Exposure,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let mut file = match open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if is_symlink_refusal(&e) || is_symlink(path) => {
            return Err(distrusted(what, path, &Distrust::SymbolicLink));
        }
        Err(e) => return Err(Error::io("open", path, e)),
    };
    if let Err(why) = check_open_file(&file, max, exposure) {
        return Err(distrusted(what, path, &why));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.by_ref()
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > max {
        return Err(distrusted(what, path, &Distrust::TooLarge(max)));
    }
    Ok(Some(bytes))
}

/// Whether `path` is there and trusted as [`read_trusted`] would read it, without reading it.
pub(crate) fn check_trusted(
    path: &Path,
    max: u64,
    exposure: Exposure,
) -> std::result::Result<bool, Distrust> {
    match open_no_follow(path) {
        Ok(file) => check_open_file(&file, max, exposure).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) if is_symlink_refusal(&e) || is_symlink(path) => Err(Distrust::SymbolicLink),
        Err(_) => Err(Distrust::NotARegularFile),
    }
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW: a symbolic link is refused by the kernel, not by a check that could race.
    // O_NONBLOCK: a planted FIFO does not hang the open; it is refused as not a regular file.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(unix)]
fn is_symlink_refusal(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(unix)]
fn check_open_file(
    file: &std::fs::File,
    max: u64,
    exposure: Exposure,
) -> std::result::Result<(), Distrust> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(|_| Distrust::NotARegularFile)?;
    if !meta.file_type().is_file() {
        return Err(Distrust::NotARegularFile);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(Distrust::OtherOwner(format!("uid {}", meta.uid())));
    }
    let forbidden = match exposure {
        Exposure::OwnerOnly => 0o077,
        Exposure::ReadableByOthers => 0o022,
    };
    let mode = meta.mode() & 0o7777;
    if mode & forbidden != 0 {
        return Err(Distrust::OpenToOthers(format!("mode {mode:04o}")));
    }
    if meta.len() > max {
        return Err(Distrust::TooLarge(max));
    }
    Ok(())
}

#[cfg(windows)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT;
    // The reparse point itself is opened, never its target; it is then refused by its
    // attributes.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

#[cfg(windows)]
fn is_symlink_refusal(_: &std::io::Error) -> bool {
    false
}

#[cfg(windows)]
fn check_open_file(
    file: &std::fs::File,
    max: u64,
    exposure: Exposure,
) -> std::result::Result<(), Distrust> {
    let meta = file.metadata().map_err(|_| Distrust::NotARegularFile)?;
    // A symbolic link or junction (a name-surrogate reparse point), opened itself rather than
    // its target. Other reparse points (a OneDrive file, a deduplicated one) are files.
    if meta.file_type().is_symlink() {
        return Err(Distrust::SymbolicLink);
    }
    if !meta.file_type().is_file() {
        return Err(Distrust::NotARegularFile);
    }
    super::windows::check_owner_and_dacl(file, exposure == Exposure::OwnerOnly)?;
    if meta.len() > max {
        return Err(Distrust::TooLarge(max));
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

#[cfg(not(any(unix, windows)))]
fn is_symlink_refusal(_: &std::io::Error) -> bool {
    false
}

#[cfg(not(any(unix, windows)))]
fn check_open_file(
    file: &std::fs::File,
    max: u64,
    _: Exposure,
) -> std::result::Result<(), Distrust> {
    let meta = file.metadata().map_err(|_| Distrust::NotARegularFile)?;
    if !meta.file_type().is_file() {
        return Err(Distrust::NotARegularFile);
    }
    if meta.len() > max {
        return Err(Distrust::TooLarge(max));
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("appreg-trust-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, b"content").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn an_owner_only_file_is_read_and_a_missing_one_is_none() {
        let dir = scratch();
        let path = dir.join("f");
        assert!(
            read_trusted("f", &path, 100, Exposure::OwnerOnly)
                .unwrap()
                .is_none()
        );
        write(&path, 0o600);
        let bytes = read_trusted("f", &path, 100, Exposure::OwnerOnly)
            .unwrap()
            .unwrap();
        assert_eq!(bytes.as_slice(), b"content");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn files_open_to_others_are_refused_by_what_they_hold() {
        let dir = scratch();
        let path = dir.join("f");
        for (mode, exposure, trusted) in [
            (0o644, Exposure::OwnerOnly, false),
            (0o640, Exposure::OwnerOnly, false),
            (0o604, Exposure::OwnerOnly, false),
            (0o644, Exposure::ReadableByOthers, true),
            (0o664, Exposure::ReadableByOthers, false),
            (0o666, Exposure::ReadableByOthers, false),
            (0o400, Exposure::OwnerOnly, true),
        ] {
            write(&path, mode);
            let result = check_trusted(&path, 100, exposure);
            assert_eq!(result.is_ok(), trusted, "{mode:o} {exposure:?}: {result:?}");
            if !trusted {
                let err = read_trusted("f", &path, 100, exposure).unwrap_err();
                assert!(err.is_invalid_input());
                assert!(err.to_string().contains(&format!("{mode:04o}")), "{err}");
            }
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn links_devices_pipes_and_large_files_are_refused_without_reading_them() {
        let dir = scratch();
        let target = dir.join("target");
        write(&target, 0o600);
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = read_trusted("f", &link, 100, Exposure::OwnerOnly).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let zero = read_trusted("f", Path::new("/dev/zero"), 100, Exposure::OwnerOnly);
        assert!(zero.unwrap_err().to_string().contains("not a regular file"));
        let fifo = dir.join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let err = read_trusted("f", &fifo, 100, Exposure::OwnerOnly).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let err = read_trusted("f", &target, 3, Exposure::OwnerOnly).unwrap_err();
        assert!(err.to_string().contains("larger than the 3 bytes"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
