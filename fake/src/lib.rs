//! A stateful fake Entra tenant, served over HTTP on loopback, for testing code that uses
//! [`entra_appreg`].
//!
//! [`FakeGraph`] runs a [wiremock](https://docs.rs/wiremock) server that answers both the
//! Microsoft Graph v1.0 calls this crate makes (under `/v1.0/...`) and the Entra login endpoints
//! (`/{tenant}/oauth2/v2.0/{token,devicecode,authorize}`). It keeps a small directory — applications,
//! service principals, app role assignments, deleted applications — and answers the way Graph
//! does, including the awkward parts: `204` with an empty body for an upsert that updated,
//! whole-collection `PATCH`, `key` hidden unless `$select=keyCredentials`, `409` for a second
//! service principal, `400 "…does not reference a valid application object"` under replication
//! lag, `403` on Microsoft Graph grants for application administrators, `$batch` with shuffled
//! replies and `424` for failed dependencies, throttling with `Retry-After`, and device-code,
//! interactive browser (authorization code with PKCE) and client-credential sign-in.
//!
//! # Login endpoints and their knobs
//!
//! | endpoint | what it does | knobs |
//! |---|---|---|
//! | `POST /{tenant}/oauth2/v2.0/devicecode` | starts a device code sign-in | |
//! | `POST /{tenant}/oauth2/v2.0/token`, `grant_type=urn:ietf:params:oauth:grant-type:device_code` | `authorization_pending`, then the admin's token | [`FakeGraphBuilder::device_code_polls_before_approval`], [`FakeGraphBuilder::decline_device_code`], [`FakeGraphBuilder::block_device_code`] (Conditional Access: AADSTS53003) |
//! | `GET /{tenant}/oauth2/v2.0/authorize?client_id&response_type=code&redirect_uri&scope&state&code_challenge&code_challenge_method&response_mode` | the admin signs in at once and the answer goes to the redirect URI: `302` with `code` and `state` in the query (`response_mode=query`, the default) or fragment, or a `200` `text/html` page that POSTs them (`form_post`). A tenant, client or redirect URI it cannot trust gets a `400` `text/html` error page, never a redirect | [`FakeGraphBuilder::browser_sign_in_cancelled`] |
//! | `POST /{tenant}/oauth2/v2.0/token`, `grant_type=authorization_code` | redeems a code once, checking client, redirect URI and PKCE verifier; the admin's token | |
//! | `POST /{tenant}/oauth2/v2.0/token`, `grant_type=client_credentials` | an app's token, with a secret or a certificate assertion | [`FakeGraphBuilder::sign_in_lag`] |
//!
//! The redirect URIs the authorize endpoint accepts: for the Microsoft Graph Command Line Tools
//! client (`14d82eec-204b-4c2f-b7e8-296a70dab67e`) `http://localhost` on any port with the path
//! empty or `/`; for any other client an application of the tenant (by `appId`) whose
//! `publicClient.redirectUris` lists the URI, the port ignored for `http://localhost` and
//! `http://127.0.0.1` (scheme, host and path must match), `http` only for those two hosts.
//! Create such an application with `POST /v1.0/applications` and a `publicClient` body.
//!
//! The tenant is pre-seeded with the first-party resource service principals (Microsoft Graph,
//! Office 365 Exchange Online, Office 365 SharePoint Online) and their real app roles, plus a few
//! decoys (Windows Azure Active Directory, Office 365 Management APIs) whose role names collide
//! with Graph's, so code must look roles up by *(resource appId, role id)*. Microsoft Graph's
//! principal also offers `Mail.Read` and the mailbox API's `MailboxItem.ImportExport.All`,
//! `MailboxFolder.ReadWrite.All` and `MailboxItem.Read.All`, for profiles named by value; the
//! last one's id is a stand-in (Microsoft's reference gives none the crate could confirm), which
//! is harmless because such permissions are resolved by value in the tenant.
//!
//! Every knob can be changed while the server runs; replication lag is counted in requests, not
//! in time, so tests are deterministic and fast.
//!
//! ```no_run
//! # async fn demo() {
//! use entra_appreg_fake::{CallerRole, FakeGraph};
//!
//! let fake = FakeGraph::builder()
//!     .caller_role(CallerRole::CloudApplicationAdministrator)
//!     .replication_lag(2)
//!     .start()
//!     .await;
//! let graph_root = fake.graph_root(); // http://127.0.0.1:PORT/ (Graph paths: /v1.0/...)
//! let token = fake.admin_token(); // Authorization: Bearer {token}
//! # let _ = (graph_root, token);
//! // ... drive the code under test, then:
//! let snapshot = fake.snapshot();
//! assert!(snapshot.applications.is_empty());
//! assert_eq!(fake.requests().len(), 0);
//! # }
//! ```
//!
//! # What the fake models, and where each behaviour comes from
//!
//! The fake is only as good as its sources: it answers the way Microsoft documents, or the way
//! someone has seen real Graph answer, and refuses what Graph refuses. A behaviour without a
//! source is marked as an assumption.
//!
//! | behaviour | source |
//! |---|---|
//! | `PATCH /applications(uniqueName=…)` + `Prefer: create-if-missing`: 201 with the app, 204 without a body when it exists (also when a plain read would not see it yet), 404 without the header | [Upsert application](https://learn.microsoft.com/graph/api/application-upsert) (documents only 201, 204 and 404) |
//! | `GET /applications(uniqueName=…)`, `(appId=…)`, `GET /servicePrincipals(appId=…)`: 404 when none | [Get application](https://learn.microsoft.com/graph/api/application-get) (appId); PowerShell `Get-MgApplicationByUniqueName` (uniqueName) |
//! | `$filter` only on properties, and with operators, the resource page documents; anything else 400 `Request_UnsupportedQuery` (so no `$filter` on `uniqueName`) | the "Supports `$filter`" notes of [application](https://learn.microsoft.com/graph/api/resources/application) and [servicePrincipal](https://learn.microsoft.com/graph/api/resources/serviceprincipal); [Advanced query capabilities](https://learn.microsoft.com/graph/aad-advanced-queries) |
//! | `key` of a key credential only for `GET /applications/{id}?$select=keyCredentials` | [keyCredential](https://learn.microsoft.com/graph/api/resources/keycredential) |
//! | `PATCH` replaces a collection whole | [Update application](https://learn.microsoft.com/graph/api/application-update); [Add a certificate](https://learn.microsoft.com/graph/applications-how-to-add-certificate) ("replaces any existing certificates") |
//! | `uniqueName` settable by `PATCH /applications/{id}` only while null; refused in `POST /applications` | Update application ("Can be updated only if null and is immutable once set"); the resource page calls it read-only (the refusal in `POST` is an **assumption**) |
//! | secrets only through `addPassword` (200, `secretText` only in that reply); 400 for `passwordCredentials` in a POST or PATCH | [addPassword](https://learn.microsoft.com/graph/api/application-addpassword); [Update application](https://learn.microsoft.com/graph/api/application-update) ("Using PATCH to set passwordCredential is not supported") |
//! | `removePassword` of an unknown keyId: 400 | **assumption** (undocumented; the crate confirms by reading the app back) |
//! | second service principal for an app: 409 `Request_MultipleObjectsWithSameKeyValue` | an answer seen from real Graph (the fixture `error-sp-already-exists.json`; not on Microsoft's page) |
//! | replication lag: objects invisible for a number of requests (or a time, [`FakeGraphBuilder::replication_delay`]); 404 `Request_ResourceNotFound` on reads and writes naming them | [Designing for eventual consistency for Microsoft Entra](https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/) |
//! | service principal created too soon: 400 "…does not reference a valid application object"; for a caller holding only `Application.ReadWrite.OwnedBy`, 403 "…backing application of the service principal being created must in the local tenant" (the same 403, for good, for a Microsoft resource's service principal) | Terraform azuread, `internal/services/serviceprincipals/service_principal_resource.go` (retries both, for the app it just created) |
//! | grant naming a service principal that has not replicated: 404, or 400 "Not a valid reference update." ([`GrantLagAnswer`]) | Terraform azuread, `internal/services/approleassignments/app_role_assignment_resource.go` (retries both) |
//! | duplicate grant: 400 "Permission being assigned already exists on the object." | observed by users of Graph; not on Microsoft's pages (the crate confirms by listing) |
//! | listing grants may lag just after a grant | [List appRoleAssignments](https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments) ("might have replication delays") |
//! | Microsoft Graph grants refused (403) for Cloud Application / Application Administrators | [Grant tenant-wide admin consent](https://learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent) (those roles consent to any API "except Microsoft Graph app roles") |
//! | `$batch`: at most 20, replies in any order, 424 for a failed dependency, per-item 429 | [JSON batching](https://learn.microsoft.com/graph/json-batching); [Throttling](https://learn.microsoft.com/graph/throttling) |
//! | throttling: 429 with `Retry-After` | [Throttling](https://learn.microsoft.com/graph/throttling) |
//! | faults at random ([`RandomFaults`]): 429, 503, a write carried out then answered 500 or 503, a lagging replica's 404 (only for an object named by id, never for a `DELETE`), a connection lost before or after the request ([`FakeGraph::flaky_transport`]) | each as its own row above; 500/503 after a write took effect: [Graph error responses](https://learn.microsoft.com/graph/errors) (5xx say nothing of whether the request was carried out); their mix and rates are a test's choice, not an observation |
//! | token endpoint: client credentials, client assertions, device code (`authorization_pending`, `slow_down`, …) | [OAuth 2.0 client credentials](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow), [device code](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code); AADSTS codes other than 700016 and 7000215 are an **assumption** |
//! | device code finished by the admin, then refused at the token poll: `400 invalid_grant` AADSTS53003 | Conditional Access [authentication flows](https://learn.microsoft.com/entra/identity/conditional-access/concept-authentication-flows) and [Microsoft-managed policies](https://learn.microsoft.com/entra/identity/conditional-access/managed-policies); [error codes](https://learn.microsoft.com/entra/identity-platform/reference-error-codes) |
//! | authorize: parameters, `response_mode` (`query` default, `fragment`, `form_post`), errors at the redirect URI (`error`, `error_description`, `state`), codes valid about 10 minutes | [Authorization code flow](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow); RFC 6749 §4.1 (errors about the client or redirect URI are shown, not redirected); the `form_post` page's markup and the 400 status of the error page are an **assumption** |
//! | redirect URIs: `http` only for localhost, the port ignored for localhost, the path not; a URI without a path gets a `/` in query answers | [Redirect URI restrictions](https://learn.microsoft.com/entra/identity-platform/reply-url); RFC 8252 §7.3 |
//! | PKCE: `S256` and `plain` (default `plain`), challenge 43–128 characters; AADSTS50149, 501491, 501481 | [RFC 7636](https://www.rfc-editor.org/rfc/rfc7636); [Authorization code flow](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow); [error codes](https://learn.microsoft.com/entra/identity-platform/reference-error-codes) |
//! | code redemption: AADSTS54005 (redeemed before), 70008 (unknown or expired; also for another client's code, an **assumption**), 50011 (other redirect URI), 700025 (a secret from a public client); cancel: `access_denied`, `error_subcode=cancel`, AADSTS65004 | [error codes](https://learn.microsoft.com/entra/identity-platform/reference-error-codes); [auth code flow](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow) |
//!
//! Secrets issued by `addPassword` never appear in the request log or the snapshot; tests read
//! them with [`FakeGraph::secret_texts`]. Login requests are logged with `client_secret`,
//! `client_assertion`, `device_code`, `code` and `code_verifier` replaced by `"<redacted>"`;
//! the authorization codes the authorize endpoint hands out are never logged.

