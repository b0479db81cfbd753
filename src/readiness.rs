//! Ready to connect: signing in as the new app until every resource its profile grants on
//! accepts the credential and puts the granted roles in the token.
//!
//! Right after a registration, Entra refuses the new credential for a while (AADSTS700016,
//! AADSTS7000215, AADSTS700027: [error codes](https://learn.microsoft.com/entra/identity-platform/reference-error-codes))
//! and tokens lack roles granted seconds ago (a token's `roles` claim is what was granted when
//! it was issued: [access token claims](https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference)).
//! [`RegisteredApp::wait_until_ready`](crate::registration::RegisteredApp::wait_until_ready) polls each resource's token endpoint at a short fixed
//! interval, honouring `Retry-After`, until the token carries every granted role or the timeout
//! runs out, and says per resource what it saw.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::{
    ClientCertificateCredential, ClientSecret, ClientSecretCredential, TokenProvider,
};
use crate::cloud::Cloud;
use crate::credentials::{Certificate, IssuedCredential, NewCredential};
use crate::error::{Error, Result};
use crate::graph::{Graph, requests};
use crate::ids::ClientId;
use crate::profile::{Permission, catalog};

use crate::progress::{ProgressEvent, ProgressSink};
use crate::retry::{Pace, Pause, Retry, RetryAction, Schedule, Tally};

/// AADSTS codes that mean "Entra has not replicated the new app or credential yet": app not
/// found (700016), secret not valid yet (7000215), certificate not registered yet (700027),
/// no service principal yet (7000229).
const SIGN_IN_NOT_YET: [u32; 4] = [700_016, 7_000_215, 700_027, 7_000_229];

/// A sign-in as an app created (or given a credential) seconds ago, refused because Entra has not
/// replicated it yet: AADSTS700016, 7000215, 700027 or 7000229. Source: Entra's
/// replication lag, as Microsoft's "Designing for eventual consistency for Microsoft Entra"
/// describes it
/// <https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra>
/// (a new secret was seen rejected for 4–18 s), and Microsoft's
/// [AADSTS error code reference](https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
pub(crate) fn sign_in_not_replicated(e: &Error) -> RetryAction {
    match e.aadsts_code() {
        Some(code) if SIGN_IN_NOT_YET.contains(&code) => RetryAction::Poll,
        _ => RetryAction::No,
    }
}

/// What the new app signs in with.
#[derive(Clone)]
#[non_exhaustive]
pub enum AppCredential {
    /// The certificate with its private key (a client assertion is signed with it).
    Certificate(Box<Certificate>),
    /// The client secret.
    Secret(ClientSecret),
}

impl AppCredential {
    /// What the app signs in with once `requested` was attached and Graph answered `issued`:
    /// the caller's certificate, or the secret Graph made. `None` when Graph's answer is not the
    /// kind asked for.
    pub(crate) fn attached(requested: &NewCredential, issued: &IssuedCredential) -> Option<Self> {
        match (requested, issued) {
            (NewCredential::Certificate(cert), IssuedCredential::Certificate { .. }) => {
                Some(AppCredential::Certificate(cert.clone()))
            }
            (NewCredential::Secret(_), IssuedCredential::Secret(s)) => {
                Some(AppCredential::Secret(s.secret.clone()))
            }
            _ => None,
        }
    }
}

impl fmt::Debug for AppCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppCredential::Certificate(c) => f
                .debug_tuple("Certificate")
                .field(&c.thumbprint().as_str())
                .finish(),
            AppCredential::Secret(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

/// How [`RegisteredApp::wait_until_ready`](crate::registration::RegisteredApp::wait_until_ready) waits.
#[derive(Clone)]
#[non_exhaustive]
pub struct ReadyOptions {
    /// The longest wait, over all resources (default 5 minutes).
    pub timeout: Duration,
    /// The time between two sign-ins to one resource (default 1 s; a `Retry-After` longer than
    /// this is honoured).
    pub interval: Duration,
    /// The SharePoint host (`contoso.sharepoint.com`); by default derived from the tenant's
    /// initial `*.onmicrosoft.com` domain.
    pub sharepoint_host: Option<String>,
    progress: ProgressSink,
}

impl Default for ReadyOptions {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            interval: Duration::from_secs(1),
            sharepoint_host: None,
            progress: ProgressSink::default(),
        }
    }
}

