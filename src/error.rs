//! The crate's one error type.
//!
//! [`Error`] keeps what a support engineer needs — HTTP status, Graph error code, `request-id`,
//! `client-request-id`, AADSTS code and correlation id — and says what to do about it. It never
//! holds a token, a secret or a private key: bodies are kept only as short scrubbed snippets.

use std::fmt;
use std::time::Duration;

use crate::redact;
use crate::transport::TransportError;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong.
///
/// `Display` is one short clause, as the Rust API guidelines ask; the cause of a wrapped error
/// is its [`source`](std::error::Error::source). What to do about it is [`Error::advice`], and
/// the ids Microsoft support asks for are [`Error::request_id`], [`Error::client_request_id`],
/// [`Error::aadsts_code`] and [`Error::correlation_id`]. [`Error::report`] puts all of it in one
/// message for a log or a person:
///
/// ```
/// let err = "contoso".parse::<entra_appreg::TenantId>().unwrap_err();
/// assert!(err.to_string().starts_with("invalid tenant id: expected a GUID"));
/// assert_eq!(err.advice(), None); // the message says what is expected
/// assert_eq!(err.report().to_string(), err.to_string());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input was rejected before any request was sent. Nothing changed in the tenant.
    #[error("invalid {what}: {reason}")]
    #[non_exhaustive]
    InvalidInput {
        /// What was wrong (for example "tenant id").
        what: &'static str,
        /// Why, and what is expected instead.
        reason: String,
    },
    /// No app registration with this name exists in the tenant (for an operation that needs
    /// one: rotating, auditing). Nothing changed in the tenant.
    #[error("no app registration {app} exists in this tenant")]
    #[non_exhaustive]
    NotRegistered {
        /// The app that was looked for ("with unique name contoso-backup").
        app: String,
    },
    /// What the tenant holds does not fit what was asked (the client id given belongs to an app
    /// with another unique name; a credential to remove was not created by this crate), or
    /// something the operation needs could not be found there (the tenant's SharePoint host).
    /// Found by reading: unlike [`Error::InvalidInput`], requests were sent, and what the
    /// operation wrote before it (a registration, before a readiness check) stays.
    #[error("{what}: {reason}")]
    #[non_exhaustive]
    Precondition {
        /// What did not fit ("application", "SharePoint host").
        what: &'static str,
        /// What was found, and what to do.
        reason: String,
    },
    /// A local file, folder or certificate store could not be read or written.
    #[error("cannot {action} {}", path.display())]
    #[non_exhaustive]
    Io {
        /// What was being done ("write", "create the folder", "open the certificate store").
        action: &'static str,
        /// The file, the folder, or the store (`Cert:\CurrentUser\My`).
        path: std::path::PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Microsoft Graph answered with an error status.
    #[error(transparent)]
    Graph(Box<GraphError>),
    /// The sign-in (token endpoint) failed.
    #[error(transparent)]
    Auth(Box<AuthError>),
    /// The request could not be carried (connection, timeout, TLS, redirect refused, body too large).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A reply did not have the expected shape (HTML from a proxy, truncated JSON, empty body).
    #[error(transparent)]
    Decode(Box<DecodeError>),
    /// A permission of the profile does not match the app roles of the tenant's resource
    /// service principal. Nothing was granted.
    #[error(
        "the permission {value} (app role {role_id}) on {resource} does not match the tenant: {reason}"
    )]
    #[non_exhaustive]
    RoleMismatch {
        /// The resource's display name and appId.
        resource: String,
        /// The permission value expected.
        value: String,
        /// The app role id expected.
        role_id: String,
        /// What the tenant has instead.
        reason: String,
    },
    /// A tenant app-management policy refused the credential's lifetime. Nothing was added.
    #[error(
        "the tenant's app-management policy{} does not allow a {kind} valid for {requested_days} days",
        policy.as_deref().map(|p| format!(" {p}")).unwrap_or_default()
    )]
    #[non_exhaustive]
    CredentialLifetimePolicy {
        /// Certificate or secret.
        kind: crate::credentials::CredentialKind,
        /// The lifetime asked for, in days.
        requested_days: i64,
        /// The policy id Graph named.
        policy: Option<String>,
        /// Graph's request-id.
        request_id: Option<String>,
    },
    /// An object this run created (or saw created seconds ago) did not become visible within the
    /// replication timeout. What was written stays; a later run continues from it. Graph's last
    /// answer while waiting, when there was one, is the [`source`](std::error::Error::source).
    #[error("{what} did not appear within {} s: Entra has not replicated it yet", waited.as_secs())]
    #[non_exhaustive]
    NotReplicated {
        /// What was awaited ("the application", …).
        what: String,
        /// How long it was awaited.
        waited: Duration,
        /// Graph's last answer while waiting, when there was one.
        #[source]
        last: Option<Box<GraphError>>,
    },
    /// A request that must not be sent twice (it creates something new each time Graph carries
    /// it out, as `addPassword` does; see
    /// [`GraphRequest::non_idempotent`](crate::graph::GraphRequest::non_idempotent)) failed in a
    /// way that leaves open whether Graph carried it out: a 5xx reply, or a connection lost after
    /// the request may have reached Graph. It was not sent again. For a `$batch`, it is also the
    /// error when such an item was carried out but its reply cannot be returned, because another
    /// request of the same batch failed.
    ///
    /// `source` keeps the failure as the client saw it: [`Error::status`] and
    /// [`Error::request_id`] read through to it.
    #[error("{request} may have taken effect although it failed")]
    #[non_exhaustive]
    MayHaveTakenEffect {
        /// `METHOD /path` of the request (for a `$batch`, the items that must not be resent).
        request: String,
        /// The failure: a [`Error::Graph`] with its status and request-id, or a
        /// [`Error::Transport`] that may have reached the server.
        source: Box<Error>,
    },
    /// A step failed after this call created a credential, and removing that credential failed
    /// too: the credential is live, so it is handed over here instead of being lost. The failure
    /// that stopped the run is the [`source`](std::error::Error::source).
    #[error(
        "the {} this run created (key id {}) is still registered and could not be removed after the run failed ({cleanup})",
        credential.kind(), credential.key_id()
    )]
    #[non_exhaustive]
    CredentialNotRemoved {
        /// The failure that stopped the run.
        source: Box<Error>,
        /// Why the clean-up failed.
        cleanup: Box<Error>,
        /// The live credential (a secret's value is redacted in `Debug` and `Display`).
        credential: Box<crate::credentials::IssuedCredential>,
    },
}

