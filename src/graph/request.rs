//! One Graph request, its reply, and the decoding of Graph's error replies.

use std::fmt;

use http::{HeaderMap, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, Error, GraphError, Result};
use crate::redact;

/// A Graph v1.0 request: method, path (relative to `/v1.0`, query included), headers, JSON body.
///
/// The same value can be sent alone with [`Graph::send`](crate::Graph::send) or ride in a
/// `$batch` with [`Graph::batch`](crate::Graph::batch).
///
/// A request that creates something new each time Graph carries it out (`addPassword` makes a
/// new secret) is marked [`non_idempotent`](Self::non_idempotent): it is sent again only when it
/// certainly was not carried out.
///
/// ```
/// use entra_appreg::graph::GraphRequest;
/// let r = GraphRequest::get("/applications")
///     .query("$filter", "appId eq '5f0f8757-988d-474c-9f85-74a6bc70dfd0'")
///     .query("$select", "id,appId");
/// assert_eq!(
///     r.path(),
///     "/applications?$filter=appId%20eq%20'5f0f8757-988d-474c-9f85-74a6bc70dfd0'&$select=id,appId"
/// );
/// ```
#[derive(Clone, PartialEq)]
pub struct GraphRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<serde_json::Value>,
    pub(crate) idempotent: bool,
}

impl GraphRequest {
    /// A request with this method and path (starting with `/`, relative to `/v1.0`).
    ///
    /// `GET`, `HEAD`, `PUT`, `DELETE` and `OPTIONS` are taken as idempotent, as HTTP defines
    /// them (RFC 9110 §9.2.2). Every other method, `POST` and `PATCH` included, is taken as
    /// [non-idempotent](Self::non_idempotent): it is not sent again after a 5xx or a
    /// connection lost in flight. Say [`idempotent`](Self::idempotent) for one that is safe to
    /// send twice.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Self {
            method,
            path,
            headers: Vec::new(),
            body: None,
            idempotent,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// `POST path` with a JSON body.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when `body` cannot be serialised to
    /// JSON.
    pub fn post(path: impl Into<String>, body: &impl Serialize) -> Result<Self> {
        Self::new(Method::POST, path).json(body)
    }

    /// `PATCH path` with a JSON body.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when `body` cannot be serialised to
    /// JSON.
    pub fn patch(path: impl Into<String>, body: &impl Serialize) -> Result<Self> {
        Self::new(Method::PATCH, path).json(body)
    }

    /// Sets the JSON body.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when `body` cannot be serialised to
    /// JSON.
    pub fn json(mut self, body: &impl Serialize) -> Result<Self> {
        let value = serde_json::to_value(body)
            .map_err(|e| Error::invalid_input("request body", e.to_string()))?;
        self.body = Some(value);
        Ok(self)
    }

