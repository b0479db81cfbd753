//! App role assignments: `/servicePrincipals/{id}/appRoleAssignedTo` (grants of a resource)
//! and `/servicePrincipals/{id}/appRoleAssignments` (grants held by a principal).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::dispatch::{Caller, GraphReq};
use super::odata::{filter_error, parse_filter, project, query_option};
use super::reply::Reply;
use super::seed::GRAPH_APP_ID;
use super::state::{Key, Lookup, Obj, State, fmt_datetime, is_guid, now, random_bytes, str_field};

const FILTERABLE: &[&str] = &["principalId", "resourceId", "appRoleId"];
const PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "appRoleId",
    "createdDateTime",
    "principalDisplayName",
    "principalId",
    "principalType",
    "resourceDisplayName",
    "resourceId",
];

fn nav(to: bool) -> &'static str {
    if to {
        "appRoleAssignedTo"
    } else {
        "appRoleAssignments"
    }
}

impl State {
    /// A new assignment object. Its id is, as in Graph, base64url of the principal's GUID bytes
    /// followed by 16 more bytes (43 characters).
    pub(crate) fn assignment_object(&self, principal: &str, resource: &str, role: &str) -> Obj {
        let name_of = |id: &str| {
            self.sp_index(&Key::Id(id.to_owned()))
                .map(|i| {
                    self.sps[i]
                        .json
                        .get("displayName")
                        .cloned()
                        .unwrap_or(Value::Null)
                })
                .unwrap_or(Value::Null)
        };
        let mut id_bytes = uuid::Uuid::parse_str(principal)
            .map(|u| u.to_bytes_le().to_vec())
            .unwrap_or_else(|_| random_bytes(16));
        id_bytes.extend(random_bytes(16));
        let v = json!({
            "id": URL_SAFE_NO_PAD.encode(id_bytes),
            "deletedDateTime": null,
            "appRoleId": role.to_ascii_lowercase(),
            "createdDateTime": fmt_datetime(now()),
            "principalDisplayName": name_of(principal),
            "principalId": principal.to_ascii_lowercase(),
            "principalType": "ServicePrincipal",
            "resourceDisplayName": name_of(resource),
            "resourceId": resource.to_ascii_lowercase(),
        });
        match v {
            Value::Object(m) => m,
            _ => Obj::new(),
        }
    }
}

/// `GET .../appRoleAssignedTo` (`to`) or `GET .../appRoleAssignments`.
pub(crate) fn list(state: &mut State, req: &GraphReq, key: &Key, to: bool) -> Reply {
    let Some(i) = state.find_sp(key).found() else {
        return Reply::not_found(&key.display());
    };
    let select = match query_option(&req.query, "select")
        .map(|s| super::odata::parse_select(s, PROPS, "microsoft.graph.appRoleAssignment"))
        .transpose()
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let filter = match query_option(&req.query, "filter").map(|f| parse_filter(f, FILTERABLE)) {
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => return filter_error(e, "AppRoleAssignment"),
        None => None,
    };
    let sp_id = str_field(&state.sps[i].json, "id").to_owned();
    let field = if to { "resourceId" } else { "principalId" };
    let value: Vec<Value> = state
        .assignments
        .iter()
        .filter(|a| str_field(a, field) == sp_id)
        .filter(|a| filter.as_ref().is_none_or(|f| f.matches(a)))
        .map(|a| Value::Object(project(a, select.as_deref())))
        .collect();
    let sel = select
        .map(|s| format!("({})", s.join(",")))
        .unwrap_or_default();
    Reply::json(
        200,
        json!({
            "@odata.context": format!(
                "{}/v1.0/$metadata#servicePrincipals('{sp_id}')/{}{sel}", state.base_uri, nav(to)
            ),
            "value": value,
        }),
    )
}

