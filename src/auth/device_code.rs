//! The device code flow: an admin signs in on any browser with a short code.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::oauth::{FormOutcome, TokenReply, post_form, post_form_ok};
use super::{AccessToken, TokenCache, TokenContext, TokenProvider};
use crate::cloud::{Cloud, Endpoints};
use crate::error::{AuthError, Error, Result};
use crate::ids::ClientId;
use crate::retry::{Pause, Retry, RetryAction, Schedule, Tally};

/// What the admin must be shown: where to go and which code to type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceCodePrompt {
    /// The code to type.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// Entra's ready-made sentence saying both.
    pub message: String,
    /// How long the code stays valid.
    pub expires_in: Duration,
}

type PromptFn = dyn Fn(&DeviceCodePrompt) + Send + Sync;

/// Signs an admin in with the
/// [device code flow](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code).
///
/// By default it uses the Microsoft Graph Command Line Tools public client and asks for
/// [`DEFAULT_PERMISSIONS`](Self::DEFAULT_PERMISSIONS) on the cloud's Graph:
/// `Application.ReadWrite.All`, `AppRoleAssignment.ReadWrite.All` and `User.Read`. The
/// prompt goes to the callback; polling honours `interval` and `slow_down`, and stops on
/// `authorization_declined`, `expired_token` and `bad_verification_code`. The token is cached
/// until shortly before it expires.
///
/// The China (21Vianet) cloud has no Microsoft Graph Command Line Tools app (global apps are not
/// replicated there; signing in with it fails with AADSTS700016: msgraph-sdk-powershell issues
/// [#1735](https://github.com/microsoftgraph/msgraph-sdk-powershell/issues/1735) and
/// [#802](https://github.com/microsoftgraph/msgraph-sdk-powershell/issues/802)). For
/// [`Cloud::China`] a public client of the tenant must be named with
/// [`with_client_id`](Self::with_client_id): without
/// one, [`GraphBuilder::build`](crate::graph::GraphBuilder::build) (and any sign-in) refuses with
/// [`Error::InvalidInput`] before anything is sent.
///
/// ```
/// use entra_appreg::auth::DeviceCodeCredential;
/// let credential = DeviceCodeCredential::new(|prompt| eprintln!("{}", prompt.message));
///
/// // China: name the tenant's own public client.
/// let china = DeviceCodeCredential::new(|prompt| eprintln!("{}", prompt.message))
///     .with_client_id("5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse()?);
/// # Ok::<(), entra_appreg::Error>(())
/// ```
pub struct DeviceCodeCredential {
    /// The public client named by the caller; `None`: the cloud's default.
    client_id: Option<ClientId>,
    scopes: Option<Vec<String>>,
    prompt: Arc<PromptFn>,
    cache: TokenCache,
}

impl DeviceCodeCredential {
    /// The Microsoft Graph Command Line Tools app, the usual public client for a tenant that has
    /// no app of its own yet.
    pub const GRAPH_COMMAND_LINE_TOOLS: ClientId =
        ClientId::from_uuid(uuid::uuid!("14d82eec-204b-4c2f-b7e8-296a70dab67e"));

    /// The delegated permissions asked for, relative to the cloud's Graph resource:
    /// - `Application.ReadWrite.All` creates and updates the app and its service principal
    ///   (<https://learn.microsoft.com/graph/api/application-post-applications>);
    /// - `AppRoleAssignment.ReadWrite.All` grants its application permissions
    ///   (<https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto>);
    /// - `User.Read` reads the organization, for the tenant's SharePoint host
    ///   (<https://learn.microsoft.com/graph/api/organization-list>).
    pub const DEFAULT_PERMISSIONS: &'static [&'static str] = &[
        "Application.ReadWrite.All",
        "AppRoleAssignment.ReadWrite.All",
        "User.Read",
    ];

    /// A credential that shows its prompt through `prompt`.
    pub fn new(prompt: impl Fn(&DeviceCodePrompt) + Send + Sync + 'static) -> Self {
        Self {
            client_id: None,
            scopes: None,
            prompt: Arc::new(prompt),
            cache: TokenCache::default(),
        }
    }

    /// Uses another public client (one registered by the product vendor, say). Required for
    /// [`Cloud::China`].
    pub fn with_client_id(mut self, client_id: ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// The public client that signs in to `cloud`: the one named with
    /// [`with_client_id`](Self::with_client_id), else [`GRAPH_COMMAND_LINE_TOOLS`](Self::GRAPH_COMMAND_LINE_TOOLS).
    /// An [`Error::InvalidInput`] for [`Cloud::China`] without a named client, which that cloud
    /// does not have.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for [`Cloud::China`] when no client was
    /// named.
    pub fn client_id_for(&self, cloud: Cloud) -> Result<ClientId> {
        super::public_client_for(
            self.client_id,
            cloud,
            "device-code client id",
            "device code sign-in",
        )
    }

    /// Asks for these exact scopes (full URIs) instead of the default ones.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    fn scope_string(&self, ctx: &TokenContext<'_>) -> String {
        super::delegated_scope(self.scopes.as_deref(), ctx)
    }

    async fn sign_in(&self, ctx: &TokenContext<'_>) -> Result<AccessToken> {
        let client_id = self.client_id_for(ctx.endpoints.cloud())?.to_string();
        let scope = self.scope_string(ctx);
        let code: DeviceCodeReply = post_form_ok(
            ctx,
            "devicecode",
            &[("client_id", &client_id), ("scope", &scope)],
        )
        .await?;
        let expires_in = Duration::from_secs(code.expires_in.clamp(1, 3600));
        // What the login endpoint says goes to the admin's screen: printable and bounded.
        let shown = |s: &str, max: usize| -> String {
            s.chars()
                .filter(|c| !crate::ids::is_hidden_char(*c))
                .take(max)
                .collect()
        };
        let user_code = shown(&code.user_code, 64);
        let verification_uri = shown(&code.verification_uri, 512);
        (self.prompt)(&DeviceCodePrompt {
            message: match &code.message {
                Some(m) => shown(m, 1024),
                None => {
                    format!("To sign in, open {verification_uri} and enter the code {user_code}.")
                }
            },
            user_code,
            verification_uri,
            expires_in,
        });
        poll(ctx, &client_id, &code).await
    }
}

