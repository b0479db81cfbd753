//! Owner-only files on Windows: key material is created with a protected DACL that grants access
//! to the current user, SYSTEM and the Administrators group only, and inherits nothing from the
//! folder. The descriptor is handed to `CreateFileW`, so the file never exists with looser
//! access, not even for the moment between creating and restricting it.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{FromRawHandle, RawHandle};
use std::path::Path;

use windows_sys::Win32::Foundation::{
    CloseHandle, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::{
    CREATE_NEW, CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// The security descriptor of a file that holds key material, in SDDL: a protected DACL
/// (`P`: no inherited entries) allowing full access (`FA`) to `user_sid`, SYSTEM (`SY`) and the
/// built-in Administrators (`BA`), and nobody else.
pub(crate) fn owner_only_sddl(user_sid: &str) -> String {
    format!("D:P(A;;FA;;;{user_sid})(A;;FA;;;SY)(A;;FA;;;BA)")
}

/// Creates `path`, which must not exist yet, for writing, with the owner-only descriptor of
/// [`owner_only_sddl`] for the user this process runs as.
pub(crate) fn create_owner_only(path: &Path) -> io::Result<File> {
    create_with_sddl(path, &owner_only_sddl(&current_user_sid()?))
}

/// Creates `path`, which must not exist yet, for writing, with this SDDL descriptor from the
/// first moment.
fn create_with_sddl(path: &Path, sddl: &str) -> io::Result<File> {
    let descriptor = SecurityDescriptor::from_sddl(sddl)?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    let wide = wide(path.as_os_str());
    // SAFETY: `wide` is NUL-terminated and outlives the call; `attributes` points at a valid
    // self-relative descriptor that `descriptor` keeps alive until after the call.
    let handle = unsafe {
        CreateFileW(
            wide.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            &attributes,
            CREATE_NEW,
            FILE_ATTRIBUTE_NORMAL,
            std::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the handle was just opened, is valid, and is owned by nothing else.
    Ok(unsafe { File::from_raw_handle(handle as RawHandle) })
}

/// Creates the folder `path` (its parent must exist) with a protected DACL for the current
/// user, SYSTEM and Administrators that files and folders in it inherit, so that nobody else can
/// put a file there.
pub(crate) fn create_dir_owner_only(path: &Path) -> io::Result<()> {
    use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
    let user = current_user_sid()?;
    let sddl = format!("D:P(A;OICI;FA;;;{user})(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
    let descriptor = SecurityDescriptor::from_sddl(&sddl)?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    let wide = wide(path.as_os_str());
    // SAFETY: `wide` is NUL-terminated; the descriptor lives until after the call.
    if unsafe { CreateDirectoryW(wide.as_ptr(), &attributes) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The string SID (`S-1-5-21-…`) of the user this process runs as, from its token.
pub(crate) fn current_user_sid() -> io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle; `token` receives a handle we close.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = OwnedHandle(token);
    let mut needed = 0u32;
    // SAFETY: a size query: no buffer, the size needed lands in `needed`.
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut needed) };
    if needed == 0 {
        return Err(io::Error::last_os_error());
    }
    // u64 elements keep the buffer aligned for TOKEN_USER.
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8)];
    // SAFETY: `buffer` holds at least `needed` writable bytes.
    if unsafe {
        GetTokenInformation(
            token.0,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            needed,
            &mut needed,
        )
    } == 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points into the buffer.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    // SAFETY: `sid` is valid while `buffer` lives.
    unsafe { sid_string(sid) }
}

/// SIDs that may own or open a file of key material: SYSTEM and the built-in Administrators
/// (the owner an elevated process's files get), beside the current user.
const SYSTEM_SID: &str = "S-1-5-18";
const ADMINISTRATORS_SID: &str = "S-1-5-32-544";

/// Checks an opened file's owner, and for key material or state (`owner_only`) its DACL: owned
/// by the current user, SYSTEM or Administrators, and for `owner_only` a DACL that allows
/// nobody else anything (a missing DACL allows everyone, so it is refused too).
pub(crate) fn check_owner_and_dacl(
    file: &File,
    owner_only: bool,
) -> Result<(), super::trust::Distrust> {
    use super::trust::Distrust;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Security::Authorization::{GetSecurityInfo, SE_FILE_OBJECT};
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
        DACL_SECURITY_INFORMATION, GetAce, GetAclInformation, OWNER_SECURITY_INFORMATION,
    };
    const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
    // ACCESS_DENIED_ACE_TYPE, ACCESS_DENIED_OBJECT_ACE_TYPE, ACCESS_DENIED_CALLBACK_ACE_TYPE
    // and ACCESS_DENIED_CALLBACK_OBJECT_ACE_TYPE (winnt.h).
    const DENY_TYPES: [u8; 4] = [1, 6, 10, 12];
    const INHERIT_ONLY_ACE: u8 = 0x08;
    let unreadable = || Distrust::OpenToOthers("its security descriptor cannot be read".into());
    let me = current_user_sid().map_err(|_| unreadable())?;
    let trusted = |sid: &str| sid == me || sid == SYSTEM_SID || sid == ADMINISTRATORS_SID;
    let mut owner: *mut core::ffi::c_void = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is open for the call; the out-pointers point into `descriptor`, which
    // the system allocates and `SecurityDescriptor` frees.
    let status = unsafe {
        GetSecurityInfo(
            file.as_raw_handle() as HANDLE,
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != 0 {
        return Err(unreadable());
    }
    let _descriptor = SecurityDescriptor(descriptor);
    if owner.is_null() {
        return Err(Distrust::OtherOwner("no owner".into()));
    }
    // SAFETY: `owner` points at a valid SID inside the live descriptor.
    let owner = unsafe { sid_string(owner) }.map_err(|_| unreadable())?;
    if !trusted(&owner) {
        return Err(Distrust::OtherOwner(owner));
    }
    if !owner_only {
        return Ok(());
    }
    if dacl.is_null() {
        return Err(Distrust::OpenToOthers(
            "it has no DACL: everyone may open it".into(),
        ));
    }
    let mut size = ACL_SIZE_INFORMATION {
        AceCount: 0,
        AclBytesInUse: 0,
        AclBytesFree: 0,
    };
    // SAFETY: `dacl` is a valid ACL inside the live descriptor; `size` is the right size.
    if unsafe {
        GetAclInformation(
            dacl,
            (&mut size as *mut ACL_SIZE_INFORMATION).cast(),
            std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
            AclSizeInformation,
        )
    } == 0
    {
        return Err(unreadable());
    }
    for i in 0..size.AceCount {
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        // SAFETY: `i` is below the ACL's entry count.
        if unsafe { GetAce(dacl, i, &mut ace) } == 0 {
            return Err(unreadable());
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header = unsafe { &*ace.cast::<ACE_HEADER>() };
        if header.AceFlags & INHERIT_ONLY_ACE != 0 || DENY_TYPES.contains(&header.AceType) {
            // An entry for children only, or one that denies: neither opens the file to anyone.
            continue;
        }
        if header.AceType != ACCESS_ALLOWED_ACE_TYPE {
            // Another kind of allowing entry (object, callback, conditional): whom it allows is
            // not read here, so the file is not trusted.
            return Err(Distrust::OpenToOthers(format!(
                "its DACL has an entry of type {} that this check does not read",
                header.AceType
            )));
        }
        let allowed = ace.cast::<ACCESS_ALLOWED_ACE>();
        // SAFETY: an ACCESS_ALLOWED_ACE's SID starts at SidStart, inside the ACE.
        let sid = unsafe { sid_string(std::ptr::addr_of_mut!((*allowed).SidStart).cast()) }
            .map_err(|_| unreadable())?;
        if !trusted(&sid) {
            return Err(Distrust::OpenToOthers(format!("its DACL allows {sid}")));
        }
    }
    Ok(())
}

/// A SID as its string form (`S-1-5-…`).
///
/// # Safety
///
/// `sid` must point at a valid SID.
unsafe fn sid_string(sid: *mut core::ffi::c_void) -> io::Result<String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: the caller guarantees `sid`; `text` receives a LocalAlloc'd string.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `text` is a NUL-terminated wide string that we free right after copying it.
    let string = unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text.cast());
        s
    };
    Ok(string)
}

/// A self-relative security descriptor allocated by the system, freed on drop.
struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

impl SecurityDescriptor {
    fn from_sddl(sddl: &str) -> io::Result<Self> {
        let wide = wide(OsStr::new(sddl));
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated; the descriptor is LocalAlloc'd and freed on drop.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(descriptor))
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.0) };
    }
}

