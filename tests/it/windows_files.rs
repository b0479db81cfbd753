//! Key material on Windows: the private key, the PFX and the secret journal carry a protected
//! DACL that allows the current user, SYSTEM and Administrators only, read back from the file
//! system with `GetNamedSecurityInfoW`, independently of the code that set it.
//!
//! Wine keeps no security descriptor of its own for a file: it turns the DACL it is given into
//! Unix permission bits, and reads a DACL back from those bits (owner, SYSTEM, and Everyone for
//! what "others" may do), without the protected flag or the Administrators entry. Under Wine
//! these tests check what survives that mapping: nobody but the user and SYSTEM may open a key
//! file, while a public file is open to Everyone.

use std::collections::BTreeMap;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use entra_appreg::ObjectId;
use entra_appreg::credentials::{
    Certificate, CertificateOutput, FileJournal, SecretIntent, SecretJournal,
};
use secrecy::SecretString;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
    DACL_SECURITY_INFORMATION, GetAce, GetAclInformation, GetSecurityDescriptorControl,
    GetTokenInformation, PSECURITY_DESCRIPTOR, SE_DACL_PROTECTED, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

const SYSTEM: &str = "S-1-5-18";
const ADMINISTRATORS: &str = "S-1-5-32-544";
const EVERYONE: &str = "S-1-1-0";
/// `FILE_ALL_ACCESS`, what SDDL's `FA` grants.
const FULL_ACCESS: u32 = 0x001F_01FF;
const ACCESS_ALLOWED: u8 = 0;
const INHERITED: u8 = 0x10;

/// A file's DACL as the file system reports it.
#[derive(Debug)]
struct Dacl {
    protected: bool,
    /// Allowed SIDs and their access masks; any other kind of entry is recorded as `(kind, 0)`.
    entries: BTreeMap<String, (u8, u32)>,
    inherited_entries: usize,
}

fn wide(s: &std::ffi::OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

/// SAFETY: `sid` must be a valid SID.
unsafe fn sid_string(sid: *mut core::ffi::c_void) -> String {
    let mut text: *mut u16 = std::ptr::null_mut();
    assert_ne!(unsafe { ConvertSidToStringSidW(sid, &mut text) }, 0);
    let len = (0..).take_while(|&i| unsafe { *text.add(i) } != 0).count();
    let s = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) });
    unsafe { LocalFree(text.cast()) };
    s
}

fn current_user() -> String {
    let mut token: HANDLE = std::ptr::null_mut();
    assert_ne!(
        unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) },
        0
    );
    let mut buffer = vec![0u64; 128];
    let mut needed = 0;
    assert_ne!(
        unsafe {
            GetTokenInformation(
                token,
                TokenUser,
                buffer.as_mut_ptr().cast(),
                (buffer.len() * 8) as u32,
                &mut needed,
            )
        },
        0
    );
    unsafe { CloseHandle(token) };
    unsafe { sid_string((*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid) }
}

fn dacl_of(path: &Path) -> Dacl {
    let name = wide(path.as_os_str());
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let status = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    assert_eq!(status, 0, "GetNamedSecurityInfoW({})", path.display());
    assert!(
        !dacl.is_null(),
        "{} has no DACL: everyone may open it",
        path.display()
    );
    let mut control = 0u16;
    let mut revision = 0u32;
    assert_ne!(
        unsafe { GetSecurityDescriptorControl(descriptor, &mut control, &mut revision) },
        0
    );
    let mut size = ACL_SIZE_INFORMATION {
        AceCount: 0,
        AclBytesInUse: 0,
        AclBytesFree: 0,
    };
    assert_ne!(
        unsafe {
            GetAclInformation(
                dacl,
                (&mut size as *mut ACL_SIZE_INFORMATION).cast(),
                std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
                AclSizeInformation,
            )
        },
        0
    );
    let mut entries = BTreeMap::new();
    let mut inherited_entries = 0;
    for i in 0..size.AceCount {
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        assert_ne!(unsafe { GetAce(dacl, i, &mut ace) }, 0);
        let header = unsafe { &*ace.cast::<ACE_HEADER>() };
        if header.AceFlags & INHERITED != 0 {
            inherited_entries += 1;
        }
        if header.AceType == ACCESS_ALLOWED {
            let allowed = ace.cast::<ACCESS_ALLOWED_ACE>();
            let sid = unsafe { sid_string(std::ptr::addr_of_mut!((*allowed).SidStart).cast()) };
            entries.insert(sid, (header.AceType, unsafe { (*allowed).Mask }));
        } else {
            entries.insert(format!("entry {i}"), (header.AceType, 0));
        }
    }
    unsafe { LocalFree(descriptor) };
    Dacl {
        protected: control & SE_DACL_PROTECTED != 0,
        entries,
        inherited_entries,
    }
}

/// Whether this runs under Wine, which exports `wine_get_version` from its ntdll.
fn wine() -> bool {
    let ntdll = wide(std::ffi::OsStr::new("ntdll.dll"));
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    !module.is_null()
        && unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
}

fn assert_owner_only(path: &Path, user: &str) {
    let dacl = dacl_of(path);
    if wine() {
        let allowed: Vec<&str> = dacl.entries.keys().map(String::as_str).collect();
        assert_eq!(allowed, [SYSTEM, user], "{}: {dacl:?}", path.display());
        assert_eq!(
            dacl.entries[user],
            (ACCESS_ALLOWED, FULL_ACCESS),
            "{}",
            path.display()
        );
        return;
    }
    assert!(dacl.protected, "{}: {dacl:?}", path.display());
    assert_eq!(dacl.inherited_entries, 0, "{}: {dacl:?}", path.display());
    let expected: BTreeMap<String, (u8, u32)> = [user, SYSTEM, ADMINISTRATORS]
        .into_iter()
        .map(|sid| (sid.to_owned(), (ACCESS_ALLOWED, FULL_ACCESS)))
        .collect();
    assert_eq!(dacl.entries, expected, "{}", path.display());
}

fn scratch(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("appreg-{what}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn key_and_pfx_files_allow_only_the_user_system_and_administrators() {
    let dir = scratch("acl");
    let user = current_user();
    let certificate = Certificate::generate("Contoso Backup", 30).unwrap();
    let mut out = CertificateOutput::new(&dir, "contoso");
    out.pfx_password = Some(SecretString::from("pw".to_owned()));
    let files = certificate.write_files(&out).unwrap();
    assert_owner_only(files.private_key_pem.as_ref().unwrap(), &user);
    assert_owner_only(files.pfx.as_ref().unwrap(), &user);

    // The public files keep what the folder gives them.
    let public = dacl_of(files.certificate_cer.as_ref().unwrap());
    if wine() {
        assert!(public.entries.contains_key(EVERYONE), "{public:?}");
    } else {
        assert!(!public.protected, "{public:?}");
    }

    // Replacing the files (rename over the old ones) keeps the protection.
    out.overwrite = true;
    let files = Certificate::generate("Contoso Backup", 30)
        .unwrap()
        .write_files(&out)
        .unwrap();
    assert_owner_only(files.private_key_pem.as_ref().unwrap(), &user);
    assert_owner_only(files.pfx.as_ref().unwrap(), &user);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_secret_journal_allows_only_the_user_system_and_administrators() {
    let dir = scratch("journal");
    let journal = FileJournal::in_folder(&dir);
    let app = ObjectId::from_uuid(uuid::Uuid::new_v4());
    journal.record(&SecretIntent::new(app, "aaaaaaaa")).unwrap();
    assert_owner_only(journal.path(), &current_user());
    std::fs::remove_dir_all(dir).unwrap();
}
