//! Permission profiles: which application permissions a product needs, and which credentials
//! it may sign in with.
//!
//! The four profiles of the vendor's manual are built from the [`catalog`], and so are the portal
//! instructions ([`PermissionProfile::manual_instructions`]): the two can never disagree.
//!
//! ```
//! use entra_appreg::credentials::CredentialKind;
//! use entra_appreg::profile::PermissionProfile;
//! let p: PermissionProfile = "backup-sharepoint".parse().unwrap();
//! assert_eq!(p.to_string(), "Backup-SharePoint");
//! assert!(!p.allows(CredentialKind::Secret));
//! assert!(p.permissions().iter().any(|perm| perm.value == "Sites.FullControl.All"));
//! assert!("Backup-Teams".parse::<PermissionProfile>().unwrap_err().to_string().contains("Backup-Exchange"));
//! ```
//!
//! # Profile files
//!
//! A product with permissions of its own describes them in JSON
//! ([`CustomProfile::from_file`], or serde for [`PermissionProfile`]):
//!
//! ```
//! use entra_appreg::profile::{CustomProfile, PermissionProfile};
//! let p = CustomProfile::from_json(r#"{"name": "Contoso Mail Backup",
//!   "permissions": [{"resource": "Microsoft Graph", "value": "MailboxItem.ImportExport.All"},
//!                   {"resource": "00000003-0000-0000-c000-000000000000", "value": "User.Read.All"}],
//!   "credentials": ["certificate", "secret"]}"#)?;
//! assert_eq!(PermissionProfile::Custom(p).name(), "Contoso Mail Backup");
//! # Ok::<(), entra_appreg::Error>(())
//! ```
//!
//! `resource` is `Microsoft Graph`, `Office 365 Exchange Online` or `Office 365 SharePoint
//! Online` (any case), or any resource's appId; `credentials` is optional (both by default, a
//! certificate only with SharePoint Online). Each value is looked up in the tenant before
//! anything is written; one the tenant does not offer is refused then.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::{AppRoleId, ClientId, quote_for_error};

pub mod catalog;
mod file;
mod manual;

pub use file::MAX_PROFILE_FILE_BYTES;
pub(crate) use file::resolve_by_value;

use catalog::{EXCHANGE_ONLINE, MICROSOFT_GRAPH, Resource, SHAREPOINT_ONLINE};

use crate::credentials::CredentialKind;

/// One application permission: an app role of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Permission {
    /// The resource's appId.
    pub resource_app_id: ClientId,
    /// The resource's display name.
    pub resource: String,
    /// The permission name, such as `User.Read.All`.
    pub value: String,
    /// The app role id within the resource.
    pub role_id: AppRoleId,
}

impl Permission {
    /// A permission of the catalog, by resource and value. Unknown pairs are an error that names
    /// the known values of that resource.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a pair that is not in the catalog, naming the values known for
    /// that resource.
    pub fn from_catalog(resource_app_id: ClientId, value: &str) -> Result<Self, Error> {
        match catalog::by_value(resource_app_id, value) {
            Some(r) => Ok(Self::from(*r)),
            None => {
                let known: Vec<_> = catalog::CATALOG
                    .iter()
                    .filter(|r| r.resource.app_id == resource_app_id)
                    .map(|r| r.value)
                    .collect();
                let hint = if known.is_empty() {
                    "this resource has no permissions in the catalog: give the role id with Permission::with_role_id".to_owned()
                } else {
                    format!(
                        "the catalog knows {} on this resource; for another permission give its role id with Permission::with_role_id",
                        known.join(", ")
                    )
                };
                Err(Error::invalid_input(
                    "permission",
                    format!(
                        "{} on resource {resource_app_id} is unknown: {hint}",
                        quote_for_error(value)
                    ),
                ))
            }
        }
    }