/// A kernel handle closed on drop.
struct OwnedHandle(HANDLE);

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by this module and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// `s` as a NUL-terminated UTF-16 string.
fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_is_protected_and_names_exactly_the_user_system_and_administrators() {
        assert_eq!(
            owner_only_sddl("S-1-5-21-1-2-3-1001"),
            "D:P(A;;FA;;;S-1-5-21-1-2-3-1001)(A;;FA;;;SY)(A;;FA;;;BA)"
        );
    }

    #[test]
    fn the_current_user_has_a_sid_the_system_accepts_in_a_descriptor() {
        let sid = current_user_sid().unwrap();
        assert!(sid.starts_with("S-1-"), "{sid}");
        assert!(SecurityDescriptor::from_sddl(&owner_only_sddl(&sid)).is_ok());
    }

    #[test]
    fn the_crate_s_own_key_files_pass_and_files_open_to_everyone_do_not() {
        let dir = std::env::temp_dir().join(format!("appreg-dacl-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let own = dir.join("own");
        drop(create_owner_only(&own).unwrap());
        let file = File::open(&own).unwrap();
        assert_eq!(check_owner_and_dacl(&file, true), Ok(()));
        drop(file);
        let user = current_user_sid().unwrap();
        // Everyone may read it (Wine keeps a DACL as Unix permission bits: Everyone is what it
        // can express).
        let path = dir.join("everyone-reads");
        drop(create_with_sddl(&path, &format!("D:P(A;;FA;;;{user})(A;;FR;;;WD)")).unwrap());
        let file = File::open(&path).unwrap();
        let refused = check_owner_and_dacl(&file, true);
        assert!(
            matches!(refused, Err(super::super::trust::Distrust::OpenToOthers(_))),
            "{refused:?}"
        );
        // A public certificate file may be read by others.
        assert_eq!(check_owner_and_dacl(&file, false), Ok(()));
        drop(file);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_existing_file_is_never_opened_again() {
        let path = std::env::temp_dir().join(format!("appreg-acl-{}", uuid::Uuid::new_v4()));
        drop(create_owner_only(&path).unwrap());
        let again = create_owner_only(&path).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        std::fs::remove_file(path).unwrap();
    }
}
