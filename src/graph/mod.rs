//! The Microsoft Graph client: request building, retries, error decoding, `$batch`, models.
//!
//! [`Graph`] knows nothing about permission profiles; it sends [`GraphRequest`]s, retries what
//! may be retried ([`RetryPolicy`]), turns error replies into [`Error`]s that keep Graph's ids,
//! and counts the HTTP requests it sends so callers can report and test round trips.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tracing::Instrument;

use crate::auth::{AccessToken, TokenContext, TokenProvider};
use crate::cloud::{Cloud, Endpoints};
use crate::error::{Error, Result};
use crate::ids::{Tenant, TenantId};
use crate::retry::{RetryPolicy, Sleeper, TokioSleeper};
use crate::transport::GraphTransport;

mod batch;
pub mod models;
mod request;
pub mod requests;

pub use batch::{BatchItem, BatchItemResponse};
pub use request::{GraphRequest, GraphResponse};

/// A Microsoft Graph client for one tenant. Cheap to clone (shared inside).
///
/// ```no_run
/// # async fn run() -> entra_appreg::Result<()> {
/// use entra_appreg::{Graph, auth::DeviceCodeCredential};
/// let graph = Graph::builder()
///     .tenant("contoso.onmicrosoft.com")
///     .token_provider(DeviceCodeCredential::new(|p| eprintln!("{}", p.message)))
///     .build()?;
/// let tenant_id = graph.tenant_id().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Graph {
    inner: Arc<Inner>,
}

struct Inner {
    tenant: Tenant,
    tenant_id: OnceLock<TenantId>,
    endpoints: Endpoints,
    token: Arc<dyn TokenProvider>,
    transport: Arc<dyn GraphTransport>,
    retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
    requests_sent: AtomicU64,
}

impl Graph {
    /// Starts building a client.
    pub fn builder() -> GraphBuilder {
        GraphBuilder::default()
    }

    /// The tenant as the caller named it.
    pub fn tenant(&self) -> &Tenant {
        &self.inner.tenant
    }

    /// The tenant GUID: as given, or read from the `tid` claim of the signed-in token when the
    /// tenant was named by a domain (this may trigger the sign-in).
    ///
    /// # Errors
    ///
    /// A sign-in failure ([`Error::Graph`], [`Error::Auth`], [`Error::Transport`] or
    /// [`Error::Decode`]) when the tenant was named by a domain, or [`Error::InvalidInput`] when
    /// the token carries no `tid` claim.
    pub async fn tenant_id(&self) -> Result<TenantId> {
        if let Some(id) = self
            .inner
            .tenant
            .id()
            .or(self.inner.tenant_id.get().copied())
        {
            return Ok(id);
        }
        let token = self.access_token().await?;
        let tid = token.claims().and_then(|c| c.tid).ok_or_else(|| {
            Error::invalid_input(
                "tenant",
                format!(
                    "the tenant was given as {} and the access token carries no tid claim to resolve it; pass the tenant GUID",
                    self.inner.tenant
                ),
            )
        })?;
        Ok(*self.inner.tenant_id.get_or_init(|| tid))
    }

    /// The endpoints this client talks to.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The sleeper every wait goes through.
    pub fn sleeper(&self) -> &dyn Sleeper {
        self.inner.sleeper.as_ref()
    }

    /// The transport (also used for token requests).
    pub fn transport(&self) -> &dyn GraphTransport {
        self.inner.transport.as_ref()
    }

    /// How many HTTP requests this client has sent to Graph (retries included, a `$batch`
    /// envelope counted once, token requests not counted).
    pub fn request_count(&self) -> u64 {
        self.inner.requests_sent.load(Ordering::Relaxed)
    }

    /// A token for Graph from the configured provider (signing in if needed).
    ///
    /// # Errors
    ///
    /// Whatever the token provider returns: see [`TokenProvider::token`].
    pub async fn access_token(&self) -> Result<AccessToken> {
        let ctx = TokenContext::new(
            self.inner.transport.as_ref(),
            &self.inner.endpoints,
            &self.inner.tenant,
            self.inner.sleeper.as_ref(),
        );
        self.inner.token.token(&ctx).await
    }

    /// Signs in with another provider against the same tenant, endpoints and transport (for
    /// example to check that a new app's credential works).
    ///
    /// # Errors
    ///
    /// Whatever `provider` returns: see [`TokenProvider::token`].
    pub async fn token_from(&self, provider: &dyn TokenProvider) -> Result<AccessToken> {
        let ctx = TokenContext::new(
            self.inner.transport.as_ref(),
            &self.inner.endpoints,
            &self.inner.tenant,
            self.inner.sleeper.as_ref(),
        );
        provider.token(&ctx).await
    }

