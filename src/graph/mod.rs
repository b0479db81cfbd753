//! The Microsoft Graph client: request building, retries, error decoding, `$batch`, models.
//!
//! [`Graph`] knows nothing about permission profiles; it sends [`GraphRequest`]s, retries what
//! may be retried ([`RetryPolicy`]), turns error replies into [`Error`]s that keep Graph's ids,
//! and counts the HTTP requests it sends so callers can report and test round trips.
//!
//! # What the crate sends
//!
//! Only request forms Microsoft documents (Graph v1.0), each built in one place, alone or
//! inside a `$batch`:
//!
//! | request | form | Microsoft reference |
//! |---|---|---|
//! | `application_by_unique_name` | `GET /applications(uniqueName='…')?$select=…` | the `uniqueName` alternate key of [Upsert application](https://learn.microsoft.com/graph/api/application-upsert), read as PowerShell's [`Get-MgApplicationByUniqueName`](https://learn.microsoft.com/powershell/module/microsoft.graph.applications/get-mgapplicationbyuniquename) does |
//! | `find_application_by_app_id` | `GET /applications?$filter=appId eq '…'&$select=…` | [List applications](https://learn.microsoft.com/graph/api/application-list); [application](https://learn.microsoft.com/graph/api/resources/application): `appId` supports `$filter` (`eq`) |
//! | `application_password_credentials` | `GET /applications/{id}?$select=id,appId,uniqueName,passwordCredentials` | [Get application](https://learn.microsoft.com/graph/api/application-get) |
//! | `application_key_credentials` | `GET /applications/{id}?$select=id,keyCredentials` | [keyCredential: `key` only with `$select` on a read by object id](https://learn.microsoft.com/graph/api/resources/keycredential) |
//! | `upsert_application` | `PATCH /applications(uniqueName='…')` + `Prefer: create-if-missing` | [Upsert application](https://learn.microsoft.com/graph/api/application-upsert) |
//! | `update_application` | `PATCH /applications/{id}` | [Update application](https://learn.microsoft.com/graph/api/application-update) |
//! | `delete_application` | `DELETE /applications/{id}` | [Delete application](https://learn.microsoft.com/graph/api/application-delete) |
//! | `add_password` | `POST /applications/{id}/addPassword` | [application: addPassword](https://learn.microsoft.com/graph/api/application-addpassword) |
//! | `remove_password` | `POST /applications/{id}/removePassword` | [application: removePassword](https://learn.microsoft.com/graph/api/application-removepassword) |
//! | `service_principals_by_app_ids` | `GET /servicePrincipals?$filter=appId in (…)&$select=…` | [List servicePrincipals](https://learn.microsoft.com/graph/api/serviceprincipal-list), [servicePrincipal](https://learn.microsoft.com/graph/api/resources/serviceprincipal): `appId` supports `$filter` (`eq`, `in`) |
//! | `service_principal_by_app_id` | `GET /servicePrincipals?$filter=appId eq '…'&$select=…` | as above |
//! | `create_service_principal` | `POST /servicePrincipals` | [Create servicePrincipal](https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals) |
//! | `grant_app_role` | `POST /servicePrincipals/{resource}/appRoleAssignedTo` | [Grant an appRoleAssignment for a service principal](https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto) |
//! | `app_role_assignments` | `GET /servicePrincipals/{id}/appRoleAssignments` | [List appRoleAssignments granted to a service principal](https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments) |
//! | `app_role_assignments_by_app_id` | `GET /servicePrincipals(appId='…')/appRoleAssignments` | as above (alternate key `appId`) |
//! | `revoke_app_role` | `DELETE /servicePrincipals/{id}/appRoleAssignments/{id}` | [Delete appRoleAssignment](https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignments) |
//! | `organization_domains` | `GET /organization?$select=id,verifiedDomains` | [List organization](https://learn.microsoft.com/graph/api/organization-list) |
//! | [`Graph::batch`] | `POST /$batch` (at most 20 requests) | [Combine multiple requests in one HTTP call using JSON batching](https://learn.microsoft.com/graph/json-batching) |
//!
//! Never sent: `$filter` on `uniqueName` (not filterable: Graph answers 400
//! `Request_UnsupportedQuery`), and paging through every service principal of a tenant.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tracing::Instrument;

