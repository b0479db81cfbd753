//! What `apply` would change, computed from what the reads found.

use std::fmt;

use serde::Serialize;

use crate::auth::TokenClaims;
use crate::credentials::{Certificate, CredentialInfo, CredentialKind, NewCredential};
use crate::error::{Error, Result};
use crate::graph::models::{
    AppRole, Application, RequiredResourceAccess, ResourceAccess, ServicePrincipal,
};
use crate::ids::Thumbprint;
use crate::ids::{AppRoleId, ClientId, ObjectId, UniqueName};
use crate::profile::{Permission, catalog};

use super::AppRegistration;
use super::observe::Observed;

/// The sign-in audience the crate always registers: this tenant only.
pub const SIGN_IN_AUDIENCE: &str = "AzureADMyOrg";

/// One change `apply` would make (or made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// Create the app registration (with its permissions).
    CreateApplication {
        /// Its display name.
        display_name: String,
        /// Its unique name.
        unique_name: UniqueName,
    },
    /// Rename the existing app to the requested display name.
    RenameApplication {
        /// The current name.
        from: String,
        /// The requested name.
        to: String,
    },
    /// Finish an app an earlier run created and never updated (it stopped in between): set its
    /// audience to this tenant only. Such an app has Graph's default audience for a new app and
    /// nothing else yet: no permission, no credential.
    FinishCreation,
    /// Take a permission off the app, as asked: out of its declared permissions, and its grant
    /// deleted.
    RevokePermission {
        /// The permission.
        #[serde(flatten)]
        permission: Permission,
        /// Whether the app declares it (it is removed from `requiredResourceAccess`).
        declared: bool,
        /// Whether the app holds its grant (the app role assignment is deleted).
        granted: bool,
    },
    /// Declare permissions the app does not declare yet.
    AddPermissions {
        /// The permissions added to `requiredResourceAccess`.
        permissions: Vec<Permission>,
    },
    /// Create the app's service principal (its instance in the tenant).
    CreateServicePrincipal,
    /// Create a missing first-party resource service principal (Exchange Online, say).
    CreateResourceServicePrincipal {
        /// The resource's name.
        resource: String,
        /// Its appId.
        resource_app_id: ClientId,
    },
    /// Grant admin consent to one permission.
    GrantRole {
        /// The permission.
        #[serde(flatten)]
        permission: Permission,
    },
    /// Attach a new credential.
    AddCredential {
        /// Certificate or secret.
        kind: CredentialKind,
        /// The certificate's thumbprint.
        #[serde(skip_serializing_if = "Option::is_none")]
        thumbprint: Option<Thumbprint>,
    },
    /// Remove an older credential the crate created.
    RetireCredential {
        /// The credential.
        credential: CredentialInfo,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateApplication {
                display_name,
                unique_name,
            } => write!(
                f,
                "create the app registration \"{display_name}\" (unique name {unique_name}, this tenant only)"
            ),
            Change::RenameApplication { from, to } => {
                write!(f, "rename the app registration from \"{from}\" to \"{to}\"")
            }
            Change::FinishCreation => f.write_str(
                "finish the app an earlier run created but never updated: set its audience to this tenant only",
            ),
            Change::RevokePermission {
                permission,
                declared,
                granted,
            } => {
                let what = match (declared, granted) {
                    (true, true) => "remove it from the app's permissions and delete its grant",
                    (true, false) => "remove it from the app's permissions",
                    _ => "delete its grant",
                };
                write!(f, "revoke {permission}: {what}")
            }
            Change::AddPermissions { permissions } => {
                write!(f, "declare permissions: ")?;
                let list: Vec<String> = permissions.iter().map(ToString::to_string).collect();
                f.write_str(&list.join(", "))
            }
            Change::CreateServicePrincipal => f.write_str("create the app's service principal"),
            Change::CreateResourceServicePrincipal { resource, .. } => write!(
                f,
                "create the missing service principal of {resource} in this tenant"
            ),
            Change::GrantRole { permission } => write!(f, "grant admin consent: {permission}"),
            Change::AddCredential { kind, thumbprint } => match thumbprint {
                Some(t) => write!(f, "add a {kind} (thumbprint {t})"),
                None => write!(f, "add a {kind}"),
            },
            Change::RetireCredential { credential } => {
                write!(f, "remove the older crate-created {credential}")
            }
        }
    }
}