/// `POST .../appRoleAssignedTo` (`to`) or `POST .../appRoleAssignments`.
pub(crate) fn create(
    state: &mut State,
    req: &GraphReq,
    caller: &Caller,
    key: &Key,
    to: bool,
) -> Reply {
    let body = match req.json_object() {
        Ok(b) => b.clone(),
        Err(r) => return r,
    };
    let mut ids = Vec::new();
    for name in ["principalId", "resourceId", "appRoleId"] {
        match body.get(name).and_then(Value::as_str) {
            Some(v) if is_guid(v) => ids.push(v.to_ascii_lowercase()),
            _ => {
                return Reply::bad_request(format!(
                    "Invalid value specified for property '{name}' of resource 'AppRoleAssignment'."
                ));
            }
        }
    }
    let (principal_id, resource_id, role_id) = (&ids[0], &ids[1], &ids[2]);
    let path_i = match state.find_sp(key) {
        Lookup::Found(i) => i,
        Lookup::Lagging => return state.grant_lag_reply(&key.display()),
        Lookup::Missing => return Reply::not_found(&key.display()),
    };
    let path_id = str_field(&state.sps[path_i].json, "id").to_owned();
    let (body_side, body_id) = if to {
        ("resourceId", resource_id)
    } else {
        ("principalId", principal_id)
    };
    if &path_id != body_id {
        return Reply::bad_request(format!(
            "The {body_side} '{body_id}' in the request body does not match the service principal '{path_id}' in the request URL."
        ));
    }
    let other = if to { principal_id } else { resource_id };
    match state.find_sp(&Key::Id(other.clone())) {
        Lookup::Found(_) => {}
        Lookup::Lagging => return state.grant_lag_reply(other),
        Lookup::Missing => return Reply::not_found(other),
    }
    let Some(resource_i) = state.sp_index(&Key::Id(resource_id.clone())) else {
        return Reply::not_found(resource_id);
    };
    let resource = &state.sps[resource_i].json;
    let resource_app_id = str_field(resource, "appId").to_owned();
    let allowed = match caller {
        Caller::Admin { .. } => {
            state.knobs.caller_role.may_grant_graph_roles()
                || !resource_app_id.eq_ignore_ascii_case(GRAPH_APP_ID)
        }
        Caller::App { .. } => caller.app_has_any(&["AppRoleAssignment.ReadWrite.All"]),
    };
    if !allowed {
        return Reply::forbidden();
    }
    let role_ok = resource
        .get("appRoles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .any(|r| {
            str_field(r, "id").eq_ignore_ascii_case(role_id)
                && r.get("isEnabled").and_then(Value::as_bool).unwrap_or(false)
                && r.get("allowedMemberTypes")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|t| t == "Application"))
        });
    if !role_ok {
        return Reply::bad_request(format!(
            "Permission being assigned was not found on application '{resource_app_id}'."
        ));
    }
    let duplicate = state.assignments.iter().any(|a| {
        str_field(a, "principalId") == principal_id
            && str_field(a, "resourceId") == resource_id
            && str_field(a, "appRoleId") == role_id
    });
    if duplicate {
        return Reply::bad_request("Permission being assigned already exists on the object.");
    }
    let obj = state.assignment_object(principal_id, resource_id, role_id);
    state.note_for_sign_in(format!("grant:{}", str_field(&obj, "id")));
    state.assignments.push(obj.clone());
    let mut out = obj;
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#servicePrincipals('{path_id}')/{}/$entity",
            state.base_uri,
            nav(to)
        )),
    );
    Reply::json(201, Value::Object(out))
}

/// `DELETE .../appRoleAssignedTo/{id}` or `DELETE .../appRoleAssignments/{id}`.
pub(crate) fn delete(state: &mut State, key: &Key, id: &str, to: bool) -> Reply {
    let Some(i) = state.find_sp(key).found() else {
        return Reply::not_found(&key.display());
    };
    let sp_id = str_field(&state.sps[i].json, "id").to_owned();
    let field = if to { "resourceId" } else { "principalId" };
    let before = state.assignments.len();
    state
        .assignments
        .retain(|a| !(str_field(a, "id") == id && str_field(a, field) == sp_id));
    if state.assignments.len() == before {
        Reply::not_found(id)
    } else {
        Reply::no_content()
    }
}

/// The `roles` claim of an app token for a resource: values of the app roles granted to the
/// app's service principal on that resource.
pub(crate) fn granted_role_values(
    state: &mut State,
    principal_id: &str,
    resource_app_id: &str,
) -> Vec<String> {
    let Some(ri) = state.sp_index(&Key::AppId(resource_app_id.to_owned())) else {
        return Vec::new();
    };
    let resource = state.sps[ri].json.clone();
    let resource_id = str_field(&resource, "id").to_owned();
    let roles = resource.get("appRoles").and_then(Value::as_array);
    let granted: Vec<(String, String)> = state
        .assignments
        .iter()
        .filter(|a| {
            str_field(a, "principalId") == principal_id && str_field(a, "resourceId") == resource_id
        })
        .map(|a| {
            (
                str_field(a, "id").to_owned(),
                str_field(a, "appRoleId").to_owned(),
            )
        })
        .collect();
    granted
        .into_iter()
        // A grant made seconds ago is not in tokens yet.
        .filter(|(id, _)| !state.sign_in_pending(&format!("grant:{id}")))
        .filter_map(|(_, role_id)| {
            roles?
                .iter()
                .filter_map(Value::as_object)
                .find(|r| str_field(r, "id") == role_id)
                .map(|r| str_field(r, "value").to_owned())
        })
        .collect()
}