    /// A permission outside the catalog, with its role id. Like every permission, it is checked
    /// against the tenant's resource service principal before it is granted.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty value, one longer than 120 characters, or one with
    /// spaces or control characters.
    pub fn with_role_id(
        resource_app_id: ClientId,
        value: &str,
        role_id: AppRoleId,
    ) -> Result<Self, Error> {
        if value.is_empty()
            || value.len() > 120
            || value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::invalid_input(
                "permission",
                format!(
                    "{} is not a permission value (no spaces, at most 120 characters)",
                    quote_for_error(value)
                ),
            ));
        }
        Ok(Self {
            resource_app_id,
            resource: catalog::resource(resource_app_id)
                .map(|r| r.name.to_owned())
                .unwrap_or_else(|| resource_app_id.to_string()),
            value: value.to_owned(),
            role_id,
        })
    }
}

impl From<catalog::CatalogRole> for Permission {
    fn from(r: catalog::CatalogRole) -> Self {
        Self {
            resource_app_id: r.resource.app_id,
            resource: r.resource.name.to_owned(),
            value: r.value.to_owned(),
            role_id: r.id,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.value, self.resource)
    }
}

/// A profile built by the caller from permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomProfile {
    name: String,
    permissions: Vec<Permission>,
    credentials: Vec<CredentialKind>,
}

impl CustomProfile {
    /// A profile from (resource appId, permission value) pairs of the catalog.
    ///
    /// # Errors
    ///
    /// As [`Permission::from_catalog`] for each pair, then as [`new`](Self::new).
    pub fn from_pairs<'a>(
        name: impl Into<String>,
        pairs: impl IntoIterator<Item = (ClientId, &'a str)>,
    ) -> Result<Self, Error> {
        let permissions = pairs
            .into_iter()
            .map(|(res, value)| Permission::from_catalog(res, value))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(name, permissions)
    }

    /// A profile from permissions. Certificates and secrets are allowed, unless a SharePoint
    /// permission is present (SharePoint app-only access accepts only certificates).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or unprintable name, or no permissions (a permission
    /// given twice is kept once).
    pub fn new(name: impl Into<String>, permissions: Vec<Permission>) -> Result<Self, Error> {
        let name = name.into();
        if name.trim().is_empty() || name.chars().any(crate::ids::is_hidden_char) {
            return Err(Error::invalid_input(
                "profile name",
                "must be printable and not empty",
            ));
        }
        if permissions.is_empty() {
            return Err(Error::invalid_input(
                "profile",
                "needs at least one permission",
            ));
        }
        let mut unique: Vec<Permission> = Vec::with_capacity(permissions.len());
        for p in permissions {
            // The same role, by id or (for one still to be resolved) by value.
            let same = |u: &Permission| {
                u.resource_app_id == p.resource_app_id
                    && if u.is_resolved() && p.is_resolved() {
                        u.role_id == p.role_id
                    } else {
                        u.value.eq_ignore_ascii_case(&p.value)
                    }
            };
            if !unique.iter().any(same) {
                unique.push(p);
            }
        }
        let credentials = if unique
            .iter()
            .any(|p| p.resource_app_id == SHAREPOINT_ONLINE.app_id)
        {
            vec![CredentialKind::Certificate]
        } else {
            vec![CredentialKind::Certificate, CredentialKind::Secret]
        };
        Ok(Self {
            name,
            permissions: unique,
            credentials,
        })
    }

    /// Restricts the credentials the profile allows.
    pub fn allow_only(mut self, kinds: &[CredentialKind]) -> Self {
        self.credentials.retain(|k| kinds.contains(k));
        self
    }
}

/// The permissions a product needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionProfile {
    /// Backup of Exchange Online mailboxes.
    BackupExchange,
    /// Backup of SharePoint Online and OneDrive (certificate only).
    BackupSharePoint,
    /// Migration: the source tenant.
    MigrationSource,
    /// Migration: the target tenant. With `create_mailboxes`, also the permissions to create
    /// users and mailboxes (Device.ReadWrite.All, Directory.ReadWrite.All, User.ReadWrite.All).
    MigrationTarget {
        /// Whether the product should create mailboxes in the target.
        create_mailboxes: bool,
    },
    /// A caller-defined profile.
    Custom(CustomProfile),
}

