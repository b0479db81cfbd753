//! What a registration must leave in the fake tenant, checked exactly.
//!
//! The checks return `Err(description)` instead of panicking, so a test that runs many cases
//! can report every failing case at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use entra_appreg::graph::models::Application;
use entra_appreg::profile::{PermissionProfile, catalog};
use entra_appreg::registration::{AppRegistration, RegisteredApp};
use entra_appreg::retry::RecordingSleeper;
use entra_appreg::transport::GraphTransport;
use entra_appreg::{AppRoleId, ClientId, Graph, ObjectId};
use entra_appreg_fake::FakeGraph;

/// Every built-in profile, mailbox creation on and off.
pub fn all_profiles() -> Vec<PermissionProfile> {
    PermissionProfile::built_in().to_vec()
}

/// A short label for a profile, mailbox creation included.
pub fn label(profile: &PermissionProfile) -> String {
    match profile {
        PermissionProfile::MigrationTarget {
            create_mailboxes: true,
        } => "Migration-Target+mailboxes".into(),
        p => p.to_string(),
    }
}

/// The registration every test of these files applies.
pub fn registration(profile: &PermissionProfile) -> AppRegistration {
    AppRegistration::new("Contoso Backup", profile.clone()).expect("a valid registration")
}

/// A Graph client for the fake tenant over `transport`, signed in as its admin, never sleeping.
pub fn graph_over(
    fake: &FakeGraph,
    transport: Arc<dyn GraphTransport>,
) -> (Graph, RecordingSleeper) {
    let sleeper = RecordingSleeper::default();
    let graph = Graph::builder()
        .tenant(fake.tenant_id().to_string())
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(entra_appreg::auth::StaticToken::new(fake.admin_token()))
        .transport(transport)
        .sleeper(sleeper.clone())
        .build()
        .expect("a valid client");
    (graph, sleeper)
}

/// The default transport, for one test function (its connections belong to that runtime).
pub fn reqwest_transport() -> Arc<dyn GraphTransport> {
    Arc::new(entra_appreg::transport::ReqwestTransport::new().expect("TLS backend"))
}

/// (resource appId, role id) of every permission of the profile.
pub fn expected_pairs(profile: &PermissionProfile) -> BTreeSet<(ClientId, AppRoleId)> {
    profile
        .permissions()
        .iter()
        .map(|p| (p.resource_app_id, p.role_id))
        .collect()
}

/// The (resource appId, role id) pairs an app declares in `requiredResourceAccess`.
pub fn declared(app: &Application) -> Vec<(ClientId, AppRoleId)> {
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

/// Nothing is duplicated, whatever state the tenant is in: at most one application, one
/// service principal per appId, each (principal, resource, role) granted at most once, nothing
/// soft-deleted.
pub fn check_no_duplicates(fake: &FakeGraph) -> Result<(), String> {
    let snap = fake.snapshot();
    if snap.applications.len() > 1 {
        return Err(format!(
            "{} applications: {:?}",
            snap.applications.len(),
            snap.applications
                .iter()
                .map(|a| (&a.unique_name, a.app_id))
                .collect::<Vec<_>>()
        ));
    }
    if !snap.deleted_applications.is_empty() {
        return Err(format!(
            "{} deleted applications",
            snap.deleted_applications.len()
        ));
    }
    let mut per_app_id: BTreeMap<Option<ClientId>, usize> = BTreeMap::new();
    for sp in &snap.service_principals {
        *per_app_id.entry(sp.app_id).or_default() += 1;
    }
    if let Some((app_id, n)) = per_app_id.iter().find(|(_, n)| **n > 1) {
        return Err(format!("{n} service principals for appId {app_id:?}"));
    }
    let mut grants = BTreeSet::new();
    for g in &snap.app_role_assignments {
        if !grants.insert((g.principal_id, g.resource_id, g.app_role_id)) {
            return Err(format!("grant {:?} exists twice", g.app_role_id));
        }
    }
    Ok(())
}

/// The ids of a converged registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Converged {
    pub client_id: ClientId,
    pub app_object_id: ObjectId,
    pub service_principal_id: ObjectId,
}

