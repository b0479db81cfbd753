//! What a local attacker would try: files planted in the output folder (certificates, a journal,
//! links, files open to everyone or owned by someone else), a proxy in the environment, escape
//! sequences in names from Graph, and file names that mean something else on Windows.
//!
//! Installers often run `appreg` elevated in a folder others can write to, so nothing found
//! there is trusted unless this tool wrote it and nobody else could have changed it.

use std::path::{Path, PathBuf};

use entra_appreg::credentials::{Certificate, CertificateOutput, FileJournal};

/// A scratch folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("appreg-sec-{what}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether this runs as root, and so can give a file to another user.
#[cfg(unix)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Gives a file to `nobody`, as another user's planted file would be.
#[cfg(unix)]
fn give_away(path: &Path) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; lchown does not follow a link.
    assert_eq!(unsafe { libc::lchown(name.as_ptr(), 65534, 65534) }, 0);
}

#[test]
fn files_this_crate_wrote_are_reused_and_the_same_files_unrecorded_are_not() {
    let dir = Scratch::new("reuse");
    let out = CertificateOutput::new(&dir.0, "contoso-backup");
    let certificate = Certificate::generate("Contoso Backup", 30).unwrap();
    certificate.write_files(&out).unwrap();
    let (found, files) = out.load_existing().unwrap().expect("the files are found");
    assert_eq!(found.thumbprint(), certificate.thumbprint());
    assert!(found.has_private_key());
    assert_eq!(files.private_key_pem, out.planned_files().private_key_pem);

    // A `.cer` swapped for another certificate's: the portal would upload the wrong one.
    let cer = out.planned_files().certificate_cer.unwrap();
    let original = std::fs::read(&cer).unwrap();
    std::fs::remove_file(&cer).unwrap();
    std::fs::write(&cer, Certificate::generate("Other", 30).unwrap().der()).unwrap();
    let err = out.load_existing().unwrap_err();
    assert!(
        err.to_string().contains("holds another certificate"),
        "{err}"
    );
    std::fs::remove_file(&cer).unwrap();
    std::fs::write(&cer, original).unwrap();
    assert!(out.load_existing().unwrap().is_some());

    // The same files, but no record that this crate wrote them here: as if copied in.
    std::fs::remove_file(out.record_file()).unwrap();
    let err = out.load_existing().unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("contoso-backup.key.pem"), "{message}");
    assert!(
        message.contains(certificate.thumbprint().as_str()),
        "{message}"
    );
    assert!(message.contains("--reuse-certificate"), "{message}");
}

#[test]
fn the_record_of_another_stem_or_certificate_does_not_vouch_for_these_files() {
    let dir = Scratch::new("record");
    let mine = CertificateOutput::new(&dir.0, "mine");
    Certificate::generate("Mine", 30)
        .unwrap()
        .write_files(&mine)
        .unwrap();
    // A second certificate written under another stem, then renamed to the first stem's names
    // (after the first's files are gone): recorded, but not for this stem.
    let other = CertificateOutput::new(&dir.0, "other");
    Certificate::generate("Other", 30)
        .unwrap()
        .write_files(&other)
        .unwrap();
    for ext in ["pem", "key.pem", "cer"] {
        std::fs::remove_file(dir.0.join(format!("mine.{ext}"))).unwrap();
        std::fs::rename(
            dir.0.join(format!("other.{ext}")),
            dir.0.join(format!("mine.{ext}")),
        )
        .unwrap();
    }
    let err = mine.load_existing().unwrap_err();
    assert!(err.to_string().contains("did not write there"), "{err}");
}

