//! The crate against a real Entra tenant: `cargo test --test it live:: -- --ignored --nocapture`.
//!
//! Set, for a bootstrap app of the tenant that holds `Application.ReadWrite.All` (or
//! `.OwnedBy`), `AppRoleAssignment.ReadWrite.All` and `Application.Read.All`, admin-consented:
//!
//! | variable | value |
//! |---|---|
//! | `ENTRA_LIVE_TENANT` | the tenant id (GUID) or a verified domain |
//! | `ENTRA_LIVE_CLIENT_ID` | the bootstrap app's client id |
//! | `ENTRA_LIVE_CLIENT_SECRET` | its client secret, **or** |
//! | `ENTRA_LIVE_CERTIFICATE` | the path of a PEM file holding its certificate and private key |
//! | `ENTRA_LIVE_CLOUD` | optional: `global` (default), `usgov`, `usgov-dod`, `china` |
//! | `ENTRA_LIVE_RECORD` | optional: a folder; every request/response pair is written there, tokens, secrets and assertions scrubbed |
//!
//! For each of the four profiles it registers a uniquely named app (`entra-appreg-live-…`) with a
//! new certificate, signs in as that app until every resource's token carries the roles granted
//! there (`wait_until_ready`), lists the app's grants until every one of them shows (list calls may miss a grant made
//! seconds ago, as Microsoft's
//! [List appRoleAssignments](https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments)
//! page warns: a re-run before that would plan them again), runs the registration again (it must
//! write nothing), and deletes the app — also when a step failed.
//!
//! What it leaves behind: the four soft-deleted apps, which Entra purges after 30 days, and the
//! service principals of Office 365 Exchange Online and Office 365 SharePoint Online if the tenant
//! lacked them (Microsoft's own resources, created once per tenant the first time an app is
//! granted a permission on them; deleting them is not this test's business). Without the
//! variables the test says so and passes.
//!
//! The same flow runs on every `cargo test` against [`FakeGraph`], recording included, so the
//! code a maintainer runs against a tenant is never stale.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use entra_appreg::auth::{ClientCertificateCredential, ClientSecret, ClientSecretCredential};
use entra_appreg::cloud::Cloud;
use entra_appreg::credentials::{Certificate, NewCredential};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::redact::scrub;
use entra_appreg::registration::{AppRegistration, ReadyOptions};
use entra_appreg::transport::{GraphTransport, ReqwestTransport, TransportError};
use entra_appreg::{Graph, UniqueName};
use entra_appreg_fake::FakeGraph;

/// Where the flow signs in and sends Graph traffic.
struct Target {
    graph: Graph,
    record: Option<PathBuf>,
    sign_in_timeout: Duration,
}

#[tokio::test]
#[ignore = "needs a real tenant: set ENTRA_LIVE_TENANT, ENTRA_LIVE_CLIENT_ID and a secret or certificate"]
async fn live_tenant_registers_verifies_reruns_and_removes_every_profile() {
    let Some(target) = live_target() else {
        eprintln!(
            "skipped: set ENTRA_LIVE_TENANT, ENTRA_LIVE_CLIENT_ID and ENTRA_LIVE_CLIENT_SECRET (or ENTRA_LIVE_CERTIFICATE) to run against a real tenant"
        );
        return;
    };
    run_flow(&target).await;
}