mod applications;
mod authorize;
mod batch;
mod chaos;
mod credentials;
mod dispatch;
mod grants;
mod login;
mod odata;
mod reply;
mod seed;
mod service_principals;
mod state;
mod tokens;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use entra_appreg::graph::models::{AppRoleAssignment, Application, ServicePrincipal};
use entra_appreg::ids::{AppRoleId, ClientId, ObjectId, TenantId};

pub use chaos::RandomFaults;

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
use state::{Knobs, State};

/// The directory role of the signed-in administrator whose delegated tokens the fake issues.
///
/// Granting Microsoft Graph app roles needs [`CallerRole::GlobalAdministrator`] or
/// [`CallerRole::PrivilegedRoleAdministrator`]; the two application administrator roles get
/// `403 Authorization_RequestDenied` on Graph grants only (Exchange and SharePoint grants work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CallerRole {
    /// Global Administrator (`62e90394-69f5-4237-9190-012177145e10`): may do everything.
    #[default]
    GlobalAdministrator,
    /// Privileged Role Administrator (`e8611ab8-c189-46e8-94e1-60213ab1f814`): may grant every role.
    PrivilegedRoleAdministrator,
    /// Cloud Application Administrator (`158c047a-c907-4556-b7ef-446551a6b5f7`): no Graph grants.
    CloudApplicationAdministrator,
    /// Application Administrator (`9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3`): no Graph grants.
    ApplicationAdministrator,
}