impl fmt::Debug for ReadyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyOptions")
            .field("timeout", &self.timeout)
            .field("interval", &self.interval)
            .field("sharepoint_host", &self.sharepoint_host)
            .finish_non_exhaustive()
    }
}

impl ReadyOptions {
    /// The default timeout: 5 minutes.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

    /// Waits at most this long.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses this SharePoint host instead of the one derived from the tenant's initial domain.
    pub fn with_sharepoint_host(mut self, host: impl Into<String>) -> Self {
        self.sharepoint_host = Some(host.into());
        self
    }

    /// Observes each wait (`ProgressEvent::WaitingForSignIn`), for an installer's UI.
    pub fn on_progress(mut self, f: impl Fn(&ProgressEvent) + Send + Sync + 'static) -> Self {
        self.progress = ProgressSink::new(std::sync::Arc::new(f));
        self
    }
}

/// Whether one resource accepts the app with every granted role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResourceReadiness {
    /// The resource's name ("Microsoft Graph", …).
    pub resource: String,
    /// Its appId.
    pub resource_app_id: ClientId,
    /// The scope signed in for.
    pub scope: String,
    /// Whether a token carried every role granted on this resource.
    pub ready: bool,
    /// The roles the last token carried.
    pub roles: Vec<String>,
    /// Granted roles the last token lacked.
    pub missing: Vec<String>,
    /// Sign-ins made.
    pub attempts: u32,
    /// Time from the first sign-in to the answer.
    #[serde(serialize_with = "secs")]
    pub waited: Duration,
    /// Why the last sign-in failed, when it did (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Whether the product can connect now, per resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Readiness {
    /// Whether every resource is ready.
    pub ready: bool,
    /// Each resource the profile grants on.
    pub resources: Vec<ResourceReadiness>,
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.resources {
            if r.ready {
                writeln!(
                    f,
                    "  ready     {} ({} role(s), after {} sign-in(s), {:.1} s)",
                    r.resource,
                    r.roles.len(),
                    r.attempts,
                    r.waited.as_secs_f64()
                )?;
            } else {
                write!(f, "  NOT ready {}", r.resource)?;
                if !r.missing.is_empty() {
                    write!(f, ": the token lacks {}", r.missing.join(", "))?;
                }
                if let Some(e) = &r.last_error {
                    write!(f, " (last sign-in: {e})")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A resource to sign in to and the roles expected in its token.
struct Target {
    name: String,
    app_id: ClientId,
    /// `None`: Microsoft Graph of the client's cloud.
    scope: Option<String>,
    roles: Vec<String>,
}

/// Signs in as the app `client_id` until every resource of `permissions` accepts `credential`
/// with every one of those roles (see [`RegisteredApp::wait_until_ready`](crate::registration::RegisteredApp::wait_until_ready)).
pub(crate) async fn wait_until_ready(
    graph: &Graph,
    client_id: ClientId,
    permissions: &[Permission],
    credential: &AppCredential,
    options: &ReadyOptions,
) -> Result<Readiness> {
    // The timeout bounds the whole wait in wall-clock time: polls, retries and each reply.
    let graph = &graph.with_deadline(options.timeout);
    let targets = targets(graph, permissions, options).await?;
    // Every resource at once: one wave of sign-ins, each resource polling on its own schedule
    // while lag lasts, all within the one timeout.
    let waits = targets.iter().map(|target| {
        let sign_in = SignIn {
            graph,
            client_id,
            credential,
            target,
        };
        wait_for(sign_in, options, options.timeout)
    });
    let resources = futures::future::join_all(waits).await;
    Ok(Readiness {
        ready: resources.iter().all(|r| r.ready),
        resources,
    })
}

/// The resources with granted roles, and their scopes.
async fn targets(
    graph: &Graph,
    permissions: &[Permission],
    options: &ReadyOptions,
) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for p in permissions {
        match targets.iter_mut().find(|t| t.app_id == p.resource_app_id) {
            Some(t) => t.roles.push(p.value.clone()),
            None => targets.push(Target {
                name: p.resource.clone(),
                app_id: p.resource_app_id,
                scope: None,
                roles: vec![p.value.clone()],
            }),
        }
    }
    let cloud = graph.endpoints().cloud();
    for t in &mut targets {
        if t.app_id == catalog::EXCHANGE_ONLINE.app_id {
            t.scope = Some(format!("https://{}/.default", exchange_host(cloud)));
        } else if t.app_id == catalog::SHAREPOINT_ONLINE.app_id {
            let host = match &options.sharepoint_host {
                Some(h) => h.clone(),
                None => sharepoint_host(graph, cloud).await?,
            };
            t.scope = Some(format!("https://{host}/.default"));
        }
    }
    Ok(targets)
}

/// Exchange Online's host in each cloud.
fn exchange_host(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::UsGov => "outlook.office365.us",
        Cloud::UsGovDod => "outlook-dod.office365.us",
        Cloud::China => "partner.outlook.cn",
        _ => "outlook.office365.com",
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Domain {
    name: String,
    #[serde(default)]
    is_initial: bool,
}

/// An organization, as `GET /organization?$select=id,verifiedDomains` returns it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Org {
    #[serde(default)]
    verified_domains: Vec<Domain>,
}

/// The tenant's SharePoint host, from its initial `<name>.onmicrosoft.com` domain in a read of
/// the organization.
pub(crate) fn sharepoint_host_of(
    orgs: &crate::graph::models::Collection<Org>,
    cloud: Cloud,
) -> Option<String> {
    let initial = orgs
        .value
        .iter()
        .flat_map(|o| &o.verified_domains)
        .find(|d| d.is_initial)
        .and_then(|d| d.name.split('.').next().map(str::to_owned))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))?;
    Some(format!("{initial}.{}", sharepoint_suffix(cloud)))
}

