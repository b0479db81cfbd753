//! `/applications`: create, list, read, update, upsert, delete, restore.

use serde_json::{Map, Value, json};

use super::dispatch::{GraphReq, method_not_allowed, object_key, segment_not_found};
use super::odata::{
    EntitySet, Filterable, context, list_reply, parse_select, project, query_option,
};
use super::reply::Reply;
use super::state::{Entry, Key, Lookup, Obj, State, eq_ci, fmt_datetime, new_guid, now, str_field};

/// The declared properties of `microsoft.graph.application` (Graph v1.0 metadata).
pub(crate) const APP_PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "addIns",
    "api",
    "appId",
    "applicationTemplateId",
    "appRoles",
    "authenticationBehaviors",
    "certification",
    "createdByAppId",
    "createdDateTime",
    "defaultRedirectUri",
    "description",
    "disabledByMicrosoftStatus",
    "displayName",
    "groupMembershipClaims",
    "identifierUris",
    "info",
    "isDeviceOnlyAuthSupported",
    "isDisabled",
    "isFallbackPublicClient",
    "keyCredentials",
    "logo",
    "managerApplications",
    "nativeAuthenticationApisEnabled",
    "notes",
    "oauth2RequirePostResponse",
    "optionalClaims",
    "parentalControlSettings",
    "passwordCredentials",
    "publicClient",
    "publisherDomain",
    "requestSignatureVerification",
    "requiredResourceAccess",
    "samlMetadataUrl",
    "serviceManagementReference",
    "servicePrincipalLockConfiguration",
    "signInAudience",
    "spa",
    "tags",
    "tokenEncryptionKeyId",
    "uniqueName",
    "verifiedPublisher",
    "web",
];

/// Properties the server owns: a body may repeat their current value, nothing else.
const READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "deletedDateTime",
    "publisherDomain",
    "applicationTemplateId",
    "disabledByMicrosoftStatus",
    "createdByAppId",
    "certification",
    "verifiedPublisher",
    "uniqueName",
];

/// What Microsoft's application resource page documents as filterable, with its operators.
/// `uniqueName` has no `$filter` note: filtering on it is refused, as Graph refuses it.
const FILTERABLE: &[Filterable] = &[
    ("appId", &["eq"]),
    ("id", &["eq", "ne", "in"]),
    ("displayName", &["eq", "ne", "in", "startsWith"]),
    ("signInAudience", &["eq", "ne"]),
    ("publisherDomain", &["eq", "ne", "startsWith"]),
];

const AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

/// Routes `/applications...`.
pub(crate) fn route(
    state: &mut State,
    req: &GraphReq,
    key: Option<(String, String)>,
    rest: &[String],
) -> Reply {
    let (key, used) = match object_key(key, rest, &["appId", "uniqueName"]) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return match req.method.as_str() {
                "GET" => list(state, req),
                "POST" => create(state, req),
                _ => method_not_allowed(),
            };
        }
        Err(r) => return r,
    };
    match (&rest[used..], req.method.as_str()) {
        ([], "GET") => get(state, req, &key),
        ([], "PATCH") => patch(state, req, &key),
        ([], "DELETE") => delete(state, &key),
        ([], _) => method_not_allowed(),
        ([action], method) => {
            let action = action.strip_prefix("microsoft.graph.").unwrap_or(action);
            let known = ["addPassword", "removePassword", "addKey", "removeKey"]
                .into_iter()
                .find(|a| a.eq_ignore_ascii_case(action));
            match (known, method) {
                (Some(a), "POST") => super::credentials::action(state, req, &key, a),
                (Some(_), _) => method_not_allowed(),
                (None, _) => segment_not_found(action),
            }
        }
        ([_, next, ..], _) => segment_not_found(next),
    }
}

/// Routes `/directory/deletedItems/{id}/restore`.
pub(crate) fn route_directory(state: &mut State, req: &GraphReq, rest: &[String]) -> Reply {
    match rest {
        [items, id, action]
            if items.eq_ignore_ascii_case("deletedItems")
                && action
                    .trim_start_matches("microsoft.graph.")
                    .eq_ignore_ascii_case("restore") =>
        {
            if req.method != "POST" {
                return method_not_allowed();
            }
            if !super::state::is_guid(id) {
                return Reply::invalid_id(id);
            }
            restore(state, id)
        }
        [] => segment_not_found("directory"),
        [other, ..] => segment_not_found(other),
    }
}