impl CallerRole {
    /// The directory role template id, as it appears in the token's `wids` claim.
    pub fn template_id(self) -> &'static str {
        use entra_appreg::auth::directory_roles as roles;
        match self {
            CallerRole::GlobalAdministrator => roles::GLOBAL_ADMINISTRATOR,
            CallerRole::PrivilegedRoleAdministrator => roles::PRIVILEGED_ROLE_ADMINISTRATOR,
            CallerRole::CloudApplicationAdministrator => roles::CLOUD_APPLICATION_ADMINISTRATOR,
            CallerRole::ApplicationAdministrator => roles::APPLICATION_ADMINISTRATOR,
        }
    }

    /// Whether this role may grant Microsoft Graph app roles (admin consent to Graph).
    pub fn may_grant_graph_roles(self) -> bool {
        matches!(
            self,
            CallerRole::GlobalAdministrator | CallerRole::PrivilegedRoleAdministrator
        )
    }
}

/// How the fake answers an app role assignment that names a service principal which has not
/// replicated yet. Real Graph gives either answer (Terraform's azuread provider waits out both:
/// `internal/services/approleassignments/app_role_assignment_resource.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum GrantLagAnswer {
    /// `404 Request_ResourceNotFound`.
    NotFound,
    /// `400 Request_BadRequest` "Not a valid reference update.".
    InvalidReferenceUpdate,
    /// The two in turn, starting with the 400.
    #[default]
    Alternate,
}