#[cfg(unix)]
#[test]
fn planted_links_open_files_and_other_owners_files_are_refused_naming_the_file() {
    let attacker = Scratch::new("attacker");
    let planted = Certificate::generate("Planted", 30).unwrap();
    planted
        .write_files(&CertificateOutput::new(&attacker.0, "contoso-backup"))
        .unwrap();
    /// What was planted, how (from the attacker's folder into the output folder), and what
    /// the refusal says.
    type Case = (&'static str, fn(&Path, &Path), &'static str);
    let mut cases: Vec<Case> = vec![
        (
            "a key open to everyone",
            |_, dir| chmod(&dir.join("contoso-backup.key.pem"), 0o666),
            "open to other users (mode 0666)",
        ),
        (
            "a key readable by the group",
            |_, dir| chmod(&dir.join("contoso-backup.key.pem"), 0o640),
            "open to other users (mode 0640)",
        ),
        (
            "a certificate others may change",
            |_, dir| chmod(&dir.join("contoso-backup.pem"), 0o646),
            "open to other users (mode 0646)",
        ),
        (
            "a link to the attacker's key",
            |from, dir| {
                let key = dir.join("contoso-backup.key.pem");
                std::fs::remove_file(&key).unwrap();
                std::os::unix::fs::symlink(from.join("contoso-backup.key.pem"), key).unwrap();
            },
            "symbolic link",
        ),
        (
            "a record planted beside the files, open to others",
            |from, dir| {
                let record = dir.join("contoso-backup.appreg.json");
                std::fs::copy(from.join("contoso-backup.appreg.json"), &record).unwrap();
                chmod(&record, 0o644);
            },
            "open to other users (mode 0644)",
        ),
    ];
    if is_root() {
        cases.push((
            "files of another user",
            |_, dir| {
                for ext in ["pem", "key.pem", "cer"] {
                    give_away(&dir.join(format!("contoso-backup.{ext}")));
                }
            },
            "belongs to another user (uid 65534)",
        ));
    } else {
        eprintln!("not root: files of another user cannot be made here; that case is skipped");
    }
    for (case, plant, expected) in cases {
        let dir = Scratch::new("planted");
        for ext in ["pem", "key.pem", "cer"] {
            let name = format!("contoso-backup.{ext}");
            std::fs::copy(attacker.0.join(&name), dir.0.join(&name)).unwrap();
        }
        plant(&attacker.0, &dir.0);
        let err = CertificateOutput::new(&dir.0, "contoso-backup")
            .load_existing()
            .unwrap_err();
        assert!(err.is_invalid_input(), "{case}: {err:?}");
        let message = err.to_string();
        assert!(message.contains(expected), "{case}: {message}");
        assert!(
            message.contains(&dir.0.display().to_string()),
            "{case}: {message}"
        );
    }
}

#[test]
fn stems_that_windows_reads_as_devices_drives_or_streams_are_refused() {
    let dir = Scratch::new("stems");
    let certificate = Certificate::generate("Stems", 30).unwrap();
    for stem in [
        "C:x",
        "a:b",
        "CON",
        "nul",
        "nul.backup",
        "Lpt1",
        "com9.x",
        "..",
        ".hidden",
        "a/b",
        "a\\b",
        "",
        "é",
        "a b",
        "a\u{202e}b",
    ] {
        let out = CertificateOutput::new(&dir.0, stem);
        let err = certificate.write_files(&out).unwrap_err();
        assert!(err.is_invalid_input(), "{stem:?}: {err:?}");
        assert!(out.check_available().is_err(), "{stem:?}");
        assert!(out.load_existing().is_err(), "{stem:?}");
    }
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        0,
        "nothing was written"
    );
    for stem in ["contoso-backup", "a.b_c-1", "CONTOSO", "console"] {
        let out = CertificateOutput::new(&dir.0, stem);
        certificate
            .write_files(&out)
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
    }
}