impl PermissionProfile {
    /// The names of the built-in profiles (more may come: a slice, not a fixed array).
    pub const NAMES: &'static [&'static str] = &[
        "Backup-Exchange",
        "Backup-SharePoint",
        "Migration-Source",
        "Migration-Target",
    ];

    /// Every built-in profile, Migration-Target without and with mailbox creation: what an
    /// installer offers to choose from, or a test runs through.
    pub fn built_in() -> &'static [PermissionProfile] {
        static BUILT_IN: [PermissionProfile; 5] = [
            PermissionProfile::BackupExchange,
            PermissionProfile::BackupSharePoint,
            PermissionProfile::MigrationSource,
            PermissionProfile::MigrationTarget {
                create_mailboxes: false,
            },
            PermissionProfile::MigrationTarget {
                create_mailboxes: true,
            },
        ];
        &BUILT_IN
    }

    /// The profile's name, as shown and parsed.
    pub fn name(&self) -> &str {
        match self {
            PermissionProfile::BackupExchange => Self::NAMES[0],
            PermissionProfile::BackupSharePoint => Self::NAMES[1],
            PermissionProfile::MigrationSource => Self::NAMES[2],
            PermissionProfile::MigrationTarget { .. } => Self::NAMES[3],
            PermissionProfile::Custom(c) => &c.name,
        }
    }

    /// Turns mailbox creation on or off (Migration-Target only; an error for the others).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `create` is asked of a profile other than Migration-Target.
    pub fn with_mailbox_creation(self, create: bool) -> Result<Self, Error> {
        match self {
            PermissionProfile::MigrationTarget { .. } => Ok(PermissionProfile::MigrationTarget {
                create_mailboxes: create,
            }),
            other if !create => Ok(other),
            other => Err(Error::invalid_input(
                "mailbox creation",
                format!("applies only to Migration-Target, not to {}", other.name()),
            )),
        }
    }

    /// The permissions, Exchange first, then Microsoft Graph, then SharePoint.
    pub fn permissions(&self) -> Vec<Permission> {
        let pick = |res: Resource, values: &[&str]| -> Vec<Permission> {
            values
                .iter()
                .map(|v| {
                    let r = catalog::by_value(res.app_id, v)
                        .expect("every built-in profile permission is in the catalog");
                    Permission::from(*r)
                })
                .collect()
        };
        let exchange = pick(EXCHANGE_ONLINE, &["full_access_as_app"]);
        let graph = |values: &[&str]| pick(MICROSOFT_GRAPH, values);
        match self {
            PermissionProfile::BackupExchange => [
                exchange,
                graph(&[
                    "Directory.Read.All",
                    "Group.Read.All",
                    "MailboxSettings.ReadWrite",
                    "User.Read.All",
                ]),
            ]
            .concat(),
            PermissionProfile::BackupSharePoint => [
                exchange,
                graph(&["Directory.Read.All", "Group.Read.All", "User.Read.All"]),
                pick(
                    SHAREPOINT_ONLINE,
                    &["Sites.FullControl.All", "User.Read.All"],
                ),
            ]
            .concat(),
            PermissionProfile::MigrationSource => [
                exchange,
                graph(&[
                    "Directory.Read.All",
                    "MailboxSettings.ReadWrite",
                    "User.Read.All",
                ]),
            ]
            .concat(),
            PermissionProfile::MigrationTarget { create_mailboxes } => {
                let mut v = [
                    exchange,
                    graph(&[
                        "Directory.Read.All",
                        "MailboxSettings.ReadWrite",
                        "User.Read.All",
                    ]),
                ]
                .concat();
                if *create_mailboxes {
                    v.extend(graph(&[
                        "Device.ReadWrite.All",
                        "Directory.ReadWrite.All",
                        "User.ReadWrite.All",
                    ]));
                }
                v
            }
            PermissionProfile::Custom(c) => c.permissions.clone(),
        }
    }

    /// The resources whose roles the profile uses, in first-use order.
    pub fn resource_app_ids(&self) -> Vec<ClientId> {
        let mut out = Vec::new();
        for p in self.permissions() {
            if !out.contains(&p.resource_app_id) {
                out.push(p.resource_app_id);
            }
        }
        out
    }

    /// The credentials the product may sign in with.
    pub fn allowed_credentials(&self) -> Vec<CredentialKind> {
        match self {
            PermissionProfile::BackupSharePoint => vec![CredentialKind::Certificate],
            PermissionProfile::Custom(c) => c.credentials.clone(),
            _ => vec![CredentialKind::Certificate, CredentialKind::Secret],
        }
    }

    /// Whether the product may sign in with this kind of credential.
    pub fn allows(&self, kind: CredentialKind) -> bool {
        self.allowed_credentials().contains(&kind)
    }

    /// Checks that `kind` is allowed, with an error that explains why not.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] explaining why the profile refuses `kind` (for SharePoint: app-only
    /// access accepts only certificates).
    pub fn check_credential(&self, kind: CredentialKind) -> Result<(), Error> {
        if self.allows(kind) {
            return Ok(());
        }
        let why = if self
            .permissions()
            .iter()
            .any(|p| p.resource_app_id == SHAREPOINT_ONLINE.app_id)
        {
            " SharePoint Online accepts only certificates for app-only access, so a client secret would register an app that cannot read SharePoint."
        } else {
            ""
        };
        Err(Error::invalid_input(
            "credential",
            format!(
                "the {} profile does not allow a {kind}.{why} Use a certificate instead.",
                self.name()
            ),
        ))
    }

    /// Whether the profile uses the Exchange Web Services permission `full_access_as_app`.
    pub fn uses_exchange_web_services(&self) -> bool {
        self.permissions()
            .iter()
            .any(|p| p.resource_app_id == EXCHANGE_ONLINE.app_id && p.value == "full_access_as_app")
    }

    /// The portal procedure for this profile, as Markdown: the steps an admin follows by hand in
    /// the Entra admin center, generated from the same catalog as the automated registration.
    pub fn manual_instructions(&self, display_name: &str) -> String {
        manual::render(self, display_name)
    }

    /// What an Exchange Online administrator must run so that the app may use Exchange Web
    /// Services (`full_access_as_app`): since 1 October 2026 Exchange Online lets an app use EWS
    /// only when the organization's `EwsEnabled` is `$true` and the app's client id is on
    /// `EwsAllowedAppIDs`. `None` for a profile without EWS. Without the client id, the script
    /// names a placeholder and refuses to run until it is replaced.
    ///
    /// The text ends with [`ews_allow_list_script`](Self::ews_allow_list_script), one
    /// paste-ready PowerShell snippet.
    pub fn ews_allow_list_instructions(&self, client_id: Option<ClientId>) -> Option<String> {
        self.ews_allow_list_instructions_on(client_id, time::OffsetDateTime::now_utc().date())
    }

    /// The day EWS is switched off in Exchange Online, and the allow-list can no longer change.
    pub const EWS_OFF: time::Date = time::macros::date!(2027 - 04 - 01);

    /// [`ews_allow_list_instructions`](Self::ews_allow_list_instructions) as of `today`: from
    /// [`EWS_OFF`](Self::EWS_OFF) on, the text says that EWS is off in Exchange Online and points
    /// at the product's move to Microsoft Graph's mailbox API (a profile file), with no script.
    pub fn ews_allow_list_instructions_on(
        &self,
        client_id: Option<ClientId>,
        today: time::Date,
    ) -> Option<String> {
        let script = self.ews_allow_list_script(client_id)?;
        if today >= Self::EWS_OFF {
            return Some(
                "full_access_as_app is the Exchange Web Services (EWS) permission, and EWS is off in \
                 Exchange Online since 1 April 2027: the permission grants nothing usable there, and \
                 the tenant's EWS allow-list can no longer be changed. A product for Exchange Online \
                 needs Microsoft Graph's mailbox API instead: describe its permissions in a profile \
                 file (appreg --profile-file; examples/profiles/graph-mailbox.json has the mailbox \
                 API's application permissions) and register with it. Exchange Server on premises \
                 is not affected."
                    .to_owned(),
            );
        }
        Some(format!(
            "full_access_as_app is the Exchange Web Services (EWS) permission. Since 1 October 2026 \
             Exchange Online lets an app use EWS only when the organization's EwsEnabled is $true and \
             the app's client id is on EwsAllowedAppIDs; EwsEnabled $false blocks EWS for every app \
             (tenants left unset were switched to $false). Until this is done the product's EWS calls \
             fail even though the registration succeeded. Run this in Exchange Online PowerShell \
             (Connect-ExchangeOnline). It reads the allow-list with \
             -RetrieveEwsOperationAccessPolicy (without it Get-OrganizationConfig shows the list \
             empty even when one is enforced, and writing back what it shows would remove every app \
             already allowed), keeps every id already on it, and adds this app only if it is \
             missing. A change can take up to 24 hours to apply. On 1 April 2027 Microsoft switches \
             EWS off in Exchange Online: the product needs its Microsoft Graph replacement by then.\n\n{script}"
        ))
    }

    /// The PowerShell snippet that puts the app on the tenant's EWS allow-list without losing
    /// the apps already on it (`None` for a profile without EWS). `EwsAllowedAppIDs` is one
    /// comma-separated string that `Set-OrganizationConfig` replaces whole, and only
    /// `Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy` shows it
    /// (<https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-control-access-to-ews-in-exchange>,
    /// <https://learn.microsoft.com/powershell/module/exchange/set-organizationconfig>, and the
    /// EWS escalation engineer's
    /// <https://github.com/David-Barrett-MS/PowerShell-EWS-Scripts/wiki/Testing-EWS-App-Access>).
    /// The snippet reads it that way, splits it on commas, trims and de-duplicates the ids,
    /// appends the client id only when it is missing, and writes the joined string back; it
    /// warns, without changing it, when `EwsEnabled` is not `$true`.
    pub fn ews_allow_list_script(&self, client_id: Option<ClientId>) -> Option<String> {
        if !self.uses_exchange_web_services() {
            return None;
        }
        let id =
            client_id.map_or_else(|| "<Application (client) ID>".to_owned(), |c| c.to_string());
        Some(EWS_ALLOW_LIST_SCRIPT.replace("{id}", &id))
    }
}