    /// Sends a request, retrying throttling (429 after `Retry-After`), 503/504 and connection
    /// failures that happened before sending. Any other non-2xx reply is an [`Error::Graph`].
    ///
    /// A [non-idempotent](GraphRequest::non_idempotent) request is sent again only after a 429
    /// or a connection failure before sending: after a 5xx reply, or a connection lost once it
    /// may have reached Graph, it fails at once with [`Error::MayHaveTakenEffect`].
    ///
    /// # Errors
    ///
    /// [`Error::Graph`] for a non-2xx reply once retries are spent (or at once for one that is not
    /// retried), a sign-in error from the token provider, [`Error::Transport`] when the request
    /// could not be carried, [`Error::MayHaveTakenEffect`] as described above, and
    /// [`Error::InvalidInput`] when the request cannot be built.
    pub async fn send(&self, request: &GraphRequest) -> Result<GraphResponse> {
        let span = tracing::debug_span!(
            "graph.request",
            method = %request.method,
            path = request.path_without_query(),
        );
        self.send_inner(request).instrument(span).await
    }

    /// Sends a request and decodes its JSON reply.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); [`Error::Decode`] when the reply is not the expected JSON.
    pub async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        request: &GraphRequest,
    ) -> Result<T> {
        self.send(request).await?.json()
    }

    async fn send_inner(&self, request: &GraphRequest) -> Result<GraphResponse> {
        let policy = &self.inner.retry;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let url = self.inner.endpoints.graph_url(&request.path);
        let describe = request.describe();
        let body = match &request.body {
            Some(v) => serde_json::to_vec(v)
                .map_err(|e| Error::invalid_input("request body", e.to_string()))?,
            None => Vec::new(),
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = self.access_token().await?;
            let mut builder = http::Request::builder()
                .method(request.method.clone())
                .uri(&url)
                .header(http::header::ACCEPT, "application/json")
                .header("client-request-id", &client_request_id)
                .header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {}", token.expose_secret()),
                );
            if request.body.is_some() {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            }
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let http_request = builder.body(body.clone()).map_err(|e| {
                Error::invalid_input("request", format!("{describe} cannot be built: {e}"))
            })?;
            self.inner.requests_sent.fetch_add(1, Ordering::Relaxed);
            let outcome = self.inner.transport.send(http_request).await;
            let response = match outcome {
                Ok(r) => r,
                Err(e) if !e.may_have_reached_server() && attempt < policy.max_attempts => {
                    let wait = policy.backoff(attempt);
                    tracing::warn!(error = %e, ?wait, attempt, "request not sent; retrying");
                    self.inner.sleeper.sleep(wait).await;
                    continue;
                }
                Err(e) if e.may_have_reached_server() && !request.is_idempotent() => {
                    return Err(Error::may_have_taken_effect_of(describe, e.into()));
                }
                Err(e) => return Err(e.into()),
            };
            let status = response.status().as_u16();
            let (parts, body_bytes) = response.into_parts();
            let request_id = parts
                .headers
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::debug!(status, request_id, attempt, "graph reply");
            if (200..300).contains(&status) {
                return Ok(GraphResponse {
                    status,
                    headers: parts.headers,
                    body: body_bytes,
                    request: describe,
                });
            }
            let error =
                request::graph_error(&describe, status, &parts.headers, &body_bytes, attempt);
            if may_resend(request.is_idempotent(), status) && attempt < policy.max_attempts {
                let wait = match error.retry_after {
                    Some(after) => policy.retry_after(after),
                    None => policy.backoff(attempt),
                };
                tracing::warn!(
                    status,
                    ?wait,
                    attempt,
                    request_id,
                    "throttled or unavailable; retrying"
                );
                self.inner.sleeper.sleep(wait).await;
                continue;
            }
            if status == 401 {
                self.inner.token.invalidate();
            }
            if status >= 500 && !request.is_idempotent() {
                tracing::warn!(
                    status,
                    request_id,
                    "a request that must not be sent twice failed after reaching Graph; not resending it"
                );
                return Err(Error::may_have_taken_effect_of(
                    describe,
                    Error::graph(error),
                ));
            }
            return Err(Error::graph(error));
        }
    }
}

