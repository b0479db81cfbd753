//! Application credentials: `keyCredentials` validation, `addPassword`, `removePassword`,
//! `addKey`, `removeKey`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::applications::invalid_value;
use super::dispatch::GraphReq;
use super::reply::Reply;
use super::state::{
    Key, Obj, Secret, State, fmt_datetime, is_guid, new_guid, now, parse_datetime, random_string,
    str_field,
};

const KEY_TYPES: &[&str] = &["AsymmetricX509Cert", "X509CertAndPassword", "Symmetric"];

/// Runs a credential action on the application named by `key`.
pub(crate) fn action(state: &mut State, req: &GraphReq, key: &Key, action: &str) -> Reply {
    let body = match req.json_object_or_empty() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(i) = state.find_app(key).found() else {
        return Reply::not_found(&key.display());
    };
    match action {
        "addPassword" => add_password(state, i, &body),
        "removePassword" => remove_credential(state, i, &body, "passwordCredentials", false),
        "addKey" => add_key(state, i, &body),
        _ => remove_credential(state, i, &body, "keyCredentials", true),
    }
}

fn date_field(o: &Obj, name: &str) -> Result<Option<OffsetDateTime>, Reply> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_datetime(s).map(Some).ok_or_else(|| {
            Reply::bad_request(format!("Invalid value specified for property '{name}'."))
        }),
        Some(_) => Err(Reply::bad_request(format!(
            "Invalid value specified for property '{name}'."
        ))),
    }
}

fn add_password(state: &mut State, i: usize, body: &Obj) -> Reply {
    let pc = match body.get("passwordCredential") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return invalid_value("passwordCredential"),
    };
    let now = now();
    let (start, end) = match (
        date_field(&pc, "startDateTime"),
        date_field(&pc, "endDateTime"),
    ) {
        (Ok(s), Ok(e)) => {
            let s = s.unwrap_or(now);
            (
                s,
                e.unwrap_or(s.checked_add(time::Duration::days(365 * 2)).unwrap_or(s)),
            )
        }
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if end <= start {
        return Reply::bad_request("The credential's end date must be after its start date.");
    }
    if let Some(max) = state.knobs.password_lifetime
        && end - now > max
    {
        let policy = format!(
            "Credential lifetime exceeds the max value allowed as per assigned policy '{}'. The maximum lifetime of a password credential in this tenant is {} days.",
            state.policy_id,
            max.whole_days()
        );
        return Reply::error_with_details(
            400,
            "CredentialInvalidLifetimeAsPerAppPolicy",
            &policy,
            json!([{"code": "InvalidKeyEndDate", "message": policy, "target": "EndDate"}]),
        );
    }
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let tail = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-";
    let text = format!(
        "{}{}Q~{}",
        random_string(3, alphabet),
        random_string(1, b"0123456789"),
        random_string(34, tail)
    );
    let key_id = new_guid();
    let display_name = pc.get("displayName").cloned().unwrap_or(Value::Null);
    let mut cred = json!({
        "customKeyIdentifier": null,
        "displayName": display_name,
        "endDateTime": fmt_datetime(end),
        "hint": &text[..3],
        "keyId": key_id,
        "secretText": null,
        "startDateTime": fmt_datetime(start),
    });
    let app = &mut state.apps[i].json;
    let app_object_id = str_field(app, "id").to_owned();
    if let Some(Value::Array(list)) = app.get_mut("passwordCredentials") {
        list.push(cred.clone());
    } else {
        app.insert("passwordCredentials".into(), json!([cred.clone()]));
    }
    let lag = state.new_lag();
    state.note_for_sign_in(format!("secret:{key_id}"));
    state.secrets.push(Secret {
        app_object_id,
        key_id,
        text: text.clone(),
        lag,
    });
    cred["secretText"] = Value::String(text);
    cred["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#microsoft.graph.passwordCredential",
        state.base_uri
    ));
    Reply::json(200, cred)
}

