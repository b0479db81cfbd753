//! Replies of the fake, and the Graph error shape.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// The content type Graph answers JSON with.
pub(crate) const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// The content type of the token endpoints.
pub(crate) const LOGIN_JSON: &str = "application/json; charset=utf-8";
/// The content type of the pages the authorize endpoint shows the browser.
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// A reply before it becomes an HTTP response (or a `$batch` item).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A page for a browser, written as is (then `body` is `None`).
    pub html: Option<String>,
    pub content_type: &'static str,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
            html: None,
            content_type: GRAPH_JSON,
        }
    }

    /// An HTML page (`text/html; charset=utf-8`), written as is: escape what goes into it.
    pub fn html(status: u16, page: String) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
            html: Some(page),
            content_type: HTML,
        }
    }

    /// `302 Found` to `location`, without a body.
    pub fn redirect(location: impl Into<String>) -> Self {
        Self {
            status: 302,
            headers: vec![("Location".to_owned(), location.into())],
            body: None,
            html: None,
            content_type: HTML,
        }
    }

    /// `204 No Content`, empty body.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: None,
            html: None,
            content_type: GRAPH_JSON,
        }
    }

    /// A Graph error: `{"error":{"code","message"}}`; `innerError` is added when the reply is
    /// finalised.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self::json(
            status,
            json!({"error": {"code": code, "message": message.into()}}),
        )
    }

    /// A Graph error with `details`.
    pub fn error_with_details(status: u16, code: &str, message: &str, details: Value) -> Self {
        Self::json(
            status,
            json!({"error": {"code": code, "message": message, "details": details}}),
        )
    }

    /// `400 Request_BadRequest` (the directory's own validation errors).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::error(400, "Request_BadRequest", message)
    }

    /// `400 BadRequest` (OData-level errors: syntax, unknown segments, unreadable payloads).
    pub fn odata_bad_request(message: impl Into<String>) -> Self {
        Self::error(400, "BadRequest", message)
    }

    /// The reply to a body that is not valid JSON (or not an object).
    pub fn unreadable_json() -> Self {
        Self::odata_bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }

    /// `404 Request_ResourceNotFound` for an object key as the client wrote it.
    pub fn not_found(key: &str) -> Self {
        Self::error(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// `403 Authorization_RequestDenied`.
    pub fn forbidden() -> Self {
        Self::error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// `400 Request_BadRequest` for an id that is not a GUID.
    pub fn invalid_id(id: &str) -> Self {
        Self::bad_request(format!("Invalid object identifier '{id}'."))
    }

    /// An error reply for an arbitrary status (injected faults, throttling).
    pub fn for_status(status: u16) -> Self {
        let (code, message) = match status {
            400 => ("BadRequest", "The request is invalid."),
            401 => (
                "InvalidAuthenticationToken",
                "Access token validation failure.",
            ),
            403 => (
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ),
            404 => (
                "Request_ResourceNotFound",
                "Resource does not exist or one of its queried reference-property objects are not present.",
            ),
            409 => ("Conflict", "The request conflicts with the current state."),
            429 => (
                "TooManyRequests",
                "Too many requests. Please retry again later.",
            ),
            502 => ("BadGateway", "The gateway received an invalid response."),
            503 => (
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please retry later.",
            ),
            504 => ("GatewayTimeout", "The gateway timed out."),
            _ => (
                "InternalServerError",
                "An internal server error occurred. Please retry later.",
            ),
        };
        Self::error(status, code, message)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Adds Graph's `request-id`/`client-request-id` headers, and `innerError` to an error body.
    pub fn finalize_graph(&mut self, request_id: &str, client_request_id: &str, date: &str) {
        if let Some(Value::Object(body)) = &mut self.body
            && let Some(Value::Object(error)) = body.get_mut("error")
            && self.status >= 400
        {
            error.insert(
                "innerError".to_owned(),
                json!({
                    "date": date,
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                }),
            );
        }
        self.headers
            .push(("request-id".to_owned(), request_id.to_owned()));
        self.headers
            .push(("client-request-id".to_owned(), client_request_id.to_owned()));
        if self.body.is_some() {
            self.headers
                .push(("OData-Version".to_owned(), "4.0".to_owned()));
        }
    }

    /// The wiremock response.
    pub fn into_template(self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        if let Some(page) = self.html {
            t = t.set_body_raw(page.into_bytes(), self.content_type);
        } else if let Some(body) = &self.body {
            let bytes = serde_json::to_vec(body).unwrap_or_default();
            t = t.set_body_raw(bytes, self.content_type);
        }
        t = t.append_header("Cache-Control", "no-cache");
        for (k, v) in self.headers {
            t = t.append_header(k.as_str(), v.as_str());
        }
        t
    }
}
