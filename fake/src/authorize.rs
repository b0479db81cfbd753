//! The interactive browser sign-in: `GET /{tenant}/oauth2/v2.0/authorize` (the OAuth 2.0
//! authorization code flow with PKCE, on a loopback redirect) and the redemption of its codes
//! at the token endpoint (`grant_type=authorization_code`).
//!
//! Sources, named at each behaviour: Microsoft's
//! [v2-oauth2-auth-code-flow](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow),
//! [reply-url](https://learn.microsoft.com/entra/identity-platform/reply-url) and
//! [reference-error-codes](https://learn.microsoft.com/entra/identity-platform/reference-error-codes)
//! pages, [RFC 6749](https://www.rfc-editor.org/rfc/rfc6749) §4.1,
//! [RFC 7636](https://www.rfc-editor.org/rfc/rfc7636) (PKCE) and
//! [RFC 8252](https://www.rfc-editor.org/rfc/rfc8252) (loopback redirects). Anything else is
//! marked as an assumption.
//!
//! The signed-in administrator is always there: a request that passes the checks gets a code at
//! once (no page, no session), unless [`super::FakeGraph::cancel_browser_sign_in`] is on.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_appreg::redact::html_escape;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use url::Url;

use super::login::{Trace, param, tenant_not_found, token_reply, unknown_client};
use super::reply::Reply;
use super::state::{AuthCode, Key, Lookup, State, now, random_string};

/// The Microsoft Graph Command Line Tools client: first party, so not an application of the
/// tenant; it accepts `http://localhost` on any port (reply-url: "the port is ignored for localhost"; Microsoft Graph PowerShell signs in through it with that redirect).
const GRAPH_CLI: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// "Authorization codes are short lived. Typically, they expire after about 10 minutes."
/// (v2-oauth2-auth-code-flow)
pub(crate) const CODE_LIFETIME_SECS: i64 = 600;

