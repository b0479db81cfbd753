//! Ready-made [`GraphRequest`]s for the calls the crate makes (GRAPH.md §3).
//!
//! Higher layers build requests here instead of writing URLs, so every path, filter and
//! header lives in one place and can ride alone or inside a `$batch`.

use time::OffsetDateTime;

use super::GraphRequest;
use super::models::{AppRoleAssignment, Application};
use super::request::encode_path_literal;
use crate::error::Result;
use crate::ids::{AppRoleId, ClientId, ObjectId, UniqueName};

/// The application properties read when looking an app up.
pub const APPLICATION_SELECT: &str = "id,appId,displayName,uniqueName,signInAudience,requiredResourceAccess,keyCredentials,passwordCredentials";

/// `GET /applications?$filter=uniqueName eq '…'`: an empty collection when there is none.
pub fn find_application_by_unique_name(name: &UniqueName) -> GraphRequest {
    GraphRequest::get("/applications")
        .query(
            "$filter",
            &format!("uniqueName eq {}", name.odata_literal()),
        )
        .query("$select", APPLICATION_SELECT)
}

/// `GET /applications?$filter=appId eq '…'`.
pub fn find_application_by_app_id(app_id: ClientId) -> GraphRequest {
    GraphRequest::get("/applications")
        .query("$filter", &format!("appId eq '{app_id}'"))
        .query("$select", APPLICATION_SELECT)
}

/// `PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`: 201 with the app
/// when it was created, 204 without a body when it existed and was updated.
pub fn upsert_application(name: &UniqueName, app: &Application) -> Result<GraphRequest> {
    Ok(GraphRequest::patch(
        format!(
            "/applications(uniqueName={})",
            encode_path_literal(&name.odata_literal())
        ),
        app,
    )?
    .header("Prefer", "create-if-missing"))
}

/// `PATCH /applications/{id}`: collections in the body replace the app's whole collection.
pub fn update_application(id: ObjectId, app: &Application) -> Result<GraphRequest> {
    GraphRequest::patch(format!("/applications/{id}"), app)
}

/// `GET /applications/{id}?$select=keyCredentials`: the only read that returns each `key`.
pub fn application_key_credentials(id: ObjectId) -> GraphRequest {
    GraphRequest::get(format!("/applications/{id}")).query("$select", "id,keyCredentials")
}

/// `DELETE /applications/{id}` (soft delete for 30 days; its service principal goes too).
pub fn delete_application(id: ObjectId) -> GraphRequest {
    GraphRequest::delete(format!("/applications/{id}"))
}

/// `POST /applications/{id}/addPassword`, marked
/// [non-idempotent](GraphRequest::non_idempotent): each time Graph carries it out it makes
/// another secret, so it is never sent twice blindly.
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
pub fn remove_password(id: ObjectId, key_id: uuid::Uuid) -> Result<GraphRequest> {
    GraphRequest::post(
        format!("/applications/{id}/removePassword"),
        &serde_json::json!({ "keyId": key_id }),
    )
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

/// `POST /servicePrincipals {appId}`: 409 if one exists.
pub fn create_service_principal(app_id: ClientId) -> Result<GraphRequest> {
    GraphRequest::post(
        "/servicePrincipals",
        &serde_json::json!({ "appId": app_id }),
    )
}

/// `POST /servicePrincipals/{resource}/appRoleAssignedTo`: grants one app role (admin consent).
pub fn grant_app_role(
    resource: ObjectId,
    principal: ObjectId,
    role: AppRoleId,
) -> Result<GraphRequest> {
    GraphRequest::post(
        format!("/servicePrincipals/{resource}/appRoleAssignedTo"),
        &serde_json::json!({"principalId": principal, "resourceId": resource, "appRoleId": role}),
    )
}

/// `GET /servicePrincipals/{principal}/appRoleAssignments`: the grants an app holds.
pub fn app_role_assignments(principal: ObjectId) -> GraphRequest {
    GraphRequest::get(format!("/servicePrincipals/{principal}/appRoleAssignments"))
}

/// `DELETE /servicePrincipals/{principal}/appRoleAssignments/{id}`: revokes one grant.
pub fn revoke_app_role(
    principal: ObjectId,
    assignment: &AppRoleAssignment,
) -> Option<GraphRequest> {
    assignment.id.as_ref().map(|id| {
        GraphRequest::delete(format!(
            "/servicePrincipals/{principal}/appRoleAssignments/{}",
            encode_path_literal(id)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_name_with_quote_is_escaped_in_filter_and_key() {
        let n = UniqueName::new("o'brien & co").unwrap();
        assert_eq!(
            find_application_by_unique_name(&n)
                .path()
                .split('&')
                .next()
                .unwrap(),
            "/applications?$filter=uniqueName%20eq%20'o''brien%20%26%20co'"
        );
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
