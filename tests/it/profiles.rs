//! A product's own permissions: profile files, permissions named by value and resolved in the
//! tenant before anything is written, and permissions added to a built-in profile.

use crate::common::fake_graph;
use crate::common::tenant::{declared, granted_pairs};
use entra_appreg::credentials::{CredentialKind, NewCredential, SecretOptions};
use entra_appreg::profile::{CustomProfile, Permission, PermissionProfile, catalog};
use entra_appreg::registration::AppRegistration;
use entra_appreg_fake::{FakeGraph, RequestKind};

const GRAPH_MAILBOX: &str = include_str!("../../examples/profiles/graph-mailbox.json");

/// Writes the fake saw (inside a `$batch` or not).
fn writes(fake: &FakeGraph) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.kind == RequestKind::Graph && r.method != "GET")
        .filter(|r| !r.path.ends_with("/$batch"))
        .count()
}

#[test]
fn a_profile_file_reads_names_or_app_ids_and_says_what_is_wrong() {
    let p = CustomProfile::from_json(GRAPH_MAILBOX).unwrap();
    let p = PermissionProfile::Custom(p);
    assert_eq!(p.name(), "Mail Backup (Microsoft Graph mailbox API)");
    let values: Vec<_> = p.permissions().iter().map(|p| p.value.clone()).collect();
    assert_eq!(
        values,
        [
            "MailboxItem.ImportExport.All",
            "MailboxItem.Read.All",
            "MailboxFolder.ReadWrite.All",
            "User.Read.All"
        ]
    );
    assert!(p.permissions().iter().all(|p| !p.is_resolved()));
    assert!(p.allows(CredentialKind::Secret) && p.allows(CredentialKind::Certificate));
    assert!(!p.uses_exchange_web_services());

    // By appId, and the SharePoint default: a certificate only.
    let sp = CustomProfile::from_json(
        r#"{"name": "Sites", "permissions": [
            {"resource": "00000003-0000-0ff1-ce00-000000000000", "value": "Sites.FullControl.All"}]}"#,
    )
    .unwrap();
    let sp = PermissionProfile::Custom(sp);
    assert_eq!(sp.allowed_credentials(), [CredentialKind::Certificate]);
    assert_eq!(
        sp.permissions()[0].resource_app_id,
        catalog::SHAREPOINT_ONLINE.app_id
    );

    // The same through serde, as a PermissionProfile.
    let parsed: PermissionProfile = serde_json::from_str(GRAPH_MAILBOX).unwrap();
    assert_eq!(parsed, p);

    for (text, says) in [
        ("{\"name\": \"x\",\n \"permissions\": [", "line 2"),
        (
            r#"{"name": "x", "permissions": []}"#,
            "at least one permission",
        ),
        (
            r#"{"name": "x", "permissions": [{"resource": "Microsoft Grap", "value": "Mail.Read"}]}"#,
            "Microsoft Grap",
        ),
        (
            r#"{"name": "x", "permissions": [{"resource": "Microsoft Graph", "value": "Mail Read"}]}"#,
            "not a permission value",
        ),
        (
            r#"{"name": "x", "permissions": [{"resource": "Office 365 SharePoint Online", "value": "Sites.FullControl.All"}], "credentials": ["secret"]}"#,
            "accepts only certificates",
        ),
        (
            r#"{"name": "x", "permissions": [{"resource": "Microsoft Graph", "value": "Mail.Read"}], "credentials": ["password"]}"#,
            "password",
        ),
        (
            r#"{"name": "x", "permissions": [{"resource": "Microsoft Graph", "value": "Mail.Read", "id": "1"}]}"#,
            "unknown",
        ),
    ] {
        let err = CustomProfile::from_json(text).unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
    // A parse error names the place, never the content.
    let err = CustomProfile::from_json("{\"name\": \"s3cr3t-looking\" \"permissions\": []}")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1 column") && !err.contains("s3cr3t"),
        "{err}"
    );
}

#[tokio::test]
async fn a_profile_file_registers_exactly_its_permissions_with_the_tenants_ids() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let profile = PermissionProfile::Custom(CustomProfile::from_json(GRAPH_MAILBOX).unwrap());
    let app = AppRegistration::new("Contoso Mail Backup", profile.clone())
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap();
    assert!(app.created && app.is_complete(), "{app:?}");
    // No EWS warning: the profile does not use EWS.
    assert!(!app.warnings.iter().any(|w| w.code == "ews_retirement"));
    // Declared and granted: exactly those four, with the ids the tenant's Graph offers.
    let graph_sp = fake
        .snapshot()
        .service_principals
        .into_iter()
        .find(|s| s.app_id == Some(catalog::MICROSOFT_GRAPH.app_id))
        .unwrap();
    let tenant_id_of = |value: &str| {
        graph_sp
            .app_roles
            .as_ref()
            .unwrap()
            .iter()
            .find(|r| r.value.as_deref() == Some(value))
            .unwrap()
            .id
    };
    let expected: std::collections::BTreeSet<_> = profile
        .permissions()
        .iter()
        .map(|p| (catalog::MICROSOFT_GRAPH.app_id, tenant_id_of(&p.value)))
        .collect();
    let stored = fake.snapshot().applications.remove(0);
    assert_eq!(
        declared(&stored)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        expected
    );
    assert_eq!(granted_pairs(&fake, app.client_id), expected);
    assert!(
        app.permissions
            .iter()
            .all(|p| p.permission.is_resolved() && p.granted)
    );
    // A re-run writes nothing.
    fake.clear_requests();
    let again = AppRegistration::new("Contoso Mail Backup", profile)
        .unwrap()
        .apply(&graph)
        .await
        .unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(writes(&fake), 0);
}

