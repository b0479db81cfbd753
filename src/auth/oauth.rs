//! Form posts to the Entra token and device-code endpoints, and their error replies.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{AccessToken, TokenContext};
use crate::error::{AuthError, DecodeError, Error, Result};
use crate::redact;
use crate::retry::{self, Retry, Schedule, Tally};

/// The OAuth error reply of Entra's endpoints.
#[derive(Debug, Deserialize)]
pub(crate) struct OAuthErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
}

impl OAuthErrorBody {
    pub(crate) fn into_error(self, status: u16) -> AuthError {
        let aadsts = self
            .error_codes
            .first()
            .copied()
            .or_else(|| self.error_description.as_deref().and_then(aadsts_in));
        // The first line only: 400 characters of what may be megabytes.
        let description = self
            .error_description
            .map(|d| redact::message(d.lines().next().unwrap_or_default(), 400));
        AuthError {
            status: Some(status),
            error: redact::bounded(&self.error, 80),
            description,
            aadsts,
            correlation_id: self.correlation_id.map(|s| redact::short(&s)),
            trace_id: self.trace_id.map(|s| redact::short(&s)),
        }
    }
}

/// Finds `AADSTSnnnn` in a description.
pub(crate) fn aadsts_in(description: &str) -> Option<u32> {
    let start = description.find("AADSTS")? + 6;
    let digits: String = description[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A successful token reply.
#[derive(Deserialize)]
pub(crate) struct TokenReply {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenReply {
    pub(crate) fn into_token(self) -> AccessToken {
        match self.expires_in {
            Some(secs) => AccessToken::with_lifetime(self.access_token, Duration::from_secs(secs)),
            None => AccessToken::new(self.access_token),
        }
    }
}

/// The outcome of a form post: the decoded success body, or the OAuth error.
pub(crate) enum FormOutcome<T> {
    Ok(T),
    OAuthError(AuthError),
}

/// POSTs a form to `{login}/{tenant}/oauth2/v2.0/{leaf}`. The form may hold secrets: it is
/// never logged, and errors quote only scrubbed snippets of replies.
pub(crate) async fn post_form<T: DeserializeOwned>(
    ctx: &TokenContext<'_>,
    leaf: &str,
    form: &[(&str, &str)],
) -> Result<FormOutcome<T>> {
    let url = ctx.endpoints.oauth_url(&ctx.tenant.as_path_segment(), leaf);
    // The form holds a client secret, an assertion or a code: wiped once sent. (What a
    // transport copies, it owns.)
    let body = zeroize::Zeroizing::new(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish()
            .into_bytes(),
    );
    let request = || {
        http::Request::post(&url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body.to_vec())
            .map_err(|e| Error::invalid_input("login URL", e.to_string()))
    };
    tracing::debug!(endpoint = leaf, tenant = %ctx.tenant, "sign-in request");
    // A request that never left (a connection failure before sending) is sent again, as Graph
    // requests are, on the client's policy: one network hiccup must not throw away a
    // device-code sign-in half done.
    let transient = retry::transient_fault(false);
    let response = Retry::new(Schedule::policy(ctx.retry), ctx.sleeper)
        .run(
            &mut Tally::default(),
            |e: &Error| transient(e),
            |e, pause| {
                tracing::warn!(error = %e, wait = ?pause.wait, attempt = pause.number, "sign-in request not sent; retrying")
            },
            |_| async { Ok(ctx.transport.send(request()?).await?) },
        )
        .await?;
    let status = response.status().as_u16();
    let mut response = response;
    // The reply holds the access token: wiped once decoded.
    let body = zeroize::Zeroizing::new(std::mem::take(response.body_mut()));
    let body = body.as_slice();
    let context = || format!("the reply of the {leaf} endpoint");
    if (200..300).contains(&status) {
        return serde_json::from_slice(body)
            .map(FormOutcome::Ok)
            .map_err(|e| {
                let mut d = DecodeError::new(context(), DecodeError::reason_from_json(&e), body);
                d.status = Some(status);
                Error::decode(d)
            });
    }
    match serde_json::from_slice::<OAuthErrorBody>(body) {
        Ok(err) => Ok(FormOutcome::OAuthError(err.into_error(status))),
        Err(e) => {
            let mut d = DecodeError::new(context(), DecodeError::reason_from_json(&e), body);
            d.status = Some(status);
            d.content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(redact::short);
            Err(Error::decode(d))
        }
    }
}

/// Like [`post_form`], with an OAuth error turned into [`Error::Auth`].
pub(crate) async fn post_form_ok<T: DeserializeOwned>(
    ctx: &TokenContext<'_>,
    leaf: &str,
    form: &[(&str, &str)],
) -> Result<T> {
    match post_form(ctx, leaf, form).await? {
        FormOutcome::Ok(v) => Ok(v),
        FormOutcome::OAuthError(e) => Err(Error::auth(e)),
    }
}

/// The client-credentials grant for `client_id`, with the app's proof of identity (`proof`:
/// a secret or a signed assertion) and the scope (the cloud's Graph `.default` unless given).
pub(crate) async fn client_credentials(
    ctx: &TokenContext<'_>,
    client_id: crate::ids::ClientId,
    scope: Option<&str>,
    proof: &[(&str, &str)],
) -> Result<AccessToken> {
    let scope = scope.map_or_else(|| ctx.endpoints.graph_scope(), str::to_owned);
    let client_id = client_id.to_string();
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("scope", scope.as_str()),
    ];
    form.extend_from_slice(proof);
    let reply: TokenReply = post_form_ok(ctx, "token", &form).await?;
    Ok(reply.into_token())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_code_comes_from_codes_or_description() {
        let e: OAuthErrorBody = serde_json::from_str(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[],"correlation_id":"c"}"#,
        )
        .unwrap();
        let e = e.into_error(401);
        assert_eq!(e.aadsts, Some(7_000_215));
        assert_eq!(e.correlation_id.as_deref(), Some("c"));
        assert!(!e.description.unwrap().contains("Trace ID"));
    }
}