/// A permission the app declares that the profile does not ask for (an admin added it). It is
/// kept, never removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KeptPermission {
    /// The resource's appId.
    pub resource_app_id: ClientId,
    /// The permission id.
    pub id: AppRoleId,
    /// `Role` or `Scope`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name, when the crate knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl fmt::Display for KeptPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = catalog::resource(self.resource_app_id)
            .map(|r| r.name.to_owned())
            .unwrap_or_else(|| self.resource_app_id.to_string());
        match &self.value {
            Some(v) => write!(f, "{v} ({}) on {resource}", self.kind),
            None => write!(f, "{} {} on {resource}", self.kind, self.id),
        }
    }
}

/// Something the admin should know; nothing stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// What it is about: stable, for a program to branch on (serialised in `snake_case`).
    pub code: WarningCode,
    /// What to know and do.
    pub message: String,
}

/// The stable code of a [`Warning`]. Compares equal to its `snake_case` name
/// (`WarningCode::EwsRetirement == "ews_retirement"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WarningCode {
    /// The profile uses Exchange Web Services: the message names the Exchange Online PowerShell
    /// command that puts the app on the tenant's EWS allow-list, without which the product's EWS
    /// calls fail, and the date EWS is switched off.
    EwsRetirement,
    /// The signed-in account cannot grant Microsoft Graph roles.
    CannotGrantGraphRoles,
    /// The app found by client id has another unique name.
    ClientIdUniqueNameMismatch,
    /// The existing app is not single-tenant (left as is).
    SignInAudience,
    /// Older credentials created by the crate remain valid.
    OlderCredentials,
    /// Retiring them failed; run again to finish.
    OlderCredentialsNotRetired,
    /// A credential of the app expires within 30 days.
    CredentialExpiring,
    /// A secret an earlier, interrupted run created and never handed over was removed.
    UnfinishedSecretRemoved,
    /// The secret journal could not record that the new secret was handed over.
    JournalNotUpdated,
    /// The certificate to add is valid for more than a year, the most Microsoft's how-to allows
    /// for a certificate added this way: Graph may refuse it.
    CertificateOverOneYear,
    /// A permission asked to be revoked is neither declared nor granted: nothing to do.
    NothingToRevoke,
}

impl WarningCode {
    /// The `snake_case` name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::EwsRetirement => "ews_retirement",
            WarningCode::CannotGrantGraphRoles => "cannot_grant_graph_roles",
            WarningCode::ClientIdUniqueNameMismatch => "client_id_unique_name_mismatch",
            WarningCode::SignInAudience => "sign_in_audience",
            WarningCode::OlderCredentials => "older_credentials",
            WarningCode::OlderCredentialsNotRetired => "older_credentials_not_retired",
            WarningCode::CredentialExpiring => "credential_expiring",
            WarningCode::UnfinishedSecretRemoved => "unfinished_secret_removed",
            WarningCode::JournalNotUpdated => "journal_not_updated",
            WarningCode::CertificateOverOneYear => "certificate_over_one_year",
            WarningCode::NothingToRevoke => "nothing_to_revoke",
        }
    }
}

impl fmt::Display for WarningCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for WarningCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The existing application the plan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ExistingApp {
    /// Its object id.
    pub object_id: ObjectId,
    /// Its client id.
    pub client_id: ClientId,
    /// Its display name.
    pub display_name: Option<String>,
    /// Its service principal, if it has one.
    pub service_principal_id: Option<ObjectId>,
}

/// What `apply` would change in the tenant. Computed by reads only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[must_use]
#[non_exhaustive]
pub struct Plan {
    /// The requested display name.
    pub display_name: String,
    /// The unique name the app is found by.
    pub unique_name: UniqueName,
    /// The profile.
    pub profile: String,
    /// The app as it exists, if it does.
    pub application: Option<ExistingApp>,
    /// The changes, in the order `apply` makes them.
    pub changes: Vec<Change>,
    /// Declared permissions outside the profile, which are kept.
    pub kept_permissions: Vec<KeptPermission>,
    /// Things to know.
    pub warnings: Vec<Warning>,
    /// Secrets an earlier run created but, as the registration's journal says, never handed
    /// over (it was stopped first): nobody holds them. `apply` removes them. Empty without a
    /// journal.
    pub orphaned_credentials: Vec<CredentialInfo>,
    /// HTTP requests sent to Graph to make this plan.
    pub graph_requests: u64,
    /// Round trips to Graph to make this plan: requests in flight together count once (not
    /// serialised).
    #[serde(skip)]
    pub graph_round_trips: u64,
}