use crate::auth::{AccessToken, TokenContext, TokenProvider};
use crate::cloud::{Cloud, Endpoints};
use crate::error::{Error, Result};
use crate::ids::{Tenant, TenantId};
use crate::retry::{
    self, Pause, Retry, RetryAction, RetryPolicy, Schedule, Sleeper, Tally, TokioSleeper,
};
use crate::transport::GraphTransport;

mod batch;
pub mod models;
mod request;
pub(crate) mod requests;

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
    /// The operation this handle counts requests for (see [`Graph::metered`]).
    meter: Option<Arc<Meter>>,
    /// The sleeper every wait goes through: the configured one, counted by the meter.
    sleeper: Arc<dyn Sleeper>,
}

/// The least time a request of an operation with a [deadline](Graph::with_deadline) is given
/// for its reply, however little of the budget is left.
pub(crate) const MIN_REQUEST_TIME: std::time::Duration = std::time::Duration::from_secs(10);

impl crate::retry::Deadline for Graph {
    fn time_left(&self) -> Option<std::time::Duration> {
        Graph::time_left(self)
    }
}

/// What one operation (a plan, an apply, a rotation) sent to Graph, counted apart from every
/// other use of the client: requests (retries included, a `$batch` envelope once, token
/// requests not at all) and round trips (waits for Graph: requests in flight together count
/// once). An operation inside another counts for both.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    requests: AtomicU64,
    round_trips: AtomicU64,
    in_flight: AtomicU64,
    /// Nanoseconds of waits (retries, polls, recoveries) the operation asked its sleeper for.
    slept_nanos: AtomicU64,
    /// The operation's time budget, from when it began (see [`Graph::with_deadline`]).
    deadline: Option<(std::time::Instant, std::time::Duration)>,
    outer: Option<Arc<Meter>>,
}

/// A sleeper that counts the waits of an operation into its meter (and the meters around it).
#[derive(Debug)]
struct MeteredSleeper {
    inner: Arc<dyn Sleeper>,
    meter: Arc<Meter>,
}

impl Sleeper for MeteredSleeper {
    fn sleep(&self, duration: std::time::Duration) -> crate::retry::SleepFuture {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let mut meter = Some(&self.meter);
        while let Some(m) = meter {
            m.slept_nanos.fetch_add(nanos, Ordering::Relaxed);
            meter = m.outer.as_ref();
        }
        self.inner.sleep(duration)
    }
}

impl Meter {
    /// HTTP requests sent.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Round trips: requests sent while none other of the operation was in flight.
    pub(crate) fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The waits the operation asked for, in all.
    pub(crate) fn slept(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.slept_nanos.load(Ordering::Relaxed))
    }

    /// What is left of the budget of this operation and of those around it: the budget less
    /// the time spent, which is the wall clock or the waits asked of the sleeper (a test's does
    /// not really sleep), whichever is more. `None`: no budget.
    fn time_left(&self) -> Option<std::time::Duration> {
        let own = self
            .deadline
            .map(|(started, budget)| budget.saturating_sub(started.elapsed().max(self.slept())));
        let outer = self.outer.as_ref().and_then(|o| o.time_left());
        match (own, outer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn sending(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.round_trips.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(outer) = &self.outer {
            outer.sending();
        }
    }

    fn answered(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(outer) = &self.outer {
            outer.answered();
        }
    }
}

/// A request in flight, for the operation's meter; answered when dropped (a reply, an error, or
/// a caller that stopped waiting).
struct InFlight<'a>(Option<&'a Meter>);

impl<'a> InFlight<'a> {
    fn start(meter: Option<&'a Meter>) -> Self {
        if let Some(m) = meter {
            m.sending();
        }
        Self(meter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.0 {
            m.answered();
        }
    }
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
            Error::decode(crate::error::DecodeError::new(
                "the access token",
                format!(
                    "the tenant was given as {} and the token carries no tid claim to resolve it; pass the tenant GUID",
                    self.inner.tenant
                ),
                b"",
            ))
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
        self.sleeper.as_ref()
    }

    /// The transport (also used for token requests).
    pub fn transport(&self) -> &dyn GraphTransport {
        self.inner.transport.as_ref()
    }