/// The tenant's SharePoint host, read from the organization.
async fn sharepoint_host(graph: &Graph, cloud: Cloud) -> Result<String> {
    let orgs: crate::graph::models::Collection<Org> =
        graph.send_json(&requests::organization_domains()).await?;
    sharepoint_host_of(&orgs, cloud).ok_or_else(|| {
        Error::precondition(
            "SharePoint host",
            "the tenant's initial *.onmicrosoft.com domain could not be read: name the SharePoint host (contoso.sharepoint.com)",
        )
    })
}

/// The domain of SharePoint Online's tenant hosts in each cloud: `{tenant}.sharepoint.com`,
/// GCC High `{tenant}.sharepoint.us`, DoD `{tenant}.sharepoint-mil.us`
/// (<https://learn.microsoft.com/microsoft-365/enterprise/microsoft-365-u-s-government-dod-endpoints>),
/// China `{tenant}.sharepoint.cn`.
fn sharepoint_suffix(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::UsGov => "sharepoint.us",
        Cloud::UsGovDod => "sharepoint-mil.us",
        Cloud::China => "sharepoint.cn",
        _ => "sharepoint.com",
    }
}

fn provider(
    client_id: ClientId,
    credential: &AppCredential,
    scope: Option<&str>,
) -> Result<Box<dyn TokenProvider>> {
    Ok(match credential {
        AppCredential::Certificate(cert) => {
            let p = ClientCertificateCredential::new(client_id, (**cert).clone())?;
            Box::new(match scope {
                Some(s) => p.with_scope(s),
                None => p,
            })
        }
        AppCredential::Secret(secret) => {
            let p = ClientSecretCredential::new(client_id, secret.clone());
            Box::new(match scope {
                Some(s) => p.with_scope(s),
                None => p,
            })
        }
    })
}

