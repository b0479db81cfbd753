//! The crate against the answers real Graph gives (GRAPH.md §3–4): both replication-lag answers
//! to a grant, the `Application.ReadWrite.OwnedBy` 403 on a service principal created too soon,
//! an upsert that answers 204 for an app the read did not see (an admin's certificate and
//! permission must survive it), two runs racing, and lag polled at a short fixed interval.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::fake_graph;
use crate::common::tenant::{all_profiles, declared, expected_pairs, granted_pairs};
use entra_appreg::auth::{ClientSecret, ClientSecretCredential};
use entra_appreg::credentials::{Certificate, NewCredential};
use entra_appreg::graph::models::{Application, RequiredResourceAccess, ResourceAccess};
use entra_appreg::graph::{Graph, GraphRequest};
use entra_appreg::profile::{PermissionProfile, catalog};
use entra_appreg::registration::{AppRegistration, ProgressEvent};
use entra_appreg_fake::{FakeGraph, Fault, FaultRule, GrantLagAnswer, RequestKind};

/// `Mail.Read` (Graph application permission): outside every profile, so an admin's addition.
const MAIL_READ: &str = "810c84a8-4a9e-49e6-bf7d-12d183f40d01";

/// Grant requests the fake answered with this status.
fn grant_answers(fake: &FakeGraph, status: u16) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.kind == RequestKind::Graph && r.path.ends_with("/appRoleAssignedTo"))
        .filter(|r| r.status == status)
        .count()
}

#[tokio::test]
async fn every_profile_registers_through_either_grant_lag_answer() {
    for answer in [
        GrantLagAnswer::NotFound,
        GrantLagAnswer::InvalidReferenceUpdate,
        GrantLagAnswer::Alternate,
    ] {
        for profile in all_profiles() {
            let fake = FakeGraph::builder()
                .replication_lag(2)
                .grant_lag_answer(answer)
                .start()
                .await;
            let (graph, _) = fake_graph(&fake);
            let reg = AppRegistration::new("Contoso Backup", profile.clone()).unwrap();
            let app = reg.apply(&graph).await.unwrap();
            assert!(app.created && app.is_complete(), "{profile} {answer:?}");
            assert_eq!(
                granted_pairs(&fake, app.client_id),
                expected_pairs(&profile),
                "{profile} {answer:?}"
            );
            let (bad_request, not_found) = (grant_answers(&fake, 400), grant_answers(&fake, 404));
            match answer {
                GrantLagAnswer::NotFound => assert!(not_found > 0 && bad_request == 0),
                GrantLagAnswer::InvalidReferenceUpdate => {
                    assert!(bad_request > 0 && not_found == 0)
                }
                GrantLagAnswer::Alternate => assert!(bad_request > 0 && not_found > 0),
                other => panic!("a lag answer this test does not know: {other:?}"),
            }
        }
    }
}