    /// How many HTTP requests this client and all its clones have sent to Graph (retries
    /// included, a `$batch` envelope counted once, token requests not counted). Each operation
    /// also reports its own count ([`Plan::graph_requests`](crate::registration::Plan::graph_requests),
    /// [`RegisteredApp::graph_requests`](crate::registration::RegisteredApp::graph_requests)),
    /// which other uses of the client running at the same time do not change.
    pub fn request_count(&self) -> u64 {
        self.inner.requests_sent.load(Ordering::Relaxed)
    }

    /// A handle on this client that also counts what one operation sends, apart from every other
    /// use of the client; inside another metered operation, it counts for that one too.
    pub(crate) fn metered(&self) -> (Graph, Arc<Meter>) {
        self.metered_within(None)
    }

    /// A [metered](Self::metered) handle whose operation has `budget` from now: its retries and
    /// polls do not wait past it, and each request it sends gets what is left of it (at least
    /// [`MIN_REQUEST_TIME`]).
    pub(crate) fn with_deadline(&self, budget: std::time::Duration) -> Graph {
        self.metered_within(Some(budget)).0
    }

    /// What is left of the time budget of this handle's operation (see
    /// [`with_deadline`](Self::with_deadline)); `None` when it has none.
    pub(crate) fn time_left(&self) -> Option<std::time::Duration> {
        self.meter.as_ref().and_then(|m| m.time_left())
    }

    fn metered_within(&self, budget: Option<std::time::Duration>) -> (Graph, Arc<Meter>) {
        let meter = Arc::new(Meter {
            outer: self.meter.clone(),
            deadline: budget.map(|b| (std::time::Instant::now(), b)),
            ..Meter::default()
        });
        let graph = Graph {
            inner: self.inner.clone(),
            meter: Some(meter.clone()),
            sleeper: Arc::new(MeteredSleeper {
                inner: self.inner.sleeper.clone(),
                meter: meter.clone(),
            }),
        };
        (graph, meter)
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
            self.sleeper.as_ref(),
        )
        .with_retry_policy(&self.inner.retry);
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
            self.sleeper.as_ref(),
        )
        .with_retry_policy(&self.inner.retry);
        provider.token(&ctx).await
    }

    /// Sends a request, retrying throttling (429 after `Retry-After`), 500, 502, 503 and 504, and
    /// connection failures that happened before sending. Any other non-2xx reply is an [`Error::Graph`].
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
        let prepared = Prepared::new(&self.inner.endpoints, request)?;
        let transient = retry::transient_fault(request.is_idempotent());
        let classify = |f: &Failure| match f {
            Failure::Local(_) => RetryAction::No,
            Failure::Exchange(e) => RetryAction::first_of(e, &[&retry::throttled, &transient]),
        };
        let outcome = Retry::new(Schedule::policy(&self.inner.retry), self.sleeper())
            .within(self)
            .run(&mut Tally::default(), classify, log_retry, |attempt| {
                self.exchange(request, &prepared, attempt)
            })
            .await;
        match outcome {
            Ok(response) => Ok(response),
            Err(Failure::Local(e)) => Err(e),
            Err(Failure::Exchange(e)) => Err(self.final_error(request, prepared.describe, e)),
        }
    }

    /// One HTTP exchange: signs in if needed, sends, and turns a non-2xx reply into an
    /// [`Error::Graph`] that records the try number.
    async fn exchange(
        &self,
        request: &GraphRequest,
        prepared: &Prepared,
        attempt: u32,
    ) -> std::result::Result<GraphResponse, Failure> {
        let token = self.access_token().await.map_err(Failure::Local)?;
        let http_request = prepared.build(request, &token).map_err(Failure::Local)?;
        self.inner.requests_sent.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight::start(self.meter.as_deref());
        let sent = self.inner.transport.send(http_request);
        let response = match self.time_left() {
            // The operation's budget bounds the wait for a reply (the transport's own timeout
            // still applies). The timer is tokio's, as the default sleeper's is.
            Some(left) if tokio::runtime::Handle::try_current().is_ok() => {
                tokio::time::timeout(left.max(MIN_REQUEST_TIME), sent)
                    .await
                    .unwrap_or_else(|_| {
                        Err(crate::transport::TransportError::maybe_sent(
                            crate::transport::TransportErrorKind::Timeout,
                            "no reply before the operation's time budget ran out",
                        ))
                    })
            }
            _ => sent.await,
        };
        drop(in_flight);
        let response = response.map_err(|e| Failure::Exchange(e.into()))?;
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
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
                body,
                request: prepared.describe.clone(),
            });
        }
        let error =
            request::graph_error(&prepared.describe, status, &parts.headers, &body, attempt);
        Err(Failure::Exchange(Error::graph(error)))
    }

    /// What the caller sees of a failure that is not retried (any more): a request that must not
    /// be sent twice and may have reached Graph is an [`Error::MayHaveTakenEffect`]; a 401 drops
    /// the cached token.
    fn final_error(&self, request: &GraphRequest, describe: String, error: Error) -> Error {
        let idempotent = request.is_idempotent();
        match &error {
            Error::Transport(t) if t.may_have_reached_server() && !idempotent => {
                Error::may_have_taken_effect_of(describe, error)
            }
            Error::Graph(g) if g.status == 401 => {
                self.inner.token.invalidate();
                error
            }
            Error::Graph(g) if g.status >= 500 && !idempotent => {
                tracing::warn!(
                    status = g.status,
                    request_id = g.request_id.as_deref().unwrap_or("-"),
                    "a request that must not be sent twice failed after reaching Graph; not resending it"
                );
                Error::may_have_taken_effect_of(describe, error)
            }
            _ => error,
        }
    }
}

