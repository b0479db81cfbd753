//! AppRegistration against the fake Graph: each profile, re-runs, admin extras, replication
//! lag, throttling, partial consent, a missing resource service principal, role mismatches.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::common;
use crate::common::tenant::{all_profiles, expected_pairs, granted_pairs};
use crate::common::{fake_graph, graph_round_trips, graph_writes};
use entra_appreg::graph::models::{Application, RequiredResourceAccess, ResourceAccess};
use entra_appreg::profile::{PermissionProfile, catalog};
use entra_appreg::registration::{AppRegistration, Change, ConsentStatus, ProgressEvent};
use entra_appreg::{AppRoleId, ClientId, UniqueName};
use entra_appreg_fake::{CallerRole, FakeGraph};

fn declared_pairs(app: &Application) -> BTreeSet<(ClientId, AppRoleId)> {
    app.required_resource_access
        .iter()
        .flatten()
        .flat_map(|r| {
            r.resource_access
                .iter()
                .map(move |a| (r.resource_app_id, a.id))
        })
        .collect()
}

#[tokio::test]
async fn each_profile_on_a_fresh_tenant_gets_exactly_its_permissions_in_four_round_trips() {
    for profile in all_profiles() {
        let fake = FakeGraph::start().await;
        let (graph, _) = fake_graph(&fake);
        let reg = AppRegistration::new("Contoso Backup", profile.clone()).unwrap();
        let app = reg.apply(&graph).await.unwrap();
        assert!(app.created && app.is_complete(), "{profile}: {app:?}");
        assert!(app.permissions.iter().all(|p| p.granted));
        assert_eq!(app.permissions.len(), profile.permissions().len());

        let snap = fake.snapshot();
        assert_eq!(snap.applications.len(), 1, "{profile}");
        let stored = &snap.applications[0];
        assert_eq!(stored.unique_name.as_deref(), Some("contoso-backup"));
        assert_eq!(stored.sign_in_audience.as_deref(), Some("AzureADMyOrg"));
        assert_eq!(
            declared_pairs(stored),
            expected_pairs(&profile),
            "{profile}"
        );
        assert_eq!(
            granted_pairs(&fake, app.client_id),
            expected_pairs(&profile),
            "{profile}"
        );
        assert_eq!(app.tenant_id, fake.tenant_id());

        let trips = graph_round_trips(&fake);
        assert_eq!(
            trips.len(),
            4,
            "{profile}: {:#?}",
            trips
                .iter()
                .map(|r| (&r.method, &r.path))
                .collect::<Vec<_>>()
        );
        assert_eq!(app.graph_requests, 4);
    }
}

#[tokio::test]
async fn rerun_on_a_matching_tenant_reads_twice_and_writes_nothing() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupSharePoint).unwrap();
    let first = reg.apply(&graph).await.unwrap();
    let before = fake.snapshot();

    fake.clear_requests();
    let plan = reg.plan(&graph).await.unwrap();
    assert!(plan.is_up_to_date(), "{plan}");
    assert!(plan.to_string().contains("nothing to change"));

    fake.clear_requests();
    let again = reg.apply(&graph).await.unwrap();
    assert!(again.changes.is_empty());
    assert!(!again.created);
    assert_eq!(again.client_id, first.client_id);
    assert_eq!(graph_round_trips(&fake).len(), 2);
    assert!(graph_writes(&fake).is_empty(), "{:?}", graph_writes(&fake));

    fake.clear_requests();
    let known = reg
        .clone()
        .with_client_id(first.client_id)
        .apply(&graph)
        .await
        .unwrap();
    assert!(known.changes.is_empty());
    assert_eq!(graph_round_trips(&fake).len(), 1);
    assert!(graph_writes(&fake).is_empty());
    assert_eq!(fake.snapshot(), before);
}