/// How the answer reaches the redirect URI (v2-oauth2-auth-code-flow, `response_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `302` to the redirect URI with the answer in its query: the default for a code.
    Query,
    /// `302` with the answer in the fragment ("Also supported if requesting *only* a code").
    Fragment,
    /// A page that POSTs the answer to the redirect URI.
    FormPost,
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub(crate) fn authorize(
    state: &mut State,
    tenant: &str,
    query: &[(String, String)],
    trace: &Trace,
) -> Reply {
    let param = |name: &str| param(query, name);
    // Until the redirect URI is known to belong to the client, errors are shown to the browser
    // and never sent to the redirect URI (RFC 6749 §4.1.2.1). The 400 is an assumption: Entra
    // shows its own error page.
    if !state.is_tenant(tenant) {
        return page(trace, 90002, &tenant_not_found(tenant));
    }
    let missing = |name: &str| {
        page(
            trace,
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    let Some(client_id) = param("client_id") else {
        return missing("client_id");
    };
    let Some(redirect_uri) = param("redirect_uri") else {
        return missing("redirect_uri");
    };
    let allowed = if client_id.eq_ignore_ascii_case(GRAPH_CLI) {
        Url::parse(redirect_uri).is_ok_and(|u| first_party_accepts(&u))
    } else {
        // An application of the tenant: its `publicClient.redirectUris` (the fake models public
        // clients only, which redeem the code without a secret: v2-oauth2-auth-code-flow).
        // Replication lag counts here as at the token endpoint.
        let app = match state.find_app(&Key::AppId(client_id.to_owned())) {
            Lookup::Found(i) => &state.apps[i].json,
            Lookup::Lagging | Lookup::Missing => {
                return page(
                    trace,
                    700016,
                    &unknown_client(client_id, &state.tenant_id.to_string()),
                );
            }
        };
        let registered = app
            .get("publicClient")
            .and_then(|p| p.get("redirectUris"))
            .and_then(Value::as_array)
            .map(|uris| uris.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        Url::parse(redirect_uri).is_ok_and(|u| registered.iter().any(|r| registered_accepts(r, &u)))
    };
    if !allowed {
        // AADSTS50011's wording as Entra shows it.
        return page(
            trace,
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
            ),
        );
    }
    let mode = match param("response_mode") {
        None | Some("query") => Mode::Query,
        Some("fragment") => Mode::Fragment,
        Some("form_post") => Mode::FormPost,
        // AADSTS70007 UnsupportedResponseMode (reference-error-codes); shown, not redirected,
        // since there is no agreed way to answer (an assumption).
        Some(other) => {
            return page(
                trace,
                70007,
                &format!(
                    "The provided value for the input parameter 'response_mode' is not valid: '{other}'."
                ),
            );
        }
    };
    let client_state = param("state");
    // From here on, errors go back to the redirect URI (v2-oauth2-auth-code-flow, "Error
    // response"): `error`, `error_description` holding `AADSTSnnnn: …`, and `state`.
    let redirect_error = |error: &str, code: u32, text: &str, subcode: Option<&str>| {
        let description = trace.description(code, text);
        let mut fields = vec![
            ("error", error),
            ("error_description", description.as_str()),
        ];
        if let Some(s) = subcode {
            fields.push(("error_subcode", s));
        }
        if let Some(s) = client_state {
            fields.push(("state", s));
        }
        deliver(redirect_uri, mode, &fields)
    };
    match param("response_type") {
        Some("code") => {}
        // The missing parameter's code and `invalid_request` are an assumption.
        None => {
            return redirect_error(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'response_type'.",
                None,
            );
        }
        // `unsupported_response_type` (v2-oauth2-auth-code-flow); AADSTS70005
        // UnsupportedResponseType (reference-error-codes). The fake has no hybrid flow.
        Some(other) => {
            return redirect_error(
                "unsupported_response_type",
                70005,
                &format!(
                    "The app requested an unsupported response type '{other}'. The fake supports only 'code'."
                ),
                None,
            );
        }
    }
    // `scope` is required (v2-oauth2-auth-code-flow); the error code is an assumption.
    let Some(scope) = param("scope") else {
        return redirect_error(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
            None,
        );
    };
    // PKCE (RFC 7636 §4.3; v2-oauth2-auth-code-flow): the method defaults to `plain`; Entra
    // supports `plain` and `S256`; `code_challenge` is required when the method is given.
    // Codes from reference-error-codes: AADSTS50149 (method), AADSTS50147 (missing challenge),
    // AADSTS501491 (size; RFC 7636 §4.1–4.2: 43 to 128 characters).
    let challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (_, Some(m)) if m != "S256" && m != "plain" => {
            return redirect_error(
                "invalid_request",
                50149,
                "Invalid Code_Challenge_method parameter.",
                None,
            );
        }
        (None, None) => None,
        (None, Some(_)) => {
            return redirect_error(
                "invalid_request",
                50147,
                "The code_challenge parameter is required when code_challenge_method is given.",
                None,
            );
        }
        (Some(c), _) if !(43..=128).contains(&c.len()) => {
            return redirect_error(
                "invalid_request",
                501491,
                "Invalid size of Code_Challenge parameter.",
                None,
            );
        }
        (Some(c), m) => Some((c.to_owned(), m.unwrap_or("plain").to_owned())),
    };
    // The admin cancels: `access_denied` with `error_subcode=cancel` (v2-oauth2-auth-code-flow, error codes; MSAL reads
    // the subcode), AADSTS65004 UserDeclinedConsent (reference-error-codes).
    if state.knobs.cancel_browser {
        return redirect_error(
            "access_denied",
            65004,
            "User declined to consent to access the app.",
            Some("cancel"),
        );
    }
    // The admin signs in: a one-time code, good for 10 minutes. Expired codes are forgotten.
    let t = now().unix_timestamp();
    state
        .auth_codes
        .retain(|c| t - c.created < CODE_LIFETIME_SECS);
    let code = random_string(
        256,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
    );
    state.auth_codes.push(AuthCode {
        code: code.clone(),
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_owned(),
        challenge,
        created: t,
        redeemed: false,
    });
    let mut fields = vec![("code", code.as_str())];
    if let Some(s) = client_state {
        fields.push(("state", s));
    }
    deliver(redirect_uri, mode, &fields)
}

/// The Graph Command Line Tools client's redirect URI: `http://localhost` on any port, path
/// empty or `/` (reply-url: the port of a localhost URI is ignored).
fn first_party_accepts(requested: &Url) -> bool {
    requested.scheme() == "http"
        && requested.host_str() == Some("localhost")
        && requested.path() == "/"
        && requested.query().is_none()
        && requested.fragment().is_none()
        && no_userinfo(requested)
}

/// Whether a registered redirect URI accepts the requested one (reply-url): `http` only for
/// localhost (and 127.0.0.1); for those the port is ignored but scheme, host and path must
/// match (paths are case-sensitive; `localhost` and `127.0.0.1` are different hosts; `[::1]`
/// is not supported); any other URI must match exactly. No fragment (RFC 6749 §3.1.2).
fn registered_accepts(registered: &str, requested: &Url) -> bool {
    let Ok(registered) = Url::parse(registered) else {
        return false;
    };
    if requested.fragment().is_some() || !no_userinfo(requested) {
        return false;
    }
    if requested.scheme() == "http" && !is_loopback(requested) {
        return false;
    }
    if is_loopback(&registered) {
        registered.scheme() == requested.scheme()
            && registered.host_str() == requested.host_str()
            && registered.path() == requested.path()
            && registered.query() == requested.query()
    } else {
        registered == *requested
    }
}

fn is_loopback(u: &Url) -> bool {
    matches!(u.host_str(), Some("localhost" | "127.0.0.1"))
}

fn no_userinfo(u: &Url) -> bool {
    u.username().is_empty() && u.password().is_none()
}

/// Sends the answer to the redirect URI the way `response_mode` asks.
fn deliver(redirect_uri: &str, mode: Mode, fields: &[(&str, &str)]) -> Reply {
    match mode {
        Mode::FormPost => Reply::html(200, form_post_page(redirect_uri, fields)),
        Mode::Query | Mode::Fragment => {
            let Ok(mut url) = Url::parse(redirect_uri) else {
                // Unreachable: the redirect URI was parsed when it was checked.
                return Reply::html(500, String::new());
            };
            // `Url` writes a URI without a path with a trailing `/`, as Entra does in query
            // and fragment answers (reply-url).
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            if mode == Mode::Fragment {
                url.set_fragment(Some(&encoded));
            } else {
                let query = match url.query() {
                    Some(q) if !q.is_empty() => format!("{q}&{encoded}"),
                    _ => encoded,
                };
                url.set_query(Some(&query));
            }
            Reply::redirect(url.to_string())
        }
    }
}

/// The `form_post` page: a form that POSTs the answer's fields to the redirect URI as hidden
/// inputs, submitted by script, with a button for a browser without script. The shape follows
/// the page Entra serves (an observation, not documented); every value is HTML-escaped.
fn form_post_page(action: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>\n",
                html_escape(name),
                html_escape(value)
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Working...</title></head>\n<body>\n<form method=\"POST\" action=\"{}\">\n{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\"/></noscript>\n</form>\n<script>document.forms[0].submit()</script>\n</body></html>\n",
        html_escape(action)
    )
}

