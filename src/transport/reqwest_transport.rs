//! [`ReqwestTransport`]: the default transport, reqwest 0.13 with rustls.

use std::time::Duration;

use async_trait::async_trait;

use super::{
    GraphTransport, MAX_RESPONSE_BYTES, TransportError, TransportErrorKind, check_url_allowed,
};

/// The default transport: reqwest with rustls, redirects off, bounded timeouts and body size.
///
/// ```no_run
/// use entra_appreg::transport::ReqwestTransport;
/// let transport = ReqwestTransport::new().expect("TLS backend available");
/// ```
///
/// Proxies come from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), as
/// reqwest reads them, for Microsoft's endpoints only: a loopback URL (a fake Graph, a test
/// server, the browser sign-in's redirect) always goes direct, so that a proxy never sees
/// traffic meant for this machine, bearer token included.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    /// For loopback URLs: the same settings, never through a proxy. `None` for a client the
    /// caller configured, which is used as it is.
    direct: Option<reqwest::Client>,
    max_body: usize,
}

impl ReqwestTransport {
    /// Connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
    /// Timeout for a whole request, reply included.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(100);

    /// Builds the transport with the default timeouts.
    ///
    /// # Errors
    ///
    /// [`TransportError`] of kind [`Other`](crate::transport::TransportErrorKind::Other) when the
    /// HTTP client cannot be built (its TLS backend cannot start).
    pub fn new() -> Result<Self, TransportError> {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Self::CONNECT_TIMEOUT)
                .timeout(Self::REQUEST_TIMEOUT)
                .user_agent(concat!("entra-appreg/", env!("CARGO_PKG_VERSION")))
        };
        let failed = |e| TransportError::not_sent(TransportErrorKind::Other, "").with_source(e);
        let client = builder().build().map_err(failed)?;
        let direct = builder().no_proxy().build().map_err(failed)?;
        Ok(Self {
            client,
            direct: Some(direct),
            max_body: MAX_RESPONSE_BYTES,
        })
    }

    /// Wraps a reqwest client the caller configured (proxy, roots), used for every URL, loopback
    /// included. Make sure it does not follow redirects: this transport refuses them anyway.
    pub fn with_client(client: reqwest::Client) -> Self {
        Self {
            client,
            direct: None,
            max_body: MAX_RESPONSE_BYTES,
        }
    }

    /// Sets the largest response body accepted.
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }
}

/// The kind of a reqwest failure, and whether the request may have gone out. reqwest's error
/// (with its own causes) is kept as the source.
fn classify(e: reqwest::Error) -> TransportError {
    let error = if e.is_connect() {
        TransportError::not_sent(TransportErrorKind::Connect, "")
    } else if e.is_timeout() {
        TransportError::maybe_sent(TransportErrorKind::Timeout, "")
    } else if e.is_builder() {
        TransportError::not_sent(TransportErrorKind::Other, "")
    } else {
        TransportError::maybe_sent(TransportErrorKind::Io, "")
    };
    error.with_source(e)
}

#[async_trait]
impl GraphTransport for ReqwestTransport {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let url: url::Url = request.uri().to_string().parse().map_err(|_| {
            TransportError::not_sent(TransportErrorKind::Other, "the request URL is not valid")
        })?;
        check_url_allowed(&url)?;
        let client = match &self.direct {
            Some(direct) if super::is_loopback(&url) => direct,
            _ => &self.client,
        };
        let request =
            reqwest::Request::try_from(request.map(reqwest::Body::from)).map_err(classify)?;
        let mut response = client.execute(request).await.map_err(classify)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(TransportError::maybe_sent(
                TransportErrorKind::Redirect,
                format!(
                    "the server answered {status} to {}; redirects are never followed",
                    url.host_str().unwrap_or("?")
                ),
            ));
        }
        if let Some(len) = response.content_length()
            && len > self.max_body as u64
        {
            return Err(TransportError::maybe_sent(
                TransportErrorKind::BodyTooLarge,
                format!(
                    "the reply announces {len} bytes; at most {} are accepted",
                    self.max_body
                ),
            ));
        }
        let mut builder = http::Response::builder()
            .status(status)
            .version(response.version());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(TransportError::maybe_sent(
                    TransportErrorKind::BodyTooLarge,
                    format!("the reply is larger than {} bytes", self.max_body),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body)
            .map_err(|e| TransportError::maybe_sent(TransportErrorKind::Other, "").with_source(e))
    }
}