#[tokio::test]
async fn plan_lists_every_change_and_writes_nothing() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    let plan = reg.plan(&graph).await.unwrap();
    assert!(graph_writes(&fake).is_empty());
    assert!(matches!(plan.changes[0], Change::CreateApplication { .. }));
    assert!(plan.changes.contains(&Change::CreateServicePrincipal));
    let grants = plan
        .changes
        .iter()
        .filter(|c| matches!(c, Change::GrantRole { .. }))
        .count();
    assert_eq!(grants, 5);
    assert!(plan.warnings.iter().any(|w| w.code == "ews_retirement"));
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["changes"][0]["action"], "create_application");
    assert_eq!(json["profile"], "Backup-Exchange");
    // A typed unique name, written as the plain string it always was.
    assert_eq!(plan.unique_name, *reg.unique_name());
    assert_eq!(json["unique_name"], "contoso-backup");
    assert_eq!(json["changes"][0]["unique_name"], "contoso-backup");
    let text = plan.to_string();
    assert!(
        text.contains("grant admin consent: full_access_as_app on Office 365 Exchange Online"),
        "{text}"
    );
    assert_eq!(plan.graph_requests, 1);
    // The plan's changes are what apply then does.
    let app = reg.apply(&graph).await.unwrap();
    assert_eq!(app.changes, plan.changes);
}

#[tokio::test]
async fn an_admin_added_permission_is_kept_and_reported() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let graph_app = catalog::MICROSOFT_GRAPH.app_id;
    // An existing app with one profile permission and one extra delegated scope.
    let extra_scope: AppRoleId = "e1fe6dd8-ba31-4d61-89e7-88639da4683d".parse().unwrap();
    let user_read_all = catalog::by_value(graph_app, "User.Read.All").unwrap().id;
    fake.seed_application({
        let mut v = Application::default();
        v.display_name = Some("Contoso Backup".into());
        v.unique_name = Some("contoso-backup".into());
        v.sign_in_audience = Some("AzureADMyOrg".into());
        v.required_resource_access = Some(vec![RequiredResourceAccess::new(
            graph_app,
            vec![
                ResourceAccess::scope(extra_scope),
                ResourceAccess::role(user_read_all),
            ],
        )]);
        v
    });
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    let app = reg.apply(&graph).await.unwrap();
    assert!(!app.created);
    assert_eq!(app.kept_permissions.len(), 1);
    assert_eq!(app.kept_permissions[0].id, extra_scope);
    let stored = &fake.snapshot().applications[0];
    let declared = declared_pairs(stored);
    assert!(
        declared.contains(&(graph_app, extra_scope)),
        "admin's scope was removed"
    );
    for pair in expected_pairs(&PermissionProfile::BackupExchange) {
        assert!(declared.contains(&pair));
    }
    // The profile's permission was not declared twice.
    let n = stored.required_resource_access.as_ref().unwrap()[0]
        .resource_access
        .iter()
        .filter(|a| a.id == user_read_all)
        .count();
    assert_eq!(n, 1);
    assert_eq!(
        granted_pairs(&fake, app.client_id),
        expected_pairs(&PermissionProfile::BackupExchange)
    );
}

#[tokio::test]
async fn replication_lag_is_waited_out_and_reported_through_progress() {
    let fake = FakeGraph::start().await;
    fake.set_replication_lag(3);
    let (graph, sleeper) = fake_graph(&fake);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::MigrationSource)
        .unwrap()
        .on_progress(move |e| sink.lock().unwrap().push(e.clone()));
    let app = reg.apply(&graph).await.unwrap();
    assert!(app.is_complete());
    assert_eq!(fake.snapshot().applications.len(), 1);
    assert_eq!(
        fake.snapshot()
            .service_principals
            .iter()
            .filter(|s| s.app_id == Some(app.client_id))
            .count(),
        1
    );
    assert_eq!(
        granted_pairs(&fake, app.client_id),
        expected_pairs(&PermissionProfile::MigrationSource)
    );
    let waits: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, ProgressEvent::WaitingForReplication { .. }))
        .cloned()
        .collect();
    assert!(!waits.is_empty());
    assert!(!sleeper.durations().is_empty());
    assert!(sleeper.total() < std::time::Duration::from_secs(120));
}

#[tokio::test]
async fn replication_lag_longer_than_the_timeout_is_a_typed_error_that_a_rerun_recovers() {
    let fake = FakeGraph::start().await;
    fake.set_replication_lag(1000);
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    let err = reg.apply(&graph).await.unwrap_err();
    assert!(
        err.status() == Some(400) || err.status() == Some(404),
        "{err}"
    );
    fake.set_replication_lag(0);
    let app = reg.apply(&graph).await.unwrap();
    assert!(app.is_complete());
    assert_eq!(fake.snapshot().applications.len(), 1);
}