    /// Adds a query parameter, percent-encoding the value.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        let sep = if self.path.contains('?') { '&' } else { '?' };
        self.path.push(sep);
        self.path.push_str(name);
        self.path.push('=');
        self.path.push_str(&encode_query_value(value));
        self
    }

    /// Adds a header (for example `Prefer: create-if-missing`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Marks the request as one that must not be sent twice: each time Graph carries it out, it
    /// creates something new (`addPassword`: another secret, whose value only that reply holds).
    ///
    /// [`Graph::send`](crate::Graph::send) and [`Graph::batch`](crate::Graph::batch) then send
    /// it again only when it certainly was not carried out: after a 429 (Graph's throttling
    /// guidance: a throttled request fails) or a connection failure before anything was sent.
    /// After a 5xx reply, or a connection lost once the request may have reached Graph, they
    /// return [`Error::MayHaveTakenEffect`] at once.
    ///
    /// ```
    /// use entra_appreg::graph::GraphRequest;
    /// let r = GraphRequest::post("/applications/x/addPassword", &serde_json::json!({}))?
    ///     .non_idempotent();
    /// assert!(!r.is_idempotent());
    /// assert!(GraphRequest::get("/applications").is_idempotent());
    /// # Ok::<(), entra_appreg::Error>(())
    /// ```
    pub fn non_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    /// Marks a `POST` or `PATCH` as safe to send twice: sending it again after a 5xx or a lost
    /// connection has the effect of sending it once (a second `POST /servicePrincipals` for the
    /// same app is refused with 409, say; a `PATCH` that sets properties to given values leaves
    /// them so however often it is carried out).
    ///
    /// ```
    /// use entra_appreg::graph::GraphRequest;
    /// let body = serde_json::json!({"appId": "00000003-0000-0000-c000-000000000000"});
    /// assert!(!GraphRequest::post("/servicePrincipals", &body)?.is_idempotent());
    /// assert!(GraphRequest::post("/servicePrincipals", &body)?.idempotent().is_idempotent());
    /// assert!(!GraphRequest::patch("/applications/x", &body)?.is_idempotent());
    /// # Ok::<(), entra_appreg::Error>(())
    /// ```
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Whether sending the request twice has the effect of sending it once (`GET`, `HEAD`,
    /// `PUT`, `DELETE` and `OPTIONS`, unless marked otherwise; see
    /// [`non_idempotent`](Self::non_idempotent) and
    /// [`idempotent`](Self::idempotent)).
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path and query, relative to `/v1.0`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path without the query, as shown in errors and logs.
    pub fn path_without_query(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// The JSON body.
    pub fn body(&self) -> Option<&serde_json::Value> {
        self.body.as_ref()
    }

    /// The headers added to this request.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// `METHOD /path` for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path_without_query())
    }
}

impl fmt::Debug for GraphRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies can hold key material: show only their size.
        f.debug_struct("GraphRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("idempotent", &self.idempotent)
            .field(
                "body",
                &self
                    .body
                    .as_ref()
                    .map(|b| format!("<{} bytes of JSON>", b.to_string().len())),
            )
            .finish()
    }
}

/// Percent-encodes a query value, keeping OData's readable characters (`'`, `(`, `)`, `,`, `$`).
pub(crate) fn encode_query_value(value: &str) -> String {
    encode(value, |b| {
        b.is_ascii_alphanumeric() || b"-._~'(),$:".contains(&b)
    })
}

/// Percent-encodes a key literal inside a path segment, as in `/applications(uniqueName='…')`.
pub(crate) fn encode_path_literal(literal: &str) -> String {
    encode(literal, |b| {
        b.is_ascii_alphanumeric() || b"-._~'".contains(&b)
    })
}

fn encode(value: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A successful Graph reply.
#[derive(Clone)]
pub struct GraphResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) request: String,
}

impl GraphResponse {
    /// HTTP status (2xx).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reply headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Graph's `request-id` for this reply.
    pub fn request_id(&self) -> Option<&str> {
        self.headers.get("request-id").and_then(|v| v.to_str().ok())
    }

    /// Whether the reply has no body (as for 204).
    pub fn is_empty(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// Decodes the JSON body; an empty, truncated or non-JSON body is an [`Error::Decode`].
    ///
    /// # Errors
    ///
    /// [`Error::Decode`](crate::Error::Decode), with the status, content type and request-id of the
    /// reply.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        decode_json(
            &self.body,
            &self.request,
            Some(self.status),
            self.headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            self.request_id(),
        )
    }

    /// Decodes the body when there is one (`None` for a 204 without body).
    ///
    /// # Errors
    ///
    /// As [`json`](Self::json) for a body that is there.
    pub fn json_opt<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        if self.is_empty() {
            Ok(None)
        } else {
            self.json().map(Some)
        }
    }
}

