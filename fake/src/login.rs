//! The login endpoints: `/{tenant}/oauth2/v2.0/devicecode`, `/{tenant}/oauth2/v2.0/token`
//! (device code, client credentials with a secret or a certificate assertion, and
//! `authorization_code` with PKCE) and `GET /{tenant}/oauth2/v2.0/authorize` (the interactive
//! browser sign-in, in [`super::authorize`]), and the access tokens the fake issues.
//!
//! Every login request is logged with its query decoded and its form with the secrets
//! (`client_secret`, `client_assertion`, `device_code`, `code`, `code_verifier`) redacted; the
//! authorization codes the authorize endpoint hands out are never logged.

use serde_json::{Map, Value, json};

use super::odata::{decode_query_component, percent_decode};
use super::reply::{LOGIN_JSON, Reply};
use super::seed::{EXCHANGE_APP_ID, GRAPH_APP_ID, SHAREPOINT_APP_ID};
use super::state::{
    DeviceCode, Key, Lookup, State, Subject, new_guid, now, random_string, str_field,
};
use super::{RecordedRequest, RequestKind};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "device_code",
    "code",
    "code_verifier",
];
/// Lifetime of the access tokens, in seconds.
pub(crate) const TOKEN_LIFETIME: i64 = 3599;

/// Ids that tie a token-endpoint reply to its request.
pub(crate) struct Trace {
    trace_id: String,
    correlation_id: String,
}

/// Now, as Entra writes it in errors: with a space where RFC 3339 has a `T`.
fn error_timestamp() -> String {
    super::state::fmt_datetime(now()).replacen('T', " ", 1)
}

impl Trace {
    /// An `error_description`: `AADSTSnnnn: text Trace ID: … Correlation ID: … Timestamp: …`.
    pub(crate) fn description(&self, code: u32, description: &str) -> String {
        format!(
            "AADSTS{code}: {description} Trace ID: {} Correlation ID: {} Timestamp: {}",
            self.trace_id,
            self.correlation_id,
            error_timestamp()
        )
    }

    /// A token-endpoint error: JSON with `error`, `error_description`, `error_codes`, ….
    pub(crate) fn error(&self, status: u16, error: &str, code: u32, description: &str) -> Reply {
        let ts = error_timestamp();
        Reply::json(
            status,
            json!({
                "error": error,
                "error_description": self.description(code, description),
                "error_codes": [code],
                "timestamp": ts,
                "trace_id": self.trace_id,
                "correlation_id": self.correlation_id,
                "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
            }),
        )
    }

    /// `400 invalid_request` AADSTS900144 for a missing (or empty) parameter.
    pub(crate) fn missing(&self, name: &str) -> Reply {
        self.error(
            400,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    }
}

/// AADSTS90002's text for a `{tenant}` that is not this tenant.
pub(crate) fn tenant_not_found(tenant: &str) -> String {
    format!(
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
    )
}

/// AADSTS700016's text for a client id the tenant does not know.
pub(crate) fn unknown_client(client_id: &str, tenant_id: &str) -> String {
    format!(
        "Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
    )
}

/// Answers a request whose path looks like `/{tenant}/oauth2/...`.
pub(crate) fn handle(state: &mut State, request: &wiremock::Request, parts: &[&str]) -> Reply {
    let seq = state.next_seq();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let query: Vec<(String, String)> = request
        .url
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let correlation_id = request
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| super::state::is_guid(v))
        .map_or_else(new_guid, str::to_owned);
    let trace = Trace {
        trace_id: new_guid(),
        correlation_id,
    };
    let mut reply = answer(state, request.method.as_str(), parts, &form, &query, &trace);
    if reply.html.is_none() {
        reply.content_type = LOGIN_JSON;
    }
    reply = reply
        .with_header("x-ms-request-id", trace.trace_id.clone())
        .with_header("client-request-id", trace.correlation_id.clone());
    let mut logged: Map<String, Value> = form
        .iter()
        .map(|(k, v)| {
            let v = if SECRET_FIELDS.contains(&k.as_str()) {
                "<redacted>".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), Value::String(v))
        })
        .collect();
    // The assertion's JOSE header holds no secret, and says how it was signed.
    if let Some(header) = param(&form, "client_assertion").and_then(jose_header) {
        logged.insert("client_assertion_header".into(), header);
    }
    state.log.push(RecordedRequest {
        seq,
        kind: RequestKind::Login,
        method: request.method.as_str().to_owned(),
        path: percent_decode(request.url.path()),
        query: request
            .url
            .query()
            .map(decode_query_component)
            .unwrap_or_default(),
        headers: super::dispatch::http_headers(request),
        body: (!request.body.is_empty()).then_some(Value::Object(logged)),
        status: reply.status,
        batch: None,
    });
    reply
}

