//! Ready-made [`GraphRequest`]s for the calls the crate makes
//! ([Microsoft Graph v1.0 API reference](https://learn.microsoft.com/graph/api/overview)).
//!
//! Higher layers build requests here instead of writing URLs, so every path, filter and
//! header lives in one place and can ride alone or inside a `$batch`. The crate sends **only**
//! these request forms, each documented by Microsoft (Graph v1.0); the table of these forms,
//! with their Microsoft references, is in the [`graph`](super) module docs.

use time::OffsetDateTime;

use super::GraphRequest;
use super::models::Application;
use super::request::encode_path_literal;
use crate::error::Result;
use crate::ids::{AppRoleId, ClientId, ObjectId, UniqueName};

/// The application properties read when looking an app up.
pub const APPLICATION_SELECT: &str =
    "id,appId,displayName,uniqueName,signInAudience,requiredResourceAccess,passwordCredentials";

/// [`APPLICATION_SELECT`] and `keyCredentials`, read only when a certificate is added: Graph
/// throttles reads that select `keyCredentials` harder, to 150 per minute per tenant
/// (<https://learn.microsoft.com/graph/api/application-get>).
pub const APPLICATION_SELECT_WITH_KEYS: &str = "id,appId,displayName,uniqueName,signInAudience,requiredResourceAccess,passwordCredentials,keyCredentials";

fn application_select(keys: bool) -> &'static str {
    if keys {
        APPLICATION_SELECT_WITH_KEYS
    } else {
        APPLICATION_SELECT
    }
}

/// `GET /applications(uniqueName='…')?$select=…`: the app by its alternate key, **404** when
/// there is none. Graph documents no `$filter` on `uniqueName`, so this is the only way to find
/// an app by its unique name
/// (the key of [Upsert application](https://learn.microsoft.com/graph/api/application-upsert);
/// PowerShell's `Get-MgApplicationByUniqueName` sends this read). Works inside `$batch`.
pub fn application_by_unique_name(name: &UniqueName, keys: bool) -> GraphRequest {
    GraphRequest::get(format!(
        "/applications(uniqueName={})",
        encode_path_literal(&name.odata_literal())
    ))
    .query("$select", application_select(keys))
}

/// `GET /applications?$filter=appId eq '…'`.
pub fn find_application_by_app_id(app_id: ClientId, keys: bool) -> GraphRequest {
    GraphRequest::get("/applications")
        .query("$filter", &format!("appId eq '{app_id}'"))
        .query("$select", application_select(keys))
}

/// `PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`: 201 with the app
/// when it was created, 204 without a body when it existed and was updated. Marked
/// [idempotent](GraphRequest::idempotent): a second upsert finds the app the first one made
/// and sets the same values on it.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) when the app cannot be serialised to JSON.
pub fn upsert_application(name: &UniqueName, app: &Application) -> Result<GraphRequest> {
    Ok(GraphRequest::patch(
        format!(
            "/applications(uniqueName={})",
            encode_path_literal(&name.odata_literal())
        ),
        app,
    )?
    .header("Prefer", "create-if-missing")
    .idempotent())
}

/// `PATCH /applications/{id}`: collections in the body replace the app's whole collection.
/// Marked [idempotent](GraphRequest::idempotent): it sets the values given, so carrying it out
/// twice leaves the app as once.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) when the app cannot be serialised to JSON.
pub fn update_application(id: ObjectId, app: &Application) -> Result<GraphRequest> {
    Ok(GraphRequest::patch(format!("/applications/{id}"), app)?.idempotent())
}

/// `GET /applications/{id}?$select=keyCredentials`: the only read that returns each `key`.
pub fn application_key_credentials(id: ObjectId) -> GraphRequest {
    GraphRequest::get(format!("/applications/{id}")).query("$select", "id,keyCredentials")
}

/// `GET /applications/{id}?$select=id,passwordCredentials`: the app's secrets (never their
/// values).
pub fn application_password_credentials(id: ObjectId) -> GraphRequest {
    GraphRequest::get(format!("/applications/{id}"))
        .query("$select", "id,appId,uniqueName,passwordCredentials")
}

/// `DELETE /applications/{id}` (soft delete for 30 days; its service principal goes too).
pub fn delete_application(id: ObjectId) -> GraphRequest {
    GraphRequest::delete(format!("/applications/{id}"))
}

/// `POST /applications/{id}/addPassword`, marked
/// [non-idempotent](GraphRequest::non_idempotent): each time Graph carries it out it makes
/// another secret, so it is never sent twice blindly.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) when `end` cannot be written as an RFC 3339
/// date.
pub fn add_password(id: ObjectId, display_name: &str, end: OffsetDateTime) -> Result<GraphRequest> {
    let end = end
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| crate::Error::invalid_input("end date", e.to_string()))?;
    GraphRequest::post(
        format!("/applications/{id}/addPassword"),
        &serde_json::json!({"passwordCredential": {"displayName": display_name, "endDateTime": end}}),
    )
    .map(GraphRequest::non_idempotent)
}

/// `POST /applications/{id}/removePassword`.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) when the body cannot be serialised (it
/// always can).
pub fn remove_password(id: ObjectId, key_id: crate::ids::KeyId) -> Result<GraphRequest> {
    // Sent twice, the second finds the key gone (400), which the callers check with a read.
    GraphRequest::post(
        format!("/applications/{id}/removePassword"),
        &serde_json::json!({ "keyId": key_id }),
    )
    .map(GraphRequest::idempotent)
}

