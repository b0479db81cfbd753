//! `/servicePrincipals`: create, upsert, list, read, update, delete; grants are in `grants`.

use serde_json::{Map, Value, json};

use super::dispatch::{Caller, GraphReq, method_not_allowed, object_key, segment_not_found};
use super::odata::{
    EntitySet, Filterable, context, list_reply, parse_select, project, query_option,
};
use super::reply::Reply;
use super::seed::MICROSOFT_TENANT;
use super::state::{Entry, Key, Lookup, Obj, State, eq_ci, is_guid, new_guid, str_field};

/// The declared properties of `microsoft.graph.servicePrincipal` (Graph v1.0 metadata).
pub(crate) const SP_PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "accountEnabled",
    "addIns",
    "alternativeNames",
    "appDescription",
    "appDisplayName",
    "appId",
    "applicationTemplateId",
    "appOwnerOrganizationId",
    "appRoleAssignmentRequired",
    "appRoles",
    "createdByAppId",
    "customSecurityAttributes",
    "description",
    "disabledByMicrosoftStatus",
    "displayName",
    "homepage",
    "info",
    "isDisabled",
    "keyCredentials",
    "loginUrl",
    "logoutUrl",
    "notes",
    "notificationEmailAddresses",
    "oauth2PermissionScopes",
    "passwordCredentials",
    "preferredSingleSignOnMode",
    "preferredTokenSigningKeyThumbprint",
    "replyUrls",
    "resourceSpecificApplicationPermissions",
    "samlSingleSignOnSettings",
    "servicePrincipalNames",
    "servicePrincipalType",
    "signInAudience",
    "tags",
    "tokenEncryptionKeyId",
    "verifiedPublisher",
];

const READ_ONLY: &[&str] = &[
    "id",
    "deletedDateTime",
    "appId",
    "appDisplayName",
    "appOwnerOrganizationId",
    "applicationTemplateId",
    "createdByAppId",
    "servicePrincipalType",
    "signInAudience",
    "disabledByMicrosoftStatus",
    "verifiedPublisher",
];

/// What Microsoft's servicePrincipal resource page documents as filterable, with its operators.
const FILTERABLE: &[Filterable] = &[
    ("appId", &["eq", "ne", "in", "startsWith"]),
    ("id", &["eq", "ne", "in"]),
    ("displayName", &["eq", "ne", "in", "startsWith"]),
    ("servicePrincipalType", &["eq", "ne"]),
];

/// Routes `/servicePrincipals...`.
pub(crate) fn route(
    state: &mut State,
    req: &GraphReq,
    caller: &Caller,
    key: Option<(String, String)>,
    rest: &[String],
) -> Reply {
    let (key, used) = match object_key(key, rest, &["appId"]) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return match req.method.as_str() {
                "GET" => list(state, req),
                "POST" => create(state, req, caller),
                _ => method_not_allowed(),
            };
        }
        Err(r) => return r,
    };
    let method = req.method.as_str();
    match &rest[used..] {
        [] => match method {
            "GET" => get(state, req, &key),
            "PATCH" => patch(state, req, caller, &key),
            "DELETE" => delete(state, &key),
            _ => method_not_allowed(),
        },
        [nav, tail @ ..] => {
            let to = if nav.eq_ignore_ascii_case("appRoleAssignedTo") {
                true
            } else if nav.eq_ignore_ascii_case("appRoleAssignments") {
                false
            } else {
                return segment_not_found(nav);
            };
            match (tail, method) {
                ([], "GET") => super::grants::list(state, req, &key, to),
                ([], "POST") => super::grants::create(state, req, caller, &key, to),
                ([id], "DELETE") => super::grants::delete(state, &key, id, to),
                ([], _) | ([_], _) => method_not_allowed(),
                ([_, next, ..], _) => segment_not_found(next),
            }
        }
    }
}

