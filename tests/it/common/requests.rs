//! Graph requests the tests send themselves, as an admin or another tool would: written here
//! from Microsoft's reference, not taken from the crate, whose request builders are internal.

use entra_appreg::graph::GraphRequest;
use entra_appreg::graph::models::AppRoleAssignment;
use entra_appreg::{ClientId, ObjectId, UniqueName};

/// `POST /applications/{id}/addPassword`, marked non-idempotent as the crate marks its own.
pub fn add_password(
    id: ObjectId,
    display_name: &str,
    end: time::OffsetDateTime,
) -> entra_appreg::Result<GraphRequest> {
    let end = end
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    GraphRequest::post(
        format!("/applications/{id}/addPassword"),
        &serde_json::json!({"passwordCredential": {"displayName": display_name, "endDateTime": end}}),
    )
    .map(GraphRequest::non_idempotent)
}

/// `GET /applications(uniqueName='…')`: the app by its alternate key.
pub fn application_by_unique_name(name: &UniqueName) -> GraphRequest {
    GraphRequest::get(format!("/applications(uniqueName='{}')", name.as_str()))
}

/// `GET /applications/{id}?$select=id,keyCredentials`: the read that returns each `key`.
pub fn application_key_credentials(id: ObjectId) -> GraphRequest {
    GraphRequest::get(format!("/applications/{id}")).query("$select", "id,keyCredentials")
}

/// `GET /servicePrincipals?$filter=appId in (…)`.
pub fn service_principals_by_app_ids(app_ids: &[ClientId]) -> GraphRequest {
    let list: Vec<String> = app_ids.iter().map(|a| format!("'{a}'")).collect();
    GraphRequest::get("/servicePrincipals")
        .query("$filter", &format!("appId in ({})", list.join(",")))
        .query("$select", "id,appId,displayName,appRoles")
}

/// `GET /servicePrincipals/{principal}/appRoleAssignments`: the grants an app holds.
pub fn app_role_assignments(principal: ObjectId) -> GraphRequest {
    GraphRequest::get(format!("/servicePrincipals/{principal}/appRoleAssignments"))
}

/// `DELETE /servicePrincipals/{principal}/appRoleAssignments/{id}`: revokes one grant, as an
/// admin would in the portal.
pub fn revoke_app_role(
    principal: ObjectId,
    assignment: &AppRoleAssignment,
) -> Option<GraphRequest> {
    assignment.id.as_ref().map(|id| {
        GraphRequest::delete(format!(
            "/servicePrincipals/{principal}/appRoleAssignments/{id}"
        ))
    })
}