#[tokio::test]
async fn throttling_is_retried_and_the_result_is_exact() {
    let fake = FakeGraph::start().await;
    fake.set_throttle_every(Some(3), 2);
    let (graph, sleeper) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupSharePoint).unwrap();
    let app = reg.apply(&graph).await.unwrap();
    assert!(app.is_complete());
    assert_eq!(fake.snapshot().applications.len(), 1);
    assert_eq!(
        granted_pairs(&fake, app.client_id),
        expected_pairs(&PermissionProfile::BackupSharePoint)
    );
    assert!(
        sleeper
            .durations()
            .contains(&std::time::Duration::from_secs(2))
    );
}

#[tokio::test]
async fn cloud_application_administrator_gets_a_partial_outcome_naming_the_role() {
    let fake = FakeGraph::start().await;
    fake.set_caller_role(CallerRole::CloudApplicationAdministrator);
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupSharePoint).unwrap();
    let plan = reg.plan(&graph).await.unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.code == "cannot_grant_graph_roles"),
        "{plan}"
    );
    let app = reg.apply(&graph).await.unwrap();
    let ConsentStatus::Partial(partial) = &app.consent else {
        panic!("expected a partial outcome: {app:?}");
    };
    let graph_app = catalog::MICROSOFT_GRAPH.app_id;
    assert!(
        partial
            .not_granted
            .iter()
            .all(|p| p.resource_app_id == graph_app)
    );
    assert_eq!(partial.not_granted.len(), 3);
    assert!(
        partial
            .granted
            .iter()
            .all(|p| p.resource_app_id != graph_app)
    );
    assert_eq!(partial.granted.len(), 3);
    // Graph's application permissions need a privileged role; a Cloud Application
    // Administrator (who made the other grants) is not enough.
    assert_eq!(
        partial.required_roles,
        ["Global Administrator or Privileged Role Administrator"]
    );
    assert!(
        partial
            .message
            .contains("Directory.Read.All on Microsoft Graph"),
        "{}",
        partial.message
    );
    assert!(
        partial.message.contains("request-id"),
        "{}",
        partial.message
    );
    // A Global Administrator completes it later with a re-run.
    fake.set_caller_role(CallerRole::GlobalAdministrator);
    let done = reg.apply(&graph).await.unwrap();
    assert!(done.is_complete());
    assert_eq!(
        granted_pairs(&fake, app.client_id),
        expected_pairs(&PermissionProfile::BackupSharePoint)
    );
}

#[tokio::test]
async fn a_missing_exchange_service_principal_is_created_and_planned() {
    let fake = FakeGraph::start().await;
    fake.remove_resource_service_principal(catalog::EXCHANGE_ONLINE.app_id);
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    let plan = reg.plan(&graph).await.unwrap();
    assert!(plan.changes.iter().any(|c| matches!(c,
        Change::CreateResourceServicePrincipal { resource_app_id, .. } if *resource_app_id == catalog::EXCHANGE_ONLINE.app_id)));
    let app = reg.apply(&graph).await.unwrap();
    assert!(app.is_complete());
    assert_eq!(
        granted_pairs(&fake, app.client_id),
        expected_pairs(&PermissionProfile::BackupExchange)
    );
    assert_eq!(graph_round_trips(&fake).len(), 1 + 4, "plan read + four");
}

#[tokio::test]
async fn an_unknown_profile_name_is_rejected_before_any_request() {
    let fake = FakeGraph::start().await;
    let err = "backup-onedrive".parse::<PermissionProfile>().unwrap_err();
    assert!(err.is_invalid_input());
    assert!(err.to_string().contains("Backup-SharePoint"));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_role_that_does_not_match_the_tenant_stops_before_any_write() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    // A custom permission whose id belongs to another role on the tenant's Graph SP.
    let wrong = entra_appreg::profile::Permission::with_role_id(
        catalog::MICROSOFT_GRAPH.app_id,
        "User.Read.All",
        catalog::by_value(catalog::MICROSOFT_GRAPH.app_id, "Group.Read.All")
            .unwrap()
            .id,
    )
    .unwrap();
    let profile = PermissionProfile::Custom(
        entra_appreg::profile::CustomProfile::new("Odd", vec![wrong]).unwrap(),
    );
    let reg = AppRegistration::new("Contoso Backup", profile).unwrap();
    let err = reg.apply(&graph).await.unwrap_err();
    assert!(
        matches!(err, entra_appreg::Error::RoleMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("User.Read.All"), "{err}");
    assert!(graph_writes(&fake).is_empty());
    assert!(fake.snapshot().applications.is_empty());
}

#[tokio::test]
async fn a_unique_name_with_a_quote_round_trips() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("O'Brien Backup", PermissionProfile::MigrationSource)
        .unwrap()
        .with_unique_name(UniqueName::new("o'brien-backup").unwrap());
    let first = reg.apply(&graph).await.unwrap();
    let again = reg.apply(&graph).await.unwrap();
    assert_eq!(first.client_id, again.client_id);
    assert!(again.changes.is_empty());
    assert_eq!(fake.snapshot().applications.len(), 1);
}