/// The tenant holds exactly what `reg` asks for: one application with its unique name, display
/// name, audience and exactly the profile's permissions; one service principal for it; every
/// profile role granted once and nothing else granted; each first-party resource once.
pub fn check_converged(fake: &FakeGraph, reg: &AppRegistration) -> Result<Converged, String> {
    check_no_duplicates(fake)?;
    let snap = fake.snapshot();
    let [app] = snap.applications.as_slice() else {
        return Err(format!("{} applications", snap.applications.len()));
    };
    if app.unique_name.as_deref() != Some(reg.unique_name().as_str()) {
        return Err(format!("unique name {:?}", app.unique_name));
    }
    if app.display_name.as_deref() != Some(reg.display_name()) {
        return Err(format!("display name {:?}", app.display_name));
    }
    if app.sign_in_audience.as_deref() != Some("AzureADMyOrg") {
        return Err(format!("sign-in audience {:?}", app.sign_in_audience));
    }
    let want = expected_pairs(reg.profile());
    let declared = declared(app);
    if declared.len() != want.len() || declared.iter().copied().collect::<BTreeSet<_>>() != want {
        return Err(format!("declared permissions {declared:?}"));
    }
    let client_id = app.app_id.ok_or("the app has no appId")?;
    let app_object_id = app.id.ok_or("the app has no id")?;
    let sps: Vec<_> = snap
        .service_principals
        .iter()
        .filter(|s| s.app_id == Some(client_id))
        .collect();
    let [sp] = sps.as_slice() else {
        return Err(format!("{} service principals for the app", sps.len()));
    };
    let sp_id = sp.id.ok_or("the service principal has no id")?;
    for resource in [
        catalog::MICROSOFT_GRAPH.app_id,
        catalog::EXCHANGE_ONLINE.app_id,
        catalog::SHAREPOINT_ONLINE.app_id,
    ] {
        let n = snap
            .service_principals
            .iter()
            .filter(|s| s.app_id == Some(resource))
            .count();
        if n != 1 {
            return Err(format!("{n} service principals for resource {resource}"));
        }
    }
    let resource_app = |id: ObjectId| {
        snap.service_principals
            .iter()
            .find(|s| s.id == Some(id))
            .and_then(|s| s.app_id)
    };
    let mut granted = Vec::new();
    for g in &snap.app_role_assignments {
        if g.principal_id != sp_id {
            return Err(format!("a grant to another principal: {g:?}"));
        }
        granted.push((
            resource_app(g.resource_id).ok_or("a grant on an unknown resource")?,
            g.app_role_id,
        ));
    }
    if granted.len() != want.len() || granted.iter().copied().collect::<BTreeSet<_>>() != want {
        return Err(format!(
            "granted {} roles, expected {}: {granted:?}",
            granted.len(),
            want.len()
        ));
    }
    Ok(Converged {
        client_id,
        app_object_id,
        service_principal_id: sp_id,
    })
}

/// The result `apply` returned agrees with the tenant and says consent is complete.
pub fn check_result(
    app: &RegisteredApp,
    converged: &Converged,
    reg: &AppRegistration,
) -> Result<(), String> {
    if app.client_id != converged.client_id
        || app.application_object_id != converged.app_object_id
        || app.service_principal_id != converged.service_principal_id
    {
        return Err(format!("the result names other objects: {app:?}"));
    }
    if !app.is_complete() {
        return Err(format!("consent is not complete: {:?}", app.consent));
    }
    let n = reg.profile().permissions().len();
    if app.permissions.len() != n || !app.permissions.iter().all(|p| p.granted) {
        return Err(format!("permissions in the result: {:?}", app.permissions));
    }
    Ok(())
}