/// A bootstrap app holding `Application.ReadWrite.OwnedBy` and
/// `AppRoleAssignment.ReadWrite.All`, signed in with a client secret.
async fn owned_by_bootstrap(fake: &FakeGraph, admin: &Graph) -> Graph {
    let app = fake.seed_application({
        let mut v = Application::default();
        v.display_name = Some("Installer bootstrap".into());
        v
    });
    let sp = fake.seed_service_principal_for(app.app_id.unwrap());
    let graph_sp = fake
        .snapshot()
        .service_principals
        .into_iter()
        .find(|s| s.app_id == Some(catalog::MICROSOFT_GRAPH.app_id))
        .unwrap();
    for role in [
        "18a4783c-866b-4cc7-a460-3d5e5662c884", // Application.ReadWrite.OwnedBy
        "06b708a9-e830-4db3-a914-8e69da51d44f", // AppRoleAssignment.ReadWrite.All
    ] {
        fake.seed_app_role_assignment(sp.id.unwrap(), graph_sp.id.unwrap(), role.parse().unwrap());
    }
    let reply: serde_json::Value = admin
        .send_json(
            &GraphRequest::post(
                format!("/applications/{}/addPassword", app.id.unwrap()),
                &serde_json::json!({"passwordCredential": {"displayName": "bootstrap"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let secret = reply["secretText"].as_str().unwrap().to_owned();
    Graph::builder()
        .tenant(fake.tenant_id().to_string())
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(ClientSecretCredential::new(
            app.app_id.unwrap(),
            ClientSecret::new(secret),
        ))
        .sleeper(entra_appreg::retry::RecordingSleeper::default())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_owned_by_bootstrap_app_waits_out_the_403_on_a_service_principal_created_too_soon() {
    let fake = FakeGraph::start().await;
    let (admin, _) = fake_graph(&fake);
    let bootstrap = owned_by_bootstrap(&fake, &admin).await;
    fake.set_replication_lag(2);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    let app = reg.apply(&bootstrap).await.unwrap();
    assert!(app.created && app.is_complete(), "{app:?}");
    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/servicePrincipals") && r.method == "POST")
        .filter(|r| r.status == 403)
        .count();
    assert!(refused > 0, "the fake never answered the OwnedBy 403");
    assert_eq!(
        granted_pairs(&fake, app.client_id),
        expected_pairs(&PermissionProfile::BackupExchange)
    );
}

#[tokio::test]
async fn an_owned_by_bootstrap_app_is_told_at_once_it_cannot_create_a_microsoft_resources_service_principal()
 {
    let fake = FakeGraph::start().await;
    let (admin, _) = fake_graph(&fake);
    let bootstrap = owned_by_bootstrap(&fake, &admin).await;
    // Exchange Online has never been used in this tenant: its service principal is missing.
    fake.remove_resource_service_principal(catalog::EXCHANGE_ONLINE.app_id);
    fake.set_replication_lag(2);
    fake.clear_requests();
    let err = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .apply(&bootstrap)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(
        err.advice().unwrap().contains("Application.ReadWrite.All"),
        "{:?}",
        err.advice()
    );
    // Not waited out as lag: Exchange's service principal was asked for once.
    let exchange = catalog::EXCHANGE_ONLINE.app_id.to_string();
    let asked = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/servicePrincipals"))
        .filter(|r| {
            r.body
                .as_ref()
                .is_some_and(|b| b["appId"] == exchange.as_str())
        })
        .count();
    assert_eq!(asked, 1);
}

/// The seeded app of an earlier installation, with a certificate and a permission an admin
/// added by hand.
fn seed_admin_app(fake: &FakeGraph) -> (Application, Certificate) {
    let admin_cert = Certificate::generate("admin's own", 30).unwrap();
    let app = fake.seed_application({
        let mut v = Application::default();
        v.display_name = Some("Contoso Backup".into());
        v.unique_name = Some("contoso-backup".into());
        // The admin made it multi-tenant.
        v.sign_in_audience = Some("AzureADMultipleOrgs".into());
        v.key_credentials = Some(vec![admin_cert.key_credential("admin's certificate")]);
        v.required_resource_access = Some(vec![RequiredResourceAccess::new(
            catalog::MICROSOFT_GRAPH.app_id,
            vec![ResourceAccess::role(MAIL_READ.parse().unwrap())],
        )]);
        v
    });
    (app, admin_cert)
}

#[tokio::test]
async fn an_upsert_answering_204_keeps_the_admins_certificate_and_permission() {
    for with_certificate in [false, true] {
        let fake = FakeGraph::start().await;
        let (admin_app, admin_cert) = seed_admin_app(&fake);
        // The first read misses the app, as a lagging replica would.
        fake.inject_fault(
            FaultRule::new(Fault::ReplicationLag)
                .method("GET")
                .path_contains("uniqueName=")
                .times(1),
        );
        let (graph, _) = fake_graph(&fake);
        let mut reg =
            AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
        let new_cert = Certificate::generate("contoso backup", 365).unwrap();
        if with_certificate {
            reg = reg.with_credential(NewCredential::Certificate(Box::new(new_cert.clone())));
        }
        let app = reg.apply(&graph).await.unwrap();
        assert!(!app.created, "the app existed: this run did not create it");
        assert_eq!(app.client_id, admin_app.app_id.unwrap());
        // The upsert answered 204 and carried no collection.
        let upsert = fake
            .requests()
            .into_iter()
            .find(|r| r.method == "PATCH" && r.path.contains("uniqueName="))
            .unwrap();
        assert_eq!(upsert.status, 204);
        let body = upsert.body.unwrap();
        assert!(
            body.get("keyCredentials").is_none() && body.get("requiredResourceAccess").is_none()
        );
        // Nor the audience: the admin's choice stands, as the plan's warning says.
        assert!(body.get("signInAudience").is_none(), "{body}");
        assert!(
            app.warnings
                .iter()
                .any(|w| w.to_string().contains("left as is")),
            "{:?}",
            app.warnings
        );
        assert_eq!(
            fake.snapshot().applications[0].sign_in_audience.as_deref(),
            Some("AzureADMultipleOrgs")
        );

        let stored = fake.snapshot().applications.remove(0);
        let thumbprints: Vec<_> = stored
            .key_credentials
            .iter()
            .flatten()
            .filter_map(|k| k.key.clone())
            .collect();
        let admin_key = admin_cert.key_credential("x").key.unwrap();
        assert!(
            thumbprints.contains(&admin_key),
            "the admin's certificate is gone"
        );
        if with_certificate {
            let new_key = new_cert.key_credential("x").key.unwrap();
            assert!(thumbprints.contains(&new_key));
            assert_eq!(thumbprints.len(), 2);
        }
        let declared: BTreeSet<_> = declared(&stored).into_iter().collect();
        assert!(declared.contains(&(catalog::MICROSOFT_GRAPH.app_id, MAIL_READ.parse().unwrap())));
        assert!(declared.is_superset(&expected_pairs(&PermissionProfile::BackupExchange)));
        assert!(app.is_complete());
    }
}

#[tokio::test]
async fn of_two_runs_racing_on_a_fresh_tenant_exactly_one_reports_it_created_the_app() {
    for _ in 0..5 {
        let fake = FakeGraph::start().await;
        let (graph, _) = fake_graph(&fake);
        let reg =
            AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
        let (a, b) = tokio::join!(reg.apply(&graph), reg.apply(&graph));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.client_id, b.client_id);
        assert!(
            a.created ^ b.created,
            "created: {} and {}",
            a.created,
            b.created
        );
        assert_eq!(fake.snapshot().applications.len(), 1);
    }
}

#[tokio::test]
async fn replication_lag_is_polled_every_one_or_two_seconds() {
    let fake = FakeGraph::builder().replication_lag(12).start().await;
    let (graph, sleeper) = fake_graph(&fake);
    let waits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = waits.clone();
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .on_progress(move |e| {
            if let ProgressEvent::WaitingForReplication { retry_in, .. } = e {
                seen.lock().unwrap().push(*retry_in);
            }
        });
    let app = reg.apply(&graph).await.unwrap();
    assert!(app.is_complete());
    let waits = waits.lock().unwrap().clone();
    assert!(waits.len() >= 6, "{waits:?}");
    assert!(
        waits
            .iter()
            .all(|w| *w >= Duration::from_secs(1) && *w <= Duration::from_secs(2)),
        "{waits:?}"
    );
    assert!(!sleeper.total().is_zero());
}

/// A Graph client that signs the admin in with the device code flow, with the crate's default
/// scopes or with `scopes`.
fn device_code_admin(fake: &FakeGraph, scopes: Option<&[&str]>) -> Graph {
    let mut credential = entra_appreg::auth::DeviceCodeCredential::new(|_| {});
    if let Some(scopes) = scopes {
        credential = credential.with_scopes(
            scopes
                .iter()
                .map(|s| format!("https://graph.microsoft.com/{s}")),
        );
    }
    Graph::builder()
        .tenant(fake.tenant_id().to_string())
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(credential)
        .sleeper(entra_appreg::retry::RecordingSleeper::default())
        .build()
        .unwrap()
}

async fn register_backup_sharepoint(graph: &Graph) -> entra_appreg::registration::RegisteredApp {
    let cert = Certificate::generate("Contoso Backup", 30).unwrap();
    AppRegistration::new("Contoso Backup", PermissionProfile::BackupSharePoint)
        .unwrap()
        .with_credential(NewCredential::Certificate(Box::new(cert)))
        .apply(graph)
        .await
        .unwrap()
}

#[tokio::test]
async fn backup_sharepoint_through_device_code_with_the_default_scopes_ends_ready() {
    let fake = FakeGraph::start().await;
    let graph = device_code_admin(&fake, None);
    let app = register_backup_sharepoint(&graph).await;
    let options = entra_appreg::registration::ReadyOptions::default();
    let ready = app.wait_until_ready(&graph, &options).await.unwrap();
    assert!(ready.ready, "{ready}");
    // The SharePoint host came from the organization, read with the admin's User.Read.
    let organization = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/organization"))
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert_eq!(organization, [200]);
}

#[tokio::test]
async fn without_user_read_the_organization_is_refused_and_the_error_says_what_to_do() {
    let fake = FakeGraph::start().await;
    let graph = device_code_admin(
        &fake,
        Some(&[
            "Application.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
        ]),
    );
    let app = register_backup_sharepoint(&graph).await;
    let options = entra_appreg::registration::ReadyOptions::default();
    let err = app.wait_until_ready(&graph, &options).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let advice = err.advice().unwrap();
    for needed in ["User.Read", "Organization.Read.All", "--sharepoint-host"] {
        assert!(advice.contains(needed), "{advice}");
    }
    // Naming the host needs no organization read.
    let options = options.with_sharepoint_host(format!("{}.sharepoint.com", "contoso"));
    let ready = app.wait_until_ready(&graph, &options).await.unwrap();
    assert!(ready.ready, "{ready}");
}

#[tokio::test]
async fn an_app_only_admin_reads_the_organization_only_with_organization_read_all() {
    let fake = FakeGraph::start().await;
    let (admin, _) = fake_graph(&fake);
    let bootstrap = owned_by_bootstrap(&fake, &admin).await;
    let refused = bootstrap
        .send(&GraphRequest::get("/organization").query("$select", "id,verifiedDomains"))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403));
    assert!(refused.advice().unwrap().contains("Organization.Read.All"));
    // The admin's default sign-in reads it.
    let graph = device_code_admin(&fake, None);
    graph
        .send(&GraphRequest::get("/organization").query("$select", "id,verifiedDomains"))
        .await
        .unwrap();
}

/// Every pair of writes to one application in a `$batch` envelope the fake received, where neither
/// depends (directly or through others) on the other: Graph would run them in any order.
fn unordered_writes(fake: &FakeGraph) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for envelope in fake.requests() {
        if envelope.batch.is_some() || !envelope.path.ends_with("/$batch") {
            continue;
        }
        let Some(items) = envelope
            .body
            .as_ref()
            .and_then(|b| b["requests"].as_array())
        else {
            continue;
        };
        let id = |i: &serde_json::Value| i["id"].as_str().unwrap_or("").to_lowercase();
        let depends = |from: &serde_json::Value, to: &str| {
            let mut seen: BTreeSet<String> = BTreeSet::new();
            let mut todo = vec![id(from)];
            while let Some(cur) = todo.pop() {
                if cur == to {
                    return true;
                }
                if !seen.insert(cur.clone()) {
                    continue;
                }
                let item = items.iter().find(|i| id(i) == cur);
                for d in item
                    .and_then(|i| i["dependsOn"].as_array())
                    .into_iter()
                    .flatten()
                {
                    todo.push(d.as_str().unwrap_or("").to_lowercase());
                }
            }
            false
        };
        // The object a write goes to: `/applications/{id}` of `/applications/{id}/addPassword`.
        let object = |i: &serde_json::Value| {
            let url = i["url"].as_str().unwrap_or("");
            url.trim_start_matches('/')
                .split('/')
                .take(2)
                .collect::<Vec<_>>()
                .join("/")
        };
        let writes: Vec<&serde_json::Value> = items
            .iter()
            .filter(|i| i["method"] != "GET" && object(i).starts_with("applications/"))
            .collect();
        for (n, a) in writes.iter().enumerate() {
            for b in &writes[n + 1..] {
                if object(a) == object(b) && !depends(a, &id(b)) && !depends(b, &id(a)) {
                    found.push((
                        format!("{} {}", a["method"], a["url"]),
                        format!("{} {}", b["method"], b["url"]),
                    ));
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn no_batch_holds_two_unordered_writes_to_one_application() {
    use entra_appreg::credentials::{CredentialKind, SecretOptions};
    for profile in all_profiles() {
        let fake = FakeGraph::builder().replication_lag(1).start().await;
        let (graph, _) = fake_graph(&fake);
        let secret = profile.allows(CredentialKind::Secret);
        let unique = entra_appreg::UniqueName::new("contoso-backup").unwrap();
        let registration = |name: &str, days: u32| {
            let reg = AppRegistration::new(name, profile.clone())
                .unwrap()
                .with_unique_name(unique.clone());
            reg.with_credential(if secret {
                NewCredential::Secret(SecretOptions::default())
            } else {
                let cert = Certificate::generate("Contoso Backup", days).unwrap();
                NewCredential::Certificate(Box::new(cert))
            })
        };
        // Fresh: the new app's collections beside its credential. Again, renamed: the name
        // beside a second credential.
        for (name, days) in [("Contoso Backup", 30), ("Contoso Backup 2", 60)] {
            let app = registration(name, days).apply(&graph).await.unwrap();
            assert!(app.is_complete(), "{profile}");
        }
        assert_eq!(unordered_writes(&fake), Vec::new(), "{profile}");
        let apps = fake.snapshot().applications;
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].display_name.as_deref(), Some("Contoso Backup 2"));
        let secrets = apps[0].password_credentials.as_ref().map_or(0, Vec::len);
        let keys = apps[0].key_credentials.as_ref().map_or(0, Vec::len);
        assert_eq!(
            (secrets, keys),
            if secret { (2, 0) } else { (0, 2) },
            "{profile}"
        );
    }
}

#[tokio::test]
async fn a_secret_not_run_because_the_app_update_met_lag_is_sent_again_with_it() {
    use entra_appreg::credentials::SecretOptions;
    let fake = FakeGraph::builder().replication_lag(3).start().await;
    let (graph, _) = fake_graph(&fake);
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap();
    assert!(app.created && app.is_complete());
    let not_run = fake
        .requests()
        .iter()
        .filter(|r| r.batch.is_some() && r.path.ends_with("/addPassword"))
        .map(|r| r.status)
        .collect::<Vec<_>>();
    // Graph did not run it while the app's update met lag (424), then it ran once.
    assert!(not_run.contains(&424), "{not_run:?}");
    assert_eq!(
        not_run.iter().filter(|s| **s == 200).count(),
        1,
        "{not_run:?}"
    );
    let secrets = fake.snapshot().applications[0]
        .password_credentials
        .clone()
        .unwrap_or_default();
    assert_eq!(secrets.len(), 1);
}

#[tokio::test]
async fn a_new_apps_audience_is_set_in_the_update_after_its_creation_even_after_a_lost_pass() {
    for lose_the_update in [false, true] {
        let fake = FakeGraph::start().await;
        if lose_the_update {
            // The round trip after the creation fails: the next pass finds the app with
            // Graph's default audience.
            // (every try of the client's retry policy).
            fake.inject_fault(
                FaultRule::new(Fault::Status {
                    status: 503,
                    retry_after: None,
                })
                .method("PATCH")
                .path_contains("/v1.0/applications/")
                .times(6),
            );
        }
        let (graph, _) = fake_graph(&fake);
        let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
            .unwrap()
            .apply(&graph)
            .await
            .unwrap();
        assert!(app.created && app.is_complete(), "{lose_the_update}");
        let requests = fake.requests();
        let upsert = requests
            .iter()
            .find(|r| r.method == "PATCH" && r.path.contains("uniqueName="))
            .unwrap();
        assert_eq!(upsert.status, 201);
        assert!(
            upsert
                .body
                .as_ref()
                .unwrap()
                .get("signInAudience")
                .is_none()
        );
        let audience_set = requests.iter().any(|r| {
            r.method == "PATCH"
                && r.batch.is_some()
                && r.status < 300
                && r.body.as_ref().unwrap()["signInAudience"] == "AzureADMyOrg"
        });
        assert!(audience_set, "{lose_the_update}");
        let lost = requests
            .iter()
            .any(|r| r.method == "PATCH" && r.status == 503);
        assert_eq!(lost, lose_the_update);
        assert_eq!(
            fake.snapshot().applications[0].sign_in_audience.as_deref(),
            Some("AzureADMyOrg")
        );
        assert!(
            !app.warnings
                .iter()
                .any(|w| w.to_string().contains("audience")),
            "{:?}",
            app.warnings
        );
    }
}

/// Graph requests that select `keyCredentials` (a read Graph throttles to 150 a minute per
/// tenant, application-get).
fn key_reads(fake: &FakeGraph) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.kind == entra_appreg_fake::RequestKind::Graph && r.method == "GET")
        .filter(|r| r.query.contains("keyCredentials"))
        .count()
}

#[tokio::test]
async fn key_credentials_are_selected_only_when_a_certificate_is_added() {
    use entra_appreg::credentials::SecretOptions;
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let reg = || AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    assert!(reg().apply(&graph).await.unwrap().is_complete());
    let with_secret = reg()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap();
    assert!(with_secret.is_complete());
    assert!(reg().plan(&graph).await.unwrap().changes.is_empty());
    assert_eq!(key_reads(&fake), 0);
    let cert = Certificate::generate("Contoso Backup", 30).unwrap();
    let with_cert = reg()
        .with_credential(NewCredential::Certificate(Box::new(cert)))
        .apply(&graph)
        .await
        .unwrap();
    assert!(with_cert.is_complete());
    assert!(key_reads(&fake) > 0);
    // The audit reads them: it lists every credential with its expiry.
    let before = key_reads(&fake);
    let audit = reg().audit(&graph, 30).await.unwrap().unwrap();
    assert_eq!(audit.credentials.len(), 2);
    assert!(key_reads(&fake) > before);
}