impl Plan {
    /// Whether the tenant already matches: `apply` would write nothing.
    pub fn is_up_to_date(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Plan for \"{}\" (unique name {}, profile {}):",
            self.display_name, self.unique_name, self.profile
        )?;
        if let Some(app) = &self.application {
            writeln!(
                f,
                "  found the app registration: client id {}, object id {}",
                app.client_id, app.object_id
            )?;
        }
        if self.changes.is_empty() {
            writeln!(f, "  nothing to change: the tenant already matches")?;
        }
        for c in &self.changes {
            writeln!(f, "  + {c}")?;
        }
        for k in &self.kept_permissions {
            writeln!(
                f,
                "  = keep {k} (declared outside the profile; not removed)"
            )?;
        }
        for c in &self.orphaned_credentials {
            writeln!(
                f,
                "  - remove {c}: an earlier run created it but was stopped before handing it over"
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "  ! {w}")?;
        }
        Ok(())
    }
}

/// A plan plus what `apply` needs to carry it out.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub plan: Plan,
    /// The full `requiredResourceAccess` to send (existing entries kept), when it must change or
    /// the app must be created.
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    pub rename: bool,
    /// The app is an unfinished creation of an earlier run: its audience is set.
    pub finish_creation: bool,
    pub create_client_sp: bool,
    pub missing_resources: Vec<ClientId>,
    /// Grants to make, as (permission, resource SP id when the SP exists).
    pub missing_grants: Vec<(Permission, Option<ObjectId>)>,
    /// Grants already in place.
    pub existing_grants: Vec<Permission>,
    /// Grants to delete (revoked permissions): the app's service principal and the assignment id.
    pub revoke_grants: Vec<(ObjectId, String)>,
}

/// An app the crate's upsert created and no update followed (the run stopped in between): the
/// upsert sets only the name, so the app has Graph's default audience (whatever it is today:
/// it has changed over the years) and nothing else, no permission and no credential. An app an
/// admin set up has at least one of them. (Without a certificate to add, `keyCredentials` is not
/// read: an app whose only trait is a certificate counts as unfinished, and is set to this
/// tenant only.)
fn is_unfinished_creation(app: &Application) -> bool {
    let empty = |v: Option<usize>| v.is_none_or(|n| n == 0);
    app.sign_in_audience.as_deref() != Some(SIGN_IN_AUDIENCE)
        && empty(app.required_resource_access.as_ref().map(Vec::len))
        && empty(app.key_credentials.as_ref().map(Vec::len))
        && empty(app.password_credentials.as_ref().map(Vec::len))
}

/// Checks a permission against its resource service principal's app roles.
pub(crate) fn verify_role(permission: &Permission, sp: &ServicePrincipal) -> Result<()> {
    let resource = format!("{} ({})", permission.resource, permission.resource_app_id);
    let mismatch = |reason: String| Error::RoleMismatch {
        resource: resource.clone(),
        value: permission.value.clone(),
        role_id: permission.role_id.to_string(),
        reason,
    };
    let roles: &[AppRole] = sp.app_roles.as_deref().unwrap_or_default();
    let Some(role) = roles.iter().find(|r| r.id == permission.role_id) else {
        let by_value = roles
            .iter()
            .find(|r| r.value.as_deref() == Some(permission.value.as_str()))
            .map(|r| format!("; the tenant has {} with id {}", permission.value, r.id))
            .unwrap_or_default();
        return Err(mismatch(format!("no app role with this id{by_value}")));
    };
    if role.value.as_deref() != Some(permission.value.as_str()) {
        return Err(mismatch(format!(
            "the role with this id is {:?}",
            role.value.as_deref().unwrap_or("(no value)")
        )));
    }
    if !role.is_enabled {
        return Err(mismatch("the role is disabled".into()));
    }
    if !role.grantable_to_applications() {
        return Err(mismatch(
            "the role cannot be granted to applications (allowedMemberTypes lacks Application)"
                .into(),
        ));
    }
    Ok(())
}

