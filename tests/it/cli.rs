//! The `appreg` binary against a fake tenant: every command, every profile, both credential
//! types, `--json` parsed, and every exit code.
//!
//! The binary runs as a child process; the fake serves it from this test's multi-thread
//! runtime while a blocking task waits for the child.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use entra_appreg_fake::{CallerRole, FakeGraph, Fault, FaultRule, RequestKind};
use serde_json::Value;

/// What a run of the binary left.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// stdout as the one JSON object it must be: nothing before or after it.
    pub(crate) fn json(&self) -> Value {
        let value: Value = serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON value ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        });
        assert!(value.is_object(), "{value}");
        value
    }

    pub(crate) fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A fake tenant, a scratch folder as the working directory, and the binary's options to reach
/// the fake with `--auth token`.
pub(crate) struct Tenant {
    pub(crate) fake: FakeGraph,
    pub(crate) dir: PathBuf,
}

impl Tenant {
    pub(crate) async fn start() -> Self {
        Self::with(FakeGraph::builder().replication_lag(0).start().await)
    }

    pub(crate) fn with(fake: FakeGraph) -> Self {
        let dir = std::env::temp_dir().join(format!("appreg-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { fake, dir }
    }

    pub(crate) fn endpoints(&self) -> Vec<String> {
        let uri = self.fake.uri();
        vec![
            "--tenant".into(),
            self.fake.tenant_domain(),
            "--graph-url".into(),
            uri.clone(),
            "--login-url".into(),
            uri,
        ]
    }

    /// `appreg <command> <endpoints> --auth token <args>` with the admin's token.
    pub(crate) async fn run(&self, command: &str, args: &[&str]) -> Run {
        let mut all = vec![command.to_owned()];
        all.extend(self.endpoints());
        all.extend(["--auth".into(), "token".into()]);
        all.extend(args.iter().map(|a| a.to_string()));
        self.run_raw(all, vec![("ENTRA_APPREG_TOKEN", self.fake.admin_token())])
            .await
    }

    /// The binary with exactly these arguments and extra environment variables.
    pub(crate) async fn run_raw(&self, args: Vec<String>, env: Vec<(&str, String)>) -> Run {
        let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || run_binary(&args, &env, &dir))
            .await
            .unwrap()
    }

    /// Graph round trips the fake saw (a `$batch` counted once).
    pub(crate) fn round_trips(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.kind == RequestKind::Graph && r.batch.is_none())
            .count()
    }