#[tokio::test]
async fn the_live_flow_runs_against_the_fake_and_records_without_secrets() {
    let fake = FakeGraph::start().await;
    let dir = std::env::temp_dir().join(format!("entra-appreg-record-{}", uuid::Uuid::new_v4()));
    let recorder = Recorder::new(ReqwestTransport::new().unwrap(), dir.clone());
    let graph = fake.graph_builder().transport(recorder).build().unwrap();
    run_flow(&Target {
        graph,
        record: Some(dir.clone()),
        sign_in_timeout: Duration::from_secs(60),
    })
    .await;
    assert!(
        fake.snapshot().applications.is_empty(),
        "the flow left an app behind"
    );

    let recorded: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(recorded.len() > 20, "{} pairs recorded", recorded.len());
    let all = recorded.join("\n");
    assert!(all.contains("\"status\": 201") && all.contains("/v1.0/$batch"));
    assert!(!all.contains(&fake.admin_token()), "a token was recorded");
    // A JWT starts a JSON string, a header value or a form field; inside the base64 of a
    // certificate, "eyJ" turns up by chance (about once in 260,000 positions).
    for start in ["\"eyJ", " eyJ", "=eyJ"] {
        assert!(!all.contains(start), "a JWT was recorded");
    }
    assert!(!all.to_ascii_lowercase().contains("authorization"));
    assert!(all.contains("\"client_assertion\": \"<redacted>\""));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Register, sign in as the new app, re-run, remove; for each profile. The app is removed even
/// when a step fails.
async fn run_flow(target: &Target) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    for profile in [
        PermissionProfile::BackupExchange,
        PermissionProfile::BackupSharePoint,
        PermissionProfile::MigrationSource,
        PermissionProfile::MigrationTarget {
            create_mailboxes: true,
        },
    ] {
        let slug = profile.to_string().to_ascii_lowercase();
        let unique = UniqueName::new(format!("entra-appreg-live-{slug}-{}", &run[..8])).unwrap();
        let reg = AppRegistration::with_names(
            format!("entra-appreg live test {slug}"),
            unique,
            profile.clone(),
        )
        .unwrap();
        let outcome = register_verify_rerun(target, &reg).await;
        let removed = reg.remove(&target.graph).await;
        if let Some(dir) = &target.record {
            eprintln!("{profile}: requests recorded in {}", dir.display());
        }
        outcome.unwrap_or_else(|e| panic!("{profile}: {e}"));
        assert!(removed.unwrap().is_some(), "{profile}: nothing was removed");
    }
}

async fn register_verify_rerun(target: &Target, reg: &AppRegistration) -> Result<(), String> {
    let profile = reg.profile().clone();
    let certificate =
        Certificate::generate("entra-appreg live test", 30).map_err(|e| e.to_string())?;
    let with_cert = reg
        .clone()
        .with_credential(NewCredential::Certificate(Box::new(certificate)));
    let app = with_cert
        .apply(&target.graph)
        .await
        .map_err(|e| e.to_string())?;
    if !app.is_complete() {
        return Err(format!("consent is not complete: {:?}", app.consent));
    }
    let options = ReadyOptions::default().with_timeout(target.sign_in_timeout);
    let check = app
        .wait_until_ready(&target.graph, &options)
        .await
        .map_err(|e| e.to_string())?;
    if !check.ready {
        return Err(format!("the new app is not ready:\n{check}"));
    }
    let attempts: u32 = check.resources.iter().map(|r| r.attempts).sum();
    grants_listed(target, &app).await?;
    let again = with_cert
        .apply(&target.graph)
        .await
        .map_err(|e| e.to_string())?;
    if !again.changes.is_empty() {
        return Err(format!("the re-run changed {:?}", again.changes));
    }
    eprintln!(
        "{profile}: registered {} in {} requests, sign-in ready after {} attempt(s), re-run in {} requests",
        app.client_id, app.graph_requests, attempts, again.graph_requests
    );
    Ok(())
}