/// Why one try of a request failed.
enum Failure {
    /// Before anything was sent (signing in, building the request): never retried here.
    Local(Error),
    /// The exchange with Graph: the connection or the reply.
    Exchange(Error),
}

/// Logs a retry of a Graph request.
fn log_retry(failure: &Failure, pause: &Pause) {
    let (wait, attempt) = (pause.wait, pause.number);
    match failure {
        Failure::Exchange(Error::Graph(g)) => tracing::warn!(
            status = g.status,
            ?wait,
            attempt,
            request_id = g.request_id.as_deref().unwrap_or("-"),
            "throttled or unavailable; retrying"
        ),
        Failure::Exchange(e) | Failure::Local(e) => {
            tracing::warn!(error = %e, ?wait, attempt, "request not sent; retrying")
        }
    }
}

/// What every try of a request shares: its URL, body and ids.
struct Prepared {
    url: String,
    body: Vec<u8>,
    describe: String,
    client_request_id: String,
}

impl Prepared {
    fn new(endpoints: &Endpoints, request: &GraphRequest) -> Result<Self> {
        let body = match &request.body {
            Some(v) => serde_json::to_vec(v)
                .map_err(|e| Error::invalid_input("request body", e.to_string()))?,
            None => Vec::new(),
        };
        Ok(Self {
            url: endpoints.graph_url(&request.path),
            body,
            describe: request.describe(),
            client_request_id: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// The HTTP request of one try, with a fresh bearer token.
    fn build(&self, request: &GraphRequest, token: &AccessToken) -> Result<http::Request<Vec<u8>>> {
        let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.expose_secret()));
        // Marked sensitive: an HTTP stack that logs or encodes headers (HPACK) keeps it out.
        let mut authorization = http::HeaderValue::from_str(&bearer).map_err(|_| {
            Error::invalid_input("access token", "the token is not a valid header value")
        })?;
        authorization.set_sensitive(true);
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(&self.url)
            .header(http::header::ACCEPT, "application/json")
            .header("client-request-id", &self.client_request_id)
            .header(http::header::AUTHORIZATION, authorization);
        if request.body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(self.body.clone()).map_err(|e| {
            Error::invalid_input("request", format!("{} cannot be built: {e}", self.describe))
        })
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
        let sleeper: Arc<dyn Sleeper> = self.sleeper.unwrap_or_else(|| Arc::new(TokioSleeper));
        Ok(Graph {
            meter: None,
            sleeper: sleeper.clone(),
            inner: Arc::new(Inner {
                tenant,
                tenant_id: OnceLock::new(),
                endpoints,
                token,
                transport,
                retry,
                sleeper,
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