/// A `400` error page for the browser (content type `text/html; charset=utf-8`) naming the
/// AADSTS code, with the trace ids.
fn page(trace: &Trace, code: u32, text: &str) -> Reply {
    Reply::html(
        400,
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Sign in to your account</title></head>\n<body>\n<h1>Sign in</h1>\n<p>Sorry, but we're having trouble signing you in.</p>\n<p id=\"error\">{}</p>\n</body></html>\n",
            html_escape(&trace.description(code, text))
        ),
    )
}

/// `POST /{tenant}/oauth2/v2.0/token` with `grant_type=authorization_code` (v2-oauth2-auth-code-flow,
/// "Redeem a code for an access token"), for a public client.
pub(crate) fn redeem(state: &mut State, form: &[(String, String)], trace: &Trace) -> Reply {
    let param = |name: &str| param(form, name);
    let (Some(client_id), Some(code), Some(redirect_uri)) =
        (param("client_id"), param("code"), param("redirect_uri"))
    else {
        let absent = ["client_id", "code", "redirect_uri"]
            .into_iter()
            .find(|n| param(n).is_none())
            .unwrap_or("code");
        return trace.missing(absent);
    };
    // A public client sends no credential: AADSTS700025 (reference-error-codes). The 401 is an
    // assumption (RFC 6749 §5.2 allows it for invalid_client).
    if param("client_secret").is_some() || param("client_assertion").is_some() {
        return trace.error(
            401,
            "invalid_client",
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        );
    }
    // AADSTS70008 ExpiredOrRevokedGrant (reference-error-codes), with Entra's wording for a code.
    let invalid = || {
        trace.error(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    };
    let Some(i) = state.auth_codes.iter().position(|c| c.code == code) else {
        return invalid();
    };
    if now().unix_timestamp() - state.auth_codes[i].created >= CODE_LIFETIME_SECS {
        state.auth_codes.remove(i);
        return invalid();
    }
    let issued = &state.auth_codes[i];
    // A code is good once (RFC 6749 §4.1.2); AADSTS54005 (reference-error-codes).
    if issued.redeemed {
        return trace.error(
            400,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        );
    }
    // A code issued to another client (RFC 6749 §4.1.3). Entra's code for it is not
    // documented: 70008 is an assumption.
    if !issued.client_id.eq_ignore_ascii_case(client_id) {
        return invalid();
    }
    // "The same redirect_uri value that was used to acquire the authorization_code"
    // (v2-oauth2-auth-code-flow); compared exactly. AADSTS50011 (reference-error-codes: the redirect URI does not match).
    if issued.redirect_uri != redirect_uri {
        return trace.error(
            400,
            "invalid_grant",
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URI used to acquire the authorization code."
            ),
        );
    }
    // PKCE (RFC 7636 §4.6): BASE64URL(SHA256(verifier)) without padding, or the verifier
    // itself for `plain`; AADSTS501481 (reference-error-codes). A verifier sent for a code
    // requested without a challenge is ignored (an assumption).
    if let Some((challenge, method)) = &issued.challenge {
        let matches = param("code_verifier").is_some_and(|verifier| {
            if method == "S256" {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == *challenge
            } else {
                verifier == challenge
            }
        });
        if !matches {
            return trace.error(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            );
        }
    }
    // Without `scope` the token is for the scopes of the authorize request
    // (v2-oauth2-auth-code-flow).
    let scope = param("scope").map_or_else(|| issued.scope.clone(), str::to_owned);
    state.auth_codes[i].redeemed = true;
    let token = state.mint_admin(client_id, &scope);
    token_reply(token, Some(&super::login::granted_scope(&scope)))
}