#[tokio::test]
async fn a_second_concurrent_apply_ends_with_one_app_and_each_grant_once() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    let (a, b) = tokio::join!(reg.apply(&graph), reg.apply(&graph));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.client_id, b.client_id);
    assert_eq!(fake.snapshot().applications.len(), 1);
    let snap = fake.snapshot();
    let sp = snap
        .service_principals
        .iter()
        .filter(|s| s.app_id == Some(a.client_id))
        .count();
    assert_eq!(sp, 1);
    let grants = snap.app_role_assignments.len();
    assert_eq!(grants, 5);
}

#[test]
fn the_validator_rejects_what_graph_would() {
    let s = common::schema::GraphSchema::load();
    let ok = serde_json::json!({"displayName": "A", "signInAudience": "AzureADMyOrg",
        "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
        "resourceAccess": [{"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role"}]}]});
    assert_eq!(
        s.validate("PATCH", "/applications(uniqueName='x')", &ok),
        Ok(())
    );
    let bad = serde_json::json!({"displayName": 5, "colour": "red",
        "requiredResourceAccess": [{"resourceAppId": "not-a-guid", "resourceAccess": [{"id": "x"}]}],
        "keyCredentials": [{"endDateTime": "tomorrow"}], "owners": []});
    let errors = s.validate("POST", "/applications", &bad).unwrap_err();
    for expected in [
        "displayName: expected a string",
        "unknown property \"colour\"",
        "is not a GUID",
        "not an RFC 3339",
        "navigation property",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected} not in {errors:?}"
        );
    }
}

#[tokio::test]
async fn every_request_body_validates_against_the_graph_schema() {
    let schema = common::schema::GraphSchema::load();
    let mut checked = 0;
    for profile in all_profiles() {
        let fake = FakeGraph::start().await;
        let (graph, _) = fake_graph(&fake);
        // A fresh registration, then an update that adds permissions to an existing app.
        let first = AppRegistration::new("Contoso Backup", PermissionProfile::MigrationSource)
            .unwrap()
            .apply(&graph)
            .await
            .unwrap();
        let second = AppRegistration::new("Contoso Backup", profile.clone())
            .unwrap()
            .apply(&graph)
            .await
            .unwrap();
        assert!(first.is_complete() && second.is_complete());
        assert_eq!(first.client_id, second.client_id);
        for r in fake.requests() {
            let Some(body) = &r.body else { continue };
            if r.kind != entra_appreg_fake::RequestKind::Graph || r.path.ends_with("$batch") {
                continue;
            }
            if let Err(errors) = schema.validate(&r.method, &r.path, body) {
                panic!("{} {}: {errors:?}\n{body:#}", r.method, r.path);
            }
            checked += 1;
        }
    }
    assert!(checked >= 5 * 4, "only {checked} bodies checked");
}