impl State {
    /// A service principal with Graph's defaults.
    pub(crate) fn sp_template(&self, id: &str, app_id: &str, display_name: &str) -> Obj {
        let v = json!({
            "id": id, "deletedDateTime": null, "accountEnabled": true, "alternativeNames": [],
            "appDescription": null, "appDisplayName": display_name, "appId": app_id,
            "applicationTemplateId": null, "appOwnerOrganizationId": self.tenant_id.to_string(),
            "appRoleAssignmentRequired": false, "description": null, "displayName": display_name,
            "homepage": null, "loginUrl": null, "logoutUrl": null, "notes": null,
            "notificationEmailAddresses": [], "replyUrls": [], "servicePrincipalNames": [app_id],
            "servicePrincipalType": "Application", "signInAudience": "AzureADMyOrg", "tags": [],
            "tokenEncryptionKeyId": null, "appRoles": [], "keyCredentials": [],
            "oauth2PermissionScopes": [], "passwordCredentials": [],
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// A first-party resource's service principal, from its seed.
    pub(crate) fn sp_from_first_party(&self, seed: &Obj, keep_id: bool) -> Obj {
        let id = if keep_id {
            str_field(seed, "id").to_owned()
        } else {
            new_guid()
        };
        let mut sp = self.sp_template(
            &id,
            str_field(seed, "appId"),
            str_field(seed, "displayName"),
        );
        sp.insert("appOwnerOrganizationId".into(), json!(MICROSOFT_TENANT));
        sp.insert("signInAudience".into(), json!("AzureADMultipleOrgs"));
        sp.insert(
            "appRoles".into(),
            seed.get("appRoles").cloned().unwrap_or(json!([])),
        );
        sp
    }

    /// The service principal of one of the tenant's applications.
    fn sp_for_app(&self, app: &Obj) -> Obj {
        let name = str_field(app, "displayName");
        let mut sp = self.sp_template(&new_guid(), str_field(app, "appId"), name);
        if let Some(aud) = app.get("signInAudience") {
            sp.insert("signInAudience".into(), aud.clone());
        }
        if let Some(roles) = app.get("appRoles") {
            sp.insert("appRoles".into(), roles.clone());
        }
        sp
    }

    /// A new service principal for `app_id`, ignoring replication lag (for seeding).
    pub(crate) fn new_service_principal(&self, app_id: &str) -> Option<Obj> {
        if let Some(i) = self.app_index(&Key::AppId(app_id.to_owned())) {
            return Some(self.sp_for_app(&self.apps[i].json));
        }
        self.first_party_seed(app_id)
            .map(|seed| self.sp_from_first_party(seed, false))
    }
}

fn no_backing_application(app_id: &str) -> Reply {
    Reply::bad_request(format!(
        "The appId '{app_id}' of the service principal does not reference a valid application object."
    ))
}

/// The answer to a caller holding only `Application.ReadWrite.OwnedBy` that creates a service
/// principal for an app which is not in the tenant: one that has not replicated yet (Terraform
/// azuread retries it, in `internal/services/serviceprincipals/service_principal_resource.go`,
/// only for the app it just created), or a first-party app, whose backing application is
/// Microsoft's.
fn owned_by_backing_application() -> Reply {
    Reply::error(
        403,
        "Authorization_RequestDenied",
        "When using this permission, the backing application of the service principal being created must in the local tenant",
    )
}

fn already_exists(app_id: &str) -> Reply {
    Reply::error(
        409,
        "Request_MultipleObjectsWithSameKeyValue",
        format!(
            "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
        ),
    )
}

/// Creates the service principal for `app_id` as a request would (using up the app's lag).
fn create_for(state: &mut State, caller: &Caller, app_id: &str) -> Result<Obj, Reply> {
    if state.sp_index(&Key::AppId(app_id.to_owned())).is_some() {
        return Err(already_exists(app_id));
    }
    match state.find_app(&Key::AppId(app_id.to_owned())) {
        Lookup::Found(i) => Ok(state.sp_for_app(&state.apps[i].json)),
        Lookup::Lagging
            if matches!(caller, Caller::App { .. })
                && !caller.app_has_any(&["Application.ReadWrite.All"]) =>
        {
            Err(owned_by_backing_application())
        }
        Lookup::Lagging => Err(no_backing_application(app_id)),
        // A first-party app lives in Microsoft's tenant: `Application.ReadWrite.OwnedBy` never
        // creates its service principal. The answer is modelled on the 403's own words ("the
        // backing application ... must in the local tenant"); no trace of it for a Microsoft
        // resource was seen, and the crate does not rely on its wording: any failure there is
        // final.
        Lookup::Missing
            if matches!(caller, Caller::App { .. })
                && !caller.app_has_any(&["Application.ReadWrite.All"]) =>
        {
            Err(owned_by_backing_application())
        }
        Lookup::Missing => state
            .first_party_seed(app_id)
            .map(|seed| state.sp_from_first_party(seed, false))
            .ok_or_else(|| no_backing_application(app_id)),
    }
}

fn apply_fields(sp: &mut Obj, body: &Obj) -> Result<(), Reply> {
    for (k, v) in body {
        if k.starts_with('@') || k.contains("@odata.") {
            continue;
        }
        let Some(prop) = SP_PROPS.iter().find(|p| p.eq_ignore_ascii_case(k)) else {
            return Err(Reply::bad_request(format!(
                "Property '{k}' does not exist as a declared property or extension property."
            )));
        };
        if READ_ONLY.contains(prop) {
            let same = match (sp.get(*prop), v) {
                (Some(Value::String(a)), Value::String(b)) => eq_ci(a, b),
                (Some(a), b) => a == b,
                (None, b) => b.is_null(),
            };
            if !same {
                return Err(Reply::bad_request(format!(
                    "Property '{prop}' is read-only and cannot be set."
                )));
            }
            continue;
        }
        if *prop == "passwordCredentials" && !v.is_null() {
            return Err(Reply::bad_request(
                "New password credentials must be generated using service actions.",
            ));
        }
        sp.insert((*prop).to_owned(), v.clone());
    }
    Ok(())
}

fn entity(state: &State, sp: &Obj, select: Option<&[String]>) -> Value {
    let mut out = project(sp, select);
    out.insert(
        "@odata.context".into(),
        context(&state.base_uri, "servicePrincipals", select, "/$entity"),
    );
    Value::Object(out)
}

fn create(state: &mut State, req: &GraphReq, caller: &Caller) -> Reply {
    let body = match req.json_object() {
        Ok(b) => b.clone(),
        Err(r) => return r,
    };
    let app_id = match body.get("appId").and_then(Value::as_str) {
        Some(a) if is_guid(a) => a.to_ascii_lowercase(),
        Some(a) => return no_backing_application(a),
        None => return Reply::bad_request("Property 'appId' is required."),
    };
    let mut sp = match create_for(state, caller, &app_id) {
        Ok(sp) => sp,
        Err(r) => return r,
    };
    if let Err(r) = apply_fields(&mut sp, &body) {
        return r;
    }
    let reply = Reply::json(201, entity(state, &sp, None));
    let lag = state.new_object_lag();
    state.sps.push(Entry { json: sp, lag });
    reply
}

fn select_of(req: &GraphReq) -> Result<Option<Vec<String>>, Reply> {
    query_option(&req.query, "select")
        .map(|s| parse_select(s, SP_PROPS, "microsoft.graph.servicePrincipal"))
        .transpose()
}

fn list(state: &mut State, req: &GraphReq) -> Reply {
    let select = match select_of(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let set = EntitySet {
        set: "servicePrincipals",
        type_name: "ServicePrincipal",
        filterable: FILTERABLE,
    };
    list_reply(
        &state.base_uri,
        &mut state.sps,
        req,
        select,
        &set,
        Obj::clone,
    )
}

fn get(state: &mut State, req: &GraphReq, key: &Key) -> Reply {
    let select = match select_of(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state.find_sp(key).found() {
        Some(i) => Reply::json(200, entity(state, &state.sps[i].json, select.as_deref())),
        None => Reply::not_found(&key.display()),
    }
}

fn patch(state: &mut State, req: &GraphReq, caller: &Caller, key: &Key) -> Reply {
    let body = match req.json_object() {
        Ok(b) => b.clone(),
        Err(r) => return r,
    };
    let upsert = matches!(key, Key::AppId(_)) && req.prefers("create-if-missing");
    match state.find_sp(key) {
        Lookup::Found(i) => {
            let mut sp = state.sps[i].json.clone();
            if let Err(r) = apply_fields(&mut sp, &body) {
                return r;
            }
            state.sps[i].json = sp;
            Reply::no_content()
        }
        Lookup::Lagging if upsert => already_exists(&key.display()),
        Lookup::Missing if upsert => {
            let mut sp = match create_for(state, caller, &key.display().to_ascii_lowercase()) {
                Ok(sp) => sp,
                Err(r) => return r,
            };
            if let Err(r) = apply_fields(&mut sp, &body) {
                return r;
            }
            let reply = Reply::json(201, entity(state, &sp, None))
                .with_header("Preference-Applied", "create-if-missing");
            let lag = state.new_object_lag();
            state.sps.push(Entry { json: sp, lag });
            reply
        }
        Lookup::Lagging | Lookup::Missing => Reply::not_found(&key.display()),
    }
}

fn delete(state: &mut State, key: &Key) -> Reply {
    match state.find_sp(key).found() {
        Some(i) => {
            let app_id = str_field(&state.sps[i].json, "appId").to_owned();
            state.remove_sp_by_app_id(&app_id);
            Reply::no_content()
        }
        None => Reply::not_found(&key.display()),
    }
}
