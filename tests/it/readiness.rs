//! Ready to connect: after a registration, signing in as the new app until every resource its
//! profile grants on accepts the credential with every granted role, against a fake whose token
//! endpoint misses new credentials and grants for a while.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::fake_graph;
use crate::common::requests;
use entra_appreg::credentials::{Certificate, IssuedCredential, NewCredential, SecretOptions};
use entra_appreg::graph::models::{AppRoleAssignment, Collection};
use entra_appreg::profile::{PermissionProfile, catalog};
use entra_appreg::registration::{
    AppCredential, AppRegistration, ProgressEvent, ReadyOptions, RegisteredApp,
};
use entra_appreg_fake::FakeGraph;

async fn register_with_certificate(
    fake: &FakeGraph,
    profile: PermissionProfile,
) -> (entra_appreg::Graph, RegisteredApp, Certificate) {
    let (graph, _) = fake_graph(fake);
    let cert = Certificate::generate("Contoso Backup", 30).unwrap();
    let app = AppRegistration::new("Contoso Backup", profile)
        .unwrap()
        .with_credential(NewCredential::Certificate(Box::new(cert.clone())))
        .apply(&graph)
        .await
        .unwrap();
    (graph, app, cert)
}

#[tokio::test]
async fn every_resource_is_ready_once_entra_accepts_the_certificate_and_the_roles() {
    let fake = FakeGraph::builder().sign_in_lag(3).start().await;
    let (graph, app, _) =
        register_with_certificate(&fake, PermissionProfile::BackupSharePoint).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let options =
        ReadyOptions::default().on_progress(move |e| sink.lock().unwrap().push(e.clone()));
    let ready = app.wait_until_ready(&graph, &options).await.unwrap();
    assert!(ready.ready, "{ready}");
    let names: Vec<_> = ready.resources.iter().map(|r| r.resource_app_id).collect();
    for resource in [
        catalog::EXCHANGE_ONLINE.app_id,
        catalog::MICROSOFT_GRAPH.app_id,
        catalog::SHAREPOINT_ONLINE.app_id,
    ] {
        assert!(names.contains(&resource), "{names:?}");
    }
    assert_eq!(ready.resources.len(), 3);
    for r in &ready.resources {
        assert!(r.ready && r.missing.is_empty(), "{r:?}");
        assert!(r.attempts > 1, "{r:?}: the fake refused the first sign-ins");
    }
    let exchange = ready
        .resources
        .iter()
        .find(|r| r.resource_app_id == catalog::EXCHANGE_ONLINE.app_id)
        .unwrap();
    assert_eq!(exchange.scope, "https://outlook.office365.com/.default");
    assert_eq!(exchange.roles, ["full_access_as_app"]);
    let sharepoint = ready
        .resources
        .iter()
        .find(|r| r.resource_app_id == catalog::SHAREPOINT_ONLINE.app_id)
        .unwrap();
    assert_eq!(sharepoint.scope, "https://contoso.sharepoint.com/.default");
    assert!(
        sharepoint
            .roles
            .contains(&"Sites.FullControl.All".to_owned())
    );
    // Polled at the fixed interval: every wait was shown, none doubled.
    let waits = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, ProgressEvent::WaitingForSignIn { .. }))
        .count();
    assert!(waits >= 3, "{waits}");
}

#[tokio::test]
async fn a_secret_refused_at_first_is_accepted_once_replicated() {
    let fake = FakeGraph::builder().sign_in_lag(2).start().await;
    let (graph, sleeper) = fake_graph(&fake);
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap();
    let Some(IssuedCredential::Secret(secret)) = &app.credential else {
        panic!("{:?}", app.credential)
    };
    // The app keeps the secret it was given to sign in with; the caller hands nothing back.
    let Some(AppCredential::Secret(kept)) = app.app_credential() else {
        panic!("{:?}", app.app_credential())
    };
    assert_eq!(kept.expose_secret(), secret.secret.expose_secret());
    let ready = app
        .wait_until_ready(&graph, &ReadyOptions::default())
        .await
        .unwrap();
    assert!(ready.ready, "{ready}");
    let graph_resource = &ready.resources[0];
    assert!(graph_resource.attempts >= 3, "{graph_resource:?}");
    assert!(
        sleeper
            .durations()
            .iter()
            .all(|d| *d == Duration::from_secs(1))
    );
    let shown = format!(
        "{ready:?} {ready} {}",
        serde_json::to_string(&ready).unwrap()
    );
    assert!(!shown.contains(secret.secret.expose_secret()));
}

#[tokio::test]
async fn a_run_that_attached_no_credential_says_how_to_check_the_products_own() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .apply(&graph)
        .await
        .unwrap();
    assert!(app.credential.is_none() && app.app_credential().is_none());
    fake.clear_requests();
    let err = app
        .wait_until_ready(&graph, &ReadyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), entra_appreg::ErrorKind::Precondition, "{err:?}");
    assert!(err.to_string().contains("check_sign_in"), "{err}");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test]