#[tokio::test]
async fn audit_rotate_and_remove_work_on_the_existing_app() {
    use entra_appreg::credentials::{NewCredential, SecretOptions};
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    assert!(reg.audit(&graph, 30).await.unwrap().is_none());
    assert!(reg.remove(&graph).await.unwrap().is_none());
    assert!(
        reg.rotate(
            &graph,
            NewCredential::Secret(SecretOptions::default()),
            &entra_appreg::registration::RotateOptions::default(),
        )
        .await
        .unwrap_err()
        .is_not_registered()
    );

    let app = reg
        .clone()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap();
    let audit = reg.audit(&graph, 30).await.unwrap().unwrap();
    assert!(audit.is_healthy(), "{audit:?}");
    assert_eq!(audit.credentials.len(), 1);

    // An admin revokes one grant: the audit names it.
    let snap = fake.snapshot();
    let grant = snap
        .app_role_assignments
        .iter()
        .find(|g| g.principal_id == app.service_principal_id)
        .unwrap();
    graph
        .send(&common::requests::revoke_app_role(app.service_principal_id, grant).unwrap())
        .await
        .unwrap();
    let audit = reg.audit(&graph, 30).await.unwrap().unwrap();
    assert_eq!(audit.missing.len(), 1, "{:?}", audit.missing);
    assert!(matches!(audit.missing[0], Change::GrantRole { .. }));

    // The product could not use a new secret while a grant is missing: the older one stays.
    let rotation = reg
        .rotate(
            &graph,
            NewCredential::Secret(SecretOptions::default()),
            &entra_appreg::registration::RotateOptions::default(),
        )
        .await
        .unwrap();
    let ready = rotation.ready.as_ref().unwrap();
    assert!(!ready.ready, "{ready}");
    assert!(rotation.removed.is_empty());
    // Once the grant is back, a rotation retires both older secrets.
    let _ = reg.apply(&graph).await.unwrap();
    let rotation = reg
        .rotate(
            &graph,
            NewCredential::Secret(SecretOptions::default()),
            &entra_appreg::registration::RotateOptions::default(),
        )
        .await
        .unwrap();
    assert!(rotation.ready.as_ref().unwrap().ready);
    assert_eq!(rotation.removed.len(), 2);

    let removed = reg.remove(&graph).await.unwrap().unwrap();
    assert_eq!(removed.client_id, app.client_id);
    let snap = fake.snapshot();
    assert!(snap.applications.is_empty());
    assert_eq!(snap.deleted_applications.len(), 1);
    assert!(
        !snap
            .service_principals
            .iter()
            .any(|s| s.app_id == Some(app.client_id))
    );
}

#[test]
fn names_with_invisible_or_control_characters_are_refused() {
    for name in [
        "Contoso\u{202E}pukcaB",
        "Contoso\u{200B}Backup",
        "Contoso\nBackup",
        "Contoso\u{FEFF}",
    ] {
        let err = AppRegistration::new(name, PermissionProfile::BackupExchange).unwrap_err();
        assert!(err.is_invalid_input(), "{name:?}");
        assert!(err.to_string().contains("invisible"), "{err}");
    }
    assert!(
        AppRegistration::new(
            "Contoso Sauvegarde — été",
            PermissionProfile::BackupExchange
        )
        .is_ok()
    );
}

#[tokio::test]
async fn each_operation_counts_its_own_requests_while_others_share_the_client() {
    let fake = FakeGraph::start().await;
    // Latency makes the operations overlap on the wire.
    fake.set_latency(std::time::Duration::from_millis(50));
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    let other = AppRegistration::new("Contoso Other", PermissionProfile::MigrationSource).unwrap();
    let (plan, app) = tokio::join!(reg.plan(&graph), other.apply(&graph));
    let (plan, app) = (plan.unwrap(), app.unwrap());
    // The plan's one read, whatever the apply beside it sent meanwhile.
    assert_eq!((plan.graph_requests, plan.graph_round_trips), (1, 1));
    assert_eq!((app.graph_requests, app.graph_round_trips), (4, 4));
    assert_eq!(graph.request_count(), 5, "the client counts for both");
}

/// An app is found, checked and removed by its unique name or client id alone: no display
/// name, no profile; two round trips by name, one by client id.
#[tokio::test]
async fn an_app_reference_finds_and_removes_the_app_without_a_profile() {
    use entra_appreg::registration::AppRef;
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let unique = UniqueName::new("contoso-backup").unwrap();
    let by_name = AppRef::from(unique.clone());
    assert_eq!(by_name.find(&graph).await.unwrap(), None);
    assert!(
        by_name
            .require(&graph)
            .await
            .unwrap_err()
            .is_not_registered()
    );

    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .apply(&graph)
        .await
        .unwrap();
    fake.clear_requests();
    let found = by_name.find(&graph).await.unwrap().expect("found by name");
    assert_eq!(graph_round_trips(&fake).len(), 2);
    assert_eq!(found.object_id, app.application_object_id);
    assert_eq!(found.client_id, app.client_id);
    assert_eq!(found.service_principal_id, Some(app.service_principal_id));
    let by_id = AppRef::from(app.client_id);
    fake.clear_requests();
    assert_eq!(by_id.find(&graph).await.unwrap(), Some(found.clone()));
    // By client id the app and its service principal are read in one `$batch`.
    assert_eq!(graph_round_trips(&fake).len(), 1);
    let both = by_name.clone().with_client_id(app.client_id);
    assert_eq!(both.find(&graph).await.unwrap(), Some(found.clone()));

    // The client id of another app with this unique name: refused, not silently used.
    let other = AppRef::unique_name(UniqueName::new("fabrikam-backup").unwrap())
        .with_client_id(app.client_id);
    assert_eq!(
        other.find(&graph).await.unwrap_err().kind(),
        entra_appreg::ErrorKind::Precondition
    );

    assert_eq!(by_id.remove(&graph).await.unwrap(), Some(found));
    assert!(fake.snapshot().applications.is_empty());
    assert_eq!(by_name.remove(&graph).await.unwrap(), None);
}