/// A reply body can hold a new secret (`addPassword`) or other data the caller keeps to itself:
/// it is wiped when the reply is dropped.
impl Drop for GraphResponse {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

impl fmt::Debug for GraphResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A body can hold a new secret (addPassword): never print it.
        f.debug_struct("GraphResponse")
            .field("status", &self.status)
            .field("request", &self.request)
            .field("request_id", &self.request_id())
            .field("body", &format!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// Decodes a JSON body into `T`, or a typed decode error with a scrubbed snippet.
pub(crate) fn decode_json<T: DeserializeOwned>(
    body: &[u8],
    request: &str,
    status: Option<u16>,
    content_type: Option<&str>,
    request_id: Option<&str>,
) -> Result<T> {
    let fail = |reason: String| {
        let mut d = DecodeError::new(format!("the reply to {request}"), reason, body);
        d.status = status;
        d.content_type = content_type.map(redact::short);
        d.request_id = request_id.map(redact::short);
        Error::decode(d)
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(fail("the body is empty where JSON was expected".into()));
    }
    serde_json::from_slice(body).map_err(|e| fail(DecodeError::reason_from_json(&e)))
}

#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "innerError", alias = "innererror")]
    inner: Option<InnerError>,
}

#[derive(serde::Deserialize)]
struct InnerError {
    #[serde(default)]
    date: Option<String>,
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
    #[serde(default, rename = "client-request-id")]
    client_request_id: Option<String>,
}

/// Reads headers by name, case-insensitively, from either a `HeaderMap` or a batch item's map.
pub(crate) trait HeaderLookup {
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl HeaderLookup for HeaderMap {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

impl HeaderLookup for std::collections::BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Builds the [`GraphError`] for a failed reply. A body that is not Graph's error shape (an HTML
/// page from a proxy, say) still gives a typed error, with a scrubbed snippet as its message.
pub(crate) fn graph_error(
    request: &str,
    status: u16,
    headers: &dyn HeaderLookup,
    body: &[u8],
    attempts: u32,
) -> GraphError {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body).ok();
    let (code, message, inner) = match parsed {
        Some(env) => (env.error.code, env.error.message, env.error.inner),
        None => {
            let ct = headers.lookup("content-type").unwrap_or("no content type");
            let message = if body.iter().all(u8::is_ascii_whitespace) {
                format!("empty reply ({ct})")
            } else {
                format!(
                    "the reply is not a Graph error ({ct}); body starts: {}",
                    redact::snippet(body)
                )
            };
            (None, Some(message), None)
        }
    };
    let inner = inner.unwrap_or(InnerError {
        date: None,
        request_id: None,
        client_request_id: None,
    });
    GraphError {
        status,
        code: code.map(|c| redact::bounded(&c, 100)),
        message: message.map(|m| redact::message(&m, 500)),
        request_id: headers
            .lookup("request-id")
            .map(str::to_owned)
            .or(inner.request_id)
            .map(|s| redact::short(&s)),
        client_request_id: headers
            .lookup("client-request-id")
            .map(str::to_owned)
            .or(inner.client_request_id)
            .map(|s| redact::short(&s)),
        date: inner.date.map(|s| redact::short(&s)),
        request: request.to_owned(),
        attempts,
        retry_after: headers
            .lookup("retry-after")
            .and_then(crate::retry::parse_retry_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_keeps_code_and_ids() {
        let body = include_bytes!("../../tests/fixtures/error-authorization-denied.json");
        let e = graph_error("POST /x", 403, &HeaderMap::new(), body, 1);
        assert_eq!(e.code.as_deref(), Some("Authorization_RequestDenied"));
        assert!(e.request_id.is_some() && e.client_request_id.is_some() && e.date.is_some());
    }

    #[test]
    fn html_error_page_is_a_typed_error_with_a_snippet() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/html".parse().unwrap());
        let body = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let e = graph_error("GET /applications", 502, &h, body, 1);
        assert_eq!(e.status, 502);
        assert!(e.code.is_none());
        assert!(e.message.unwrap().contains("502 Bad Gateway"));
    }

    #[test]
    fn decode_json_reports_empty_and_truncated_bodies() {
        let e = decode_json::<serde_json::Value>(b"", "GET /x", Some(200), None, None).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = decode_json::<serde_json::Value>(
            br#"{"value":[{"id":"#,
            "GET /x",
            Some(200),
            None,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn path_literals_are_encoded_for_a_segment() {
        assert_eq!(encode_path_literal("'a b/c''d'"), "'a%20b%2Fc''d'");
        assert_eq!(encode_query_value("a&b=c#"), "a%26b%3Dc%23");
    }
}