/// Which endpoint family a [`RecordedRequest`] went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// A Microsoft Graph call (`/v1.0/...`), including the items of a `$batch`.
    Graph,
    /// A login-endpoint call (`/{tenant}/oauth2/v2.0/...`: token, devicecode, authorize).
    Login,
}

/// One entry of the fake's request log.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// Position in the log, from 1, shared by Graph and login requests.
    pub seq: u64,
    /// Graph or login.
    pub kind: RequestKind,
    /// The HTTP method, upper case.
    pub method: String,
    /// The path without the query, percent-decoded, e.g. `/v1.0/applications(uniqueName='x')`.
    /// Batch items get the `/v1.0` prefix too.
    pub path: String,
    /// The query string, percent-decoded (`+` read as a space); empty when there is none.
    pub query: String,
    /// The request headers, without `Authorization`. For a batch item: the item's own headers.
    pub headers: Vec<(String, String)>,
    /// The body: JSON as sent (a malformed JSON body is kept as a JSON string of its text); a
    /// login form as a JSON object with `client_secret`, `client_assertion`, `device_code`,
    /// `code` and `code_verifier` replaced by `"<redacted>"`, and a client assertion's decoded
    /// JOSE header added as `client_assertion_header`.
    pub body: Option<serde_json::Value>,
    /// The status the fake answered.
    pub status: u16,
    /// For an item of a `$batch`: the `seq` of the envelope it came in; `None` for a top-level
    /// request. Count round trips with `batch.is_none()`.
    pub batch: Option<u64>,
}

/// A typed copy of the tenant's directory, as returned by [`FakeGraph::snapshot`].
///
/// Key credentials keep their `key`; password credentials never carry the secret text.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TenantSnapshot {
    /// Live applications, in creation order.
    pub applications: Vec<Application>,
    /// Service principals, first-party ones first.
    pub service_principals: Vec<ServicePrincipal>,
    /// App role assignments (grants), in creation order.
    pub app_role_assignments: Vec<AppRoleAssignment>,
    /// Soft-deleted applications.
    pub deleted_applications: Vec<Application>,
}

/// What an injected fault does to the request it hits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and a Graph-shaped error body; nothing changes in the tenant.
    Status {
        /// The HTTP status, e.g. 500, 503 or 429.
        status: u16,
        /// When set, a `Retry-After` header with this many seconds.
        retry_after: Option<u32>,
    },
    /// Answer `404 Request_ResourceNotFound`, as a replica that has not seen the object yet
    /// would; nothing changes in the tenant.
    ReplicationLag,
    /// Perform the request's effect, then answer with this error status: the write happened,
    /// but the client saw a failure (a lost reply).
    ActThenFail {
        /// The HTTP status of the error reply.
        status: u16,
    },
    /// Answer with this status and Graph error (code and message); nothing changes in the
    /// tenant. For answers whose wording matters, such as a 400 "Permission being assigned
    /// already exists on the object." for a grant that is not there.
    GraphError {
        /// The HTTP status.
        status: u16,
        /// Graph's `error.code`.
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
}

/// A fault to inject into matching Graph requests, see [`FakeGraph::inject_fault`].
///
/// A rule matches a Graph request (a top-level request, a `$batch` envelope, or an item inside
/// a batch) when every condition that is set holds. It fires `times` times, then is spent.
/// Rules are tried in the order they were injected; the first that matches fires. An envelope
/// is checked before its items, so a rule that also matches `POST /v1.0/$batch` fails the whole
/// batch. Login requests are never faulted.
///
/// ```
/// use entra_appreg_fake::{Fault, FaultRule};
/// let rule = FaultRule::new(Fault::Status { status: 503, retry_after: None })
///     .method("POST")
///     .path_contains("/servicePrincipals")
///     .times(2);
/// assert_eq!(rule.times, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultRule {
    /// What happens to a matching request.
    pub fault: Fault,
    /// Match only this HTTP method (case-insensitive).
    pub method: Option<String>,
    /// Match only when the decoded path (e.g. `/v1.0/applications/…/addPassword`) contains this.
    pub path_contains: Option<String>,
    /// Match only the Nth top-level Graph HTTP request (1-based, login requests not counted).
    /// Items of a batch share their envelope's number.
    pub nth_request: Option<u64>,
    /// How many times the rule fires (default 1).
    pub times: u32,
}