#[tokio::test]
async fn an_admin_added_application_permission_is_kept_reported_by_name_and_not_granted() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let graph_app = catalog::MICROSOFT_GRAPH.app_id;
    let user_read_all = catalog::by_value(graph_app, "User.Read.All").unwrap().id;
    // An application permission outside the profile (not a delegated scope): the admin's too.
    let extra_role = catalog::by_value(graph_app, "Device.ReadWrite.All")
        .unwrap()
        .id;
    fake.seed_application({
        let mut v = Application::default();
        v.display_name = Some("Contoso Backup".into());
        v.unique_name = Some("contoso-backup".into());
        v.sign_in_audience = Some("AzureADMyOrg".into());
        v.required_resource_access = Some(vec![RequiredResourceAccess::new(
            graph_app,
            vec![
                ResourceAccess::role(user_read_all),
                ResourceAccess::role(extra_role),
            ],
        )]);
        v
    });
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap();
    let app = reg.apply(&graph).await.unwrap();
    assert_eq!(app.kept_permissions.len(), 1, "{:?}", app.kept_permissions);
    let kept = &app.kept_permissions[0];
    assert_eq!(
        (kept.resource_app_id, kept.id, kept.kind.as_str()),
        (graph_app, extra_role, "Role")
    );
    assert_eq!(kept.value.as_deref(), Some("Device.ReadWrite.All"));
    let stored = &fake.snapshot().applications[0];
    assert!(declared_pairs(stored).contains(&(graph_app, extra_role)));
    // Kept as declared, not consented to: only the profile's roles are granted.
    assert_eq!(
        granted_pairs(&fake, app.client_id),
        expected_pairs(&PermissionProfile::BackupExchange)
    );
}

#[tokio::test]
async fn a_role_id_the_tenant_lacks_is_refused_naming_the_id_the_tenant_has_for_the_value() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let graph_app = catalog::MICROSOFT_GRAPH.app_id;
    let real = catalog::by_value(graph_app, "User.Read.All").unwrap().id;
    let unknown: AppRoleId = "0e6f6a4c-3f1b-4b8e-9d57-2a6a9c1f0b11".parse().unwrap();
    let wrong =
        entra_appreg::profile::Permission::with_role_id(graph_app, "User.Read.All", unknown)
            .unwrap();
    let profile = PermissionProfile::Custom(
        entra_appreg::profile::CustomProfile::new("Odd", vec![wrong]).unwrap(),
    );
    let err = AppRegistration::new("Contoso Backup", profile)
        .unwrap()
        .plan(&graph)
        .await
        .unwrap_err();
    let entra_appreg::Error::RoleMismatch {
        role_id, reason, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(role_id, &unknown.to_string());
    // The fix is in the message: the id the tenant uses for this value.
    assert_eq!(
        reason,
        &format!("no app role with this id; the tenant has User.Read.All with id {real}")
    );
    assert!(graph_writes(&fake).is_empty());
}

