//! A product's own permissions, as a JSON profile file, and permissions named by value that the
//! tenant resolves.
//!
//! ```json
//! {"name": "Contoso Mail Backup",
//!  "permissions": [{"resource": "Microsoft Graph", "value": "MailboxItem.ImportExport.All"},
//!                  {"resource": "00000003-0000-0000-c000-000000000000", "value": "User.Read.All"}],
//!  "credentials": ["certificate", "secret"]}
//! ```
//!
//! `resource` is the display name of a well-known resource (`Microsoft Graph`, `Office 365
//! Exchange Online`, `Office 365 SharePoint Online`) or any resource's appId. `credentials` is
//! optional: both by default, a certificate only when a SharePoint Online permission is present
//! (SharePoint's app-only access accepts no secret).
//!
//! A permission of a profile file carries no role id: before anything is written, the
//! registration looks its value up in the tenant's service principal of the resource (an
//! enabled app role that applications may hold), in the same read as the rest. A value the
//! resource does not offer (a typo, or a cloud without that API) is refused then, with no write.

use std::path::Path;

use serde::Deserialize;

use super::catalog;
use super::{CustomProfile, Permission, PermissionProfile};
use crate::credentials::CredentialKind;
use crate::error::Error;
use crate::graph::models::ServicePrincipal;
use crate::ids::{AppRoleId, ClientId, quote_for_error};

/// The most a profile file may hold.
pub const MAX_PROFILE_FILE_BYTES: u64 = 1024 * 1024;

/// A profile file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    permissions: Vec<FilePermission>,
    #[serde(default)]
    credentials: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePermission {
    resource: String,
    value: String,
}

impl Permission {
    /// The role id of a permission named only by value, until the tenant resolves it (the nil
    /// GUID). See [`Permission::by_value`].
    pub const UNRESOLVED: AppRoleId = AppRoleId::from_uuid(uuid::Uuid::nil());

    /// A permission named by its resource and value only: its role id is looked up in the
    /// tenant's service principal of the resource before anything is written (until then it is
    /// [`UNRESOLVED`](Self::UNRESOLVED)).
    ///
    /// # Errors
    ///
    /// As [`with_role_id`](Self::with_role_id) for a value that is not a permission name.
    pub fn by_value(resource_app_id: ClientId, value: &str) -> Result<Self, Error> {
        Self::with_role_id(resource_app_id, value, Self::UNRESOLVED)
    }

    /// Whether the role id is known (from the catalog, the caller, or the tenant).
    pub fn is_resolved(&self) -> bool {
        self.role_id != Self::UNRESOLVED
    }

    /// Parses `RESOURCE:VALUE` (`Microsoft Graph:Mail.Read`, or the resource's appId before the
    /// colon), as `appreg --add-permission` and `--revoke` take it. The value is resolved by the
    /// tenant.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] without a colon, for a resource that is neither a well-known name
    /// nor a GUID, or a value that is not a permission name.
    pub fn parse_resource_value(text: &str) -> Result<Self, Error> {
        let Some((resource, value)) = text.rsplit_once(':') else {
            return Err(Error::invalid_input(
                "permission",
                format!(
                    "{} is not RESOURCE:VALUE (such as \"Microsoft Graph:Mail.Read\")",
                    quote_for_error(text)
                ),
            ));
        };
        Self::by_value(resource_app_id(resource)?, value.trim())
    }
}

/// The appId of a resource named by a well-known display name (any case) or by its appId.
fn resource_app_id(name: &str) -> Result<ClientId, Error> {
    let name = name.trim();
    if let Some(r) = catalog::RESOURCES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
    {
        return Ok(r.app_id);
    }
    name.parse::<ClientId>().map_err(|_| {
        let known: Vec<&str> = catalog::RESOURCES.iter().map(|r| r.name).collect();
        Error::invalid_input(
            "resource",
            format!(
                "{} is not a known resource: name one of {} or give the resource's appId",
                quote_for_error(name),
                known.join(", ")
            ),
        )
    })
}