impl FaultRule {
    /// A rule that matches every Graph request, once.
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            method: None,
            path_contains: None,
            nth_request: None,
            times: 1,
        }
    }

    /// Restricts the rule to one HTTP method.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Restricts the rule to paths containing `fragment`.
    pub fn path_contains(mut self, fragment: impl Into<String>) -> Self {
        self.path_contains = Some(fragment.into());
        self
    }

    /// Restricts the rule to the Nth top-level Graph request (1-based).
    pub fn nth_request(mut self, n: u64) -> Self {
        self.nth_request = Some(n);
        self
    }

    /// Lets the rule fire `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }
}

/// Configures a [`FakeGraph`] before it starts. Every knob can also be changed later on the
/// running fake.
#[derive(Debug, Clone)]
pub struct FakeGraphBuilder {
    knobs: Knobs,
    tenant_id: Option<TenantId>,
    tenant_domain: Option<String>,
    faults: Vec<FaultRule>,
    random_faults: Option<RandomFaults>,
}

impl FakeGraphBuilder {
    /// The tenant GUID (random by default).
    pub fn tenant_id(mut self, id: TenantId) -> Self {
        self.tenant_id = Some(id);
        self
    }

    /// The tenant's initial domain (default `contoso.onmicrosoft.com`).
    pub fn tenant_domain(mut self, domain: impl Into<String>) -> Self {
        self.tenant_domain = Some(domain.into().to_ascii_lowercase());
        self
    }

    /// See [`FakeGraph::set_latency`].
    pub fn latency(mut self, d: Duration) -> Self {
        self.knobs.latency = d;
        self
    }

    /// See [`FakeGraph::set_replication_lag`].
    pub fn replication_lag(mut self, requests: u32) -> Self {
        self.knobs.replication_lag = requests;
        self
    }

    /// Makes every application and service principal created from now on invisible for this
    /// long in real time (on top of [`replication_lag`](Self::replication_lag)): for measuring how
    /// soon a client notices an object once it has replicated. Default zero.
    pub fn replication_delay(mut self, d: Duration) -> Self {
        self.knobs.replication_delay = d;
        self
    }

    /// Which answer a grant naming a service principal that has not replicated gets (default:
    /// [`GrantLagAnswer::Alternate`]).
    pub fn grant_lag_answer(mut self, answer: GrantLagAnswer) -> Self {
        self.knobs.grant_lag_answer = answer;
        self
    }

    /// Makes the token endpoint miss every certificate, secret and grant created from now on
    /// for this many token requests that would use it: a new credential is refused
    /// (AADSTS700027 for a certificate, AADSTS7000215 for a secret) and a new grant is missing
    /// from tokens' `roles`, as Entra does for seconds to minutes after a registration. Default
    /// 0. `u32::MAX` makes a grant never reach tokens.
    pub fn sign_in_lag(mut self, requests: u32) -> Self {
        self.knobs.sign_in_lag = requests;
        self
    }

    /// The same as [`sign_in_lag`](Self::sign_in_lag), in real time.
    pub fn sign_in_delay(mut self, d: Duration) -> Self {
        self.knobs.sign_in_delay = d;
        self
    }

    /// See [`FakeGraph::set_throttle_every`].
    pub fn throttle_every(mut self, n: Option<u32>, retry_after_secs: u32) -> Self {
        self.knobs.throttle_every = n;
        self.knobs.retry_after = retry_after_secs;
        self
    }

    /// See [`FakeGraph::set_unavailable_every`].
    pub fn unavailable_every(mut self, n: Option<u32>) -> Self {
        self.knobs.unavailable_every = n;
        self
    }

    /// See [`FakeGraph::set_caller_role`].
    pub fn caller_role(mut self, role: CallerRole) -> Self {
        self.knobs.caller_role = role;
        self
    }

    /// See [`FakeGraph::set_password_lifetime_limit`].
    pub fn password_lifetime_limit(mut self, max: Option<time::Duration>) -> Self {
        self.knobs.password_lifetime = max;
        self
    }

    /// See [`FakeGraph::set_device_code_polls_before_approval`].
    pub fn device_code_polls_before_approval(mut self, n: u32) -> Self {
        self.knobs.device_polls = n;
        self
    }