/// Groups permissions into `requiredResourceAccess` entries, keeping existing entries first.
pub(crate) fn merge_required_access(
    existing: &[RequiredResourceAccess],
    wanted: &[Permission],
) -> (Vec<RequiredResourceAccess>, Vec<Permission>) {
    let mut merged = existing.to_vec();
    let mut added = Vec::new();
    for p in wanted {
        let entry = match merged
            .iter_mut()
            .position(|e| e.resource_app_id == p.resource_app_id)
        {
            Some(i) => &mut merged[i],
            None => {
                merged.push(RequiredResourceAccess {
                    resource_app_id: p.resource_app_id,
                    resource_access: Vec::new(),
                });
                merged.last_mut().expect("just pushed")
            }
        };
        if !entry
            .resource_access
            .iter()
            .any(|a| a.id == p.role_id && a.is_role())
        {
            entry.resource_access.push(ResourceAccess::role(p.role_id));
            added.push(p.clone());
        }
    }
    (merged, added)
}

/// Computes the plan from what the reads found: one step per part of the registration, each
/// adding its changes and warnings in the order `apply` makes them.
pub(crate) fn resolve(
    spec: &AppRegistration,
    obs: &Observed,
    claims: Option<&TokenClaims>,
) -> Result<Resolved> {
    let mut r = Resolution {
        spec,
        obs,
        // Permissions named by value (a profile file's) take their ids from the tenant, before
        // anything is written.
        permissions: crate::profile::resolve_by_value(spec.profile.permissions(), &obs.resources)?,
        orphans: orphaned(spec, obs)?,
        changes: Vec::new(),
        warnings: Vec::new(),
    };
    r.verify_roles()?;
    let revoked = crate::profile::resolve_by_value(spec.revoke.clone(), &obs.resources)?;
    let mut app = r.application();
    let revoke_grants = r.revoke(&revoked, &mut app);
    let create_client_sp = r.service_principal();
    let missing_resources = r.resource_service_principals();
    let (missing_grants, existing_grants) = r.grants();
    r.credential();
    r.warnings(&missing_grants, claims);
    let plan = Plan {
        display_name: spec.display_name.clone(),
        unique_name: spec.unique_name.clone(),
        profile: spec.profile.to_string(),
        application: existing_app(obs),
        changes: r.changes,
        kept_permissions: app.kept_permissions,
        warnings: r.warnings,
        orphaned_credentials: r.orphans,
        graph_requests: 0,
        graph_round_trips: 0,
    };
    Ok(Resolved {
        plan,
        required_resource_access: app.required_resource_access,
        rename: app.rename,
        finish_creation: app.finish_creation,
        create_client_sp,
        missing_resources,
        missing_grants,
        existing_grants,
        revoke_grants,
    })
}

/// A plan being computed: what is wanted, what was found, and the changes and warnings so far.
struct Resolution<'a> {
    spec: &'a AppRegistration,
    obs: &'a Observed,
    permissions: Vec<Permission>,
    /// The secrets of unfinished journal intents (the journal is read once per plan).
    orphans: Vec<CredentialInfo>,
    changes: Vec<Change>,
    warnings: Vec<Warning>,
}

/// What the plan does to the app itself.
struct AppResolution {
    required_resource_access: Option<Vec<RequiredResourceAccess>>,
    rename: bool,
    finish_creation: bool,
    kept_permissions: Vec<KeptPermission>,
}