fn answer(
    state: &mut State,
    method: &str,
    parts: &[&str],
    form: &[(String, String)],
    query: &[(String, String)],
    trace: &Trace,
) -> Reply {
    let leaf = match parts {
        [_, _, version, leaf] if version.eq_ignore_ascii_case("v2.0") => *leaf,
        _ => {
            return trace.error(404, "invalid_request", 900561, "The endpoint is not known.");
        }
    };
    let tenant = percent_decode(parts[0]);
    if leaf == "authorize" {
        // Entra also accepts a POST to authorize; the fake models only the GET that browsers
        // are sent to (v2-oauth2-auth-code-flow).
        if method != "GET" {
            return trace.error(
                400,
                "invalid_request",
                900561,
                &format!("The endpoint only accepts GET requests. Received a {method} request."),
            );
        }
        return super::authorize::authorize(state, &tenant, query, trace);
    }
    if method != "POST" {
        return trace.error(
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    if !state.is_tenant(&tenant) {
        return trace.error(400, "invalid_request", 90002, &tenant_not_found(&tenant));
    }
    let param = |name: &str| param(form, name);
    let missing = |name: &str| trace.missing(name);
    match leaf {
        "devicecode" => {
            let (Some(_client), Some(scope)) = (param("client_id"), param("scope")) else {
                return missing(if param("client_id").is_none() {
                    "client_id"
                } else {
                    "scope"
                });
            };
            let code = random_string(
                48,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            );
            let user_code = random_string(9, b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789");
            state.device_codes.push(DeviceCode {
                code: code.clone(),
                scope: scope.to_owned(),
                polls: 0,
                expires: now().unix_timestamp() + 900,
            });
            Reply::json(
                200,
                json!({
                    "user_code": user_code,
                    "device_code": code,
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 900,
                    "interval": 5,
                    "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate."),
                }),
            )
        }
        "token" => match param("grant_type") {
            None => missing("grant_type"),
            Some(DEVICE_GRANT) => match param("device_code") {
                None => missing("device_code"),
                Some(code) => device_code_token(state, code, param("client_id"), trace),
            },
            Some("client_credentials") => {
                let (Some(client_id), Some(scope)) = (param("client_id"), param("scope")) else {
                    return missing(if param("client_id").is_none() {
                        "client_id"
                    } else {
                        "scope"
                    });
                };
                client_credentials(state, client_id, scope, &tenant, form, trace)
            }
            Some("authorization_code") => super::authorize::redeem(state, form, trace),
            Some(other) => trace.error(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            ),
        },
        _ => trace.error(404, "invalid_request", 900561, "The endpoint is not known."),
    }
}

/// The decoded JOSE header of a compact JWT, if it has one.
fn jose_header(jwt: &str) -> Option<Value> {
    let head = jwt.split('.').next()?;
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        head.trim_end_matches('='),
    )
    .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

/// A non-empty form (or query) parameter.
pub(crate) fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

pub(crate) fn token_reply(token: String, scope: Option<&str>) -> Reply {
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME,
        "ext_expires_in": TOKEN_LIFETIME,
        "access_token": token,
    });
    if let Some(s) = scope {
        body["scope"] = json!(s);
    }
    Reply::json(200, body)
}