/// See [`PermissionProfile::ews_allow_list_script`]; `{id}` is the client id.
const EWS_ALLOW_LIST_SCRIPT: &str = r#"$appId = '{id}'
if ($appId -notmatch '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$') { throw 'Set $appId to the app''s Application (client) ID first.' }
$policy = Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy
$ids = @()
foreach ($one in ((@($policy.EwsAllowedAppIDs) -join ',') -split ',')) { $one = $one.Trim(); if ($one -and $ids -notcontains $one) { $ids += $one } }
if ($ids -notcontains $appId) { Set-OrganizationConfig -EwsAllowedAppIDs (($ids + $appId) -join ',') } else { Write-Host "$appId is already on the EWS allow-list." }
if ($policy.EwsEnabled -ne $true) { Write-Warning 'EwsEnabled is not $true, so EWS is blocked for every app. To let the apps on the allow-list use it: Set-OrganizationConfig -EwsEnabled $true' }"#;

impl fmt::Display for PermissionProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PermissionProfile {
    type Err = Error;

    /// Parses `Backup-Exchange`, `Backup-SharePoint`, `Migration-Source`, `Migration-Target`,
    /// case-insensitively (`backup-exchange`, `BACKUP_EXCHANGE` and `BackupExchange` too).
    fn from_str(s: &str) -> Result<Self, Error> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        match norm.as_str() {
            "backupexchange" => Ok(PermissionProfile::BackupExchange),
            "backupsharepoint" => Ok(PermissionProfile::BackupSharePoint),
            "migrationsource" => Ok(PermissionProfile::MigrationSource),
            "migrationtarget" => Ok(PermissionProfile::MigrationTarget {
                create_mailboxes: false,
            }),
            _ => Err(Error::invalid_input(
                "profile",
                format!(
                    "{} is not a profile; valid profiles are {}",
                    quote_for_error(s),
                    Self::NAMES.join(", ")
                ),
            )),
        }
    }
}