    /// See [`FakeGraph::decline_device_code`].
    pub fn decline_device_code(mut self, decline: bool) -> Self {
        self.knobs.decline = decline;
        self
    }

    /// See [`FakeGraph::set_device_code_blocked`].
    pub fn block_device_code(mut self, blocked: bool) -> Self {
        self.knobs.block_device_code = blocked;
        self
    }

    /// See [`FakeGraph::cancel_browser_sign_in`].
    pub fn browser_sign_in_cancelled(mut self, cancelled: bool) -> Self {
        self.knobs.cancel_browser = cancelled;
        self
    }

    /// See [`FakeGraph::inject_fault`].
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }

    /// See [`FakeGraph::set_random_faults`].
    pub fn random_faults(mut self, faults: RandomFaults) -> Self {
        self.random_faults = Some(faults);
        self
    }

    /// Starts the server on a free loopback port.
    pub async fn start(self) -> FakeGraph {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let tenant_id = self
            .tenant_id
            .unwrap_or_else(|| TenantId::from_uuid(uuid::Uuid::new_v4()));
        let domain = self
            .tenant_domain
            .unwrap_or_else(|| "contoso.onmicrosoft.com".to_owned());
        let mut state = State::new(server.uri(), tenant_id, domain, self.knobs);
        state.faults = self.faults;
        state.set_chaos(self.random_faults);
        let state = Arc::new(Mutex::new(state));
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        FakeGraph {
            uri: server.uri(),
            server: Some(server),
            state,
        }
    }
}