#[test]
fn a_temporary_key_file_a_killed_write_left_is_removed_by_the_next_run() {
    let dir = Scratch::new("stale");
    let stale = dir.0.join(format!(
        ".contoso.key.pem.{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let fresh = dir.0.join(format!(
        ".contoso.key.pem.{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let other = dir.0.join(".contoso.key.pem.not-one-of-ours.tmp");
    for p in [&stale, &fresh, &other] {
        std::fs::write(p, b"-----BEGIN PRIVATE KEY-----").unwrap();
        // As a killed write leaves it: owner-only, whatever the umask.
        #[cfg(unix)]
        chmod(p, 0o600);
    }
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    for p in [&stale, &other] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let out = CertificateOutput::new(&dir.0, "contoso");
    assert!(out.load_existing().unwrap().is_none());
    assert!(!stale.exists(), "a stale temporary key file is removed");
    assert!(
        fresh.exists(),
        "a write that may still be going on is left alone"
    );
    assert!(other.exists(), "a file not named as ours is left alone");
}

#[cfg(unix)]
#[test]
fn a_journal_that_is_a_link_a_device_large_or_open_to_others_is_refused_unread() {
    use entra_appreg::credentials::SecretJournal;
    let dir = Scratch::new("journal");
    let path = dir.0.join(FileJournal::FILE_NAME);
    let journal = FileJournal::in_folder(&dir.0);
    let refused = |expected: &str| {
        let err = journal.unfinished().unwrap_err();
        assert!(err.is_invalid_input(), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(expected), "{message}");
        assert!(message.contains(FileJournal::FILE_NAME), "{message}");
    };
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    refused("symbolic link");
    std::fs::remove_file(&path).unwrap();

    std::fs::write(&path, b"[]").unwrap();
    chmod(&path, 0o644);
    refused("mode 0644");

    chmod(&path, 0o600);
    let big = vec![b' '; FileJournal::MAX_BYTES as usize + 1];
    std::fs::write(&path, big).unwrap();
    refused("larger than");

    std::fs::write(&path, b"[]").unwrap();
    assert!(
        journal.unfinished().unwrap().is_empty(),
        "an owner-only journal is read"
    );
    if is_root() {
        give_away(&path);
        refused("belongs to another user");
    }
}

#[test]
fn the_authorization_header_is_marked_sensitive() {
    use entra_appreg::Graph;
    use entra_appreg::auth::StaticToken;
    use entra_appreg::graph::GraphRequest;
    use entra_appreg::transport::TransportError;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let transport = move |request: http::Request<Vec<u8>>| {
        let record = record.clone();
        async move {
            let header = &request.headers()[http::header::AUTHORIZATION];
            record.lock().unwrap().push(header.is_sensitive());
            Ok::<_, TransportError>(
                http::Response::builder()
                    .status(200)
                    .body(br#"{"value":[]}"#.to_vec())
                    .unwrap(),
            )
        }
    };
    let graph = Graph::builder()
        .tenant("contoso.onmicrosoft.com")
        .token_provider(StaticToken::new("a-token"))
        .transport(transport)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(graph.send(&GraphRequest::get("/organization")))
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![true]);
}

#[test]
fn the_terminal_sanitiser_escapes_what_could_drive_a_terminal_and_keeps_the_rest() {
    use entra_appreg::redact::for_terminal;
    assert_eq!(
        for_terminal("a\u{1b}[2J\u{1b}]0;title\u{7}b\r\u{9b}c"),
        "a\\u{1b}[2J\\u{1b}]0;title\\u{7}b\\u{d}\\u{9b}c"
    );
    assert_eq!(
        for_terminal("payroll\u{202e}exe.pdf"),
        "payroll\\u{202e}exe.pdf"
    );
    let plain = "Contoso Backup — sauvegarde é 証明書\n\tnext line";
    assert!(matches!(
        for_terminal(plain),
        std::borrow::Cow::Borrowed(s) if s == plain
    ));
}

#[cfg(feature = "cli")]
mod cli {
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use entra_appreg::graph::models::{Application, PasswordCredential};
    use entra_appreg_fake::FakeGraph;
    use serde_json::Value;

    use super::*;
    use crate::cli::{Tenant, str_of};

    const REGISTER: [&str; 5] = [
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Backup",
        "--json",
    ];

    /// A certificate with its files as another user would plant them in the output folder.
    fn plant_certificate(dir: &Path, stem: &str) -> Certificate {
        let attacker = Scratch::new("attacker");
        let planted = Certificate::generate("Planted", 30).unwrap();
        planted
            .write_files(&CertificateOutput::new(&attacker.0, stem))
            .unwrap();
        for ext in ["pem", "key.pem", "cer"] {
            let name = format!("{stem}.{ext}");
            std::fs::copy(attacker.0.join(&name), dir.join(&name)).unwrap();
        }
        planted
    }

    fn thumbprints_on_apps(fake: &FakeGraph) -> Vec<String> {
        fake.snapshot()
            .applications
            .iter()
            .flat_map(|a| a.key_credentials.clone().unwrap_or_default())
            .map(|k| {
                use base64::Engine;
                let der = base64::engine::general_purpose::STANDARD
                    .decode(k.key.expect("the fake keeps the certificate"))
                    .unwrap();
                entra_appreg::Thumbprint::of_der(&der).to_string()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_certificate_planted_in_out_is_not_registered_and_nothing_is_sent() {
        let t = Tenant::start().await;
        let planted = plant_certificate(&t.dir, "contoso-backup");
        #[cfg(unix)]
        if is_root() {
            for ext in ["pem", "key.pem", "cer"] {
                give_away(&t.dir.join(format!("contoso-backup.{ext}")));
            }
        }
        let run = t.run("register", &REGISTER).await;
        run.expect(2);
        let v = run.json();
        let message = str_of(&v["error"], "message");
        assert!(message.contains("contoso-backup."), "{message}");
        assert!(t.fake.requests().is_empty(), "nothing is sent");
        assert!(t.fake.snapshot().applications.is_empty());
        assert!(!thumbprints_on_apps(&t.fake).contains(&planted.thumbprint().to_string()));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn rotate_follows_the_same_rule() {
        let t = Tenant::start().await;
        let mut args = REGISTER.to_vec();
        args.extend(["--credential", "secret", "--no-wait"]);
        t.run("register", &args).await.expect(0);
        let sent = t.fake.requests().len();
        let stem = format!("contoso-backup-{}", time::OffsetDateTime::now_utc().date());
        let planted = plant_certificate(&t.dir, &stem);
        let run = t
            .run(
                "rotate",
                &[
                    "--profile",
                    "backup-exchange",
                    "--name",
                    "Contoso Backup",
                    "--credential",
                    "certificate",
                    "--json",
                ],
            )
            .await;
        run.expect(2);
        assert!(
            str_of(&run.json()["error"], "message").contains(&stem),
            "{}",
            run.stdout
        );
        assert_eq!(t.fake.requests().len(), sent, "nothing more is sent");
        assert!(!thumbprints_on_apps(&t.fake).contains(&planted.thumbprint().to_string()));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_certificate_the_caller_names_is_registered_without_writing_files() {
        let t = Tenant::start().await;
        let own = Scratch::new("own");
        let certificate = Certificate::generate("Contoso Backup", 30).unwrap();
        let files = certificate
            .write_files(&CertificateOutput::new(&own.0, "made-elsewhere"))
            .unwrap();
        let pem = files.certificate_pem.unwrap();
        let mut args = REGISTER.to_vec();
        args.extend(["--reuse-certificate", pem.to_str().unwrap(), "--no-wait"]);
        let run = t.run("register", &args).await;
        run.expect(0);
        let v = run.json();
        assert_eq!(
            str_of(&v["credential"], "thumbprint"),
            certificate.thumbprint().as_str()
        );
        assert_eq!(
            thumbprints_on_apps(&t.fake),
            vec![certificate.thumbprint().to_string()]
        );
        assert_eq!(
            std::fs::read_dir(&t.dir).unwrap().count(),
            0,
            "nothing is written to --out"
        );
        // A secret cannot be "reused" as a certificate.
        let mut args = REGISTER.to_vec();
        args.extend([
            "--credential",
            "secret",
            "--reuse-certificate",
            pem.to_str().unwrap(),
        ]);
        t.run("register", &args).await.expect(2);
    }

    fn secret(name: &str) -> PasswordCredential {
        let mut v = PasswordCredential::default();
        v.key_id = Some(entra_appreg::KeyId::from_uuid(uuid::Uuid::new_v4()));
        v.display_name = Some(name.into());
        v
    }

    fn seed(
        fake: &FakeGraph,
        name: &str,
        unique: &str,
        secrets: Vec<PasswordCredential>,
    ) -> Application {
        fake.seed_application({
            let mut v = Application::default();
            v.display_name = Some(name.into());
            v.unique_name = Some(unique.into());
            v.sign_in_audience = Some("AzureADMyOrg".into());
            v.password_credentials = Some(secrets);
            v
        })
    }

    /// A journal as this tool writes it (owner-only, on Windows with its DACL), with one open
    /// intent.
    fn journal(dir: &Path, app: &Application, marker: &str) {
        use entra_appreg::credentials::{SecretIntent, SecretJournal};
        FileJournal::in_folder(dir)
            .record(&SecretIntent::new(app.id.unwrap(), marker))
            .unwrap();
    }

    fn secrets_of(fake: &FakeGraph, unique: &str) -> Vec<Option<entra_appreg::KeyId>> {
        fake.snapshot()
            .applications
            .iter()
            .find(|a| a.unique_name.as_deref() == Some(unique))
            .and_then(|a| a.password_credentials.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.key_id)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_planted_journal_naming_another_apps_secret_leaves_that_secret_alone() {
        let t = Tenant::start().await;
        let theirs = secret("entra-appreg: client secret 2026-11-26 [run 1a2b3c4d]");
        let other = seed(
            &t.fake,
            "Other Product",
            "other-product",
            vec![theirs.clone()],
        );
        seed(&t.fake, "Contoso Backup", "contoso-backup", vec![]);
        journal(&t.dir, &other, "1a2b3c4d");

        let plan = t.run("plan", &REGISTER).await;
        plan.expect(0);
        assert_eq!(
            plan.json()["orphaned_credentials"],
            serde_json::json!([]),
            "the plan shows nothing to remove"
        );
        let mut args = REGISTER.to_vec();
        args.extend(["--credential", "secret", "--no-wait"]);
        let run = t.run("register", &args).await;
        run.expect(0);
        assert_eq!(run.json()["retired_credentials"], serde_json::json!([]));
        assert_eq!(secrets_of(&t.fake, "other-product"), vec![theirs.key_id]);
        assert!(
            t.dir.join(FileJournal::FILE_NAME).exists(),
            "the other app's intent is left in the journal"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_secrets_the_crate_created_are_removed_for_an_intent() {
        let t = Tenant::start().await;
        let admins = secret("admin's secret [run 1a2b3c4d]");
        let orphan = secret("entra-appreg: client secret 2026-11-26 [run 1a2b3c4d]");
        let app = seed(
            &t.fake,
            "Contoso Backup",
            "contoso-backup",
            vec![admins.clone(), orphan.clone()],
        );
        journal(&t.dir, &app, "1a2b3c4d");
        let audit = t
            .run(
                "audit",
                &[
                    "--profile",
                    "backup-exchange",
                    "--name",
                    "Contoso Backup",
                    "--json",
                ],
            )
            .await;
        audit.expect(0);
        let listed: Vec<Value> = audit.json()["orphaned_credentials"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(listed.len(), 1, "{}", audit.stdout);
        assert_eq!(listed[0]["key_id"], orphan.key_id.unwrap().to_string());
        let mut args = REGISTER.to_vec();
        args.extend(["--credential", "none", "--no-wait"]);
        let run = t.run("register", &args).await;
        run.expect(0);
        let retired = run.json()["retired_credentials"].clone();
        assert_eq!(
            retired.as_array().unwrap().len(),
            1,
            "audit showed exactly what the run removed: {retired}"
        );
        assert_eq!(secrets_of(&t.fake, "contoso-backup"), vec![admins.key_id]);
    }

    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread")]
    async fn a_journal_open_to_others_or_linked_to_a_device_stops_the_run_before_any_request() {
        let t = Tenant::start().await;
        let app = seed(&t.fake, "Contoso Backup", "contoso-backup", vec![]);
        journal(&t.dir, &app, "1a2b3c4d");
        let path = t.dir.join(FileJournal::FILE_NAME);
        chmod(&path, 0o644);
        // The admin would sign in interactively: the journal is refused before that.
        let mut args = vec!["register".to_owned()];
        args.extend(t.endpoints());
        args.extend(["--auth", "device-code", "--credential", "secret"].map(String::from));
        args.extend(REGISTER.map(String::from));
        for (case, expected) in [("mode 0644", "mode 0644"), ("/dev/zero", "symbolic link")] {
            if case == "/dev/zero" {
                std::fs::remove_file(&path).unwrap();
                std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
            }
            let run = t.run_raw(args.clone(), vec![]).await;
            run.expect(2);
            let message = str_of(&run.json()["error"], "message").to_owned();
            assert!(message.contains(expected), "{case}: {message}");
            assert!(message.contains(FileJournal::FILE_NAME), "{message}");
            assert!(
                t.fake.requests().is_empty(),
                "{case}: nothing is sent, not even the sign-in"
            );
        }
    }

    /// A proxy that counts the connections made to it, and answers none of them.
    struct Recorder {
        url: String,
        connections: Arc<AtomicUsize>,
    }

    impl Recorder {
        fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let connections = Arc::new(AtomicUsize::new(0));
            let count = connections.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().take(16).flatten() {
                    count.fetch_add(1, Ordering::SeqCst);
                    let mut stream = stream;
                    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
                    let _ = stream.read(&mut [0u8; 1024]);
                }
            });
            Self { url, connections }
        }

        fn count(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_proxy_from_the_environment_never_sees_a_loopback_request() {
        let t = Tenant::start().await;
        let proxy = Recorder::start();
        // The recorder does see what is sent through it: a client told to use it reaches it.
        let through = reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(&proxy.url).unwrap())
            .build()
            .unwrap();
        let _ = through
            .get(format!("{}/v1.0/organization", t.fake.uri()))
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await;
        assert_eq!(proxy.count(), 1, "the recorder counts connections");

        let mut args = vec!["register".to_owned()];
        args.extend(t.endpoints());
        args.extend(["--auth", "token"].map(String::from));
        args.extend(REGISTER.map(String::from));
        let env = [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .into_iter()
        .map(|k| (k, proxy.url.clone()))
        .chain([("ENTRA_APPREG_TOKEN", t.fake.admin_token())])
        .collect();
        let run = t.run_raw(args, env).await;
        run.expect(0);
        assert_eq!(proxy.count(), 1, "no request of the run went to the proxy");
        assert_eq!(t.fake.snapshot().applications.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_escape_sequence_in_a_credential_name_does_not_reach_the_terminal_raw() {
        let t = Tenant::start().await;
        let hostile = "entra-appreg: x\u{1b}[2J\u{1b}]0;owned\u{7}\u{202e}gpj.exe\nWrote the new certificate to /tmp [run 1a2b3c4d]";
        let app = seed(
            &t.fake,
            "Contoso\u{1b}[31m Backup",
            "contoso-backup",
            vec![secret(hostile)],
        );
        journal(&t.dir, &app, "1a2b3c4d");
        let audit = [
            "--profile",
            "backup-exchange",
            "--unique-name",
            "contoso-backup",
        ];
        let mut human = audit.to_vec();
        human.extend(["--name", "Contoso Backup"]);
        let run = t.run("audit", &human).await;
        run.expect(0);
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(['\u{1b}', '\u{7}', '\u{202e}']),
                "{stream} carries a raw control character: {text:?}"
            );
        }
        assert!(run.stdout.contains("x\\u{1b}[2J"), "{}", run.stdout);
        assert!(
            !run.stdout
                .lines()
                .any(|l| l.starts_with("Wrote the new certificate")),
            "a name cannot start a line of its own: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("Contoso\\u{1b}[31m Backup"),
            "{}",
            run.stdout
        );
        // JSON keeps the name exactly, escaped by JSON itself.
        let mut json = human.clone();
        json.push("--json");
        let run = t.run("audit", &json).await;
        run.expect(0);
        assert!(!run.stdout.contains('\u{1b}'));
        let names: Vec<String> = run.json()["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| str_of(c, "display_name").to_owned())
            .collect();
        assert_eq!(names, vec![hostile.to_owned()]);
    }
}