/// Lists the app's grants until every permission it was granted shows, up to the sign-in
/// timeout: a grant is confirmed by the list the re-run reads, not by a token.
async fn grants_listed(
    target: &Target,
    app: &entra_appreg::registration::RegisteredApp,
) -> Result<(), String> {
    use entra_appreg::graph::models::{AppRoleAssignment, Collection};
    let wanted: Vec<_> = app
        .permissions
        .iter()
        .map(|p| p.permission.role_id)
        .collect();
    let started = std::time::Instant::now();
    loop {
        let listed: Collection<AppRoleAssignment> = target
            .graph
            .send_json(&crate::common::requests::app_role_assignments(
                app.service_principal_id,
            ))
            .await
            .map_err(|e| e.to_string())?;
        let missing: Vec<_> = wanted
            .iter()
            .filter(|r| !listed.value.iter().any(|a| a.app_role_id == **r))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if started.elapsed() > target.sign_in_timeout {
            return Err(format!("grants still not listed: {missing:?}"));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn live_target() -> Option<Target> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let tenant = var("ENTRA_LIVE_TENANT")?;
    let client_id = var("ENTRA_LIVE_CLIENT_ID")?
        .parse()
        .expect("ENTRA_LIVE_CLIENT_ID is a GUID");
    let cloud = match var("ENTRA_LIVE_CLOUD").as_deref() {
        None | Some("global") => Cloud::Global,
        Some("usgov") => Cloud::UsGov,
        Some("usgov-dod") => Cloud::UsGovDod,
        Some("china") => Cloud::China,
        Some(other) => panic!("ENTRA_LIVE_CLOUD: unknown cloud {other:?}"),
    };
    let record = var("ENTRA_LIVE_RECORD").map(PathBuf::from);
    let transport = ReqwestTransport::new().expect("an HTTP client");
    let builder = Graph::builder().tenant(tenant).cloud(cloud);
    let builder = match (
        &record,
        var("ENTRA_LIVE_CLIENT_SECRET"),
        var("ENTRA_LIVE_CERTIFICATE"),
    ) {
        (_, Some(secret), _) => builder.token_provider(ClientSecretCredential::new(
            client_id,
            ClientSecret::new(secret),
        )),
        (_, None, Some(path)) => {
            let pem = std::fs::read_to_string(&path).expect("ENTRA_LIVE_CERTIFICATE is readable");
            let cert = Certificate::from_pem(&pem)
                .expect("ENTRA_LIVE_CERTIFICATE holds a certificate and its key");
            builder.token_provider(
                ClientCertificateCredential::new(client_id, cert).expect("a usable certificate"),
            )
        }
        (_, None, None) => return None,
    };
    let builder = match &record {
        Some(dir) => builder.transport(Recorder::new(transport, dir.clone())),
        None => builder.transport(transport),
    };
    Some(Target {
        graph: builder.build().expect("a Graph client"),
        record,
        sign_in_timeout: Duration::from_secs(300),
    })
}

/// A transport that writes every request/response pair to a folder, one JSON file each, with
/// `Authorization` dropped and tokens, secrets, assertions and device codes replaced by
/// `<redacted>`: material for `FakeGraph` fixtures.
struct Recorder<T> {
    inner: T,
    dir: PathBuf,
    seq: Arc<AtomicU64>,
}

impl<T> Recorder<T> {
    fn new(inner: T, dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).expect("the record folder can be created");
        Self {
            inner,
            dir,
            seq: Arc::new(AtomicU64::new(0)),
        }
    }
}

#[async_trait]
impl<T: GraphTransport> GraphTransport for Recorder<T> {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let n = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let seen = scrub_message(request.headers(), request.body());
        let (method, uri) = (request.method().to_string(), request.uri().to_string());
        let result = self.inner.send(request).await;
        let reply = match &result {
            Ok(r) => serde_json::json!({
                "status": r.status().as_u16(),
                "message": scrub_message(r.headers(), r.body()),
            }),
            Err(e) => serde_json::json!({ "transport_error": e.to_string() }),
        };
        let pair = serde_json::json!({
            "request": {"method": method, "uri": uri, "message": seen},
            "response": reply,
        });
        write_pair(&self.dir, n, &pair);
        result
    }
}

fn write_pair(dir: &Path, n: u64, pair: &serde_json::Value) {
    let text = serde_json::to_string_pretty(pair).unwrap_or_default();
    let _ = std::fs::write(dir.join(format!("{n:04}.json")), text);
}

/// A request or a response with its secrets scrubbed by the crate's own redaction: headers
/// (without `Authorization`), and the body as JSON, a token-endpoint form as an object, or text.
fn scrub_message(headers: &http::HeaderMap, body: &[u8]) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter(|(k, _)| !k.as_str().eq_ignore_ascii_case("authorization"))
        .map(|(k, v)| {
            let value = v.to_str().map(scrub).unwrap_or_else(|_| "<binary>".into());
            (k.to_string(), serde_json::json!(value))
        })
        .collect();
    let text = scrub(&String::from_utf8_lossy(body));
    let body = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(json) => json,
        // A token-endpoint form.
        Err(_)
            if !text.contains(char::is_whitespace) && text.split('&').all(|p| p.contains('=')) =>
        {
            let pairs: serde_json::Map<String, serde_json::Value> = text
                .split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_owned(), serde_json::json!(v)))
                .collect();
            serde_json::Value::Object(pairs)
        }
        Err(_) => serde_json::json!(text),
    };
    serde_json::json!({"headers": headers, "body": body})
}