impl CustomProfile {
    /// A profile from the JSON of a profile file (see [profile files](crate::profile#profile-files)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for JSON that does not parse (with its line and column, never its
    /// content), an unknown field, an unknown resource name, a value that is not a permission
    /// name, no permission, an unknown credential kind, or a secret with SharePoint Online.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let file: ProfileFile = serde_json::from_str(text).map_err(|e| {
            Error::invalid_input(
                "profile file",
                format!(
                    "not a profile: {}{}",
                    crate::redact::json_error_position(&e),
                    if e.is_data() {
                        " (a field is missing, unknown or of the wrong type)"
                    } else {
                        ""
                    }
                ),
            )
        })?;
        let permissions = file
            .permissions
            .iter()
            .map(|p| Permission::by_value(resource_app_id(&p.resource)?, p.value.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut profile = CustomProfile::new(file.name, permissions)?;
        if let Some(kinds) = file.credentials {
            let kinds = kinds
                .iter()
                .map(|k| match k.trim().to_ascii_lowercase().as_str() {
                    "certificate" => Ok(CredentialKind::Certificate),
                    "secret" => Ok(CredentialKind::Secret),
                    _ => Err(Error::invalid_input(
                        "profile file",
                        format!(
                            "credential {} is neither \"certificate\" nor \"secret\"",
                            quote_for_error(k)
                        ),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if kinds.is_empty() {
                return Err(Error::invalid_input(
                    "profile file",
                    "credentials, when given, names at least one of \"certificate\" and \"secret\"",
                ));
            }
            if kinds.contains(&CredentialKind::Secret) && !profile.allows_secret() {
                return Err(Error::invalid_input(
                    "profile file",
                    "a secret is asked for with a SharePoint Online permission: SharePoint Online accepts only certificates for app-only access. Remove \"secret\" from credentials.",
                ));
            }
            profile = profile.allow_only(&kinds);
        }
        Ok(profile)
    }

    /// A profile from a profile file on disk (at most [`MAX_PROFILE_FILE_BYTES`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read; otherwise as [`from_json`](Self::from_json),
    /// with the file's path in the message.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        use std::io::Read as _;
        let file = std::fs::File::open(path)
            .map_err(|e| Error::io("reading the profile file", path, e))?;
        let mut text = String::new();
        file.take(MAX_PROFILE_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::io("reading the profile file", path, e))?;
        if text.len() as u64 > MAX_PROFILE_FILE_BYTES {
            return Err(Error::invalid_input(
                "profile file",
                format!("{} is larger than 1 MiB", path.display()),
            ));
        }
        Self::from_json(&text).map_err(|e| match e {
            Error::InvalidInput { what, reason } => Error::InvalidInput {
                what,
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    fn allows_secret(&self) -> bool {
        self.credentials.contains(&CredentialKind::Secret)
    }
}

impl<'de> Deserialize<'de> for CustomProfile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        CustomProfile::from_json(&value.to_string()).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for PermissionProfile {
    /// A profile file's JSON, as a [`PermissionProfile::Custom`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        CustomProfile::deserialize(d).map(PermissionProfile::Custom)
    }
}

impl PermissionProfile {
    /// This profile with more permissions, named by value and resolved by the tenant (as
    /// `appreg --add-permission`): a [`PermissionProfile::Custom`] named after this one, that
    /// allows the credentials this one allows (a certificate only, once SharePoint is in).
    ///
    /// # Errors
    ///
    /// As [`CustomProfile::new`].
    pub fn with_added_permissions(
        self,
        added: impl IntoIterator<Item = Permission>,
    ) -> Result<PermissionProfile, Error> {
        let added: Vec<Permission> = added.into_iter().collect();
        if added.is_empty() {
            return Ok(self);
        }
        let names: Vec<&str> = added.iter().map(|p| p.value.as_str()).collect();
        let name = format!("{} + {}", self.name(), names.join(", "));
        let allowed = self.allowed_credentials();
        let mut permissions = self.permissions();
        permissions.extend(added.iter().cloned());
        Ok(PermissionProfile::Custom(
            CustomProfile::new(name, permissions)?.allow_only(&allowed),
        ))
    }
}

/// Each permission named by value, with its role id from the tenant's service principal of its
/// resource (`resources`): an enabled app role applications may hold. A resource the tenant
/// has no service principal for yet takes the catalog's id, when the catalog knows the value.
///
/// # Errors
///
/// [`Error::RoleMismatch`] for a value the resource does not offer as an application
/// permission; [`Error::Precondition`] for a resource without a service principal whose value
/// the catalog does not know. Both are found by reading, before anything is written.
pub(crate) fn resolve_by_value(
    permissions: Vec<Permission>,
    resources: &[ServicePrincipal],
) -> Result<Vec<Permission>, Error> {
    permissions
        .into_iter()
        .map(|mut p| {
            if p.is_resolved() {
                return Ok(p);
            }
            let Some(sp) = resources
                .iter()
                .find(|sp| sp.app_id == Some(p.resource_app_id))
            else {
                return match catalog::by_value(p.resource_app_id, &p.value) {
                    Some(known) => {
                        p.role_id = known.id;
                        Ok(p)
                    }
                    // Found by reading the tenant: not input refused before any request.
                    None => Err(Error::precondition(
                        "permission",
                        format!(
                            "{} on {}: this tenant has no service principal of the resource, so its permissions cannot be looked up. Check the resource's appId; a resource from another publisher must be added to the tenant first. Nothing was changed.",
                            quote_for_error(&p.value),
                            p.resource
                        ),
                    )),
                };
            };
            let roles = sp.app_roles.as_deref().unwrap_or_default();
            let found = roles
                .iter()
                .find(|r| r.value.as_deref() == Some(p.value.as_str()))
                .or_else(|| {
                    roles.iter().find(|r| {
                        r.value
                            .as_deref()
                            .is_some_and(|v| v.eq_ignore_ascii_case(&p.value))
                    })
                });
            match found {
                Some(role) if role.is_enabled && role.grantable_to_applications() => {
                    p.role_id = role.id;
                    if let Some(v) = &role.value {
                        p.value.clone_from(v);
                    }
                    Ok(p)
                }
                Some(role) => Err(Error::RoleMismatch {
                    resource: format!("{} ({})", p.resource, p.resource_app_id),
                    value: quote_for_error(&p.value),
                    role_id: role.id.to_string(),
                    reason: "it is not an application permission this tenant can grant (disabled, or for users only). Nothing was changed.".into(),
                }),
                None => Err(Error::RoleMismatch {
                    resource: format!("{} ({})", p.resource, p.resource_app_id),
                    value: quote_for_error(&p.value),
                    role_id: "looked up by value".into(),
                    reason: format!(
                        "{} does not offer it in this tenant: check the spelling, and that the API exists in this cloud. Nothing was changed.",
                        p.resource
                    ),
                }),
            }
        })
        .collect()
}