    pub(crate) fn graph_writes(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| {
                r.kind == RequestKind::Graph && r.method != "GET" && r.path != "/v1.0/$batch"
            })
            .count()
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_binary(args: &[String], env: &[(String, String)], dir: &Path) -> Run {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_appreg"))
        .args(args)
        .env_remove("ENTRA_TENANT")
        .env_remove("ENTRA_APPREG_TOKEN")
        .env_remove("ENTRA_APPREG_CLIENT_SECRET")
        // The machine's proxy and display settings stay out of the tests (a display would
        // make `--auth auto` open a browser): a test that wants one sets it.
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("BROWSER")
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_TTY")
        // Waits return at once (the binary is a debug build): the tests run in simulated time.
        .env("APPREG_TEST_INSTANT_WAITS", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the appreg binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

const PROFILES: [(&str, &[&str], usize); 5] = [
    ("backup-exchange", &[], 5),
    ("backup-sharepoint", &[], 6),
    ("migration-source", &[], 4),
    ("migration-target", &[], 4),
    ("migration-target", &["--create-mailboxes"], 7),
];

pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn register_json_has_the_contract_keys_and_writes_owner_only_key_files_first() {
    let t = Tenant::start().await;
    let out = t.dir.join("certs");
    let mut args = t.endpoints();
    args.splice(0..0, ["register".to_owned()]);
    args.extend(
        [
            "--auth",
            "token",
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--out",
            out.to_str().unwrap(),
            "--pfx-password-env",
            "CONTOSO_PFX",
            "--valid-days",
            "200",
            "--json",
        ]
        .map(String::from),
    );
    let run = t
        .run_raw(
            args,
            vec![
                ("ENTRA_APPREG_TOKEN", t.fake.admin_token()),
                ("CONTOSO_PFX", "pfx password".into()),
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    let snapshot = t.fake.snapshot();
    let app = &snapshot.applications[0];
    assert_eq!(str_of(&v, "tenant_id"), t.fake.tenant_id().to_string());
    assert_eq!(str_of(&v, "client_id"), app.app_id.unwrap().to_string());
    assert_eq!(
        str_of(&v, "application_object_id"),
        app.id.unwrap().to_string()
    );
    let sp = snapshot
        .service_principals
        .iter()
        .find(|sp| sp.app_id == app.app_id)
        .unwrap();
    assert_eq!(
        str_of(&v, "service_principal_id"),
        sp.id.unwrap().to_string()
    );
    assert_eq!(str_of(&v, "unique_name"), "contoso-backup");
    assert_eq!(str_of(&v, "display_name"), "Contoso Backup");
    assert_eq!(str_of(&v, "profile"), "Backup-Exchange");
    assert_eq!(v["consent"]["status"], "complete");
    let permissions = v["permissions"].as_array().unwrap();
    assert_eq!(permissions.len(), 5);
    for p in permissions {
        for key in ["resource", "resource_app_id", "value", "role_id"] {
            assert!(p[key].is_string(), "{key} in {p}");
        }
        assert_eq!(p["granted"], true, "{p}");
    }
    assert!(
        permissions
            .iter()
            .any(|p| p["value"] == "full_access_as_app"
                && p["role_id"] == "dc890d15-9560-4a4c-9b7f-a736ec74ec40")
    );
    let warnings = v["warnings"].as_array().unwrap();
    // The EWS allow-list command names this app's client id.
    let ews = warnings
        .iter()
        .find(|w| w["code"] == "ews_retirement")
        .expect("an EWS warning");
    let client_id = str_of(&v, "client_id");
    let message = str_of(ews, "message");
    assert!(
        message.contains(&format!("$appId = '{client_id}'")),
        "{ews}"
    );
    // Read the only way that shows the list, never from a plain read that shows it empty.
    assert!(
        message.contains("Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy"),
        "{ews}"
    );
    assert!(!message.contains("Format-List"), "{ews}");
    assert!(message.contains("24 hours"), "{ews}");
    assert!(!str_of(ews, "message").contains("The registration works"));

    // The certificate: registered, described, and on disk.
    let c = &v["credential"];
    assert_eq!(c["type"], "certificate");
    let thumbprint = str_of(c, "thumbprint");
    assert_eq!(thumbprint.len(), 40);
    let not_before = time::OffsetDateTime::parse(
        str_of(c, "not_before"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let not_after = time::OffsetDateTime::parse(
        str_of(c, "not_after"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((200..=201).contains(&(not_after - not_before).whole_days()));
    let keys = app.key_credentials.as_ref().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_id.unwrap().to_string(), str_of(c, "key_id"));
    let files = &c["files"];
    let path = |key: &str| PathBuf::from(str_of(files, key));
    for key in [
        "certificate_pem",
        "private_key_pem",
        "certificate_cer",
        "pfx",
    ] {
        assert!(path(key).is_file(), "{key}: {files}");
        assert!(path(key).starts_with(&out), "{key}: {files}");
    }
    assert_eq!(path("certificate_pem"), out.join("contoso-backup.pem"));
    let cert = entra_appreg::credentials::Certificate::from_file(
        &path("pfx"),
        Some(&secrecy::SecretString::from("pfx password".to_owned())),
    )
    .unwrap();
    assert_eq!(cert.thumbprint().as_str(), thumbprint);
    assert!(cert.has_private_key());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |key: &str| std::fs::metadata(path(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("private_key_pem"), 0o600);
        assert_eq!(mode("pfx"), 0o600);
    }

    // Four round trips on a fresh tenant, as counted by the fake.
    assert_eq!(v["graph_requests"], 4);
    assert_eq!(t.round_trips(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn register_every_profile_ends_with_the_connection_wizard() {
    for (profile, extra, count) in PROFILES {
        let t = Tenant::start().await;
        let mut args = vec!["--profile", profile, "--name", "Contoso Migration"];
        args.extend_from_slice(extra);
        let run = t.run("register", &args).await;
        run.expect(0);
        let app = &t.fake.snapshot().applications[0];
        let client_id = app.app_id.unwrap().to_string();
        let wizard = run
            .stdout
            .split("Type this into the product's connection wizard:")
            .nth(1)
            .unwrap_or_else(|| panic!("{profile}: no wizard block in\n{}", run.stdout));
        assert!(
            wizard.contains(&format!("Application (client) ID: {client_id}")),
            "{wizard}"
        );
        assert!(wizard.contains(&format!("Directory (tenant) ID:   {}", t.fake.tenant_id())));
        assert!(wizard.contains("Certificate thumbprint:"), "{wizard}");
        assert!(wizard.contains("contoso-migration.key.pem"), "{wizard}");
        assert_eq!(
            run.stdout.matches("granted    ").count(),
            count,
            "{profile}: {}",
            run.stdout
        );
        assert!(!run.stdout.contains("NOT granted"));
        let grants = t.fake.snapshot().app_role_assignments.len();
        assert!(grants >= count, "{profile}: {grants} grants");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_lost_after_the_secret_was_made_still_exits_0_with_the_one_live_secret() {
    let t = Tenant::start().await;
    // Graph carries out the round trip that creates the service principal and the secret, but
    // the client never sees the reply (the fake answers 500 instead; the library's own fault
    // matrix cuts the connection itself).
    t.fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 500 })
            .method("POST")
            .path_contains("$batch")
            .nth_request(3),
    );
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--credential",
                "secret",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    let object_id = str_of(&v, "application_object_id").parse().unwrap();
    let live = t.fake.secret_texts(object_id);
    assert_eq!(live.len(), 1, "exactly one secret is live");
    assert_eq!(str_of(&v["credential"], "secret"), live[0]);
    let lost = t
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/addPassword") && r.status == 200)
        .count();
    assert_eq!(lost, 2, "the lost secret was made, then replaced");
    assert!(
        std::fs::read_dir(&t.dir).unwrap().next().is_none(),
        "the journal is gone once the secret was handed over"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_run_in_the_same_folder_removes_the_secret_a_killed_run_never_handed_over() {
    use entra_appreg::graph::models::{Application, PasswordCredential};
    let t = Tenant::start().await;
    let secret = |name: &str| {
        let mut v = PasswordCredential::default();
        v.key_id = Some(entra_appreg::KeyId::from_uuid(uuid::Uuid::new_v4()));
        v.display_name = Some(name.into());
        v
    };
    let admins = secret("admin's own secret");
    let handed_over = secret("entra-appreg: client secret 2026-11-20 [run 0badc0de]");
    let orphan = secret("entra-appreg: client secret 2026-11-26 [run 1a2b3c4d]");
    let app = t.fake.seed_application({
        let mut v = Application::default();
        v.display_name = Some("Contoso Backup".into());
        v.unique_name = Some("contoso-backup".into());
        v.sign_in_audience = Some("AzureADMyOrg".into());
        v.password_credentials = Some(vec![admins.clone(), handed_over.clone(), orphan.clone()]);
        v
    });
    // What a run killed between addPassword and handing the secret over leaves in --out, as
    // this tool writes it: owner-only (a journal open to others is refused).
    {
        use entra_appreg::credentials::{FileJournal, SecretIntent, SecretJournal};
        FileJournal::in_folder(&t.dir)
            .record(&SecretIntent::new(app.id.unwrap(), "1a2b3c4d"))
            .unwrap();
    }

    let plan = t
        .run(
            "plan",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    plan.expect(0);
    let p = plan.json();
    let orphans = p["orphaned_credentials"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{p}");
    assert_eq!(orphans[0]["key_id"], orphan.key_id.unwrap().to_string());

    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    let retired = v["retired_credentials"].as_array().unwrap();
    assert_eq!(retired.len(), 1, "{v}");
    assert_eq!(retired[0]["key_id"], orphan.key_id.unwrap().to_string());
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "unfinished_secret_removed"),
        "{v}"
    );
    let left: Vec<_> = t.fake.snapshot().applications[0]
        .password_credentials
        .clone()
        .unwrap()
        .into_iter()
        .map(|p| p.key_id)
        .collect();
    assert_eq!(left, vec![admins.key_id, handed_over.key_id]);
    assert!(!t.dir.join("appreg-journal.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn register_waits_until_the_product_can_sign_in_and_says_so() {
    let t = Tenant::with(FakeGraph::builder().sign_in_lag(2).start().await);
    let args = [
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Backup",
        "--json",
    ];
    let run = t.run("register", &args).await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["ready"]["ready"], true, "{v}");
    let resources = v["ready"]["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2);
    for r in resources {
        assert_eq!(r["ready"], true, "{r}");
        assert!(r["attempts"].as_u64().unwrap() > 1, "{r}");
        assert_eq!(r["missing"], serde_json::json!([]));
    }
    assert!(
        run.stderr
            .contains("waiting for Entra to accept the new certificate"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_product_that_cannot_sign_in_by_the_timeout_exits_4_naming_what_is_missing() {
    let t = Tenant::with(FakeGraph::builder().sign_in_lag(u32::MAX).start().await);
    let mut args = vec![
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Backup",
        "--wait-timeout",
        "2",
        "--json",
    ];
    let run = t.run("register", &args).await;
    run.expect(4);
    let v = run.json();
    assert_eq!(v["ready"]["ready"], false, "{v}");
    let exchange = v["ready"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource_app_id"] == "00000002-0000-0ff1-ce00-000000000000")
        .unwrap()
        .clone();
    assert_eq!(exchange["ready"], false);
    assert_eq!(
        exchange["missing"],
        serde_json::json!(["full_access_as_app"])
    );
    assert!(
        str_of(&exchange, "last_error").contains("AADSTS700027"),
        "{exchange}"
    );
    // Registered all the same: the app and its grants are there.
    assert_eq!(t.fake.snapshot().applications.len(), 1);

    // Without waiting, the same tenant answers at once: exit 0, no `ready`.
    args.retain(|a| *a != "--wait-timeout" && *a != "2");
    args.push("--no-wait");
    let run = t.run("register", &args).await;
    run.expect(0);
    assert!(run.json().get("ready").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_retires_the_older_secret_only_once_the_new_one_works() {
    let t = Tenant::start().await;
    let secret = [
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Backup",
        "--credential",
        "secret",
        "--json",
    ];
    t.run("register", &secret).await.expect(0);
    let object_id = t.fake.snapshot().applications[0].id.unwrap();

    // --keep-previous: both stay, for the product to switch first.
    let mut keep = secret.to_vec();
    keep.push("--keep-previous");
    let run = t.run("rotate", &keep).await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["ready"]["ready"], true, "{v}");
    assert_eq!(v["retired_credentials"], serde_json::json!([]));
    assert_eq!(t.fake.secret_texts(object_id).len(), 2);

    // A new secret Entra does not accept in time: the older ones stay, exit 4.
    t.fake.set_sign_in_lag(u32::MAX);
    let mut slow = secret.to_vec();
    slow.extend(["--wait-timeout", "2"]);
    let run = t.run("rotate", &slow).await;
    run.expect(4);
    let v = run.json();
    assert_eq!(v["ready"]["ready"], false, "{v}");
    assert_eq!(v["retired_credentials"], serde_json::json!([]));
    assert_eq!(t.fake.secret_texts(object_id).len(), 3);

    // Once Entra accepts the new one, the older ones go.
    t.fake.set_sign_in_lag(0);
    let run = t.run("rotate", &secret).await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["retired_credentials"].as_array().unwrap().len(), 3, "{v}");
    let live = t.fake.secret_texts(object_id);
    assert_eq!(live, [str_of(&v["credential"], "secret")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_with_the_products_secret_says_whether_it_can_connect() {
    let t = Tenant::start().await;
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--credential",
                "secret",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let secret = str_of(&run.json()["credential"], "secret").to_owned();
    let audit = |value: String| {
        let mut all = vec!["audit".to_owned()];
        all.extend(t.endpoints());
        all.extend(["--auth".into(), "token".into()]);
        for a in [
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--app-client-secret-env",
            "PRODUCT_SECRET",
            "--json",
        ] {
            all.push(a.to_owned());
        }
        t.run_raw(
            all,
            vec![
                ("ENTRA_APPREG_TOKEN", t.fake.admin_token()),
                ("PRODUCT_SECRET", value),
            ],
        )
    };
    let run = audit(secret.clone()).await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["ready"]["ready"], true, "{v}");
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));

    // The wrong secret: audit still exits 0, and says why the product cannot connect.
    let run = audit("not-the-secret".into()).await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["ready"]["ready"], false, "{v}");
    let first = &v["ready"]["resources"][0];
    assert!(
        str_of(first, "last_error").contains("AADSTS7000215"),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_is_printed_once_in_json_and_once_in_the_summary() {
    let t = Tenant::start().await;
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "migration-source",
                "--name",
                "Contoso Migration",
                "--credential",
                "secret",
                "--valid-days",
                "90",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    let c = &v["credential"];
    assert_eq!(c["type"], "secret");
    let object_id = str_of(&v, "application_object_id").parse().unwrap();
    let issued = t.fake.secret_texts(object_id);
    assert_eq!(issued.len(), 1);
    assert_eq!(str_of(c, "secret"), issued[0]);
    assert!(c["key_id"].is_string() && c["expires"].is_string(), "{c}");
    assert!(
        !run.stderr.contains(&issued[0]),
        "the secret leaked to stderr"
    );
    assert_eq!(run.stdout.matches(&issued[0]).count(), 1);
    let no_files: Vec<_> = std::fs::read_dir(&t.dir).unwrap().collect();
    assert!(no_files.is_empty(), "a secret writes no file");

    // Without --json: once, with the note, and never on stderr.
    let t = Tenant::start().await;
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--credential",
                "secret",
            ],
        )
        .await;
    run.expect(0);
    let object_id = t.fake.snapshot().applications[0].id.unwrap();
    let secret = &t.fake.secret_texts(object_id)[0];
    assert_eq!(
        run.stdout.matches(secret.as_str()).count(),
        1,
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("shown only this once"));
    assert!(!run.stderr.contains(secret.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_exits_2_before_anything_is_sent() {
    let t = Tenant::start().await;
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "secret for SharePoint",
            vec![
                "--profile",
                "backup-sharepoint",
                "--name",
                "X",
                "--credential",
                "secret",
            ],
            "SharePoint Online accepts only certificates",
        ),
        (
            "unknown profile",
            vec!["--profile", "backup-teams", "--name", "X"],
            "valid profiles are",
        ),
        (
            "missing profile",
            vec!["--name", "X"],
            "--profile or --profile-file is required",
        ),
        (
            "lifetime out of range",
            vec![
                "--profile",
                "backup-exchange",
                "--name",
                "X",
                "--valid-days",
                "0",
            ],
            "1 to 3650 days",
        ),
        (
            "mailboxes on the wrong profile",
            vec![
                "--profile",
                "backup-exchange",
                "--name",
                "X",
                "--create-mailboxes",
            ],
            "Migration-Target",
        ),
        (
            "unset PFX password variable",
            vec![
                "--profile",
                "backup-exchange",
                "--name",
                "X",
                "--pfx-password-env",
                "NO_SUCH_VARIABLE_FOR_APPREG",
            ],
            "NO_SUCH_VARIABLE_FOR_APPREG",
        ),
    ];
    for (label, args, says) in cases {
        let mut with_json = args.clone();
        with_json.push("--json");
        let run = t.run("register", &with_json).await;
        run.expect(2);
        let v = run.json();
        assert_eq!(v["exit_code"], 2, "{label}");
        let message = str_of(&v["error"], "message");
        assert!(message.contains(says), "{label}: {message}");
        assert!(run.stderr.contains(says), "{label}: {}", run.stderr);
        assert!(t.fake.requests().is_empty(), "{label}: a request was sent");
    }

    // A tenant that is neither a GUID nor a domain, or none at all.
    let run = t
        .run_raw(
            [
                "plan",
                "--tenant",
                "not a tenant",
                "--auth",
                "token",
                "--profile",
                "backup-exchange",
                "--name",
                "X",
                "--json",
            ]
            .map(String::from)
            .to_vec(),
            vec![("ENTRA_APPREG_TOKEN", t.fake.admin_token())],
        )
        .await;
    run.expect(2);
    assert_eq!(run.json()["error"]["kind"], "invalid_input");
    let run = t
        .run_raw(
            ["audit", "--profile", "backup-exchange", "--name", "X"]
                .map(String::from)
                .to_vec(),
            vec![],
        )
        .await;
    run.expect(2);
    assert!(run.stderr.contains("--tenant"), "{}", run.stderr);
    // ENTRA_TENANT stands in for --tenant; a missing token is then the problem.
    let run = t
        .run_raw(
            [
                "audit",
                "--auth",
                "token",
                "--profile",
                "backup-exchange",
                "--name",
                "X",
            ]
            .map(String::from)
            .to_vec(),
            vec![("ENTRA_TENANT", "contoso.onmicrosoft.com".into())],
        )
        .await;
    run.expect(2);
    assert!(run.stderr.contains("ENTRA_APPREG_TOKEN"), "{}", run.stderr);
    // Plain http is for loopback only.
    let run = t
        .run(
            "plan",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "X",
                "--graph-url",
                "http://graph.example.com",
            ],
        )
        .await;
    run.expect(2);
    // client-secret without a client id.
    let run = t
        .run_raw(
            [
                "plan",
                "--tenant",
                "contoso.onmicrosoft.com",
                "--auth",
                "client-secret",
                "--profile",
                "backup-exchange",
                "--name",
                "X",
            ]
            .map(String::from)
            .to_vec(),
            vec![],
        )
        .await;
    run.expect(2);
    assert!(run.stderr.contains("--client-id"), "{}", run.stderr);
    assert!(t.fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_output_file_exits_2_and_is_kept() {
    let t = Tenant::start().await;
    std::fs::write(t.dir.join("contoso-backup.key.pem"), b"an older key").unwrap();
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    run.expect(2);
    let v = run.json();
    assert!(
        str_of(&v["error"], "message").contains("choose another folder"),
        "{v}"
    );
    assert_eq!(
        std::fs::read(t.dir.join("contoso-backup.key.pem")).unwrap(),
        b"an older key"
    );
    assert!(t.fake.requests().is_empty(), "nothing is sent");
    assert!(t.fake.snapshot().applications.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2_and_help_and_version_exit_0() {
    let t = Tenant::start().await;
    let run = t.run_raw(vec!["--help".into()], vec![]).await;
    run.expect(0);
    assert!(run.stdout.contains("register") && run.stdout.contains("Exit codes"));
    let run = t
        .run_raw(vec!["register".into(), "--help".into()], vec![])
        .await;
    run.expect(0);
    assert!(run.stdout.contains("--pfx-password-env"));
    let run = t.run_raw(vec!["--version".into()], vec![]).await;
    run.expect(0);
    assert!(run.stdout.starts_with("appreg "));
    let run = t.run_raw(vec!["frobnicate".into()], vec![]).await;
    run.expect(2);
    assert!(run.stdout.is_empty());
    let run = t
        .run_raw(
            ["register", "--no-such-flag", "--json"]
                .map(String::from)
                .to_vec(),
            vec![],
        )
        .await;
    run.expect(2);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "usage");
    assert_eq!(v["exit_code"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cloud_application_administrator_gets_exit_3_naming_the_role() {
    let t = Tenant::start().await;
    t.fake
        .set_caller_role(CallerRole::CloudApplicationAdministrator);
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-sharepoint",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    run.expect(3);
    let v = run.json();
    assert_eq!(v["consent"]["status"], "partial");
    let role = str_of(&v["consent"], "required_role");
    assert!(role.contains("Global Administrator"), "{role}");
    assert!(
        run.stderr.contains("Global Administrator"),
        "{}",
        run.stderr
    );
    for p in v["permissions"].as_array().unwrap() {
        let graph = p["resource"] == "Microsoft Graph";
        assert_eq!(p["granted"], !graph, "{p}");
    }
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "cannot_grant_graph_roles")
    );
    // The app and its certificate are registered all the same.
    assert!(v["credential"]["thumbprint"].is_string());
    assert_eq!(t.fake.snapshot().applications.len(), 1);

    // Human mode: same exit code, the message on stderr.
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-sharepoint",
                "--name",
                "Contoso Backup",
                "--credential",
                "none",
            ],
        )
        .await;
    run.expect(3);
    assert!(run.stdout.contains("NOT granted"));
    assert!(
        run.stderr.contains("Privileged Role Administrator"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graph_failure_exits_1_with_the_request_id_and_keeps_the_key() {
    let t = Tenant::start().await;
    t.fake.inject_fault(
        // Persistent: a single 500 is recovered within the run.
        FaultRule::new(Fault::Status {
            status: 500,
            retry_after: None,
        })
        .method("PATCH")
        .times(1000),
    );
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--replication-timeout",
                "2",
                "--json",
            ],
        )
        .await;
    run.expect(1);
    let v = run.json();
    assert_eq!(v["exit_code"], 1);
    let e = &v["error"];
    assert_eq!(e["kind"], "graph");
    assert_eq!(e["status"], 500);
    let request_id = str_of(e, "request_id");
    assert!(str_of(e, "message").contains(request_id));
    assert!(
        run.stderr.contains(&format!("request-id {request_id}")),
        "{}",
        run.stderr
    );
    // The certificate was written before the first write; the error says where.
    assert!(e["certificate_files"]["private_key_pem"].is_string(), "{e}");
    let key = std::fs::read(t.dir.join("contoso-backup.key.pem")).unwrap();

    // Once Graph recovers, running it again finishes the job with the same certificate: the key
    // on disk is the one registered, exactly once.
    t.fake.clear_faults();
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    assert_eq!(
        std::fs::read(t.dir.join("contoso-backup.key.pem")).unwrap(),
        key
    );
    let pem = std::fs::read_to_string(t.dir.join("contoso-backup.pem")).unwrap();
    let on_disk = entra_appreg::credentials::Certificate::from_pem(&pem).unwrap();
    assert_eq!(
        str_of(&v["credential"], "thumbprint"),
        on_disk.thumbprint().as_str()
    );
    let apps = t.fake.snapshot().applications;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].key_credentials.as_ref().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_sign_in_exits_1_with_the_aadsts_code_and_correlation_id() {
    let t = Tenant::start().await;
    let mut args = t.endpoints();
    args.splice(0..0, ["audit".to_owned()]);
    args.extend(
        [
            "--auth",
            "client-secret",
            "--client-id",
            "6f1c1d55-3b5e-4a8e-9a55-0d6d2c3c6b11",
            "--profile",
            "backup-exchange",
            "--name",
            "X",
            "--json",
        ]
        .map(String::from),
    );
    let run = t
        .run_raw(
            args,
            vec![("ENTRA_APPREG_CLIENT_SECRET", "not-the-secret".into())],
        )
        .await;
    run.expect(1);
    let e = &run.json()["error"];
    assert_eq!(e["kind"], "auth");
    let aadsts = str_of(e, "aadsts");
    assert!(aadsts.starts_with("AADSTS"), "{aadsts}");
    assert!(e["correlation_id"].is_string(), "{e}");
    assert!(run.stderr.contains(aadsts), "{}", run.stderr);
    assert!(!run.stderr.contains("not-the-secret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_writes_nothing_and_says_what_register_would_do() {
    let t = Tenant::start().await;
    let run = t
        .run(
            "plan",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["up_to_date"], false);
    assert_eq!(str_of(&v, "tenant_id"), t.fake.tenant_id().to_string());
    let actions: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "create_application");
    assert!(actions.contains(&"create_service_principal"));
    assert_eq!(actions.iter().filter(|a| **a == "grant_role").count(), 5);
    let add = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "add_credential")
        .unwrap();
    assert_eq!(add["kind"], "certificate");
    assert!(add.get("thumbprint").is_none(), "{add}");
    assert_eq!(t.graph_writes(), 0);
    assert!(t.fake.snapshot().applications.is_empty());
    assert!(
        std::fs::read_dir(&t.dir).unwrap().next().is_none(),
        "plan writes no file"
    );

    t.run(
        "register",
        &[
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--credential",
            "none",
        ],
    )
    .await
    .expect(0);
    let run = t
        .run(
            "plan",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--credential",
                "none",
            ],
        )
        .await;
    run.expect(0);
    assert!(run.stdout.contains("nothing to change"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_reports_credentials_missing_grants_and_unknown_apps() {
    let t = Tenant::start().await;
    let run = t
        .run(
            "audit",
            &[
                "--profile",
                "migration-target",
                "--name",
                "Contoso Migration",
                "--json",
            ],
        )
        .await;
    run.expect(2);
    assert_eq!(run.json()["error"]["kind"], "not_registered");

    t.run(
        "register",
        &[
            "--profile",
            "migration-target",
            "--name",
            "Contoso Migration",
        ],
    )
    .await
    .expect(0);
    let run = t
        .run(
            "audit",
            &[
                "--profile",
                "migration-target",
                "--name",
                "Contoso Migration",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["healthy"], true, "{v}");
    assert_eq!(v["missing"].as_array().unwrap().len(), 0);
    let credentials = v["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0]["kind"], "certificate");
    assert_eq!(credentials[0]["created_by_crate"], true);

    // Against a larger profile: the mailbox permissions are missing.
    let run = t
        .run(
            "audit",
            &[
                "--profile",
                "migration-target",
                "--create-mailboxes",
                "--name",
                "Contoso Migration",
            ],
        )
        .await;
    run.expect(0);
    assert!(run.stdout.contains("User.ReadWrite.All"), "{}", run.stdout);
    assert!(run.stdout.contains("Needs attention"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_adds_a_new_credential_then_retires_the_older_one() {
    let t = Tenant::start().await;
    let first = t
        .run(
            "register",
            &[
                "--profile",
                "backup-sharepoint",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    first.expect(0);
    let old = first.json()["credential"]["key_id"].clone();
    let run = t
        .run(
            "rotate",
            &[
                "--profile",
                "backup-sharepoint",
                "--unique-name",
                "contoso-backup",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["client_id"], first.json()["client_id"]);
    let c = &v["credential"];
    assert_eq!(c["type"], "certificate");
    let retired = v["retired_credentials"].as_array().unwrap();
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0]["key_id"], old);
    let keys = t.fake.snapshot().applications[0]
        .key_credentials
        .clone()
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_id.unwrap().to_string(), str_of(c, "key_id"));
    let stem = format!("contoso-backup-{}", time::OffsetDateTime::now_utc().date());
    assert_eq!(
        PathBuf::from(str_of(&c["files"], "private_key_pem")),
        t.dir.join(format!("{stem}.key.pem"))
    );
    assert!(
        t.dir.join("contoso-backup.key.pem").is_file(),
        "the first key is kept"
    );

    // A secret for SharePoint is refused before anything is sent.
    t.fake.clear_requests();
    let run = t
        .run(
            "rotate",
            &[
                "--profile",
                "backup-sharepoint",
                "--name",
                "Contoso Backup",
                "--credential",
                "secret",
            ],
        )
        .await;
    run.expect(2);
    assert!(t.fake.requests().is_empty());

    // Secrets rotate too, and an unknown app is exit 2.
    let t = Tenant::start().await;
    t.run(
        "register",
        &[
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--credential",
            "secret",
        ],
    )
    .await
    .expect(0);
    let run = t
        .run(
            "rotate",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--credential",
                "secret",
            ],
        )
        .await;
    run.expect(0);
    let object_id = t.fake.snapshot().applications[0].id.unwrap();
    let secrets = t.fake.secret_texts(object_id);
    assert_eq!(secrets.len(), 1, "the older secret is retired");
    assert_eq!(run.stdout.matches(secrets[0].as_str()).count(), 1);
    let run = t
        .run(
            "rotate",
            &[
                "--profile",
                "backup-exchange",
                "--unique-name",
                "nobody",
                "--json",
            ],
        )
        .await;
    run.expect(2);
    assert_eq!(run.json()["error"]["kind"], "not_registered");
    assert!(
        !t.dir
            .join(format!(
                "nobody-{}.key.pem",
                time::OffsetDateTime::now_utc().date()
            ))
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn remove_needs_confirmation_or_yes_and_is_idempotent() {
    let t = Tenant::start().await;
    t.run(
        "register",
        &[
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--credential",
            "none",
        ],
    )
    .await
    .expect(0);
    // No terminal, no --yes: refused before anything is sent.
    t.fake.clear_requests();
    let run = t
        .run("remove", &["--unique-name", "contoso-backup", "--json"])
        .await;
    run.expect(2);
    assert!(str_of(&run.json()["error"], "message").contains("--yes"));
    assert!(t.fake.requests().is_empty());
    assert_eq!(t.fake.snapshot().applications.len(), 1);

    let run = t
        .run(
            "remove",
            &["--unique-name", "contoso-backup", "--yes", "--json"],
        )
        .await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["removed"], true);
    assert_eq!(
        str_of(&v["application"], "client_id"),
        t.fake.snapshot().deleted_applications[0]
            .app_id
            .unwrap()
            .to_string()
    );
    assert!(t.fake.snapshot().applications.is_empty());

    let run = t
        .run("remove", &["--name", "Contoso Backup", "--yes"])
        .await;
    run.expect(0);
    assert!(run.stdout.contains("nothing to delete"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_sign_in_prompts_on_stderr_and_keeps_stdout_for_json() {
    let t = Tenant::start().await;
    t.fake.set_device_code_polls_before_approval(0);
    let mut args = t.endpoints();
    args.splice(0..0, ["plan".to_owned()]);
    args.extend(
        [
            "--auth",
            "device-code",
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--json",
        ]
        .map(String::from),
    );
    let run = t.run_raw(args, vec![]).await;
    run.expect(0);
    let v = run.json();
    assert_eq!(str_of(&v, "tenant_id"), t.fake.tenant_id().to_string());
    assert!(run.stderr.contains("devicelogin"), "{}", run.stderr);
    assert!(
        run.stderr.contains("waiting for the sign-in"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Signed in to tenant"), "{}", run.stderr);
    assert!(!run.stderr.contains('\r'), "no spinner without a terminal");
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_sharepoint_through_device_code_with_the_default_scopes_ends_ready() {
    // The admin's token carries exactly the scopes the sign-in asked for, and the fake grants
    // GET /organization (the SharePoint host) only with User.Read among them.
    let t = Tenant::start().await;
    t.fake.set_device_code_polls_before_approval(0);
    let mut args = t.endpoints();
    args.splice(0..0, ["register".to_owned()]);
    args.extend(
        [
            "--auth",
            "device-code",
            "--profile",
            "backup-sharepoint",
            "--name",
            "Contoso Backup",
            "--credential",
            "certificate",
            "--json",
        ]
        .map(String::from),
    );
    let run = t.run_raw(args, vec![]).await;
    run.expect(0);
    let v = run.json();
    assert_eq!(v["ready"]["ready"], true, "{v}");
    let organization: Vec<u16> = t
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/organization"))
        .map(|r| r.status)
        .collect();
    assert_eq!(organization, [200]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_new_app_can_sign_in_with_its_secret_or_certificate() {
    let t = Tenant::start().await;
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--credential",
                "secret",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    let client_id = str_of(&v, "client_id").to_owned();
    let secret = str_of(&v["credential"], "secret").to_owned();
    let mut args = t.endpoints();
    args.splice(0..0, ["audit".to_owned()]);
    args.extend(
        [
            "--auth",
            "client-secret",
            "--client-id",
            &client_id,
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--json",
        ]
        .map(String::from),
    );
    let run = t
        .run_raw(args, vec![("ENTRA_APPREG_CLIENT_SECRET", secret)])
        .await;
    run.expect(0);
    assert_eq!(run.json()["application"]["client_id"], client_id.as_str());

    let t = Tenant::start().await;
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    let client_id = str_of(&v, "client_id").to_owned();
    let files = &v["credential"]["files"];
    let mut args = t.endpoints();
    args.splice(0..0, ["audit".to_owned()]);
    args.extend(
        [
            "--auth",
            "client-certificate",
            "--client-id",
            &client_id,
            "--certificate",
            str_of(files, "certificate_pem"),
            "--certificate-key",
            str_of(files, "private_key_pem"),
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--json",
        ]
        .map(String::from),
    );
    let run = t.run_raw(args, vec![]).await;
    run.expect(0);
    assert_eq!(run.json()["healthy"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_that_could_not_be_cleaned_up_is_handed_over_with_the_error() {
    let t = Tenant::start().await;
    let fail = |path: &str| {
        FaultRule::new(Fault::Status {
            status: 500,
            retry_after: None,
        })
        .path_contains(path)
        .times(1000)
    };
    t.fake.inject_fault(fail("appRoleAssignedTo"));
    t.fake.inject_fault(fail("removePassword"));
    // A short time budget: the faults never end.
    let args = [
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Backup",
        "--credential",
        "secret",
        "--replication-timeout",
        "2",
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let run = t.run("register", &with_json).await;
    run.expect(1);
    let v = run.json();
    let e = &v["error"];
    assert_eq!(e["kind"], "credential_not_removed", "{e}");
    assert_eq!(e["status"], 500);
    let object_id = t.fake.snapshot().applications[0].id.unwrap();
    let live = t.fake.secret_texts(object_id);
    assert_eq!(live.len(), 1);
    assert_eq!(str_of(&e["credential"], "secret"), live[0]);
    assert!(!run.stderr.contains(live[0].as_str()));

    // Without --json the value is printed once on stdout, never on stderr.
    let run = t.run("register", &args).await;
    run.expect(1);
    let live = t.fake.secret_texts(object_id);
    let newest = live.last().unwrap();
    assert_eq!(
        run.stdout.matches(newest.as_str()).count(),
        1,
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains(newest.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_waits_show_on_stderr_as_plain_lines() {
    let t = Tenant::with(FakeGraph::builder().replication_lag(1).start().await);
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--credential",
                "none",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    assert_eq!(run.json()["consent"]["status"], "complete");
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("waiting for Entra to replicate"))
        .unwrap_or_else(|| panic!("no wait shown:\n{}", run.stderr));
    assert!(
        line.contains("next in") && line.contains("waited"),
        "{line}"
    );
    assert!(!run.stderr.contains('\r'), "no spinner without a terminal");
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_in_china_without_a_client_id_exits_2_naming_the_flag_and_sends_nothing() {
    let t = Tenant::start().await;
    let args = |json: bool| {
        let mut a = vec!["plan".to_owned()];
        a.extend(t.endpoints());
        a.extend(
            [
                "--cloud",
                "china",
                "--auth",
                "device-code",
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
            ]
            .map(String::from),
        );
        if json {
            a.push("--json".into());
        }
        a
    };
    let run = t.run_raw(args(false), vec![]).await;
    run.expect(2);
    assert!(run.stderr.contains("--client-id"), "{}", run.stderr);
    assert!(run.stderr.contains("china"), "{}", run.stderr);
    let run = t.run_raw(args(true), vec![]).await;
    run.expect(2);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "usage", "{v}");
    assert!(
        str_of(&v["error"], "message").contains("--client-id <GUID>"),
        "{v}"
    );
    assert!(t.fake.requests().is_empty(), "nothing is sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_signs_in_through_the_client_id_given() {
    let t = Tenant::with(
        FakeGraph::builder()
            .replication_lag(0)
            .device_code_polls_before_approval(0)
            .start()
            .await,
    );
    let public_client = "5f0f8757-988d-474c-9f85-74a6bc70dfd0";
    let mut args = vec!["plan".to_owned()];
    args.extend(t.endpoints());
    args.extend(
        [
            "--cloud",
            "china",
            "--auth",
            "device-code",
            "--client-id",
            public_client,
            "--profile",
            "backup-exchange",
            "--name",
            "Contoso Backup",
            "--json",
        ]
        .map(String::from),
    );
    // One poll after the 5 s interval Entra's reply asks for.
    let run = t.run_raw(args, vec![]).await;
    run.expect(0);
    assert!(run.stderr.contains("enter the code"), "{}", run.stderr);
    let logins: Vec<_> = t
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::Login)
        .collect();
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert!(logins[0].path.ends_with("/devicecode"));
    assert!(logins[1].path.ends_with("/token"));
    for login in &logins {
        assert_eq!(login.body.as_ref().unwrap()["client_id"], public_client);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_rotation_whose_add_may_have_acted_exits_1_saying_so() {
    let t = Tenant::start().await;
    let secret = [
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Backup",
        "--credential",
        "secret",
        "--json",
    ];
    t.run("register", &secret).await.expect(0);
    // Every reply lost: Graph makes each secret, the client never hears back.
    t.fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 503 })
            .method("POST")
            .path_contains("/addPassword")
            .times(1000),
    );
    let run = t.run("rotate", &secret).await;
    run.expect(1);
    let v = run.json();
    let e = &v["error"];
    assert_eq!(e["kind"], "may_have_taken_effect", "{e}");
    assert_eq!(e["status"], 503);
    assert!(e["request_id"].is_string(), "{e}");
    assert!(str_of(e, "message").contains("not sent again"), "{e}");
    // The secret the register made, and the one the last lost reply made; the journal in --out
    // remembers the second.
    let object_id = t.fake.snapshot().applications[0].id.unwrap();
    assert_eq!(t.fake.secret_texts(object_id).len(), 2);
    assert!(t.dir.join("appreg-journal.json").exists());
    // The next run in the same folder removes the secret nobody holds.
    t.fake.clear_faults();
    let register = [
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Backup",
        "--json",
    ];
    let run = t.run("register", &register).await;
    run.expect(0);
    assert_eq!(
        run.json()["retired_credentials"].as_array().unwrap().len(),
        1
    );
    assert_eq!(t.fake.secret_texts(object_id).len(), 1);
    assert!(!t.dir.join("appreg-journal.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_store_is_refused_before_anything_is_sent_where_it_cannot_apply() {
    let t = Tenant::start().await;
    let mut cases: Vec<(Vec<&str>, &str)> = vec![(
        vec!["--credential", "secret", "--cert-store", "current-user"],
        "--cert-store applies to a new certificate",
    )];
    if cfg!(not(windows)) {
        cases = vec![(
            vec!["--cert-store", "current-user"],
            "Windows certificate store",
        )];
    }
    for (extra, says) in cases {
        let mut args = vec!["--profile", "backup-exchange", "--name", "X", "--json"];
        args.extend(extra);
        for command in ["register", "rotate"] {
            let run = t.run(command, &args).await;
            run.expect(2);
            let message = str_of(&run.json()["error"], "message").to_owned();
            assert!(message.contains(says), "{command}: {message}");
            assert!(
                t.fake.requests().is_empty(),
                "{command}: a request was sent"
            );
        }
    }
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                "X",
                "--exportable-key",
            ],
        )
        .await;
    run.expect(2);
    assert!(run.stderr.contains("--cert-store"), "{}", run.stderr);
    assert!(t.fake.requests().is_empty());
}

#[cfg(windows)]
#[tokio::test(flavor = "multi_thread")]
async fn register_imports_the_certificate_into_the_store_once_and_a_rerun_finds_it() {
    use entra_appreg::Thumbprint;
    use entra_appreg::credentials::{CertificateStore, StoreLocation};
    let t = Tenant::start().await;
    let out = t.dir.join("certs");
    let args = [
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Store",
        "--out",
        out.to_str().unwrap(),
        "--cert-store",
        "current-user",
        "--json",
    ];
    let run = t.run("register", &args).await;
    run.expect(0);
    let thumbprint: Thumbprint = str_of(&run.json()["credential"], "thumbprint")
        .parse()
        .unwrap();
    assert!(
        run.stderr.contains(&format!(
            "{} was imported with its private key in the CurrentUser\\My certificate store",
            thumbprint.as_str()
        )),
        "{}",
        run.stderr
    );
    let store = CertificateStore::new(StoreLocation::CurrentUser);
    assert!(store.contains(&thumbprint).unwrap());

    // The same command again: the certificate on disk is reused, and found in the store.
    let again = t.run("register", &args).await;
    again.expect(0);
    assert!(
        again.stderr.contains(&format!(
            "{} was already in the CurrentUser\\My certificate store",
            thumbprint.as_str()
        )),
        "{}",
        again.stderr
    );
    let report = &again.json()["certificate_store"];
    assert_eq!(report["location"], "CurrentUser\\My", "{report}");
    assert_eq!(report["thumbprint"], thumbprint.as_str(), "{report}");
    assert_eq!(report["imported"], false, "{report}");

    // rotate imports the new certificate, and takes the old one out of the store only once
    // Entra no longer accepts it.
    let rotate = |out: &'static str, extra: &'static [&'static str]| {
        let out = t.dir.join(out);
        let mut args = vec![
            "--profile".to_owned(),
            "backup-exchange".to_owned(),
            "--name".to_owned(),
            "Contoso Store".to_owned(),
            "--out".to_owned(),
            out.to_str().unwrap().to_owned(),
            "--cert-store".to_owned(),
            "current-user".to_owned(),
            "--json".to_owned(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let args = rotate("kept", &["--keep-previous"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let kept = t.run("rotate", &args).await;
    kept.expect(0);
    let second: Thumbprint = str_of(&kept.json()["credential"], "thumbprint")
        .parse()
        .unwrap();
    assert_eq!(kept.json()["certificate_store"]["imported"], true);
    assert_eq!(
        kept.json()["certificate_store"]["removed"],
        serde_json::json!([])
    );
    assert!(store.contains(&second).unwrap());
    assert!(
        store.contains(&thumbprint).unwrap(),
        "--keep-previous keeps it"
    );

    let args = rotate("rotated", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rotated = t.run("rotate", &args).await;
    rotated.expect(0);
    let v = rotated.json();
    let third: Thumbprint = str_of(&v["credential"], "thumbprint").parse().unwrap();
    let mut removed: Vec<&str> = v["certificate_store"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    removed.sort_unstable();
    let mut retired = vec![thumbprint.as_str(), second.as_str()];
    retired.sort_unstable();
    assert_eq!(removed, retired, "{v}");
    assert!(store.contains(&third).unwrap());
    assert!(!store.contains(&thumbprint).unwrap());
    assert!(!store.contains(&second).unwrap());
    assert!(store.remove(&third).unwrap());
}

/// Whether the JSON holds two keys in one object that differ only in case, or an empty key:
/// Windows PowerShell's `ConvertFrom-Json` refuses both.
fn powershell_unreadable_key(v: &Value) -> Option<String> {
    match v {
        Value::Object(map) => {
            let mut seen = std::collections::HashSet::new();
            for (key, value) in map {
                if key.is_empty() || !seen.insert(key.to_lowercase()) {
                    return Some(format!("{key:?}"));
                }
                if let Some(bad) = powershell_unreadable_key(value) {
                    return Some(bad);
                }
            }
            None
        }
        Value::Array(items) => items.iter().find_map(powershell_unreadable_key),
        _ => None,
    }
}

/// What an installer on Windows hands the tool: a folder with spaces and non-ASCII letters,
/// a non-ASCII name, and PEM files saved by Windows PowerShell 5.1 (UTF-16 with a byte-order
/// mark) or by Notepad (CRLF line endings, UTF-8 byte-order mark).
#[tokio::test(flavor = "multi_thread")]
async fn installer_paths_names_and_windows_pem_files_work_and_the_json_is_ascii() {
    let t = Tenant::start().await;
    let out = t
        .dir
        .join("Program Data")
        .join("Sauvegarde Contoso é 証明書");
    let name = "Sauvegarde Contoso é";
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--name",
                name,
                "--out",
                out.to_str().unwrap(),
                "--json",
            ],
        )
        .await;
    run.expect(0);
    assert!(
        run.stdout.is_ascii(),
        "the JSON must survive any console code page: {}",
        run.stdout
    );
    let v = run.json();
    assert_eq!(powershell_unreadable_key(&v), None, "{v}");
    assert_eq!(v["display_name"], name, "{v}");
    assert_eq!(
        t.fake.snapshot().applications[0].display_name.as_deref(),
        Some(name)
    );
    let files = &v["credential"]["files"];
    let pem = PathBuf::from(str_of(files, "certificate_pem"));
    let key = PathBuf::from(str_of(files, "private_key_pem"));
    assert!(pem.starts_with(&out) && pem.is_file(), "{files}");
    assert!(key.starts_with(&out) && key.is_file(), "{files}");

    // The same files as Windows tools save them.
    let crlf = |p: &Path| std::fs::read_to_string(p).unwrap().replace('\n', "\r\n");
    let notepad = out.join("certificat é.pem");
    std::fs::write(
        &notepad,
        [b"\xEF\xBB\xBF".as_slice(), crlf(&pem).as_bytes()].concat(),
    )
    .unwrap();
    let powershell = out.join("clé privée.pem");
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(crlf(&key).encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(&powershell, utf16).unwrap();

    let client_id = str_of(&v, "client_id").to_owned();
    let mut args = t.endpoints();
    args.splice(0..0, ["audit".to_owned()]);
    args.extend([
        "--auth".to_owned(),
        "client-certificate".to_owned(),
        "--client-id".to_owned(),
        client_id,
        "--certificate".to_owned(),
        notepad.to_str().unwrap().to_owned(),
        "--certificate-key".to_owned(),
        powershell.to_str().unwrap().to_owned(),
        "--profile".to_owned(),
        "backup-exchange".to_owned(),
        "--name".to_owned(),
        name.to_owned(),
        "--json".to_owned(),
    ]);
    let run = t.run_raw(args, vec![]).await;
    run.expect(0);
    assert!(run.stdout.is_ascii(), "{}", run.stdout);
    assert_eq!(run.json()["healthy"], true);
}

/// A rotation that added its new secret but cannot remove the older one hands the new secret
/// over with the failure: it is live, and it is the product's only way in after the older one
/// is removed by hand.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_whose_retirement_fails_hands_over_the_new_secret() {
    let t = Tenant::start().await;
    let secret = [
        "--profile",
        "backup-exchange",
        "--name",
        "Contoso Backup",
        "--credential",
        "secret",
        "--json",
    ];
    t.run("register", &secret).await.expect(0);
    let object_id = t.fake.snapshot().applications[0].id.unwrap();
    t.fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 403,
            retry_after: None,
        })
        .path_contains("removePassword")
        .times(1000),
    );
    let run = t.run("rotate", &secret).await;
    run.expect(1);
    let e = &run.json()["error"];
    assert_eq!(e["kind"], "older_credentials_kept", "{e}");
    let live = t.fake.secret_texts(object_id);
    assert_eq!(
        live.len(),
        2,
        "the older secret stays, the new one is added"
    );
    let handed = str_of(&e["credential"], "secret");
    assert!(live.iter().any(|s| s == handed), "{e}");
    assert!(!run.stderr.contains(handed));
    let message = str_of(e, "message");
    assert!(message.contains("the new secret is in place"), "{message}");
    assert!(message.contains("403"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_file_registers_the_products_own_permissions_and_a_typo_changes_nothing() {
    let t = Tenant::start().await;
    let file = t.dir.join("graph-mailbox.json");
    std::fs::write(
        &file,
        include_str!("../../examples/profiles/graph-mailbox.json"),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let run = t
        .run(
            "register",
            &[
                "--profile-file",
                path,
                "--name",
                "Contoso Mail Backup",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    assert_eq!(
        str_of(&v, "profile"),
        "Mail Backup (Microsoft Graph mailbox API)"
    );
    let values: Vec<&str> = v["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        [
            "MailboxItem.ImportExport.All",
            "MailboxItem.Read.All",
            "MailboxFolder.ReadWrite.All",
            "User.Read.All"
        ]
    );
    assert!(
        !v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "ews_retirement"),
        "{v}"
    );

    // A value Graph does not offer: found by reading, so exit 1 (exit 2 is for input refused
    // before any request), kind role_mismatch; nothing written, the value named.
    let typo = t.dir.join("typo.json");
    std::fs::write(
        &typo,
        r#"{"name": "Typo", "permissions": [{"resource": "Microsoft Graph", "value": "MailboxItem.ImportExprot.All"}]}"#,
    )
    .unwrap();
    let before = t.graph_writes();
    let run = t
        .run(
            "register",
            &[
                "--profile-file",
                typo.to_str().unwrap(),
                "--name",
                "Other App",
            ],
        )
        .await;
    run.expect(1);
    assert!(
        run.stderr.contains("MailboxItem.ImportExprot.All"),
        "{}",
        run.stderr
    );
    assert_eq!(t.graph_writes(), before);

    // Bad JSON: exit 2 with the place; --profile and --profile-file together: exit 2.
    std::fs::write(&typo, "{\"name\": ").unwrap();
    let run = t
        .run(
            "plan",
            &[
                "--profile-file",
                typo.to_str().unwrap(),
                "--name",
                "Other App",
            ],
        )
        .await;
    run.expect(2);
    assert!(run.stderr.contains("line 1"), "{}", run.stderr);
    let run = t
        .run(
            "plan",
            &[
                "--profile",
                "backup-exchange",
                "--profile-file",
                path,
                "--name",
                "X",
            ],
        )
        .await;
    run.expect(2);
    // --add-permission on a built-in profile.
    let run = t
        .run(
            "register",
            &[
                "--profile",
                "backup-exchange",
                "--add-permission",
                "Microsoft Graph:Mail.Read",
                "--name",
                "Contoso Backup",
                "--json",
            ],
        )
        .await;
    run.expect(0);
    let v = run.json();
    assert_eq!(str_of(&v, "profile"), "Backup-Exchange + Mail.Read");
    assert!(
        v["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["value"] == "Mail.Read" && p["granted"] == true),
        "{v}"
    );
    // --revoke takes it off again; a second time there is nothing to revoke.
    let revoke = [
        "--profile",
        "backup-exchange",
        "--revoke",
        "Microsoft Graph:Mail.Read",
        "--name",
        "Contoso Backup",
        "--json",
    ];
    let run = t.run("register", &revoke).await;
    run.expect(0);
    let v = run.json();
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == "revoke_permission" && c["value"] == "Mail.Read"),
        "{v}"
    );
    let run = t.run("register", &revoke).await;
    run.expect(0);
    let v = run.json();
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "nothing_to_revoke"),
        "{v}"
    );
}
