//! How Graph and login requests reach the network.
//!
//! [`GraphTransport`] is an object-safe async trait over the `http` crate's request and response
//! types, so any HTTP stack can carry the crate's traffic: [`ReqwestTransport`] (feature
//! `reqwest`, on by default), a corporate proxy client, or a closure in a unit test:
//!
//! ```
//! use entra_appreg::transport::{GraphTransport, TransportError};
//!
//! let transport = |request: http::Request<Vec<u8>>| async move {
//!     assert_eq!(request.method(), http::Method::GET);
//!     Ok::<_, TransportError>(
//!         http::Response::builder().status(200).body(br#"{"value":[]}"#.to_vec()).unwrap(),
//!     )
//! };
//! let _object: &dyn GraphTransport = &transport;
//! ```
//!
//! Token requests go through the same transport, so a fake can serve the login endpoints too.

use std::fmt;
use std::future::Future;

use async_trait::async_trait;

#[cfg(feature = "reqwest")]
mod reqwest_transport;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest_transport::ReqwestTransport;

/// The largest response body a transport should accept (Graph's replies are far smaller).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Carries one HTTP request and returns its response.
///
/// Implementations must not follow redirects (a redirect could carry the bearer token to another
/// host) and should bound the size of a response body ([`MAX_RESPONSE_BYTES`]).
#[async_trait]
pub trait GraphTransport: Send + Sync {
    /// Sends the request and returns the full response, whatever its status.
    ///
    /// # Errors
    ///
    /// [`TransportError`] when no reply came back, saying whether the request may have reached the
    /// server. A reply with an error status is not an error here.
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError>;
}

#[async_trait]
impl<F, Fut> GraphTransport for F
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send,
{
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        (self)(request).await
    }
}

/// A transport shared between clients: `Arc<ReqwestTransport>` or `Arc<dyn GraphTransport>`
/// is a transport too, so one connection pool can serve many [`Graph`](crate::Graph) clients.
#[async_trait]
impl<T: GraphTransport + ?Sized> GraphTransport for std::sync::Arc<T> {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        (**self).send(request).await
    }
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be made (DNS, refused, TLS handshake): nothing was sent.
    Connect,
    /// No complete reply in time.
    Timeout,
    /// The connection failed while the request or reply was in flight.
    Io,
    /// The server answered with a redirect, which the crate never follows.
    Redirect,
    /// The reply was larger than allowed.
    BodyTooLarge,
    /// The URL was refused before sending (plain `http://` to a host that is not loopback).
    InsecureUrl,
    /// Anything else.
    Other,
}

/// A request that could not be carried.
///
/// It records whether the request may have reached the server: a write that may have been
/// applied must not be blindly repeated. The underlying failure (reqwest's error, say) is its
/// [`source`](std::error::Error::source).
#[derive(Debug, Clone)]
pub struct TransportError {
    kind: TransportErrorKind,
    may_have_reached_server: bool,
    message: String,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A failure that happened before any byte of the request was sent.
    pub fn not_sent(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            may_have_reached_server: false,
            message: crate::redact::scrub(&message.into()),
            source: None,
        }
    }

    /// A failure after the request may have reached the server.
    pub fn maybe_sent(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            may_have_reached_server: true,
            message: crate::redact::scrub(&message.into()),
            source: None,
        }
    }

    /// Keeps the underlying failure as this error's [`source`](std::error::Error::source).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether the server may have received (and acted on) the request.
    pub fn may_have_reached_server(&self) -> bool {
        self.may_have_reached_server
    }

    /// What to do about it.
    pub fn advice(&self) -> &'static str {
        match self.kind {
            TransportErrorKind::Connect | TransportErrorKind::Timeout => {
                "check network access to Microsoft's login and Graph hosts, and any proxy settings"
            }
            TransportErrorKind::Redirect => {
                "a redirect can carry the sign-in token to another host, so none is followed: check the Graph and login URLs, and any proxy"
            }
            TransportErrorKind::InsecureUrl => "use an https:// URL",
            TransportErrorKind::BodyTooLarge => {
                "a proxy may be answering in Graph's place: check that it lets Graph traffic through unchanged"
            }
            _ => {
                "run again; if it persists, check the network and any proxy between this machine and Microsoft"
            }
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TransportErrorKind::Connect => "could not connect",
            TransportErrorKind::Timeout => "timed out",
            TransportErrorKind::Io => "connection failed",
            TransportErrorKind::Redirect => "redirect refused",
            TransportErrorKind::BodyTooLarge => "reply too large",
            TransportErrorKind::InsecureUrl => "insecure URL refused",
            TransportErrorKind::Other => "transport error",
        };
        f.write_str(what)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.may_have_reached_server {
            write!(f, " (the request may have reached the server)")
        } else {
            write!(f, " (the request was not sent)")
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Whether a URL may be used: `https`, or plain `http` only to a loopback host.
///
/// # Errors
///
/// [`TransportError`] of kind [`InsecureUrl`](TransportErrorKind::InsecureUrl), not sent, for any
/// scheme other than `https`, and for plain `http` to a host that is not loopback.
pub fn check_url_allowed(url: &url::Url) -> Result<(), TransportError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        scheme => Err(TransportError::not_sent(
            TransportErrorKind::InsecureUrl,
            format!(
                "{scheme}:// to {} — only https is allowed, and plain http only to a loopback address",
                url.host_str().unwrap_or("?")
            ),
        )),
    }
}

pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in [
            "https://graph.microsoft.com",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:3000",
        ] {
            assert!(check_url_allowed(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://graph.microsoft.com",
            "http://10.0.0.1",
            "http://localhost.evil.com",
            "ftp://127.0.0.1",
        ] {
            let e = check_url_allowed(&bad.parse().unwrap()).unwrap_err();
            assert_eq!(e.kind(), TransportErrorKind::InsecureUrl);
            assert!(!e.may_have_reached_server());
        }
    }

    #[tokio::test]
    async fn a_closure_is_a_transport() {
        let t = |req: http::Request<Vec<u8>>| async move {
            Ok::<_, TransportError>(
                http::Response::builder()
                    .status(200)
                    .body(req.uri().path().as_bytes().to_vec())
                    .unwrap(),
            )
        };
        let boxed: Box<dyn GraphTransport> = Box::new(t);
        let resp = boxed
            .send(
                http::Request::get("http://127.0.0.1/v1.0/x")
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.body(), b"/v1.0/x");
    }

    #[test]
    fn transport_error_messages_are_scrubbed() {
        let e = TransportError::maybe_sent(
            TransportErrorKind::Io,
            "reset while sending client_secret=abc123",
        );
        assert!(!e.to_string().contains("abc123"));
    }
}