/// `GET /servicePrincipals?$filter=appId in (…)&$select=id,appId,displayName,appRoles`: the
/// resource service principals in one request, never by paging through all of them.
pub fn service_principals_by_app_ids(app_ids: &[ClientId]) -> GraphRequest {
    let list = app_ids
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(",");
    GraphRequest::get("/servicePrincipals")
        .query("$filter", &format!("appId in ({list})"))
        .query("$select", "id,appId,displayName,appRoles")
}

/// `GET /servicePrincipals?$filter=appId eq '…'&$select=id,appId,displayName`: an app's own
/// service principal (an empty collection when it has none).
pub fn service_principal_by_app_id(app_id: ClientId) -> GraphRequest {
    GraphRequest::get("/servicePrincipals")
        .query("$filter", &format!("appId eq '{app_id}'"))
        .query("$select", "id,appId,displayName")
}

/// `POST /servicePrincipals {appId}`: 409 if one exists.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) when the body cannot be serialised (it
/// always can).
pub fn create_service_principal(app_id: ClientId) -> Result<GraphRequest> {
    // Sent twice, the second is refused with 409, which the callers read as "it exists".
    GraphRequest::post(
        "/servicePrincipals",
        &serde_json::json!({ "appId": app_id }),
    )
    .map(GraphRequest::idempotent)
}

/// `POST /servicePrincipals/{resource}/appRoleAssignedTo`: grants one app role (admin consent).
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) when the body cannot be serialised (it
/// always can).
pub fn grant_app_role(
    resource: ObjectId,
    principal: ObjectId,
    role: AppRoleId,
) -> Result<GraphRequest> {
    // Sent twice, the second is refused as a duplicate, which the callers confirm with a read.
    GraphRequest::post(
        format!("/servicePrincipals/{resource}/appRoleAssignedTo"),
        &serde_json::json!({"principalId": principal, "resourceId": resource, "appRoleId": role}),
    )
    .map(GraphRequest::idempotent)
}

/// `GET /servicePrincipals/{principal}/appRoleAssignments`: the grants an app holds.
pub fn app_role_assignments(principal: ObjectId) -> GraphRequest {
    GraphRequest::get(format!("/servicePrincipals/{principal}/appRoleAssignments"))
}

/// `GET /servicePrincipals(appId='…')/appRoleAssignments`: the grants an app holds, by its
/// client id (alternate key), so they can be read in the same round trip as its service
/// principal; 404 when the app has no service principal.
pub fn app_role_assignments_by_app_id(app_id: ClientId) -> GraphRequest {
    GraphRequest::get(format!(
        "/servicePrincipals(appId='{app_id}')/appRoleAssignments"
    ))
}

/// `DELETE /servicePrincipals/{principal}/appRoleAssignments/{id}`: revokes one grant
/// ([Delete appRoleAssignment](https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignments)).
pub fn delete_app_role_assignment(principal: ObjectId, assignment_id: &str) -> GraphRequest {
    GraphRequest::delete(format!(
        "/servicePrincipals/{principal}/appRoleAssignments/{}",
        encode_path_literal(assignment_id)
    ))
}

/// `GET /organization?$select=id,verifiedDomains`: the tenant's domains; the initial one
/// (`isInitial`, `<name>.onmicrosoft.com`) names its SharePoint host.
pub fn organization_domains() -> GraphRequest {
    GraphRequest::get("/organization").query("$select", "id,verifiedDomains")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crates_patches_say_they_are_safe_to_send_twice() {
        // A PATCH is not idempotent by default; these set values, so they opt in and a 503
        // of them is retried.
        let app = Application::default();
        let n = UniqueName::new("contoso-backup").unwrap();
        assert!(upsert_application(&n, &app).unwrap().is_idempotent());
        let id: ObjectId = "0b0b0b0b-0000-4000-8000-000000000001".parse().unwrap();
        assert!(update_application(id, &app).unwrap().is_idempotent());
        assert!(
            !GraphRequest::patch("/applications/x", &app)
                .unwrap()
                .is_idempotent()
        );
    }

    #[test]
    fn unique_name_with_quote_is_escaped_in_the_alternate_key() {
        let n = UniqueName::new("o'brien & co").unwrap();
        let read = application_by_unique_name(&n, false);
        assert_eq!(
            read.path().split('?').next().unwrap(),
            "/applications(uniqueName='o''brien%20%26%20co')"
        );
        assert!(!read.path().contains("$filter"));
        let r = upsert_application(&n, &Application::default()).unwrap();
        assert_eq!(r.path(), "/applications(uniqueName='o''brien%20%26%20co')");
        assert!(
            r.headers()
                .iter()
                .any(|(k, v)| k == "Prefer" && v == "create-if-missing")
        );
    }

    #[test]
    fn resource_lookup_is_one_in_filter() {
        let ids = [
            "00000003-0000-0000-c000-000000000000".parse().unwrap(),
            "00000002-0000-0ff1-ce00-000000000000".parse().unwrap(),
        ];
        let r = service_principals_by_app_ids(&ids);
        assert!(r.path().contains(
            "appId%20in%20('00000003-0000-0000-c000-000000000000','00000002-0000-0ff1-ce00-000000000000')"
        ));
    }
}