impl Resolution<'_> {
    /// Every role whose resource service principal exists is checked now, before anything is
    /// written.
    fn verify_roles(&self) -> Result<()> {
        for p in &self.permissions {
            if let Some(sp) = self.resource_sp(p.resource_app_id) {
                verify_role(p, sp)?;
            }
        }
        Ok(())
    }

    fn resource_sp(&self, app_id: ClientId) -> Option<&ServicePrincipal> {
        self.obs
            .resources
            .iter()
            .find(|sp| sp.app_id == Some(app_id))
    }

    /// Takes the revoked permissions out of the app's declared permissions (changing what
    /// `app` will send) and returns the grants to delete; says when there is nothing to revoke.
    fn revoke(
        &mut self,
        revoked: &[Permission],
        app: &mut AppResolution,
    ) -> Vec<(ObjectId, String)> {
        let mut deletions = Vec::new();
        let declared_now = app.required_resource_access.clone().or_else(|| {
            self.obs
                .app
                .as_ref()
                .and_then(|a| a.required_resource_access.clone())
        });
        let mut access = declared_now.unwrap_or_default();
        let mut changed = false;
        for p in revoked {
            let mut declared = false;
            for entry in access
                .iter_mut()
                .filter(|e| e.resource_app_id == p.resource_app_id)
            {
                let before = entry.resource_access.len();
                entry
                    .resource_access
                    .retain(|a| !(a.is_role() && a.id == p.role_id));
                declared |= entry.resource_access.len() != before;
            }
            changed |= declared;
            let resource = self.resource_sp(p.resource_app_id).and_then(|sp| sp.id);
            let principal = self.obs.client_sp.as_ref().and_then(|sp| sp.id);
            let grants: Vec<String> = self
                .obs
                .grants
                .iter()
                .filter(|g| Some(g.resource_id) == resource && g.app_role_id == p.role_id)
                .filter_map(|g| g.id.clone())
                .collect();
            let granted = !grants.is_empty();
            if let Some(principal) = principal {
                deletions.extend(grants.into_iter().map(|id| (principal, id)));
            }
            if declared || granted {
                self.changes.push(Change::RevokePermission {
                    permission: p.clone(),
                    declared,
                    granted,
                });
            } else {
                self.warnings.push(Warning {
                    code: WarningCode::NothingToRevoke,
                    message: format!(
                        "{p} was to be revoked, but the app neither declares nor holds it: nothing to do"
                    ),
                });
            }
        }
        if changed {
            access.retain(|e| !e.resource_access.is_empty());
            app.required_resource_access = Some(access);
        }
        deletions
    }

    /// The app: created, or renamed and given the permissions it lacks (an admin's extra ones
    /// kept).
    fn application(&mut self) -> AppResolution {
        let existing = self
            .obs
            .app
            .as_ref()
            .and_then(|a| a.required_resource_access.clone())
            .unwrap_or_default();
        let (merged, added) = merge_required_access(&existing, &self.permissions);
        let kept_permissions = kept_permissions(&existing, &self.permissions);
        let Some(app) = self.obs.app.as_ref() else {
            self.changes.push(Change::CreateApplication {
                display_name: self.spec.display_name.clone(),
                unique_name: self.spec.unique_name.clone(),
            });
            return AppResolution {
                required_resource_access: Some(merged),
                rename: false,
                finish_creation: false,
                kept_permissions,
            };
        };
        let finish_creation = is_unfinished_creation(app);
        if finish_creation {
            self.changes.push(Change::FinishCreation);
        }
        let rename = app.display_name.as_deref() != Some(self.spec.display_name.as_str());
        if rename {
            self.changes.push(Change::RenameApplication {
                from: app.display_name.clone().unwrap_or_default(),
                to: self.spec.display_name.clone(),
            });
        }
        if !added.is_empty() {
            self.changes.push(Change::AddPermissions {
                permissions: added.clone(),
            });
        }
        self.warn_about_existing_app(app, finish_creation);
        AppResolution {
            required_resource_access: (!added.is_empty()).then_some(merged),
            rename,
            finish_creation,
            kept_permissions,
        }
    }

    /// An existing app found under another unique name, or not single-tenant: left as is, said.
    fn warn_about_existing_app(&mut self, app: &Application, finish_creation: bool) {
        let unique_name = self.spec.unique_name.as_str();
        if app
            .unique_name
            .as_deref()
            .is_none_or(|u| !u.eq_ignore_ascii_case(unique_name))
        {
            self.warnings.push(Warning {
                code: WarningCode::ClientIdUniqueNameMismatch,
                message: format!(
                    "the app with client id {} has unique name {:?}, not {:?}; it is updated in place by its object id",
                    app.app_id.map(|a| a.to_string()).unwrap_or_default(),
                    app.unique_name.as_deref().unwrap_or("(none)"),
                    unique_name
                ),
            });
        }
        if let Some(aud) = app.sign_in_audience.as_deref()
            && aud != SIGN_IN_AUDIENCE
            && !finish_creation
        {
            self.warnings.push(Warning {
                code: WarningCode::SignInAudience,
                message: format!(
                    "the app's sign-in audience is {aud}, not {SIGN_IN_AUDIENCE} (this tenant only); it is left as is: change it in the portal if the app should not be multi-tenant"
                ),
            });
        }
    }

    /// Whether the app's own service principal must be created.
    fn service_principal(&mut self) -> bool {
        let create = self.obs.client_sp.is_none();
        if create {
            self.changes.push(Change::CreateServicePrincipal);
        }
        create
    }

    /// The first-party resource service principals missing from the tenant.
    fn resource_service_principals(&mut self) -> Vec<ClientId> {
        let mut missing = Vec::new();
        for res in self.spec.profile.resource_app_ids() {
            if self.resource_sp(res).is_none() {
                missing.push(res);
                self.changes.push(Change::CreateResourceServicePrincipal {
                    resource: catalog::resource(res)
                        .map(|r| r.name.to_owned())
                        .unwrap_or_else(|| res.to_string()),
                    resource_app_id: res,
                });
            }
        }
        missing
    }

    /// The grants to make (with their resource service principal's id when it exists), and
    /// those in place.
    fn grants(&mut self) -> (Vec<(Permission, Option<ObjectId>)>, Vec<Permission>) {
        let mut missing = Vec::new();
        let mut existing = Vec::new();
        for p in &self.permissions {
            let resource_sp = self.resource_sp(p.resource_app_id).and_then(|sp| sp.id);
            let granted = resource_sp.is_some_and(|rid| {
                self.obs
                    .grants
                    .iter()
                    .any(|g| g.resource_id == rid && g.app_role_id == p.role_id)
            });
            if granted {
                existing.push(p.clone());
            } else {
                self.changes.push(Change::GrantRole {
                    permission: p.clone(),
                });
                missing.push((p.clone(), resource_sp));
            }
        }
        (missing, existing)
    }

    /// The requested credential: added with the app's creation or update (unless an earlier run
    /// registered it), and the older ones this tool created retired or reported.
    fn credential(&mut self) {
        let Some(new) = &self.spec.credential else {
            return;
        };
        let thumbprint = match new {
            NewCredential::Certificate(c) => Some(c.thumbprint().clone()),
            _ => None,
        };
        // A certificate an earlier run registered is recognised in the keys read with their
        // `key` (read whenever a certificate is to be added to an existing app).
        let registered = thumbprint.as_ref().and_then(|t| {
            self.obs
                .keys
                .iter()
                .flatten()
                .find(|k| crate::credentials::provisioner::key_thumbprint(k).as_ref() == Some(t))
                .and_then(|k| k.key_id)
        });
        if registered.is_none() {
            // In apply's order: with the app's creation or update.
            let at = self
                .changes
                .iter()
                .position(|c| {
                    !matches!(
                        c,
                        Change::CreateApplication { .. }
                            | Change::RenameApplication { .. }
                            | Change::AddPermissions { .. }
                    )
                })
                .unwrap_or(self.changes.len());
            let kind = new.kind();
            self.changes
                .insert(at, Change::AddCredential { kind, thumbprint });
        }
        self.older_credentials(new.kind(), registered);
    }

    /// The older credentials of `kind` this tool created: retired when asked, else reported.
    fn older_credentials(&mut self, kind: CredentialKind, registered: Option<crate::ids::KeyId>) {
        let older: Vec<CredentialInfo> = self
            .obs
            .app
            .as_ref()
            .map(crate::credentials::provisioner::list_of)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.created_by_crate && c.kind == kind)
            .filter(|c| Some(c.key_id) != registered)
            .filter(|c| !self.orphans.iter().any(|o| o.key_id == c.key_id))
            .collect();
        if self.spec.retire_previous {
            self.changes.extend(
                older
                    .into_iter()
                    .map(|credential| Change::RetireCredential { credential }),
            );
        } else if !older.is_empty() {
            self.warnings.push(Warning {
                code: WarningCode::OlderCredentials,
                message: format!(
                    "the app already holds {} {kind} credential(s) created earlier by this tool; they stay valid until they expire. Retire them once the product uses the new one (or ask for retirement now).",
                    older.len(),
                ),
            });
        }
    }

    /// What else the admin should know: expiring credentials, Exchange Web Services' retirement,
    /// Graph grants the signed-in account cannot make.
    fn warnings(
        &mut self,
        missing_grants: &[(Permission, Option<ObjectId>)],
        claims: Option<&TokenClaims>,
    ) {
        if let Some(app) = &self.obs.app {
            let credentials = crate::credentials::provisioner::list_of(app);
            for expiring in crate::credentials::expiry_warnings(&credentials, 30) {
                self.warnings.push(Warning {
                    code: WarningCode::CredentialExpiring,
                    message: expiring.to_string(),
                });
            }
        }
        if let Some(NewCredential::Certificate(cert)) = &self.spec.credential {
            self.warnings.extend(certificate_lifetime_warning(cert));
        }
        let client_id = self.obs.app.as_ref().and_then(|a| a.app_id);
        if let Some(ews) = self.spec.profile.ews_allow_list_instructions(client_id) {
            self.warnings.push(Warning {
                code: WarningCode::EwsRetirement,
                message: ews,
            });
        }
        let graph_grants_needed = missing_grants
            .iter()
            .any(|(p, _)| p.resource_app_id == catalog::MICROSOFT_GRAPH.app_id);
        if graph_grants_needed
            && claims.and_then(TokenClaims::can_grant_graph_app_roles) == Some(false)
        {
            self.warnings.push(Warning {
                code: WarningCode::CannotGrantGraphRoles,
                message: "the signed-in account holds no directory role that can grant Microsoft Graph application permissions: consent to them will fail. Sign in as a Global Administrator or Privileged Role Administrator, or expect a partial result that an administrator completes later.".into(),
            });
        }
    }
}