async fn a_role_that_never_reaches_the_token_is_named_and_the_wait_ends_at_the_timeout() {
    let fake = FakeGraph::start().await;
    let (graph, app, _) = register_with_certificate(&fake, PermissionProfile::BackupExchange).await;
    // Exchange's grant disappears (an admin revoked it): the token never carries it.
    let listed: Collection<AppRoleAssignment> = graph
        .send_json(&requests::app_role_assignments(app.service_principal_id))
        .await
        .unwrap();
    let exchange_sp = fake
        .snapshot()
        .service_principals
        .into_iter()
        .find(|s| s.app_id == Some(catalog::EXCHANGE_ONLINE.app_id))
        .unwrap();
    let grant = listed
        .value
        .iter()
        .find(|g| Some(g.resource_id) == exchange_sp.id)
        .unwrap();
    graph
        .send(&requests::revoke_app_role(app.service_principal_id, grant).unwrap())
        .await
        .unwrap();
    let options = ReadyOptions::default().with_timeout(Duration::from_secs(10));
    let ready = app.wait_until_ready(&graph, &options).await.unwrap();
    assert!(!ready.ready);
    let exchange = ready
        .resources
        .iter()
        .find(|r| r.resource_app_id == catalog::EXCHANGE_ONLINE.app_id)
        .unwrap();
    assert!(!exchange.ready);
    assert_eq!(exchange.missing, ["full_access_as_app"]);
    assert!(exchange.attempts >= 10, "{exchange:?}");
    assert!(exchange.waited <= Duration::from_secs(11), "{exchange:?}");
    assert!(
        ready.to_string().contains("lacks full_access_as_app"),
        "{ready}"
    );
    let graph_resource = ready
        .resources
        .iter()
        .find(|r| r.resource_app_id == catalog::MICROSOFT_GRAPH.app_id)
        .unwrap();
    assert!(graph_resource.ready && graph_resource.attempts == 1);
}

#[tokio::test]
async fn the_sharepoint_host_can_be_named() {
    let fake = FakeGraph::start().await;
    let (graph, app, _) =
        register_with_certificate(&fake, PermissionProfile::BackupSharePoint).await;
    fake.clear_requests();
    let options = ReadyOptions::default().with_sharepoint_host("fabrikam.sharepoint.com");
    let ready = app.wait_until_ready(&graph, &options).await.unwrap();
    assert!(ready.ready, "{ready}");
    let sharepoint = ready
        .resources
        .iter()
        .find(|r| r.resource_app_id == catalog::SHAREPOINT_ONLINE.app_id)
        .unwrap();
    assert_eq!(sharepoint.scope, "https://fabrikam.sharepoint.com/.default");
    // The host was named: readiness did not read the tenant's domains.
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/organization"))
    );
}

#[tokio::test]
async fn certificate_sign_ins_use_ps256_with_the_sha256_thumbprint() {
    let fake = FakeGraph::start().await;
    let (graph, app, cert) =
        register_with_certificate(&fake, PermissionProfile::BackupSharePoint).await;
    let ready = app
        .wait_until_ready(&graph, &ReadyOptions::default())
        .await
        .unwrap();
    assert!(ready.ready, "{ready}");
    let headers: Vec<serde_json::Value> = fake
        .requests()
        .into_iter()
        .filter_map(|r| r.body?.get("client_assertion_header").cloned())
        .collect();
    // One sign-in per resource, each with the documented form.
    assert_eq!(headers.len(), 3, "{headers:?}");
    for h in headers {
        assert_eq!(h["alg"], "PS256", "{h}");
        assert_eq!(h["x5t#S256"], cert.x5t_s256(), "{h}");
        assert!(h.get("x5t").is_none(), "{h}");
    }
}

/// Registers `profile` with `credential` and waits until ready, through a transport that counts
/// round trips of Graph and sign-in requests on one timeline. Returns (register, to ready).
async fn round_trips_to_ready(profile: PermissionProfile, credential: NewCredential) -> (u64, u64) {
    use crate::common::faulty::RoundTrips;
    // Each request takes a while, so that requests sent together are in flight together.
    let fake = FakeGraph::builder()
        .latency(Duration::from_millis(50))
        .start()
        .await;
    let counter = Arc::new(RoundTrips::new(Arc::new(
        entra_appreg::transport::ReqwestTransport::new().unwrap(),
    )));
    let graph = fake
        .graph_builder()
        .transport(counter.clone())
        .sleeper(entra_appreg::retry::RecordingSleeper::default())
        .build()
        .unwrap();
    let app = AppRegistration::new("Contoso Backup", profile)
        .unwrap()
        .with_credential(credential)
        .apply(&graph)
        .await
        .unwrap();
    let registered = counter.count();
    let ready = app
        .wait_until_ready(&graph, &ReadyOptions::default())
        .await
        .unwrap();
    assert!(ready.ready, "{ready}");
    (registered, counter.count())
}

#[tokio::test]
async fn ready_within_five_round_trips_signing_in_to_every_resource_at_once() {
    let cert = Certificate::generate("Contoso Backup", 30).unwrap();
    let sharepoint = round_trips_to_ready(
        PermissionProfile::BackupSharePoint,
        NewCredential::Certificate(Box::new(cert)),
    )
    .await;
    // The registration's 4, then one wave of sign-ins (Graph, Exchange, SharePoint): the
    // SharePoint host was read in the first read batch.
    assert_eq!(sharepoint, (4, 5));
    let exchange = round_trips_to_ready(
        PermissionProfile::BackupExchange,
        NewCredential::Secret(SecretOptions::default()),
    )
    .await;
    assert_eq!(exchange, (4, 5));
}