impl Serialize for PermissionProfile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn from_the_day_ews_is_off_the_warning_points_at_graphs_mailbox_api() {
        let p = PermissionProfile::BackupExchange;
        let before = p
            .ews_allow_list_instructions_on(None, time::macros::date!(2027 - 03 - 31))
            .unwrap();
        assert!(before.contains("-RetrieveEwsOperationAccessPolicy"));
        let after = p
            .ews_allow_list_instructions_on(None, PermissionProfile::EWS_OFF)
            .unwrap();
        assert!(after.contains("EWS is off in Exchange Online since 1 April 2027"));
        assert!(after.contains("--profile-file") && after.contains("graph-mailbox.json"));
        assert!(!after.contains("Set-OrganizationConfig"));
        assert!(
            PermissionProfile::BackupSharePoint
                .ews_allow_list_instructions_on(None, PermissionProfile::EWS_OFF)
                .is_some()
        );
    }

    #[test]
    fn the_ews_script_reads_the_whole_list_and_adds_the_app_only_when_missing() {
        let id: ClientId = "743d1e4d-c84e-42a0-ae27-39754f7a9144".parse().unwrap();
        let script = PermissionProfile::BackupExchange
            .ews_allow_list_script(Some(id))
            .unwrap();
        let read = script
            .find("Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy")
            .unwrap();
        let write = script
            .find("Set-OrganizationConfig -EwsAllowedAppIDs")
            .unwrap();
        assert!(read < write, "{script}");
        assert!(script.contains(&format!("$appId = '{id}'")));
        // Written only under the check that the id is missing, from the trimmed, de-duplicated
        // list plus the id.
        assert!(script.contains(
            "if ($ids -notcontains $appId) { Set-OrganizationConfig -EwsAllowedAppIDs (($ids + $appId) -join ',') }"
        ));
        assert!(script.contains("$one = $one.Trim(); if ($one -and $ids -notcontains $one)"));
        assert!(!script.contains("Format-List"));
        // EwsEnabled is mentioned, never changed behind the admin's back.
        assert!(!script.contains("{ Set-OrganizationConfig -EwsEnabled"));
        assert!(script.contains("Set-OrganizationConfig -EwsEnabled $true"));
        // Only profiles with full_access_as_app get it.
        for p in PermissionProfile::built_in() {
            assert_eq!(
                p.ews_allow_list_script(Some(id)).is_some(),
                p.uses_exchange_web_services()
            );
        }
    }

    use super::*;

    fn values(p: &PermissionProfile) -> Vec<(String, String)> {
        p.permissions()
            .into_iter()
            .map(|p| (p.resource, p.value))
            .collect()
    }

    #[test]
    fn profiles_match_the_vendor_manual() {
        let x = "Office 365 Exchange Online".to_string();
        let g = "Microsoft Graph".to_string();
        let s = "Office 365 SharePoint Online".to_string();
        let pair = |r: &String, v: &str| (r.clone(), v.to_string());
        assert_eq!(
            values(&PermissionProfile::BackupExchange),
            vec![
                pair(&x, "full_access_as_app"),
                pair(&g, "Directory.Read.All"),
                pair(&g, "Group.Read.All"),
                pair(&g, "MailboxSettings.ReadWrite"),
                pair(&g, "User.Read.All")
            ]
        );
        assert_eq!(
            values(&PermissionProfile::BackupSharePoint),
            vec![
                pair(&x, "full_access_as_app"),
                pair(&g, "Directory.Read.All"),
                pair(&g, "Group.Read.All"),
                pair(&g, "User.Read.All"),
                pair(&s, "Sites.FullControl.All"),
                pair(&s, "User.Read.All")
            ]
        );
        assert_eq!(
            values(&PermissionProfile::MigrationSource),
            vec![
                pair(&x, "full_access_as_app"),
                pair(&g, "Directory.Read.All"),
                pair(&g, "MailboxSettings.ReadWrite"),
                pair(&g, "User.Read.All")
            ]
        );
        let target = PermissionProfile::MigrationTarget {
            create_mailboxes: false,
        };
        assert_eq!(values(&target), values(&PermissionProfile::MigrationSource));
        let creating = target.with_mailbox_creation(true).unwrap();
        let extra: Vec<_> = values(&creating).into_iter().skip(4).collect();
        assert_eq!(
            extra,
            vec![
                pair(&g, "Device.ReadWrite.All"),
                pair(&g, "Directory.ReadWrite.All"),
                pair(&g, "User.ReadWrite.All")
            ]
        );
    }

    #[test]
    fn names_round_trip_case_insensitively() {
        for &name in PermissionProfile::NAMES {
            let p: PermissionProfile = name.parse().unwrap();
            assert_eq!(p.to_string(), name);
            assert_eq!(name.to_lowercase().parse::<PermissionProfile>().unwrap(), p);
            assert_eq!(
                name.to_uppercase()
                    .replace('-', "_")
                    .parse::<PermissionProfile>()
                    .unwrap(),
                p
            );
        }
        let err = "backup-teams".parse::<PermissionProfile>().unwrap_err();
        assert!(err.is_invalid_input());
        for name in PermissionProfile::NAMES {
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn sharepoint_backup_refuses_a_secret_with_the_reason() {
        let p = PermissionProfile::BackupSharePoint;
        let err = p.check_credential(CredentialKind::Secret).unwrap_err();
        assert!(
            err.to_string()
                .contains("SharePoint Online accepts only certificates"),
            "{err}"
        );
        assert!(p.check_credential(CredentialKind::Certificate).is_ok());
        assert!(
            PermissionProfile::BackupExchange
                .check_credential(CredentialKind::Secret)
                .is_ok()
        );
    }

    #[test]
    fn mailbox_creation_is_only_for_migration_target() {
        assert!(
            PermissionProfile::BackupExchange
                .with_mailbox_creation(true)
                .is_err()
        );
        assert!(
            PermissionProfile::BackupExchange
                .with_mailbox_creation(false)
                .is_ok()
        );
    }

    #[test]
    fn custom_profiles_use_the_catalog_and_reject_unknown_values() {
        let c = CustomProfile::from_pairs(
            "Reader",
            [
                (MICROSOFT_GRAPH.app_id, "User.Read.All"),
                (SHAREPOINT_ONLINE.app_id, "Sites.FullControl.All"),
                (MICROSOFT_GRAPH.app_id, "User.Read.All"),
            ],
        )
        .unwrap();
        let p = PermissionProfile::Custom(c);
        assert_eq!(p.permissions().len(), 2);
        assert!(!p.allows(CredentialKind::Secret));
        let err =
            CustomProfile::from_pairs("x", [(MICROSOFT_GRAPH.app_id, "User.Read.Al")]).unwrap_err();
        assert!(err.to_string().contains("User.Read.All"), "{err}");
        assert!(
            Permission::with_role_id(
                MICROSOFT_GRAPH.app_id,
                "bad value",
                AppRoleId::from_uuid(uuid::Uuid::nil())
            )
            .is_err()
        );
    }
}