fn device_code_token(
    state: &mut State,
    code: &str,
    client_id: Option<&str>,
    trace: &Trace,
) -> Reply {
    let expired = || {
        trace.error(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
    };
    let Some(i) = state.device_codes.iter().position(|d| d.code == code) else {
        return expired();
    };
    if state.device_codes[i].expires <= now().unix_timestamp() {
        state.device_codes.remove(i);
        return expired();
    }
    if state.knobs.decline {
        return trace.error(
            400,
            "authorization_declined",
            70000,
            "The user declined the authorization request.",
        );
    }
    state.device_codes[i].polls += 1;
    if state.device_codes[i].polls <= state.knobs.device_polls {
        return trace.error(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        );
    }
    let scope = state.device_codes.remove(i).scope;
    // The admin finished the device code page, then Conditional Access refuses the token
    // (Microsoft's "Block device code flow" managed policy:
    // https://learn.microsoft.com/entra/identity/conditional-access/concept-authentication-flows,
    // https://learn.microsoft.com/entra/identity/conditional-access/managed-policies; AADSTS53003 in
    // https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
    if state.knobs.block_device_code {
        return trace.error(
            400,
            "invalid_grant",
            53003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        );
    }
    let token = state.mint_admin(
        client_id.unwrap_or("14d82eec-204b-4c2f-b7e8-296a70dab67e"),
        &scope,
    );
    token_reply(token, Some(&granted_scope(&scope)))
}

/// The `scope` a token reply names: the Graph permissions granted, on Graph's resource.
pub(crate) fn granted_scope(requested: &str) -> String {
    super::tokens::delegated_scopes(requested)
        .iter()
        .map(|s| format!("https://graph.microsoft.com/{s}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The resource a `.default` scope names: (audience, resource appId, is Graph).
fn resource_of(scope: &str, base_uri: &str) -> Option<(String, &'static str, bool)> {
    let resource = scope
        .trim()
        .strip_suffix("/.default")?
        .trim_end_matches('/');
    let lower = resource.to_ascii_lowercase();
    let graph_roots = [
        "https://graph.microsoft.com",
        "https://graph.microsoft.us",
        "https://dod-graph.microsoft.us",
        "https://microsoftgraph.chinacloudapi.cn",
        GRAPH_APP_ID,
    ];
    if graph_roots.contains(&lower.as_str())
        || lower == base_uri.trim_end_matches('/').to_ascii_lowercase()
    {
        Some(("https://graph.microsoft.com".into(), GRAPH_APP_ID, true))
    } else if lower == "https://outlook.office365.com" || lower == EXCHANGE_APP_ID {
        Some((
            "https://outlook.office365.com".into(),
            EXCHANGE_APP_ID,
            false,
        ))
    } else if lower == SHAREPOINT_APP_ID
        || (lower.starts_with("https://") && lower.ends_with(".sharepoint.com"))
    {
        Some((resource.to_owned(), SHAREPOINT_APP_ID, false))
    } else {
        None
    }
}

fn client_credentials(
    state: &mut State,
    client_id: &str,
    scope: &str,
    tenant: &str,
    form: &[(String, String)],
    trace: &Trace,
) -> Reply {
    let param = |name: &str| param(form, name);
    let Some((aud, resource_app_id, is_graph)) = resource_of(scope, &state.base_uri) else {
        return trace.error(400, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
    };
    let app_i = match state.find_app(&Key::AppId(client_id.to_ascii_lowercase())) {
        Lookup::Found(i) => i,
        Lookup::Lagging | Lookup::Missing => {
            return trace.error(
                400,
                "unauthorized_client",
                700016,
                &unknown_client(client_id, &state.tenant_id.to_string()),
            );
        }
    };
    let checked = match (param("client_secret"), param("client_assertion_type"), param("client_assertion")) {
        (Some(secret), _, _) => super::tokens::check_secret(state, app_i, client_id, secret, trace),
        (None, Some(JWT_BEARER), Some(assertion)) => super::tokens::check_assertion(state, app_i, client_id, assertion, tenant, trace),
        (None, Some(other), _) if other != JWT_BEARER => Err(trace.error(400, "invalid_request", 50027, "Invalid client_assertion_type.")),
        _ => Err(trace.error(400, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")),
    };
    if let Err(r) = checked {
        return r;
    }
    let Some(sp_i) = state.sp_index(&Key::AppId(client_id.to_ascii_lowercase())) else {
        return trace.error(
            400,
            "invalid_client",
            7000229,
            &format!(
                "The client application {client_id} is missing service principal in the tenant {}.",
                state.tenant_id
            ),
        );
    };
    let sp_id = str_field(&state.sps[sp_i].json, "id").to_owned();
    let roles = super::grants::granted_role_values(state, &sp_id, resource_app_id);
    let mut claims = state.base_claims(&aud);
    claims.insert("appid".into(), json!(client_id.to_ascii_lowercase()));
    claims.insert("idtyp".into(), json!("app"));
    claims.insert("oid".into(), json!(sp_id));
    claims.insert("sub".into(), json!(sp_id));
    if !roles.is_empty() {
        claims.insert("roles".into(), json!(roles));
    }
    let token = state.mint(claims, Subject::App { roles }, is_graph);
    token_reply(token, None)
}