fn remove_credential(
    state: &mut State,
    i: usize,
    body: &Obj,
    list: &str,
    needs_proof: bool,
) -> Reply {
    let key_id = match body.get("keyId").and_then(Value::as_str) {
        Some(k) if is_guid(k) => k.to_owned(),
        _ => return Reply::bad_request("Property 'keyId' is required and must be a GUID."),
    };
    if needs_proof && let Err(r) = check_proof(body) {
        return r;
    }
    let app = &mut state.apps[i].json;
    let app_object_id = str_field(app, "id").to_owned();
    let Some(Value::Array(creds)) = app.get_mut(list) else {
        return no_such_credential(&key_id);
    };
    let before = creds.len();
    creds.retain(|c| {
        !c["keyId"]
            .as_str()
            .is_some_and(|k| k.eq_ignore_ascii_case(&key_id))
    });
    if creds.len() == before {
        return no_such_credential(&key_id);
    }
    state
        .secrets
        .retain(|s| !(s.app_object_id == app_object_id && s.key_id.eq_ignore_ascii_case(&key_id)));
    Reply::no_content()
}

/// The reply to `removePassword`/`removeKey` for a keyId the app does not have.
///
/// An assumption: Microsoft's reference documents no reply for this case (only 204 on
/// success), and nobody has been seen quoting Graph's actual answer. The crate does not rely on
/// it: after a failed removal it reads the app's credentials back and lets their state decide.
fn no_such_credential(key_id: &str) -> Reply {
    Reply::bad_request(format!(
        "No credential with keyId '{key_id}' was found on the application."
    ))
}

/// The proof of `addKey`/`removeKey` must be present and JWT-shaped (its signature is not
/// checked).
fn check_proof(body: &Obj) -> Result<(), Reply> {
    let proof = body.get("proof").and_then(Value::as_str).unwrap_or("");
    let parts: Vec<&str> = proof.split('.').collect();
    let header_ok = parts.len() == 3
        && parts.iter().all(|p| !p.is_empty())
        && URL_SAFE_NO_PAD
            .decode(parts[0])
            .ok()
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .is_some_and(|h| h.is_object());
    if header_ok {
        Ok(())
    } else {
        Err(Reply::bad_request(
            "Property 'proof' is required: a JWT signed by one of the application's existing certificates.",
        ))
    }
}

fn has_valid_certificate(app: &Obj) -> bool {
    let now = now();
    app.get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .any(|k| {
            str_field(k, "type") == "AsymmetricX509Cert"
                && str_field(k, "usage") == "Verify"
                && parse_datetime(str_field(k, "startDateTime")).is_none_or(|s| s <= now)
                && parse_datetime(str_field(k, "endDateTime")).is_none_or(|e| e > now)
        })
}

