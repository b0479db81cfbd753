//! Typed Graph v1.0 models for the objects the crate reads and writes.
//!
//! Only the properties the crate uses are modelled; unknown properties in a reply are ignored,
//! and `None` fields are left out of request bodies (Graph treats a present `null` as "clear").

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AppRoleId, ClientId, ObjectId};

/// A page of a Graph collection: `{"value": [...], "@odata.nextLink": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Collection<T> {
    /// The items of this page.
    pub value: Vec<T>,
    /// The URL of the next page, when there is one.
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
}

/// An application object (an app registration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Application {
    /// Object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    /// Application (client) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<ClientId>,
    /// Display name (not unique: never a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The immutable alternate key used for idempotent upsert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// Who may sign in: the crate always uses `AzureADMyOrg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    /// Free-text notes shown in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The declared permissions (replaced whole by a PATCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    /// Certificates (replaced whole by a PATCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<KeyCredential>>,
    /// Client secrets (read-only through the application; added with `addPassword`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credentials: Option<Vec<PasswordCredential>>,
    /// The app roles this application itself exposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<AppRole>>,
    /// When the application was created.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
    /// Its settings as a public client (a desktop app that signs users in): the redirect URIs
    /// a browser sign-in through it may use. The crate never writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<PublicClientApplication>,
}

/// An application's `publicClient` settings (Graph's `publicClientApplication`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PublicClientApplication {
    /// Where the sign-in may send its answer (`http://localhost` for a browser sign-in on the
    /// admin's machine, on any port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
}

/// The permissions an application declares on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequiredResourceAccess {
    /// The resource's appId (for example Microsoft Graph's).
    pub resource_app_id: ClientId,
    /// The permissions on that resource.
    pub resource_access: Vec<ResourceAccess>,
}

impl RequiredResourceAccess {
    /// The permissions `resource_access` on the resource with this appId.
    pub fn new(resource_app_id: ClientId, resource_access: Vec<ResourceAccess>) -> Self {
        Self {
            resource_app_id,
            resource_access,
        }
    }
}

/// One declared permission: an app role (`Role`) or a delegated scope (`Scope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceAccess {
    /// The app role or scope id.
    pub id: AppRoleId,
    /// `Role` for an application permission, `Scope` for a delegated one.
    #[serde(rename = "type")]
    pub kind: String,
}

impl ResourceAccess {
    /// An application permission (app role) with this id.
    pub fn role(id: AppRoleId) -> Self {
        Self {
            id,
            kind: "Role".to_owned(),
        }
    }

    /// A delegated permission (scope) with this id.
    pub fn scope(id: AppRoleId) -> Self {
        Self {
            id,
            kind: "Scope".to_owned(),
        }
    }

    /// Whether this is an application permission.
    pub fn is_role(&self) -> bool {
        self.kind.eq_ignore_ascii_case("Role")
    }
}

/// An app role exposed by a service principal: an application permission others can be granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppRole {
    /// Role id.
    pub id: AppRoleId,
    /// The permission name, such as `User.Read.All`.
    #[serde(default)]
    pub value: Option<String>,
    /// Human-readable name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Longer description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the role may currently be assigned.
    #[serde(default)]
    pub is_enabled: bool,
    /// `Application` and/or `User`.
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
}

impl AppRole {
    /// Whether the role is enabled and may be granted to an application.
    pub fn grantable_to_applications(&self) -> bool {
        self.is_enabled
            && self
                .allowed_member_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case("Application"))
    }
}

/// A service principal: the instance of an application in a tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServicePrincipal {
    /// Object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    /// The appId of the application it instantiates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<ClientId>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The app roles (application permissions) it exposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<AppRole>>,
}

/// A certificate credential of an application.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct KeyCredential {
    /// Credential id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<crate::ids::KeyId>,
    /// Label shown in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `AsymmetricX509Cert` for a certificate.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `Verify` for a certificate used to sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    /// Base64 of the DER certificate (public part only). Graph returns it only when the
    /// application is read with `$select=keyCredentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Base64 of raw bytes (normally SHA-1 of the certificate), never hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
    /// Start of validity.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date_time: Option<OffsetDateTime>,
    /// End of validity.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date_time: Option<OffsetDateTime>,
}

impl std::fmt::Debug for KeyCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCredential")
            .field("key_id", &self.key_id)
            .field("display_name", &self.display_name)
            .field("kind", &self.kind)
            .field("usage", &self.usage)
            .field(
                "key",
                &self
                    .key
                    .as_ref()
                    .map(|k| format!("<{} base64 chars>", k.len())),
            )
            .field("custom_key_identifier", &self.custom_key_identifier)
            .field("start_date_time", &self.start_date_time)
            .field("end_date_time", &self.end_date_time)
            .finish()
    }
}

/// A client secret of an application, as Graph lists it (without the secret text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PasswordCredential {
    /// Credential id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<crate::ids::KeyId>,
    /// Description shown in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The first characters of the secret, as the portal shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Start of validity.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date_time: Option<OffsetDateTime>,
    /// End of validity.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date_time: Option<OffsetDateTime>,
}

/// A grant of an app role to a service principal: admin consent to one application permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppRoleAssignment {
    /// Assignment id (not a GUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The service principal that received the role.
    pub principal_id: ObjectId,
    /// The resource service principal that exposes the role.
    pub resource_id: ObjectId,
    /// The role granted.
    pub app_role_id: AppRoleId,
    /// The resource's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_display_name: Option<String>,
    /// The principal's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_decodes_graph_reply_and_ignores_unknown_fields() {
        let body = r#"{"@odata.context":"x","id":"0d0021e2-eaab-4b9f-a5ad-38c55337d63e",
            "appId":"5f0f8757-988d-474c-9f85-74a6bc70dfd0","displayName":"A","uniqueName":null,
            "createdDateTime":"2025-03-04T09:12:44Z","api":{"x":1},
            "requiredResourceAccess":[{"resourceAppId":"00000003-0000-0000-c000-000000000000",
              "resourceAccess":[{"id":"df021288-bdef-4463-88db-98f22de89214","type":"Role"}]}]}"#;
        let app: Application = serde_json::from_str(body).unwrap();
        assert_eq!(app.display_name.as_deref(), Some("A"));
        assert!(app.unique_name.is_none());
        let rra = app.required_resource_access.unwrap();
        assert!(rra[0].resource_access[0].is_role());
    }

    #[test]
    fn none_fields_are_left_out_of_request_bodies() {
        let app = Application {
            display_name: Some("A".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&app).unwrap(),
            serde_json::json!({"displayName":"A"})
        );
    }

    #[test]
    fn key_credential_debug_hides_the_key_material() {
        let k = KeyCredential {
            key: Some("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".into()),
            ..Default::default()
        };
        assert!(!format!("{k:?}").contains("MIIB"));
    }
}