/// A credential the caller holds after a run: the certificate it registered, or a secret a run
/// returned (in its result or inside `Error::CredentialNotRemoved`).
#[derive(Clone, Copy)]
pub enum Held<'a> {
    Certificate(&'a entra_appreg::credentials::Certificate),
    Secret(&'a entra_appreg::credentials::NewSecret),
}

/// Credentials "an admin" made by hand on an existing app: the crate must never touch them.
#[derive(Clone, Debug)]
pub struct AdminCredentials {
    pub key: entra_appreg::graph::models::KeyCredential,
    pub secret: entra_appreg::graph::models::PasswordCredential,
}

impl AdminCredentials {
    /// A certificate uploaded and a secret made in the portal.
    pub fn new(cert: &entra_appreg::credentials::Certificate) -> Self {
        let mut key = cert.key_credential("uploaded by an admin");
        key.key_id = Some(entra_appreg::KeyId::from_uuid(uuid::Uuid::new_v4()));
        let now = time::OffsetDateTime::now_utc();
        let mut secret = entra_appreg::graph::models::PasswordCredential::default();
        secret.key_id = Some(entra_appreg::KeyId::from_uuid(uuid::Uuid::new_v4()));
        secret.display_name = Some("made in the portal".into());
        secret.hint = Some("Adm".into());
        secret.start_date_time = Some(now);
        secret.end_date_time = Some(now + time::Duration::days(90));
        Self { key, secret }
    }
}

fn is_crate_created(name: Option<&str>) -> bool {
    name.is_some_and(|n| n.starts_with(entra_appreg::credentials::CREATED_BY))
}

/// The app's credentials are exactly: the one crate-created credential the caller holds, the
/// admin's credentials when given (unchanged), and nothing else — no orphaned secret, no
/// second copy of the certificate, no older crate-created credential left behind.
pub fn check_credentials(
    fake: &FakeGraph,
    held: Held<'_>,
    admin: Option<&AdminCredentials>,
) -> Result<(), String> {
    use base64::Engine;
    let snap = fake.snapshot();
    let [app] = snap.applications.as_slice() else {
        return Err(format!("{} applications", snap.applications.len()));
    };
    let keys = app.key_credentials.clone().unwrap_or_default();
    let secrets = app.password_credentials.clone().unwrap_or_default();
    let (ours_k, theirs_k): (Vec<_>, Vec<_>) = keys
        .iter()
        .partition(|k| is_crate_created(k.display_name.as_deref()));
    let (ours_s, theirs_s): (Vec<_>, Vec<_>) = secrets
        .iter()
        .partition(|s| is_crate_created(s.display_name.as_deref()));
    match admin {
        Some(a) => {
            if theirs_k.len() != 1 || *theirs_k[0] != a.key {
                return Err(format!("the admin's certificate changed: {theirs_k:?}"));
            }
            if theirs_s.len() != 1 || *theirs_s[0] != a.secret {
                return Err(format!("the admin's secret changed: {theirs_s:?}"));
            }
        }
        None if !theirs_k.is_empty() || !theirs_s.is_empty() => {
            return Err(format!(
                "credentials nobody asked for: {theirs_k:?} {theirs_s:?}"
            ));
        }
        None => {}
    }
    match held {
        Held::Certificate(cert) => {
            if !ours_s.is_empty() {
                return Err(format!("crate-created secrets: {ours_s:?}"));
            }
            let [key] = ours_k.as_slice() else {
                return Err(format!(
                    "{} crate-created certificates, expected the caller's once: {ours_k:?}",
                    ours_k.len()
                ));
            };
            let der = key
                .key
                .as_deref()
                .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok());
            if der.as_deref() != Some(cert.der()) {
                return Err("the registered certificate is not the caller's".into());
            }
        }
        Held::Secret(secret) => {
            if !ours_k.is_empty() {
                return Err(format!("crate-created certificates: {ours_k:?}"));
            }
            let ids: Vec<_> = ours_s.iter().map(|s| s.key_id).collect();
            if ids != [Some(secret.key_id)] {
                return Err(format!(
                    "live crate-created secrets {ids:?}, expected only the caller's {}",
                    secret.key_id
                ));
            }
            let texts = fake.secret_texts(app.id.ok_or("the app has no id")?);
            if !texts.iter().any(|t| t == secret.secret.expose_secret()) {
                return Err("the caller's secret text is not live".into());
            }
        }
    }
    Ok(())
}

/// (resource appId, role id) pairs granted to the app's service principal in the fake.
pub fn granted_pairs(fake: &FakeGraph, client_id: ClientId) -> BTreeSet<(ClientId, AppRoleId)> {
    let snap = fake.snapshot();
    let sp = snap
        .service_principals
        .iter()
        .find(|sp| sp.app_id == Some(client_id))
        .expect("the app's service principal exists");
    snap.app_role_assignments
        .iter()
        .filter(|g| Some(g.principal_id) == sp.id)
        .map(|g| {
            let resource = snap
                .service_principals
                .iter()
                .find(|r| r.id == Some(g.resource_id))
                .and_then(|r| r.app_id)
                .unwrap();
            (resource, g.app_role_id)
        })
        .collect()
}

/// Seeds the app of an earlier installation holding an admin's certificate and secret.
pub fn seed_app_with_admin_credentials(fake: &FakeGraph, admin: &AdminCredentials) {
    let mut app = Application::default();
    app.display_name = Some("Contoso Backup".into());
    app.unique_name = Some("contoso-backup".into());
    app.sign_in_audience = Some("AzureADMyOrg".into());
    app.key_credentials = Some(vec![admin.key.clone()]);
    app.password_credentials = Some(vec![admin.secret.clone()]);
    fake.seed_application(app);
}