/// One resource to sign in to as the new app.
struct SignIn<'a> {
    graph: &'a Graph,
    client_id: ClientId,
    credential: &'a AppCredential,
    target: &'a Target,
}

/// Why a sign-in does not make the resource ready yet.
enum NotReady {
    /// The token lacks these granted roles (they replicate into tokens later).
    Lacks(String),
    /// The sign-in failed.
    Refused(Error),
}

/// The token endpoint is momentarily unavailable: a 429 (after its `Retry-After`), a 5xx or a
/// failed connection. Source: Microsoft Graph's
/// [throttling guidance](https://learn.microsoft.com/graph/throttling) (retry 429 after
/// `Retry-After`) and [error reference](https://learn.microsoft.com/graph/errors) (503/504 with
/// back-off); the token endpoint's counterpart of [`retry::throttled`](crate::retry::throttled)
/// and [`retry::transient_fault`](crate::retry::transient_fault).
fn sign_in_unavailable(e: &Error) -> RetryAction {
    if matches!(e.status(), Some(429) | Some(500..=599)) || matches!(e, Error::Transport(_)) {
        RetryAction::after_or(retry_after_of(e), RetryAction::Poll)
    } else {
        RetryAction::No
    }
}

/// Signs in to one resource until its token carries every role, or `budget` runs out.
async fn wait_for(
    sign_in: SignIn<'_>,
    options: &ReadyOptions,
    budget: Duration,
) -> ResourceReadiness {
    let started = Instant::now();
    let target = sign_in.target;
    let out = ResourceReadiness {
        resource: target.name.clone(),
        resource_app_id: target.app_id,
        scope: target
            .scope
            .clone()
            .unwrap_or_else(|| sign_in.graph.endpoints().graph_scope()),
        ready: false,
        roles: Vec::new(),
        missing: target.roles.clone(),
        attempts: 0,
        waited: Duration::ZERO,
        last_error: None,
    };
    let classify = |f: &NotReady| match f {
        NotReady::Lacks(_) => RetryAction::Poll,
        NotReady::Refused(e) => {
            RetryAction::first_of(e, &[&sign_in_not_replicated, &sign_in_unavailable])
        }
    };
    let observe = |f: &NotReady, pause: &Pause| {
        options.progress.emit(ProgressEvent::WaitingForSignIn {
            resource: target.name.clone(),
            attempt: pause.number,
            waited: started.elapsed(),
            reason: sign_in.reason(f),
        });
    };
    let schedule = Schedule::poll(budget, Pace::every(options.interval));
    let mut tally = Tally::default();
    let (mut out, outcome) = Retry::new(schedule, sign_in.graph.sleeper())
        .within(sign_in.graph)
        .run_with(&mut tally, out, classify, observe, |mut out, _| async {
            let outcome = sign_in.once(&mut out).await;
            (out, outcome)
        })
        .await;
    out.ready = outcome.is_ok();
    out.attempts = tally.attempts;
    out.waited = started.elapsed().max(tally.waited);
    out
}