/// Polls the token endpoint every `interval` (5 s more after each `slow_down`) until the admin
/// completes the sign-in or the code expires, waiting `interval` before the first poll too
/// (RFC 8628 §3.4–3.5).
async fn poll(
    ctx: &TokenContext<'_>,
    client_id: &str,
    code: &DeviceCodeReply,
) -> Result<AccessToken> {
    let expires_in = Duration::from_secs(code.expires_in.clamp(1, 3600));
    let interval = Duration::from_secs(code.interval.unwrap_or(5).clamp(1, 60));
    let device_code = code.device_code.as_str();
    let engine = Retry::new(Schedule::device_code(expires_in, interval), ctx.sleeper);
    let log = |p: &Pause| {
        tracing::debug!(interval = ?p.wait, "waiting for the admin to complete the device-code sign-in");
    };
    let mut tally = Tally::default();
    engine
        .pause(&mut tally, RetryAction::After(interval), log)
        .await;
    let classify = |f: &Pending| match f {
        Pending::Wait(interval) => RetryAction::After(*interval),
        Pending::Failed(_) => RetryAction::No,
    };
    let (_, outcome) = engine
        .run_with(
            &mut tally,
            interval,
            classify,
            |_, p| log(p),
            |interval, _| async move {
                let outcome = poll_once(ctx, client_id, device_code).await;
                match outcome {
                    Ok(Some(token)) => (interval, Ok(token)),
                    Ok(None) => (interval, Err(Pending::Wait(interval))),
                    Err(PollError::SlowDown) => {
                        let slower = interval + Duration::from_secs(5);
                        (slower, Err(Pending::Wait(slower)))
                    }
                    Err(PollError::Failed(e)) => (interval, Err(Pending::Failed(e))),
                }
            },
        )
        .await;
    outcome.map_err(|f| match f {
        Pending::Failed(e) => e,
        Pending::Wait(_) => Error::auth(AuthError::new(
            "expired_token",
            "the sign-in code expired before the admin completed the sign-in",
        )),
    })
}

/// A device-code poll that did not sign in: the admin has not finished (poll again after the
/// interval), or the sign-in failed.
enum Pending {
    Wait(Duration),
    Failed(Error),
}

enum PollError {
    SlowDown,
    Failed(Error),
}

/// One poll of the token endpoint: the token, `None` while the admin has not finished
/// (`authorization_pending`), or `slow_down`, or the failure.
async fn poll_once(
    ctx: &TokenContext<'_>,
    client_id: &str,
    device_code: &str,
) -> std::result::Result<Option<AccessToken>, PollError> {
    let outcome = post_form::<TokenReply>(
        ctx,
        "token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ],
    )
    .await
    .map_err(PollError::Failed)?;
    match outcome {
        FormOutcome::Ok(reply) => Ok(Some(reply.into_token())),
        FormOutcome::OAuthError(e) if e.error == "authorization_pending" => Ok(None),
        FormOutcome::OAuthError(e) if e.error == "slow_down" => Err(PollError::SlowDown),
        FormOutcome::OAuthError(e) => Err(PollError::Failed(Error::auth(e))),
    }
}

impl fmt::Debug for DeviceCodeCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeCredential")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenProvider for DeviceCodeCredential {
    async fn token(&self, ctx: &TokenContext<'_>) -> Result<AccessToken> {
        self.cache.get_or_fetch(|| self.sign_in(ctx)).await
    }

    fn invalidate(&self) {
        self.cache.invalidate();
    }

    fn check_endpoints(&self, endpoints: &Endpoints) -> Result<()> {
        self.client_id_for(endpoints.cloud()).map(|_| ())
    }
}

#[derive(Deserialize)]
struct DeviceCodeReply {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default = "default_expiry")]
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

fn default_expiry() -> u64 {
    900
}