/// What kind of failure an [`Error`] is: stable and machine-readable. [`ErrorKind::as_str`]
/// is the snake_case name `appreg --json` prints as `error.kind`.
///
/// ```
/// use entra_appreg::{Error, ErrorKind};
/// let err = "contoso".parse::<entra_appreg::TenantId>().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// assert_eq!(err.kind().as_str(), "invalid_input");
/// assert!(err.kind().nothing_sent());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::InvalidInput`]: refused before any request was sent.
    InvalidInput,
    /// [`Error::NotRegistered`]: the app is not in the tenant; found by reading, nothing
    /// changed.
    NotRegistered,
    /// [`Error::Precondition`]: found by reading; what was written before stays.
    Precondition,
    /// [`Error::Io`].
    Io,
    /// [`Error::Graph`].
    Graph,
    /// [`Error::Auth`].
    Auth,
    /// [`Error::Transport`].
    Transport,
    /// [`Error::Decode`].
    Decode,
    /// [`Error::RoleMismatch`].
    RoleMismatch,
    /// [`Error::CredentialLifetimePolicy`].
    CredentialLifetimePolicy,
    /// [`Error::NotReplicated`].
    NotReplicated,
    /// [`Error::MayHaveTakenEffect`].
    MayHaveTakenEffect,
    /// [`Error::CredentialNotRemoved`].
    CredentialNotRemoved,
}