/// A warning for a certificate valid for more than 365 days: Microsoft's how-to for adding a
/// certificate with `PATCH /applications/{id}` allows at most one year between its start and
/// end (<https://learn.microsoft.com/graph/applications-how-to-add-certificate>).
pub(crate) fn certificate_lifetime_warning(cert: &Certificate) -> Option<Warning> {
    const ONE_YEAR: time::Duration = time::Duration::days(365);
    let span = cert.not_after() - cert.not_before();
    (span > ONE_YEAR).then(|| Warning {
        code: WarningCode::CertificateOverOneYear,
        message: format!(
            "the certificate {} is valid for {} days: Microsoft allows at most one year (365 days) for a certificate added to an app this way, and Graph may refuse it. Use a certificate valid for 365 days or less.",
            cert.thumbprint(),
            span.whole_days()
        ),
    })
}

/// Declared permissions outside the profile (an admin added them): kept, and reported.
fn kept_permissions(
    existing: &[RequiredResourceAccess],
    wanted: &[Permission],
) -> Vec<KeptPermission> {
    existing
        .iter()
        .flat_map(|e| {
            e.resource_access.iter().filter_map(move |a| {
                let wanted = wanted.iter().any(|p| {
                    p.resource_app_id == e.resource_app_id && p.role_id == a.id && a.is_role()
                });
                (!wanted).then(|| KeptPermission {
                    resource_app_id: e.resource_app_id,
                    id: a.id,
                    kind: a.kind.clone(),
                    value: catalog::by_id(e.resource_app_id, a.id)
                        .filter(|_| a.is_role())
                        .map(|r| r.value.to_owned()),
                })
            })
        })
        .collect()
}

/// The app as the read found it.
fn existing_app(obs: &Observed) -> Option<ExistingApp> {
    let a = obs.app.as_ref()?;
    Some(ExistingApp {
        object_id: a.id?,
        client_id: a.app_id?,
        display_name: a.display_name.clone(),
        service_principal_id: obs.client_sp.as_ref().and_then(|sp| sp.id),
    })
}

/// The app's secrets whose markers belong to journal intents that never finished.
fn orphaned(spec: &AppRegistration, obs: &Observed) -> Result<Vec<CredentialInfo>> {
    let (Some(journal), Some(app)) = (&spec.journal, &obs.app) else {
        return Ok(Vec::new());
    };
    let intents = journal.unfinished()?;
    Ok(crate::credentials::provisioner::list_of(app)
        .into_iter()
        .filter(|c| {
            let marker = crate::credentials::marker_of(c.display_name.as_deref());
            c.kind == CredentialKind::Secret
                && intents
                    .iter()
                    .any(|i| Some(i.marker.as_str()) == marker && Some(i.app_object_id) == app.id)
        })
        .collect())
}