/// Graph's 400 "already exists" for a grant is taken at its word only once the grants listed
/// show it: here it is said of a grant that is not there, so the run reports the failure (a
/// run that believed the message would report a grant the tenant lacks), and the next run
/// makes the grant.
#[tokio::test]
async fn a_grant_said_to_exist_counts_only_once_the_list_shows_it() {
    use entra_appreg_fake::{Fault, FaultRule};
    let fake = FakeGraph::builder().replication_lag(0).start().await;
    let (graph, _) = fake_graph(&fake);
    fake.inject_fault(
        FaultRule::new(Fault::GraphError {
            status: 400,
            code: "Request_BadRequest".into(),
            message: "Permission being assigned already exists on the object.".into(),
        })
        .method("POST")
        .path_contains("appRoleAssignedTo"),
    );
    let profile = PermissionProfile::BackupExchange;
    let reg = AppRegistration::new("Contoso Backup", profile.clone()).unwrap();
    // Not listed however long the run waits: the run fails with Graph's answer instead of
    // counting the grant, and the tenant indeed lacks it.
    let err = reg.apply(&graph).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
    assert!(
        err.to_string().contains("already exists"),
        "{}",
        err.report()
    );
    let client_id = fake.snapshot().applications[0].app_id.unwrap();
    let granted = granted_pairs(&fake, client_id);
    assert_eq!(
        granted.len() + 1,
        expected_pairs(&profile).len(),
        "{granted:?}"
    );
    // The grants were listed to check the claim.
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/appRoleAssignments")),
        "the grants were never listed"
    );
    // The next run grants what is missing.
    let app = reg.apply(&graph).await.unwrap();
    assert!(app.is_complete(), "{:?}", app.consent);
    assert_eq!(
        granted_pairs(&fake, app.client_id),
        expected_pairs(&profile)
    );
}

#[tokio::test]
async fn a_certificate_valid_for_over_a_year_is_registered_with_a_warning_naming_the_limit() {
    use entra_appreg::credentials::{Certificate, DEFAULT_CERTIFICATE_DAYS, NewCredential};
    // The default stays within Microsoft's one year for a certificate added by PATCH.
    assert_eq!(DEFAULT_CERTIFICATE_DAYS, 365);
    let two_years = Certificate::generate("Contoso Backup", 730).unwrap();
    // An imported certificate (public part and key from PEM) is judged the same way.
    let imported = {
        let pem = format!(
            "{}{}",
            two_years.to_pem(),
            secrecy::ExposeSecret::expose_secret(&two_years.private_key_pem().unwrap())
        );
        Certificate::from_pem(&pem).unwrap()
    };
    let cases = [
        (
            Certificate::generate("Contoso Backup", DEFAULT_CERTIFICATE_DAYS).unwrap(),
            false,
        ),
        (Certificate::generate("Contoso Backup", 366).unwrap(), true),
        (imported, true),
    ];
    for (cert, warned) in cases {
        let fake = FakeGraph::start().await;
        let (graph, _) = fake_graph(&fake);
        let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
            .unwrap()
            .with_credential(NewCredential::Certificate(Box::new(cert.clone())));
        let plan = reg.plan(&graph).await.unwrap();
        let app = reg.apply(&graph).await.unwrap();
        for warnings in [&plan.warnings, &app.warnings] {
            let found: Vec<_> = warnings
                .iter()
                .filter(|w| w.code == "certificate_over_one_year")
                .collect();
            assert_eq!(found.len(), usize::from(warned), "{warnings:?}");
            if let Some(w) = found.first() {
                assert!(w.message.contains("one year"), "{w}");
                assert!(w.message.contains(&cert.thumbprint().to_string()), "{w}");
            }
        }
        assert!(app.is_complete());
    }
}

/// `find` and `remove` look the app up by name (or client id) only: an app registered with
/// another profile's permissions is found and removed, without a read of any resource's
/// service principal or any profile role.
#[tokio::test]
async fn find_and_remove_do_not_depend_on_the_profile() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let registered = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .apply(&graph)
        .await
        .unwrap();
    fake.clear_requests();
    let other =
        AppRegistration::new("Contoso Backup", PermissionProfile::BackupSharePoint).unwrap();
    let found = other.find(&graph).await.unwrap().expect("the app");
    assert_eq!(found.client_id, registered.client_id);
    let removed = other.remove(&graph).await.unwrap().expect("removed");
    assert_eq!(removed.object_id, registered.application_object_id);
    assert!(fake.snapshot().applications.is_empty());
    let resources = [
        catalog::EXCHANGE_ONLINE.app_id,
        catalog::SHAREPOINT_ONLINE.app_id,
        catalog::MICROSOFT_GRAPH.app_id,
    ];
    for r in fake.requests() {
        let seen = format!("{} {}", r.path, r.query);
        assert!(
            resources.iter().all(|id| !seen.contains(&id.to_string())),
            "a resource was read: {seen}"
        );
    }
    assert_eq!(other.remove(&graph).await.unwrap(), None);
}