impl ErrorKind {
    /// The kind's snake_case name (`invalid_input`, `graph`, …); it never changes.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotRegistered => "not_registered",
            ErrorKind::Precondition => "precondition",
            ErrorKind::Io => "io",
            ErrorKind::Graph => "graph",
            ErrorKind::Auth => "auth",
            ErrorKind::Transport => "transport",
            ErrorKind::Decode => "decode",
            ErrorKind::RoleMismatch => "role_mismatch",
            ErrorKind::CredentialLifetimePolicy => "credential_lifetime_policy",
            ErrorKind::NotReplicated => "not_replicated",
            ErrorKind::MayHaveTakenEffect => "may_have_taken_effect",
            ErrorKind::CredentialNotRemoved => "credential_not_removed",
        }
    }

    /// Whether an error of this kind guarantees that no request reached the tenant: only
    /// [`ErrorKind::InvalidInput`].
    pub fn nothing_sent(self) -> bool {
        self == ErrorKind::InvalidInput
    }

    /// Whether an error of this kind guarantees that nothing changed in the tenant (requests
    /// may have been sent, but only reads): [`ErrorKind::InvalidInput`] and
    /// [`ErrorKind::NotRegistered`].
    pub fn nothing_changed(self) -> bool {
        matches!(self, ErrorKind::InvalidInput | ErrorKind::NotRegistered)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::NotRegistered { .. } => ErrorKind::NotRegistered,
            Error::Precondition { .. } => ErrorKind::Precondition,
            Error::Io { .. } => ErrorKind::Io,
            Error::Graph(_) => ErrorKind::Graph,
            Error::Auth(_) => ErrorKind::Auth,
            Error::Transport(_) => ErrorKind::Transport,
            Error::Decode(_) => ErrorKind::Decode,
            Error::RoleMismatch { .. } => ErrorKind::RoleMismatch,
            Error::CredentialLifetimePolicy { .. } => ErrorKind::CredentialLifetimePolicy,
            Error::NotReplicated { .. } => ErrorKind::NotReplicated,
            Error::MayHaveTakenEffect { .. } => ErrorKind::MayHaveTakenEffect,
            Error::CredentialNotRemoved { .. } => ErrorKind::CredentialNotRemoved,
        }
    }

    /// Builds an [`Error::Precondition`].
    pub(crate) fn precondition(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Precondition {
            what,
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::InvalidInput`].
    pub fn invalid_input(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    /// Whether the caller's input was rejected before anything was sent.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::InvalidInput { .. })
    }

    /// Whether the app an operation needs is not registered in the tenant.
    pub fn is_not_registered(&self) -> bool {
        matches!(self, Error::NotRegistered { .. })
    }

    /// The failure that stopped the run, for a wrapper whose own Graph answer is not the point:
    /// a lost reply, a clean-up that failed, a wait that ran out.
    fn cause(&self) -> Option<&Error> {
        match self {
            Error::MayHaveTakenEffect { source, .. }
            | Error::CredentialNotRemoved { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Graph's error reply behind this error, when there is one.
    fn graph_error(&self) -> Option<&GraphError> {
        match self {
            Error::Graph(e) => Some(e),
            Error::NotReplicated { last, .. } => last.as_deref(),
            other => other.cause().and_then(Error::graph_error),
        }
    }

    /// The sign-in failure behind this error, when there is one.
    fn auth_error(&self) -> Option<&AuthError> {
        match self {
            Error::Auth(e) => Some(e),
            other => other.cause().and_then(Error::auth_error),
        }
    }

    /// The HTTP status of the failed reply, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Decode(e) => e.status,
            other => other
                .graph_error()
                .map(|g| g.status)
                .or_else(|| other.auth_error().and_then(|a| a.status))
                .or_else(|| other.cause().and_then(Error::status)),
        }
    }

    /// Graph's error `code` (such as `Authorization_RequestDenied`).
    pub fn graph_code(&self) -> Option<&str> {
        self.graph_error().and_then(|g| g.code.as_deref())
    }

    /// The `request-id` Microsoft support asks for.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Decode(e) => e.request_id.as_deref(),
            Error::CredentialLifetimePolicy { request_id, .. } => request_id.as_deref(),
            other => other
                .graph_error()
                .and_then(|g| g.request_id.as_deref())
                .or_else(|| other.cause().and_then(Error::request_id)),
        }
    }

    /// The `client-request-id` this crate sent with the failed Graph request.
    pub fn client_request_id(&self) -> Option<&str> {
        self.graph_error()
            .and_then(|g| g.client_request_id.as_deref())
    }

    /// The AADSTS code of a sign-in failure (such as 7000215 for a wrong secret).
    pub fn aadsts_code(&self) -> Option<u32> {
        self.auth_error().and_then(|a| a.aadsts)
    }

    /// The correlation id of a sign-in failure.
    pub fn correlation_id(&self) -> Option<&str> {
        self.auth_error().and_then(|a| a.correlation_id.as_deref())
    }

    /// What an admin or support engineer should do about this error; `None` when the message
    /// itself says it (bad input).
    pub fn advice(&self) -> Option<&'static str> {
        Some(match self {
            Error::InvalidInput { .. } | Error::Precondition { .. } => return None,
            Error::NotRegistered { .. } => {
                "register it first, or check the unique name (or client id) and the tenant"
            }
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    "check the permissions of the path: a folder outside the user's profile, or the machine's certificate store, may need an elevated process (Run as administrator)"
                }
                std::io::ErrorKind::InvalidData => {
                    "the file is not one this tool wrote: move it away (keep it if support asks for it)"
                }
                _ => "check that the path exists and has room, or choose another folder",
            },
            Error::Graph(e) => e.advice(),
            Error::Auth(e) => e.advice(),
            Error::Transport(e) => e.advice(),
            Error::Decode(_) => {
                "if a proxy or firewall sits between this machine and Microsoft, check that it lets Graph traffic through unchanged"
            }
            Error::RoleMismatch { .. } => {
                "nothing was changed: check the permission's value and resource (in a profile file, the spelling) and that the API exists in this tenant's cloud; if Microsoft changed a built-in role, the permission catalog must be updated"
            }
            Error::CredentialLifetimePolicy { .. } => {
                "ask for a shorter lifetime, or have an admin change the policy"
            }
            Error::NotReplicated { .. } => {
                "run this again in a few minutes (it continues from what exists), or allow a longer replication timeout"
            }
            Error::MayHaveTakenEffect { .. } => {
                "it was not sent again, because each time Graph carries it out it creates something new: read back what it would have created (for addPassword, the app's passwordCredentials) before running again"
            }
            Error::CredentialNotRemoved { .. } => {
                "the credential is returned with this error: use it, or remove it from the app"
            }
        })
    }

    /// The whole story in one message, for a log or a person: this error and each of its
    /// causes, what to do, and the ids Microsoft support asks for. Never holds a secret.
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }

    /// Whether the failed request may have reached Microsoft, and so may have changed the tenant.
    pub fn may_have_reached_server(&self) -> bool {
        match self {
            Error::InvalidInput { .. } | Error::NotRegistered { .. } | Error::Io { .. } => false,
            Error::Transport(e) => e.may_have_reached_server(),
            _ => true,
        }
    }

    /// Whether this is an [`Error::MayHaveTakenEffect`]: a request that must not be sent twice
    /// may have been carried out, so what it creates may exist although the call failed.
    pub fn may_have_taken_effect(&self) -> bool {
        matches!(self, Error::MayHaveTakenEffect { .. })
    }

    pub(crate) fn may_have_taken_effect_of(request: impl Into<String>, source: Error) -> Self {
        Error::MayHaveTakenEffect {
            request: request.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn graph(e: GraphError) -> Self {
        Error::Graph(Box::new(e))
    }

    pub(crate) fn auth(e: AuthError) -> Self {
        Error::Auth(Box::new(e))
    }

    pub(crate) fn decode(e: DecodeError) -> Self {
        Error::Decode(Box::new(e))
    }
}

/// [`Error::report`]: the error, its causes, what to do, and the support ids, as one message.
#[derive(Debug, Clone, Copy)]
pub struct Report<'e>(&'e Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.0;
        let mut story = error.to_string();
        let mut cause = std::error::Error::source(error);
        while let Some(c) = cause {
            story.push_str(": ");
            story.push_str(&c.to_string());
            cause = c.source();
        }
        if let Error::Decode(d) = error
            && !d.snippet.is_empty()
        {
            story.push_str("; body starts: ");
            story.push_str(&d.snippet);
        }
        let mut sentences = vec![story];
        // The advice of the failure that stopped the run, then the wrapper's own.
        let mut advice: Vec<&str> = Vec::new();
        let mut next = Some(error);
        while let Some(e) = next {
            advice.extend(e.advice());
            next = e.cause();
        }
        advice.reverse();
        advice.dedup();
        sentences.extend(advice.into_iter().map(|a| format!("What to do: {a}")));
        let ids = support_ids(error);
        if !ids.is_empty() {
            sentences.push(ids.join(", "));
        }
        for (n, sentence) in sentences.iter().enumerate() {
            if n > 0 {
                // A message of Graph's may end its own sentence.
                let ended = sentences[n - 1].ends_with('.');
                f.write_str(if ended { " " } else { ". " })?;
            }
            f.write_str(sentence)?;
        }
        Ok(())
    }
}

/// The ids Microsoft support asks for, as `name value`.
fn support_ids(error: &Error) -> Vec<String> {
    let graph = error.graph_error();
    let auth = error.auth_error();
    [
        error.request_id().map(|id| format!("request-id {id}")),
        error
            .client_request_id()
            .map(|id| format!("client-request-id {id}")),
        graph
            .and_then(|g| g.date.as_deref())
            .map(|d| format!("date {d}")),
        error.aadsts_code().map(|c| format!("AADSTS{c}")),
        error
            .correlation_id()
            .map(|id| format!("correlation id {id}")),
        auth.and_then(|a| a.trace_id.as_deref())
            .map(|id| format!("trace id {id}")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Microsoft Graph's error reply, with the ids support needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GraphError {
    /// HTTP status.
    pub status: u16,
    /// Graph's `error.code`.
    pub code: Option<String>,
    /// Graph's `error.message` (bounded in length).
    pub message: Option<String>,
    /// `request-id` from the reply headers or `error.innerError`.
    pub request_id: Option<String>,
    /// `client-request-id` (the id this crate sent).
    pub client_request_id: Option<String>,
    /// `innerError.date`.
    pub date: Option<String>,
    /// The method and path of the failed request (without the query string).
    pub request: String,
    /// How many times the request was sent.
    pub attempts: u32,
    /// `Retry-After`, when Graph gave one.
    pub retry_after: Option<Duration>,
}

impl GraphError {
    /// What an admin or support engineer should do about this error.
    pub fn advice(&self) -> &'static str {
        match (self.status, self.code.as_deref()) {
            (401, _) => {
                "the access token was refused: sign in again, and check that the token is for this cloud and tenant"
            }
            // https://learn.microsoft.com/graph/api/organization-list
            (403, _) if self.request.ends_with("/organization") => {
                "reading the organization (for the tenant's SharePoint host) needs the delegated permission User.Read, which the crate's default sign-in asks for, or for an app the application permission Organization.Read.All: sign in with the default scopes, grant Organization.Read.All to the app signing in, or name the host (ReadyOptions::with_sharepoint_host; appreg: --sharepoint-host contoso.sharepoint.com)"
            }
            (403, _)
                if self.message.as_deref().is_some_and(|m| {
                    m.contains("backing application of the service principal being created")
                }) =>
            {
                "the caller holds Application.ReadWrite.OwnedBy, which creates service principals only for apps of this tenant it owns, not for a Microsoft resource (Exchange Online, SharePoint Online): grant it Application.ReadWrite.All, or have an administrator run this once"
            }
            (403, _) => {
                "the signed-in account lacks a directory role: creating apps needs Application Administrator or Cloud Application Administrator, and granting Microsoft Graph application permissions needs Global Administrator or Privileged Role Administrator"
            }
            (404, _) => {
                "the object does not exist (or was created seconds ago and has not replicated yet)"
            }
            (409, _) => "the object already exists",
            (429, _) => "Graph is throttling this tenant: wait a few minutes and run again",
            (400, Some("CredentialInvalidLifetimeAsPerAppPolicy")) => {
                "a tenant app-management policy limits credential lifetimes: ask for a shorter lifetime"
            }
            (s, _) if s >= 500 => "Graph is having trouble: run again in a few minutes",
            _ => "check the request; if it persists, give Microsoft support the request-id",
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed with {}", self.request, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

/// A failed sign-in: the OAuth error reply of the token or device-code endpoint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthError {
    /// HTTP status, when the failure came from a reply.
    pub status: Option<u16>,
    /// The OAuth `error` (such as `invalid_client`, `authorization_declined`).
    pub error: String,
    /// The `error_description`, scrubbed and bounded.
    pub description: Option<String>,
    /// The AADSTS code (from `error_codes` or the description).
    pub aadsts: Option<u32>,
    /// `correlation_id`.
    pub correlation_id: Option<String>,
    /// `trace_id`.
    pub trace_id: Option<String>,
}

impl AuthError {
    pub(crate) fn new(error: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            status: None,
            error: error.into(),
            description: Some(description.into()),
            aadsts: None,
            correlation_id: None,
            trace_id: None,
        }
    }

    /// What to do about this sign-in failure.
    pub fn advice(&self) -> &'static str {
        match (self.aadsts, self.error.as_str()) {
            (Some(7_000_215), _) => {
                "the client secret is wrong, expired, or so new that Entra has not replicated it yet"
            }
            (Some(700_016), _) => {
                "the application is not (yet) known in this tenant: check the client id and tenant, or wait a minute if it was just created"
            }
            (Some(700_027), _) => {
                "the certificate is not registered on the application (or was registered seconds ago)"
            }
            (Some(50_032), _) => "the certificate's key is too short: Entra needs RSA 2048 bits",
            (Some(90_002), _) => "the tenant does not exist: check the tenant id or domain",
            (Some(53_003), _) => {
                "Conditional Access blocked this sign-in. Many tenants block the device code flow (Microsoft's managed policy \"Block device code flow\"): sign in with the browser instead (appreg: --auth browser); otherwise ask who manages Conditional Access which sign-ins are allowed"
            }
            (Some(50_011), _) => {
                "the redirect URI is not registered on the client: a client of your own (appreg: --client-id) must list http://localhost as a public client (\"Mobile and desktop applications\") redirect URI; in the China cloud this needs a client of the tenant's own"
            }
            (Some(54_005 | 70_008), _) => {
                "the sign-in's code was used already or expired: run again"
            }
            (Some(501_481), _) => "the sign-in's PKCE verifier was refused: run again",
            (_, "cancelled") => "the sign-in was cancelled in the browser: run again and finish it",
            (_, "timed_out") => {
                "the browser sign-in was not finished in time: run again, or sign in with a device code on another device (appreg: --auth device-code)"
            }
            (_, "browser_not_opened") => {
                "open the sign-in address printed above by hand, or sign in with a device code (appreg: --auth device-code)"
            }
            (_, "code_not_posted") => {
                "the sign-in's answer came back in a URL, not by form post: run again, and sign in only on the page this tool opened"
            }
            (_, "listener_failed") => {
                "this machine refused a loopback port: sign in with a device code instead (appreg: --auth device-code)"
            }
            (_, "authorization_declined") => {
                "the admin declined the sign-in: run again and approve it"
            }
            (_, "expired_token") => "the sign-in code expired before it was used: run again",
            (_, "bad_verification_code") => "the device code was not recognised: run again",
            (_, "invalid_scope") => "the requested scope is not valid for this cloud",
            _ => "check the tenant, client id and credential",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sign-in failed: {}", self.error)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AuthError {}

/// A reply whose body did not have the expected shape.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecodeError {
    /// What was being read (for example "application from POST /applications").
    pub context: String,
    /// HTTP status of the reply, if any.
    pub status: Option<u16>,
    /// `Content-Type` of the reply.
    pub content_type: Option<String>,
    /// Why decoding failed (no values from the body).
    pub reason: String,
    /// A short, scrubbed excerpt of the body.
    pub snippet: String,
    /// `request-id`, when the reply had one.
    pub request_id: Option<String>,
}

impl DecodeError {
    pub(crate) fn new(context: impl Into<String>, reason: impl Into<String>, body: &[u8]) -> Self {
        Self {
            context: context.into(),
            status: None,
            content_type: None,
            reason: reason.into(),
            snippet: redact::snippet(body),
            request_id: None,
        }
    }

    /// Describes a serde_json error without quoting any value from the body.
    pub(crate) fn reason_from_json(e: &serde_json::Error) -> String {
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Eof => "the body ends early (truncated)",
            Category::Syntax => "the body is not valid JSON",
            Category::Data => "the JSON does not have the expected shape",
            Category::Io => "the body could not be read",
        };
        // serde's message can quote values from the body: keep only what follows "expected".
        let msg = e.to_string();
        let expected = msg
            .find("expected")
            .map(|i| {
                let tail = &msg[i..];
                let end = tail.find(" at line").unwrap_or(tail.len());
                format!(" ({})", strip_quoted(&tail[..end]))
            })
            .unwrap_or_default();
        format!(
            "{kind}{expected} at line {} column {}",
            e.line(),
            e.column()
        )
    }
}

/// Replaces quoted text with `"…"`.
fn strip_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut inside = false;
    for c in s.chars() {
        match (c, inside) {
            ('"' | '`', false) => {
                inside = true;
                out.push_str("\"…");
            }
            ('"' | '`', true) => {
                inside = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected reply while reading {}", self.context)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status}")?;
            if let Some(ct) = &self.content_type {
                write!(f, ", {ct}")?;
            }
            write!(f, ")")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_its_own_stable_name_and_only_invalid_input_promises_nothing_sent() {
        use super::ErrorKind as K;
        let all = [
            K::InvalidInput,
            K::NotRegistered,
            K::Precondition,
            K::Io,
            K::Graph,
            K::Auth,
            K::Transport,
            K::Decode,
            K::RoleMismatch,
            K::CredentialLifetimePolicy,
            K::NotReplicated,
            K::MayHaveTakenEffect,
            K::CredentialNotRemoved,
        ];
        let names: std::collections::BTreeSet<&str> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), all.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        let unsent: Vec<K> = all.iter().copied().filter(|k| k.nothing_sent()).collect();
        assert_eq!(unsent, [K::InvalidInput]);
        let unchanged: Vec<K> = all
            .iter()
            .copied()
            .filter(|k| k.nothing_changed())
            .collect();
        assert_eq!(unchanged, [K::InvalidInput, K::NotRegistered]);
        assert_eq!(
            super::Error::precondition("application", "x")
                .kind()
                .to_string(),
            "precondition"
        );
    }

    #[test]
    fn json_reason_never_quotes_body_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            n: u32,
        }
        let e = serde_json::from_str::<T>(r#"{"n":"Qx8Q~supersecret"}"#).unwrap_err();
        let reason = DecodeError::reason_from_json(&e);
        assert!(!reason.contains("supersecret"), "{reason}");
        assert!(reason.contains("line 1"), "{reason}");
    }

    #[test]
    fn graph_error_display_names_ids_and_advice() {
        let e = GraphError {
            status: 403,
            code: Some("Authorization_RequestDenied".into()),
            message: Some("Insufficient privileges to complete the operation.".into()),
            request_id: Some("rid".into()),
            client_request_id: Some("cid".into()),
            date: None,
            request: "POST /servicePrincipals".into(),
            attempts: 1,
            retry_after: None,
        };
        let s = e.to_string();
        assert_eq!(
            s,
            "POST /servicePrincipals failed with 403 Authorization_RequestDenied: Insufficient privileges to complete the operation."
        );
        let report = Error::graph(e).report().to_string();
        assert!(report.starts_with(&s), "{report}");
        assert!(
            report.contains("request-id rid, client-request-id cid"),
            "{report}"
        );
        assert!(report.contains("What to do: ") && report.contains("Global Administrator"));
    }
}