impl SignIn<'_> {
    /// Signs in once, with a fresh provider (a cached token would keep the roles it was issued
    /// with), and records what the token carries.
    async fn once(&self, out: &mut ResourceReadiness) -> std::result::Result<(), NotReady> {
        let outcome = match provider(
            self.client_id,
            self.credential,
            self.target.scope.as_deref(),
        ) {
            Ok(p) => self.graph.token_from(p.as_ref()).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(token) => {
                out.roles = token.claims().map(|c| c.roles).unwrap_or_default();
                out.missing = self
                    .target
                    .roles
                    .iter()
                    .filter(|r| !out.roles.contains(r))
                    .cloned()
                    .collect();
                out.last_error = None;
                if out.missing.is_empty() {
                    Ok(())
                } else {
                    Err(NotReady::Lacks(out.missing.join(", ")))
                }
            }
            Err(e) => {
                out.last_error = Some(e.to_string());
                Err(NotReady::Refused(e))
            }
        }
    }

    /// What a wait after `failure` is for, in a few words.
    fn reason(&self, failure: &NotReady) -> String {
        match failure {
            NotReady::Lacks(missing) => format!("the token lacks {missing}"),
            NotReady::Refused(_) => {
                let what = match self.credential {
                    AppCredential::Certificate(_) => "the new certificate",
                    AppCredential::Secret(_) => "the new secret",
                };
                format!("waiting for Entra to accept {what}")
            }
        }
    }
}

fn retry_after_of(e: &Error) -> Option<Duration> {
    match e {
        Error::Graph(g) => g.retry_after,
        _ => None,
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    /// Every cloud's resource hosts for a sign-in as the app, as Microsoft's endpoint lists
    /// give them (Microsoft 365 worldwide, GCC High, DoD and 21Vianet endpoint pages).
    #[test]
    fn each_cloud_signs_in_to_its_own_exchange_and_sharepoint_hosts() {
        let table = [
            (Cloud::Global, "outlook.office365.com", "sharepoint.com"),
            (Cloud::UsGov, "outlook.office365.us", "sharepoint.us"),
            (
                Cloud::UsGovDod,
                "outlook-dod.office365.us",
                "sharepoint-mil.us",
            ),
            (Cloud::China, "partner.outlook.cn", "sharepoint.cn"),
        ];
        assert_eq!(
            table.map(|(c, _, _)| c),
            Cloud::ALL,
            "every cloud is pinned"
        );
        for (cloud, exchange, sharepoint) in table {
            assert_eq!(exchange_host(cloud), exchange, "{cloud:?}");
            assert_eq!(sharepoint_suffix(cloud), sharepoint, "{cloud:?}");
        }
    }

    fn orgs(domains: serde_json::Value) -> crate::graph::models::Collection<Org> {
        serde_json::from_value(serde_json::json!({"value": [{"verifiedDomains": domains}]}))
            .unwrap()
    }

    #[test]
    fn the_sharepoint_host_comes_from_the_initial_domain_only_and_only_when_it_is_a_host_name() {
        let found = orgs(serde_json::json!([
            {"name": "contoso.com", "isInitial": false},
            {"name": "contoso-eu.onmicrosoft.com", "isInitial": true}
        ]));
        assert_eq!(
            sharepoint_host_of(&found, Cloud::Global).as_deref(),
            Some("contoso-eu.sharepoint.com")
        );
        for bad in [
            "con$oso.onmicrosoft.com",
            ".onmicrosoft.com",
            "contoso/x.onmicrosoft.com",
        ] {
            let found = orgs(serde_json::json!([{"name": bad, "isInitial": true}]));
            assert_eq!(sharepoint_host_of(&found, Cloud::Global), None, "{bad}");
        }
        let none_initial = orgs(serde_json::json!([{"name": "contoso.com", "isInitial": false}]));
        assert_eq!(sharepoint_host_of(&none_initial, Cloud::Global), None);
    }

    #[test]
    fn only_the_answers_of_an_app_not_replicated_yet_are_waited_out() {
        let refused = |code: u32| {
            let mut e = crate::error::AuthError::new("invalid_client", "refused");
            e.aadsts = Some(code);
            Error::Auth(Box::new(e))
        };
        for code in [700_016, 7_000_215, 700_027, 7_000_229] {
            assert_eq!(
                sign_in_not_replicated(&refused(code)),
                RetryAction::Poll,
                "{code}"
            );
        }
        for code in [50_034, 7_000_222, 700_024] {
            assert_eq!(
                sign_in_not_replicated(&refused(code)),
                RetryAction::No,
                "{code}"
            );
        }
    }
}