/// Whether a reply with this status is answered by sending the request again.
///
/// 429: Graph's throttling guidance says a throttled request fails, so it is sent again after
/// `Retry-After` whatever it does. 503 and 504 leave open whether Graph carried the request out:
/// only an idempotent request is sent again after them.
pub(crate) fn may_resend(idempotent: bool, status: u16) -> bool {
    match status {
        429 => true,
        503 | 504 => idempotent,
        _ => false,
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("tenant", &self.inner.tenant)
            .field("endpoints", &self.inner.endpoints)
            .field("token", &self.inner.token)
            .field("retry", &self.inner.retry)
            .field("requests_sent", &self.request_count())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Graph`].
#[derive(Default)]
pub struct GraphBuilder {
    tenant: Option<String>,
    cloud: Option<Cloud>,
    graph_root: Option<String>,
    login_root: Option<String>,
    endpoints: Option<Endpoints>,
    token: Option<Arc<dyn TokenProvider>>,
    transport: Option<Arc<dyn GraphTransport>>,
    retry: Option<RetryPolicy>,
    sleeper: Option<Arc<dyn Sleeper>>,
}

impl GraphBuilder {
    /// The tenant: its GUID or one of its domains (required).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The cloud (default: global).
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = Some(cloud);
        self
    }

    /// Overrides the Graph root (a fake or a proxy). Plain `http://` only for loopback.
    pub fn graph_root(mut self, root: impl Into<String>) -> Self {
        self.graph_root = Some(root.into());
        self
    }

    /// Overrides the login root. Plain `http://` only for loopback.
    pub fn login_root(mut self, root: impl Into<String>) -> Self {
        self.login_root = Some(root.into());
        self
    }

    /// Sets all endpoints at once (overrides `cloud`, `graph_root` and `login_root`).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = Some(endpoints);
        self
    }

    /// How to sign in (required). An `Arc` of a provider shares it (and its token cache) with
    /// other clients.
    pub fn token_provider(mut self, provider: impl TokenProvider + 'static) -> Self {
        self.token = Some(Arc::new(provider));
        self
    }

    /// The transport (default: [`ReqwestTransport`](crate::transport::ReqwestTransport)). An
    /// `Arc` of a transport shares it (and its connection pool) with other clients.
    pub fn transport(mut self, transport: impl GraphTransport + 'static) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The sleeper for every wait (default: [`TokioSleeper`]).
    pub fn sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Some(Arc::new(sleeper));
        self
    }

    /// Validates the settings and builds the client. Nothing is sent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] without a tenant or a token provider, for a malformed tenant or root
    /// URL, plain `http://` to a host that is not loopback, `max_attempts` 0, a provider that
    /// refuses the endpoints ([`TokenProvider::check_endpoints`]), or no transport when the
    /// `reqwest` feature is off; [`Error::Transport`] when the default transport cannot be built.
    pub fn build(self) -> Result<Graph> {
        let tenant: Tenant = self
            .tenant
            .as_deref()
            .ok_or_else(|| {
                Error::invalid_input(
                    "tenant",
                    "is required: pass the tenant GUID or a domain such as contoso.onmicrosoft.com",
                )
            })?
            .parse()?;
        let endpoints = match self.endpoints {
            Some(e) => e,
            None => {
                let mut e = Endpoints::for_cloud(self.cloud.unwrap_or_default());
                if let Some(root) = self.graph_root {
                    e = e.with_graph_root(root)?;
                }
                if let Some(root) = self.login_root {
                    e = e.with_login_root(root)?;
                }
                e
            }
        };
        let token = self.token.ok_or_else(|| {
            Error::invalid_input(
                "token provider",
                "is required: choose how to sign in (device code, client secret, static token)",
            )
        })?;
        token.check_endpoints(&endpoints)?;
        let transport = match self.transport {
            Some(t) => t,
            None => default_transport()?,
        };
        let retry = self.retry.unwrap_or_default();
        if retry.max_attempts == 0 {
            return Err(Error::invalid_input(
                "retry policy",
                "max_attempts must be at least 1",
            ));
        }
        Ok(Graph {
            inner: Arc::new(Inner {
                tenant,
                tenant_id: OnceLock::new(),
                endpoints,
                token,
                transport,
                retry,
                sleeper: self.sleeper.unwrap_or_else(|| Arc::new(TokioSleeper)),
                requests_sent: AtomicU64::new(0),
            }),
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_transport() -> Result<Arc<dyn GraphTransport>> {
    Ok(Arc::new(crate::transport::ReqwestTransport::new()?))
}

#[cfg(not(feature = "reqwest"))]
fn default_transport() -> Result<Arc<dyn GraphTransport>> {
    Err(Error::invalid_input(
        "transport",
        "is required: the `reqwest` feature is off, so pass a GraphTransport",
    ))
}

impl fmt::Debug for GraphBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("tenant", &self.tenant)
            .field("cloud", &self.cloud)
            .finish_non_exhaustive()
    }
}