/// A fake Entra tenant behind a loopback HTTP server. See the [module docs](self).
///
/// Dropping it stops the server.
pub struct FakeGraph {
    /// Always `Some` until dropped.
    server: Option<MockServer>,
    uri: String,
    state: Arc<Mutex<State>>,
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        // wiremock's MockServer blocks on a tokio lock when dropped; dropping many inside one
        // task poll can exhaust tokio's cooperative budget and spin forever. A plain thread has
        // no budget to run out of.
        if let Some(server) = self.server.take() {
            let _ = std::thread::Builder::new()
                .name("fake-graph-drop".into())
                .spawn(move || drop(server));
        }
    }
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGraph")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl FakeGraph {
    /// Starts a fake with the default tenant and a Global Administrator caller.
    pub async fn start() -> FakeGraph {
        Self::builder().start().await
    }

    /// A builder to set knobs before starting.
    pub fn builder() -> FakeGraphBuilder {
        FakeGraphBuilder {
            knobs: Knobs::default(),
            tenant_id: None,
            tenant_domain: None,
            faults: Vec::new(),
            random_faults: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server's base URI, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn uri(&self) -> String {
        self.uri.clone()
    }

    /// The Graph root to configure a client with: the server root. Graph paths are served under
    /// `/v1.0/...` (the client appends the version).
    pub fn graph_root(&self) -> url::Url {
        root_url(&self.uri)
    }

    /// The login root (same server): `/{tenant}/oauth2/v2.0/{token,devicecode,authorize}` below
    /// it.
    pub fn login_root(&self) -> url::Url {
        root_url(&self.uri)
    }

    /// A [`GraphBuilder`](entra_appreg::graph::GraphBuilder) pointed at this fake tenant and
    /// signed in as its admin (a [`StaticToken`](entra_appreg::auth::StaticToken) of
    /// [`admin_token`](Self::admin_token)):
    /// add a sleeper, a retry policy or a transport, then build.
    pub fn graph_builder(&self) -> entra_appreg::graph::GraphBuilder {
        entra_appreg::Graph::builder()
            .tenant(self.tenant_id().to_string())
            .graph_root(self.graph_root().as_str())
            .login_root(self.login_root().as_str())
            .token_provider(entra_appreg::auth::StaticToken::new(self.admin_token()))
    }

    /// The token endpoint of this tenant, by GUID: the `aud` a client assertion must carry.
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.uri.clone(),
            self.tenant_id()
        )
    }

    /// The tenant GUID (random per instance unless set on the builder).
    pub fn tenant_id(&self) -> TenantId {
        self.lock().tenant_id
    }

    /// The tenant's initial domain, e.g. `contoso.onmicrosoft.com`; accepted in login paths.
    pub fn tenant_domain(&self) -> String {
        self.lock().tenant_domain.clone()
    }

    /// A fresh, valid delegated access token of the signed-in administrator (scopes
    /// `Application.ReadWrite.All AppRoleAssignment.ReadWrite.All`, `wids` holding the caller
    /// role). The fake enforces the caller role set *now* for every delegated token, including
    /// ones issued before a [`FakeGraph::set_caller_role`].
    pub fn admin_token(&self) -> String {
        self.lock().mint_admin_token()
    }

    /// Delay added to every reply, Graph and login.
    pub fn set_latency(&self, d: Duration) {
        self.lock().knobs.latency = d;
    }

    /// Makes every application, service principal and secret created from now on invisible to
    /// the next `requests` requests that reference it (by id, appId or uniqueName in the path; as
    /// `appId`, `principalId` or `resourceId` in a body; in an equality `$filter`; as `client_id`
    /// at the token and authorize endpoints). Each such request uses up one unit and fails as Graph does: `404
    /// Request_ResourceNotFound` for paths, `400 "…does not reference a valid application
    /// object"` for a service principal, nothing found by a `$filter`, `AADSTS700016` /
    /// `AADSTS7000215` at the token endpoint, and `AADSTS700016` on the error page of the
    /// authorize endpoint. Default 0.
    ///
    /// Lowering the lag also caps what objects created earlier still have to wait, so
    /// `set_replication_lag(0)` means "replication has caught up".
    pub fn set_replication_lag(&self, requests: u32) {
        let mut guard = self.lock();
        let s = &mut *guard;
        s.knobs.replication_lag = requests;
        for e in s.apps.iter_mut().chain(s.sps.iter_mut()) {
            e.lag.requests = e.lag.requests.min(requests);
        }
        for secret in &mut s.secrets {
            secret.lag = secret.lag.min(requests);
        }
    }

    /// Answers every `n`th Graph request (batch items counted one by one, the `$batch` envelope
    /// and login requests not counted)
    /// with `429 TooManyRequests` and `Retry-After: retry_after_secs`, changing nothing.
    /// `None` turns throttling off.
    pub fn set_throttle_every(&self, n: Option<u32>, retry_after_secs: u32) {
        let mut s = self.lock();
        s.knobs.throttle_every = n.filter(|n| *n > 0);
        s.knobs.retry_after = retry_after_secs;
    }

    /// Answers every `n`th Graph request (counted as for throttling) with `503`, changing
    /// nothing. `None` turns it off.
    pub fn set_unavailable_every(&self, n: Option<u32>) {
        self.lock().knobs.unavailable_every = n.filter(|n| *n > 0);
    }

    /// Gives every `n`th Graph request (counted as for throttling: each `$batch` item and the
    /// envelope) this fault, whatever it is: a fault that keeps coming at a fixed period, as a
    /// flaky network or a struggling service does. `None` turns it off.
    pub fn set_fault_every(&self, every: Option<(u32, Fault)>) {
        self.lock().knobs.fault_every = every.filter(|(n, _)| *n > 0);
    }

    /// Gives Graph requests faults at random, from a seed (see [`RandomFaults`]); `None` turns
    /// them off. The fake's `$batch` shuffle is seeded from the same seed, so a client that
    /// sends the same requests meets the same faults.
    ///
    /// Fault rules ([`FakeGraph::inject_fault`]) and the periodic fault
    /// ([`FakeGraph::set_fault_every`]) are tried first.
    pub fn set_random_faults(&self, faults: Option<RandomFaults>) {
        self.lock().set_chaos(faults);
    }

    /// `inner` (the transport a client talks to this fake with), losing connections to Graph as
    /// [`RandomFaults::resets`] says, from the random faults' seed: half before the request
    /// reaches the fake, half after the fake acted on it. Without random faults it is `inner`
    /// as it is.
    ///
    /// ```no_run
    /// # async fn run() {
    /// use std::sync::Arc;
    /// use entra_appreg_fake::{FakeGraph, RandomFaults};
    /// use entra_appreg::transport::ReqwestTransport;
    /// let fake = FakeGraph::builder().random_faults(RandomFaults::new(7, 0.3)).start().await;
    /// let graph = fake
    ///     .graph_builder()
    ///     .transport(fake.flaky_transport(Arc::new(ReqwestTransport::new().unwrap())))
    ///     .build()
    ///     .unwrap();
    /// # }
    /// ```
    pub fn flaky_transport(
        &self,
        inner: Arc<dyn entra_appreg::transport::GraphTransport>,
    ) -> Arc<dyn entra_appreg::transport::GraphTransport> {
        Arc::new(chaos::FlakyTransport {
            inner,
            state: Arc::clone(&self.state),
        })
    }

    /// How many faults [`FakeGraph::set_random_faults`] has given since it was last set (lost
    /// connections of [`FakeGraph::flaky_transport`] included).
    pub fn random_faults_given(&self) -> u64 {
        self.lock().chaos.as_ref().map_or(0, |c| c.fired)
    }

    /// Sets the directory role of the signed-in administrator (applies to every delegated token).
    pub fn set_caller_role(&self, role: CallerRole) {
        self.lock().knobs.caller_role = role;
    }

    /// Deletes the service principal of a first-party resource (and the grants on it), e.g. to
    /// model a tenant without Exchange Online. `POST /servicePrincipals {appId}` recreates it.
    pub fn remove_resource_service_principal(&self, app_id: ClientId) {
        self.lock().remove_sp_by_app_id(&app_id.to_string());
    }

    /// The tenant's app-management policy limit on password lifetime: `addPassword` with an
    /// `endDateTime` further than `max` from now answers `400
    /// CredentialInvalidLifetimeAsPerAppPolicy`. `None` (default) means no limit.
    pub fn set_password_lifetime_limit(&self, max: Option<time::Duration>) {
        self.lock().knobs.password_lifetime = max;
    }

    /// How many polls of a device code answer `authorization_pending` before the token is
    /// issued (default 1).
    pub fn set_device_code_polls_before_approval(&self, n: u32) {
        self.lock().knobs.device_polls = n;
    }

    /// Makes the user decline the device-code sign-in: polls answer `authorization_declined`.
    pub fn decline_device_code(&self, decline: bool) {
        self.lock().knobs.decline = decline;
    }

    /// Makes Conditional Access block the device code flow, as Microsoft's managed "Block
    /// device code flow" policy does: the device code is still issued and the admin finishes
    /// the sign-in, but the poll that would have got the token answers `400 invalid_grant`
    /// with AADSTS53003 ("Access has been blocked by Conditional Access policies. The access
    /// policy does not allow token issuance.") and the device code is spent.
    pub fn set_device_code_blocked(&self, blocked: bool) {
        self.lock().knobs.block_device_code = blocked;
    }

    /// Makes the admin cancel the browser sign-in: the authorize endpoint answers the redirect
    /// URI (in the request's `response_mode`) with `error=access_denied`,
    /// `error_subcode=cancel`, `error_description` "AADSTS65004: User declined to consent to
    /// access the app. …" and the request's `state`, and issues no code. Requests it refuses
    /// before that (tenant, client, redirect URI, parameters) are refused all the same.
    pub fn cancel_browser_sign_in(&self, cancel: bool) {
        self.lock().knobs.cancel_browser = cancel;
    }

    /// Adds a fault rule (see [`FaultRule`]).
    pub fn inject_fault(&self, rule: FaultRule) {
        self.lock().faults.push(rule);
    }

    /// See [`FakeGraphBuilder::sign_in_lag`]: applies to credentials and grants created from now
    /// on.
    pub fn set_sign_in_lag(&self, requests: u32) {
        self.lock().knobs.sign_in_lag = requests;
    }

    /// Removes every fault rule not spent yet: the tenant answers normally again.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The request log, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let mut log = self.lock().log.clone();
        log.sort_by_key(|r| r.seq);
        log
    }

    /// Empties the request log (sequence numbers keep counting).
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// A typed copy of the directory.
    pub fn snapshot(&self) -> TenantSnapshot {
        self.lock().snapshot()
    }

    /// Adds an existing application, visible at once (no replication lag). Missing `id`,
    /// `appId` and `createdDateTime` are generated; key credentials without a `keyId` get one.
    pub fn seed_application(&self, app: Application) -> Application {
        self.lock().seed_application(app)
    }

    /// Adds (or returns the existing) service principal for `app_id`, visible at once. A seeded
    /// application's display name and app roles are copied; a first-party resource gets its
    /// real app roles.
    pub fn seed_service_principal_for(&self, app_id: ClientId) -> ServicePrincipal {
        self.lock().seed_sp(&app_id.to_string())
    }

    /// Adds an app role assignment directly, without any of the checks Graph would make.
    pub fn seed_app_role_assignment(
        &self,
        principal: ObjectId,
        resource: ObjectId,
        role: AppRoleId,
    ) -> AppRoleAssignment {
        self.lock().seed_assignment(
            &principal.to_string(),
            &resource.to_string(),
            &role.to_string(),
        )
    }

    /// The secret texts issued by `addPassword` for the application with this object id and
    /// not removed since, oldest first.
    pub fn secret_texts(&self, app_object_id: ObjectId) -> Vec<String> {
        self.lock().secret_texts(&app_object_id.to_string())
    }
}

fn root_url(uri: &str) -> url::Url {
    url::Url::parse(uri).expect("the mock server's URI is a valid URL")
}

/// The wiremock responder: every request goes through [`dispatch::handle`].
struct Responder {
    state: Arc<Mutex<State>>,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let reply = dispatch::handle(&mut state, request);
        let latency = state.knobs.latency;
        drop(state);
        let template = reply.into_template();
        if latency.is_zero() {
            template
        } else {
            template.set_delay(latency)
        }
    }
}