fn add_key(state: &mut State, i: usize, body: &Obj) -> Reply {
    let app = &state.apps[i].json;
    if !has_valid_certificate(app) {
        return Reply::bad_request(
            "The application has no valid certificate to sign the proof with: addKey cannot add the first key. Set keyCredentials with PATCH /applications/{id} instead.",
        );
    }
    if let Err(r) = check_proof(body) {
        return r;
    }
    let Some(new_key) = body.get("keyCredential").filter(|k| k.is_object()) else {
        return Reply::bad_request("Property 'keyCredential' is required.");
    };
    let existing = app
        .get("keyCredentials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut all = existing.clone();
    all.push(new_key.clone());
    let normalized = match normalize_keys(&existing, &Value::Array(all)) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let mut added = normalized.last().cloned().unwrap_or(Value::Null);
    state.apps[i]
        .json
        .insert("keyCredentials".into(), Value::Array(normalized));
    if let Some(o) = added.as_object_mut() {
        o.insert("key".into(), Value::Null);
        o.insert(
            "@odata.context".into(),
            json!(format!(
                "{}/v1.0/$metadata#microsoft.graph.keyCredential",
                state.base_uri
            )),
        );
    }
    Reply::json(200, added)
}

/// Validates a whole `keyCredentials` collection sent in a body against the stored one:
/// every entry needs its base64 `key` (existing ones too: the collection is replaced whole);
/// entries keep a `keyId` they name, and new ones without one get a fresh `keyId`.
pub(crate) fn normalize_keys(existing: &[Value], sent: &Value) -> Result<Vec<Value>, Reply> {
    let items = sent
        .as_array()
        .ok_or_else(|| invalid_value("keyCredentials"))?;
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let o = item
            .as_object()
            .ok_or_else(|| invalid_value("keyCredentials"))?;
        let kind = str_field(o, "type");
        let usage = str_field(o, "usage");
        if !KEY_TYPES.contains(&kind) {
            return Err(Reply::bad_request(
                "The value for the property \"type\" in one of your credentials is invalid. Acceptable values are AsymmetricX509Cert, X509CertAndPassword, Symmetric.",
            ));
        }
        let usage_ok = match kind {
            "AsymmetricX509Cert" => usage == "Verify",
            "X509CertAndPassword" => usage == "Sign",
            _ => usage == "Verify" || usage == "Sign",
        };
        if !usage_ok {
            return Err(Reply::bad_request(
                "The value for the property \"usage\" in one of your credentials is invalid. Acceptable values are Sign, Verify.",
            ));
        }
        let key_id = match o.get("keyId") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) if is_guid(k) => Some(k.to_ascii_lowercase()),
            Some(_) => return Err(invalid_value("keyCredentials")),
        };
        let old = key_id.as_deref().and_then(|k| {
            existing
                .iter()
                .filter_map(Value::as_object)
                .find(|e| str_field(e, "keyId").eq_ignore_ascii_case(k))
        });
        let key = match o.get("key") {
            Some(Value::String(k)) => match STANDARD.decode(k) {
                Ok(der) if !der.is_empty() => Value::String(k.clone()),
                _ => {
                    return Err(Reply::bad_request(
                        "The value for the property \"key\" in one of your credentials is invalid: it must be the base64 encoding of a DER certificate.",
                    ));
                }
            },
            // Graph replaces the collection with what is sent: an entry without its key
            // cannot be kept, so a client must read the keys (`$select=keyCredentials`) and
            // send them back.
            None | Some(Value::Null) => {
                return Err(Reply::bad_request(
                    "The property \"key\" is required for each key credential: read the existing keys with $select=keyCredentials and send them back.",
                ));
            }
            Some(_) => return Err(invalid_value("keyCredentials")),
        };
        match o.get("customKeyIdentifier") {
            None | Some(Value::Null) => {}
            Some(Value::String(c)) if STANDARD.decode(c).is_ok() => {}
            Some(_) => {
                return Err(Reply::bad_request(
                    "The value for the property \"customKeyIdentifier\" in one of your credentials is invalid: it must be base64.",
                ));
            }
        }
        let start = date_field(o, "startDateTime")?
            .or_else(|| old.and_then(|e| parse_datetime(str_field(e, "startDateTime"))))
            .unwrap_or_else(now);
        let end = date_field(o, "endDateTime")?
            .or_else(|| old.and_then(|e| parse_datetime(str_field(e, "endDateTime"))))
            .unwrap_or(
                start
                    .checked_add(time::Duration::days(365))
                    .unwrap_or(start),
            );
        if end <= start {
            return Err(Reply::bad_request(
                "The key credential's end date must be after its start date.",
            ));
        }
        let key_id = key_id.unwrap_or_else(new_guid);
        if out.iter().any(|e| e["keyId"] == key_id.as_str()) {
            return Err(Reply::bad_request(format!(
                "The keyId '{key_id}' appears more than once in keyCredentials."
            )));
        }
        out.push(json!({
            "customKeyIdentifier": o.get("customKeyIdentifier").cloned().unwrap_or(Value::Null),
            "displayName": o.get("displayName").cloned().unwrap_or(Value::Null),
            "endDateTime": fmt_datetime(end),
            "key": key,
            "keyId": key_id,
            "startDateTime": fmt_datetime(start),
            "type": kind,
            "usage": usage,
        }));
    }
    Ok(out)
}