impl State {
    /// A new application object with Graph's defaults.
    pub(crate) fn application_template(&self, id: &str, app_id: &str) -> Obj {
        let v = json!({
            "id": id, "deletedDateTime": null, "appId": app_id, "applicationTemplateId": null,
            "disabledByMicrosoftStatus": null, "createdDateTime": fmt_datetime(now()),
            "displayName": null, "description": null, "groupMembershipClaims": null,
            "identifierUris": [], "isDeviceOnlyAuthSupported": null, "isFallbackPublicClient": null,
            "notes": null, "publisherDomain": self.tenant_domain,
            "serviceManagementReference": null,
            "signInAudience": "AzureADandPersonalMicrosoftAccount", "tags": [],
            "tokenEncryptionKeyId": null, "uniqueName": null,
            "api": {"acceptMappedClaims": null, "knownClientApplications": [],
                    "requestedAccessTokenVersion": null, "oauth2PermissionScopes": [],
                    "preAuthorizedApplications": []},
            "appRoles": [],
            "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null,
                     "supportUrl": null, "termsOfServiceUrl": null},
            "keyCredentials": [], "passwordCredentials": [], "publicClient": {"redirectUris": []},
            "requiredResourceAccess": [],
            "web": {"homePageUrl": null, "logoutUrl": null, "redirectUris": [],
                    "implicitGrantSettings": {"enableAccessTokenIssuance": false,
                                              "enableIdTokenIssuance": false}},
            "spa": {"redirectUris": []}
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// An application as a read returns it: `key` is null in every key credential unless asked for.
pub(crate) fn render(obj: &Obj, include_key: bool) -> Obj {
    let mut out = obj.clone();
    if !include_key && let Some(Value::Array(keys)) = out.get_mut("keyCredentials") {
        for k in keys.iter_mut().filter_map(Value::as_object_mut) {
            k.insert("key".into(), Value::Null);
        }
    }
    out
}

fn select_of(req: &GraphReq) -> Result<Option<Vec<String>>, Reply> {
    query_option(&req.query, "select")
        .map(|s| parse_select(s, APP_PROPS, "microsoft.graph.application"))
        .transpose()
}

fn entity(state: &State, obj: &Obj, select: Option<&[String]>, include_key: bool) -> Value {
    let mut out = project(&render(obj, include_key), select);
    out.insert(
        "@odata.context".into(),
        context(&state.base_uri, "applications", select, "/$entity"),
    );
    Value::Object(out)
}

fn list(state: &mut State, req: &GraphReq) -> Reply {
    let select = match select_of(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let set = EntitySet {
        set: "applications",
        type_name: "Application",
        filterable: FILTERABLE,
    };
    list_reply(&state.base_uri, &mut state.apps, req, select, &set, |o| {
        render(o, false)
    })
}

fn get(state: &mut State, req: &GraphReq, key: &Key) -> Reply {
    let select = match select_of(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(i) = state.find_app(key).found() else {
        return Reply::not_found(&key.display());
    };
    // `key` is documented only for `GET /applications/{id}?$select=keyCredentials` (the
    // keyCredential resource page); an alternate-key read returns it as null.
    let include_key = matches!(key, Key::Id(_))
        && select
            .as_ref()
            .is_some_and(|s| s.iter().any(|p| p == "keyCredentials"));
    Reply::json(
        200,
        entity(state, &state.apps[i].json, select.as_deref(), include_key),
    )
}

fn create(state: &mut State, req: &GraphReq) -> Reply {
    let body = match req.json_object() {
        Ok(b) => b.clone(),
        Err(r) => return r,
    };
    if body
        .get("displayName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Reply::bad_request(
            "Property 'displayName' is required and must be a non-empty string.",
        );
    }
    let mut obj = state.application_template(&new_guid(), &new_guid());
    if let Err(r) = apply_fields(&mut obj, &body, true) {
        return r;
    }
    let reply = Reply::json(201, entity(state, &obj, None, false));
    let lag = state.new_object_lag();
    note_new_keys(state, &Obj::new(), &obj);
    state.apps.push(Entry { json: obj, lag });
    reply
}

fn patch(state: &mut State, req: &GraphReq, key: &Key) -> Reply {
    let body = match req.json_object() {
        Ok(b) => b.clone(),
        Err(r) => return r,
    };
    let upsert = matches!(key, Key::UniqueName(_)) && req.prefers("create-if-missing");
    let lookup = match state.find_app(key) {
        // Upsert documents only 201, 204 and 404: an app that exists is updated (204), whether
        // or not a plain read would see it yet.
        Lookup::Lagging if upsert => state.app_index(key).map_or(Lookup::Missing, Lookup::Found),
        other => other,
    };
    match lookup {
        Lookup::Found(i) => {
            let mut obj = state.apps[i].json.clone();
            if let Err(r) = apply_fields(&mut obj, &body, false) {
                return r;
            }
            let before = std::mem::replace(&mut state.apps[i].json, obj.clone());
            note_new_keys(state, &before, &obj);
            Reply::no_content()
        }
        Lookup::Missing if upsert => {
            if body
                .get("displayName")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Reply::bad_request(
                    "Property 'displayName' is required when the application is created.",
                );
            }
            let mut obj = state.application_template(&new_guid(), &new_guid());
            obj.insert("uniqueName".into(), Value::String(key.display()));
            if let Err(r) = apply_fields(&mut obj, &body, true) {
                return r;
            }
            let reply = Reply::json(201, entity(state, &obj, None, false))
                .with_header("Preference-Applied", "create-if-missing");
            let lag = state.new_object_lag();
            note_new_keys(state, &Obj::new(), &obj);
            state.apps.push(Entry { json: obj, lag });
            reply
        }
        Lookup::Lagging | Lookup::Missing => Reply::not_found(&key.display()),
    }
}

/// Makes the certificates `after` holds and `before` did not unseen by the token endpoint for
/// the sign-in lag.
fn note_new_keys(state: &mut State, before: &Obj, after: &Obj) {
    let ids = |o: &Obj| -> Vec<String> {
        o.get("keyCredentials")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|k| str_field(k, "keyId").to_ascii_lowercase())
            .collect()
    };
    let old = ids(before);
    for id in ids(after).into_iter().filter(|id| !old.contains(id)) {
        state.note_for_sign_in(format!("key:{id}"));
    }
}

/// Validates a create/update body against the application and applies it.
fn apply_fields(obj: &mut Obj, body: &Obj, creating: bool) -> Result<(), Reply> {
    for (k, v) in body {
        if k.starts_with('@') || k.contains("@odata.") {
            continue;
        }
        let Some(prop) = APP_PROPS.iter().find(|p| p.eq_ignore_ascii_case(k)) else {
            if k.starts_with("extension_") {
                obj.insert(k.clone(), v.clone());
                continue;
            }
            return Err(Reply::bad_request(format!(
                "Property '{k}' does not exist as a declared property or extension property."
            )));
        };
        let prop = *prop;
        if READ_ONLY.contains(&prop) {
            let same = match (obj.get(prop), v) {
                (Some(Value::String(a)), Value::String(b)) => eq_ci(a, b),
                (Some(a), b) => a == b,
                (None, b) => b.is_null(),
            };
            // "Can be updated only if null and is immutable once set" (Update application).
            if prop == "uniqueName"
                && !creating
                && obj.get(prop).is_none_or(Value::is_null)
                && v.as_str().is_some_and(|u| !u.trim().is_empty())
            {
                obj.insert(prop.to_owned(), v.clone());
                continue;
            }
            if !same {
                return Err(if prop == "uniqueName" {
                    Reply::bad_request(
                        "Property 'uniqueName' is immutable: it can be set only while it is null, or when the application is created by PATCH /applications(uniqueName='…') with 'Prefer: create-if-missing'.",
                    )
                } else {
                    Reply::bad_request(format!("Property '{prop}' is read-only and cannot be set."))
                });
            }
            continue;
        }
        let value = match prop {
            "passwordCredentials" => {
                let empty = v.is_null() || v.as_array().is_some_and(Vec::is_empty);
                if !(creating && empty) {
                    return Err(Reply::bad_request(
                        "New password credentials must be generated using service actions.",
                    ));
                }
                continue;
            }
            "keyCredentials" => {
                let existing = obj
                    .get("keyCredentials")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                Value::Array(super::credentials::normalize_keys(&existing, v)?)
            }
            "requiredResourceAccess" => validate_rra(v)?,
            "appRoles" => validate_app_roles(v)?,
            "displayName" => match v.as_str() {
                Some(s) if !s.trim().is_empty() => v.clone(),
                _ => return Err(invalid_value("displayName")),
            },
            "signInAudience" => match v.as_str() {
                Some(s) if AUDIENCES.contains(&s) => v.clone(),
                _ => return Err(invalid_value("signInAudience")),
            },
            _ => v.clone(),
        };
        obj.insert(prop.to_owned(), value);
    }
    Ok(())
}

pub(crate) fn invalid_value(prop: &str) -> Reply {
    Reply::bad_request(format!(
        "Invalid value specified for property '{prop}' of resource 'Application'."
    ))
}

fn guid_field(o: &Obj, name: &str) -> bool {
    o.get(name)
        .and_then(Value::as_str)
        .is_some_and(super::state::is_guid)
}

fn validate_rra(v: &Value) -> Result<Value, Reply> {
    let err = || invalid_value("requiredResourceAccess");
    let items = v.as_array().ok_or_else(err)?;
    for item in items {
        let o = item.as_object().ok_or_else(err)?;
        let access = o
            .get("resourceAccess")
            .and_then(Value::as_array)
            .ok_or_else(err)?;
        if !guid_field(o, "resourceAppId") {
            return Err(err());
        }
        for a in access {
            let a = a.as_object().ok_or_else(err)?;
            let kind = a.get("type").and_then(Value::as_str).unwrap_or("");
            if !guid_field(a, "id") || !(kind == "Role" || kind == "Scope") {
                return Err(err());
            }
        }
    }
    Ok(v.clone())
}

fn validate_app_roles(v: &Value) -> Result<Value, Reply> {
    let err = || invalid_value("appRoles");
    let items = v.as_array().ok_or_else(err)?;
    let mut out = Vec::new();
    for item in items {
        let mut o = item.as_object().cloned().ok_or_else(err)?;
        if !guid_field(&o, "id") || !o.get("allowedMemberTypes").is_some_and(Value::is_array) {
            return Err(err());
        }
        o.entry("isEnabled").or_insert(Value::Bool(true));
        o.entry("origin").or_insert(json!("Application"));
        out.push(Value::Object(o));
    }
    Ok(Value::Array(out))
}

fn delete(state: &mut State, key: &Key) -> Reply {
    let Some(i) = state.find_app(key).found() else {
        return Reply::not_found(&key.display());
    };
    let mut app = state.apps.remove(i).json;
    app.insert("deletedDateTime".into(), json!(fmt_datetime(now())));
    let app_id = str_field(&app, "appId").to_owned();
    state.remove_sp_by_app_id(&app_id);
    state.deleted.push(app);
    Reply::no_content()
}

fn restore(state: &mut State, id: &str) -> Reply {
    let Some(i) = state
        .deleted
        .iter()
        .position(|a| str_field(a, "id").eq_ignore_ascii_case(id))
    else {
        return Reply::not_found(id);
    };
    let mut app = state.deleted.remove(i);
    app.insert("deletedDateTime".into(), Value::Null);
    let mut body = render(&app, false);
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#directoryObjects/$entity",
            state.base_uri
        )),
    );
    body.insert("@odata.type".into(), json!("#microsoft.graph.application"));
    state.apps.push(Entry {
        json: app,
        lag: super::state::Lag::NONE,
    });
    Reply::json(200, Value::Object(body))
}