#[tokio::test]
async fn a_value_the_tenant_does_not_offer_is_refused_before_any_write() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let profile = CustomProfile::from_json(
        r#"{"name": "Typo", "permissions": [
            {"resource": "Microsoft Graph", "value": "User.Read.All"},
            {"resource": "Microsoft Graph", "value": "MailboxItem.ImportExprot.All"}]}"#,
    )
    .unwrap();
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::Custom(profile)).unwrap();
    for err in [
        reg.plan(&graph).await.unwrap_err(),
        reg.apply(&graph).await.unwrap_err(),
    ] {
        // Found by reading the resource's roles: a role mismatch, not input refused unsent.
        assert_eq!(err.kind(), entra_appreg::ErrorKind::RoleMismatch, "{err}");
        let shown = err.to_string();
        assert!(shown.contains("MailboxItem.ImportExprot.All"), "{shown}");
        assert!(shown.contains("Microsoft Graph"), "{shown}");
    }
    assert_eq!(writes(&fake), 0);
    assert!(fake.snapshot().applications.is_empty());

    // A resource the tenant has no principal for, with a value the catalog does not know.
    let stranger = Permission::by_value(
        "5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse().unwrap(),
        "Things.Read.All",
    )
    .unwrap();
    let profile = PermissionProfile::BackupExchange
        .with_added_permissions([stranger])
        .unwrap();
    let err = AppRegistration::new("Contoso Backup", profile)
        .unwrap()
        .apply(&graph)
        .await
        .unwrap_err();
    // Found by reading the tenant, so not input refused unsent: a precondition.
    assert!(
        err.kind() == entra_appreg::ErrorKind::Precondition
            && err.to_string().contains("Things.Read.All"),
        "{err}"
    );
    assert_eq!(writes(&fake), 0);
}

#[tokio::test]
async fn a_permission_added_to_a_built_in_profile_is_declared_and_granted_with_it() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let added = Permission::parse_resource_value("Microsoft Graph:Mail.Read").unwrap();
    let profile = PermissionProfile::BackupExchange
        .with_added_permissions([added])
        .unwrap();
    assert_eq!(profile.name(), "Backup-Exchange + Mail.Read");
    assert_eq!(
        profile.allowed_credentials(),
        PermissionProfile::BackupExchange.allowed_credentials()
    );
    let app = AppRegistration::new("Contoso Backup", profile.clone())
        .unwrap()
        .apply(&graph)
        .await
        .unwrap();
    assert!(app.is_complete());
    let mail_read = catalog::by_value(catalog::MICROSOFT_GRAPH.app_id, "Mail.Read")
        .map(|r| r.id)
        .unwrap_or_else(|| "810c84a8-4a9e-49e6-bf7d-12d183f40d01".parse().unwrap());
    let granted = granted_pairs(&fake, app.client_id);
    assert!(granted.contains(&(catalog::MICROSOFT_GRAPH.app_id, mail_read)));
    // Everything of Backup-Exchange, with its catalog ids, is there too.
    let expected = crate::common::tenant::expected_pairs(&PermissionProfile::BackupExchange);
    assert!(granted.is_superset(&expected));
    assert_eq!(granted.len(), expected.len() + 1);
    // A SharePoint permission added to a profile allowing secrets: a certificate only.
    let sites =
        Permission::parse_resource_value("Office 365 SharePoint Online:Sites.Read.All").unwrap();
    let with_sites = PermissionProfile::MigrationSource
        .with_added_permissions([sites])
        .unwrap();
    assert_eq!(
        with_sites.allowed_credentials(),
        [CredentialKind::Certificate]
    );
    assert!(
        Permission::parse_resource_value("Mail.Read")
            .unwrap_err()
            .is_invalid_input()
    );
}

#[tokio::test]
async fn a_revoked_permission_leaves_the_app_with_its_grant_and_nothing_else_changes() {
    use entra_appreg::registration::Change;
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let mail_read = || Permission::parse_resource_value("Microsoft Graph:Mail.Read").unwrap();
    // An earlier release asked for Mail.Read: declared and granted.
    let earlier = PermissionProfile::BackupExchange
        .with_added_permissions([mail_read()])
        .unwrap();
    let first = AppRegistration::new("Contoso Backup", earlier)
        .unwrap()
        .apply(&graph)
        .await
        .unwrap();
    let before = granted_pairs(&fake, first.client_id);
    let expected = crate::common::tenant::expected_pairs(&PermissionProfile::BackupExchange);
    assert_eq!(before.len(), expected.len() + 1);

    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .revoke_permissions([mail_read()]);
    let plan = reg.plan(&graph).await.unwrap();
    assert!(
        plan.changes.iter().any(|c| matches!(
            c,
            Change::RevokePermission { permission, declared: true, granted: true }
                if permission.value == "Mail.Read"
        )),
        "{:?}",
        plan.changes
    );
    fake.clear_requests();
    let app = reg.apply(&graph).await.unwrap();
    assert!(app.is_complete());
    // The revocation rode in the registration's round trips: read, then the update batch.
    assert_eq!(crate::common::graph_round_trips(&fake).len(), 3);
    assert_eq!(granted_pairs(&fake, app.client_id), expected);
    let stored = fake.snapshot().applications.remove(0);
    assert_eq!(
        declared(&stored)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        expected
    );
    // Again: nothing to revoke, said, and nothing written.
    fake.clear_requests();
    let again = reg.apply(&graph).await.unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert!(again.warnings.iter().any(|w| w.code == "nothing_to_revoke"));
    assert_eq!(writes(&fake), 0);
    // A permission of the profile cannot be revoked.
    let both = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .revoke_permissions([Permission::parse_resource_value(
            "Office 365 Exchange Online:full_access_as_app",
        )
        .unwrap()]);
    assert!(both.validate().unwrap_err().is_invalid_input());
}
