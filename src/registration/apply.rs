//! Carrying out a plan: converge the tenant in as few sequential round trips as the
//! dependency chain allows (app → service principal → grants).

use std::future::Future;
use std::time::Duration;

use crate::credentials::provisioner::PasswordReply;
use crate::credentials::{CredentialKind, IssuedCredential, SecretOptions, lifetime_policy_error};
use crate::error::{Error, Result};
use crate::graph::models::{
    AppRoleAssignment, Application, Collection, KeyCredential, ServicePrincipal,
};
use crate::graph::{BatchItem, BatchItemResponse, Graph, requests};
use crate::ids::{ClientId, ObjectId};
use crate::profile::{Permission, catalog};
use crate::retry::capped_backoff;

use super::plan::{Resolved, SIGN_IN_AUDIENCE, verify_role};
use super::progress::{ProgressEvent, ProgressSink, Step};
use super::{AppRegistration, ConsentStatus, PartialConsent, PermissionStatus};

/// Whether an error is how Entra reports an object that has not replicated yet (GRAPH.md §4).
pub(crate) fn is_replication_lag(e: &Error) -> bool {
    match e {
        Error::Graph(g) => {
            (g.status == 404 && g.code.as_deref() == Some("Request_ResourceNotFound"))
                || (g.status == 400
                    && g.message.as_deref().is_some_and(|m| {
                        m.contains("does not reference a valid application object")
                    }))
        }
        _ => false,
    }
}

/// Whether the create-if-missing upsert was refused because the app exists but has not
/// replicated to where the upsert ran (409 on the alternate key): nothing was written.
pub(crate) fn is_upsert_conflict(e: &Error) -> bool {
    matches!(e, Error::Graph(g) if g.status == 409 && g.request.starts_with("PATCH /applications(uniqueName="))
}

/// The duplicate-grant reply: the role is already granted.
fn is_duplicate_grant(r: &BatchItemResponse) -> bool {
    r.status == 400
        && r.body
            .as_ref()
            .and_then(|b| b.pointer("/error/message"))
            .and_then(|m| m.as_str())
            .is_some_and(|m| m.contains("already exists"))
}

/// Waits out replication lag on objects this run created: retries `op` while it fails with a
/// replication error, with capped exponential back-off, up to the registration's timeout.
pub(crate) struct Replication<'a> {
    pub graph: &'a Graph,
    pub progress: &'a ProgressSink,
    pub timeout: Duration,
}

impl Replication<'_> {
    pub(crate) const BASE: Duration = Duration::from_secs(1);
    pub(crate) const CAP: Duration = Duration::from_secs(16);

    pub(crate) async fn retry<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if is_replication_lag(&e) && waited < self.timeout => {
                    attempt += 1;
                    let wait = self.next_wait(attempt, waited);
                    self.wait(what, attempt, wait, waited).await;
                    waited += wait;
                }
                other => return other,
            }
        }
    }

    pub(crate) fn next_wait(&self, attempt: u32, waited: Duration) -> Duration {
        capped_backoff(Self::BASE, Self::CAP, attempt).min(self.timeout.saturating_sub(waited))
    }

    pub(crate) async fn wait(&self, what: &str, attempt: u32, wait: Duration, waited: Duration) {
        self.progress.emit(ProgressEvent::WaitingForReplication {
            what: what.to_owned(),
            attempt,
            retry_in: wait,
            waited,
        });
        self.graph.sleeper().sleep(wait).await;
    }
}

/// What `apply` produced, before it is turned into a [`RegisteredApp`](super::RegisteredApp).
pub(crate) struct Applied {
    pub app_object_id: ObjectId,
    pub client_id: ClientId,
    pub service_principal_id: ObjectId,
    pub app_created: bool,
    pub permissions: Vec<PermissionStatus>,
    pub consent: ConsentStatus,
    /// The secret this run created.
    pub secret: Option<NewSecretOf>,
}

/// How a requested credential rides in the registration's round trips.
#[derive(Default)]
pub(crate) struct CredentialSteps {
    /// keyCredentials sent when the app is created (a certificate for a fresh app).
    pub create_keys: Option<Vec<KeyCredential>>,
    /// The whole keyCredentials list for an existing app (its keys, read with their `key`, plus
    /// the new certificate).
    pub update_keys: Option<Vec<KeyCredential>>,
    /// A secret to create beside the service principal.
    pub secret: Option<SecretOptions>,
}

pub(crate) async fn apply(
    graph: &Graph,
    spec: &AppRegistration,
    resolved: Resolved,
    observed_app: Option<Application>,
    observed_sp: Option<ServicePrincipal>,
    resources: Vec<ServicePrincipal>,
    creds: CredentialSteps,
) -> Result<Applied> {
    let mut secret: Option<NewSecretOf> = None;
    let outcome = apply_steps(
        graph,
        spec,
        resolved,
        observed_app,
        observed_sp,
        resources,
        &creds,
        &mut secret,
    )
    .await;
    match (outcome, secret) {
        (Ok(mut applied), secret) => {
            applied.secret = secret;
            Ok(applied)
        }
        (Err(e), None) => Err(e),
        // A secret exists that the caller will never receive: remove it, or hand it over.
        (Err(e), Some(secret)) => Err(remove_orphan(graph, spec, e, secret).await),
    }
}

async fn remove_orphan(
    graph: &Graph,
    spec: &AppRegistration,
    error: Error,
    secret: NewSecretOf,
) -> Error {
    spec.progress.started(Step::Cleanup);
    let removal = match secret.app_object_id {
        Some(app) => match requests::remove_password(app, secret.secret.key_id) {
            Ok(request) => graph.send(&request).await.map(|_| ()),
            Err(e) => Err(e),
        },
        None => Err(not_found("the application")),
    };
    spec.progress.finished(Step::Cleanup);
    match removal {
        Ok(()) => {
            tracing::warn!(key_id = %secret.secret.key_id, "removed the secret this failed run created");
            error
        }
        Err(cleanup) => Error::CredentialNotRemoved {
            source: Box::new(error),
            cleanup: Box::new(cleanup),
            credential: Box::new(IssuedCredential::Secret(secret.secret)),
        },
    }
}

/// A secret created by this run, with the app it belongs to.
pub(crate) struct NewSecretOf {
    pub secret: crate::credentials::NewSecret,
    pub app_object_id: Option<ObjectId>,
    /// The request was sent more than once: another secret may exist that nobody received.
    pub maybe_duplicated: bool,
}

#[allow(clippy::too_many_arguments)]
async fn apply_steps(
    graph: &Graph,
    spec: &AppRegistration,
    resolved: Resolved,
    observed_app: Option<Application>,
    observed_sp: Option<ServicePrincipal>,
    mut resources: Vec<ServicePrincipal>,
    creds: &CredentialSteps,
    secret_out: &mut Option<NewSecretOf>,
) -> Result<Applied> {
    let progress = &spec.progress;
    let replication = Replication {
        graph,
        progress,
        timeout: spec.replication_timeout,
    };

    // 1. The application. `fresh`: it did not exist when the tenant was read, so it is seconds
    // old (created by this run, or by another one racing it) and may not have replicated yet.
    let fresh = observed_app.is_none();
    let (app_object_id, client_id, app_created) = match observed_app {
        None => {
            progress.started(Step::WriteApplication);
            let body = Application {
                display_name: Some(spec.display_name.clone()),
                sign_in_audience: Some(SIGN_IN_AUDIENCE.to_owned()),
                required_resource_access: resolved.required_resource_access.clone(),
                key_credentials: creds.create_keys.clone(),
                ..Default::default()
            };
            let upsert = requests::upsert_application(&spec.unique_name, &body)?;
            let response = graph.send(&upsert).await?;
            let created = response.status() == 201;
            let app: Application = match response.json_opt::<Application>()? {
                Some(app) => app,
                // 204: the app appeared since the read (another run): read it back by its key.
                None => {
                    replication
                        .retry("the application", || async {
                            let found: Collection<Application> = graph
                                .send_json(&requests::find_application_by_unique_name(
                                    &spec.unique_name,
                                ))
                                .await?;
                            found
                                .value
                                .into_iter()
                                .next()
                                .ok_or_else(|| not_found("the application"))
                        })
                        .await?
                }
            };
            progress.finished(Step::WriteApplication);
            (
                require(app.id, "id")?,
                require(app.app_id, "appId")?,
                created,
            )
        }
        Some(app) => (require(app.id, "id")?, require(app.app_id, "appId")?, false),
    };

    // 2. Everything that needs only the app: an update of the existing app, the service
    //    principals, and a new secret — together in one round trip.
    let mut items = Vec::new();
    if !fresh
        && (resolved.rename
            || resolved.required_resource_access.is_some()
            || creds.update_keys.is_some())
    {
        let patch = Application {
            display_name: resolved.rename.then(|| spec.display_name.clone()),
            required_resource_access: resolved.required_resource_access.clone(),
            key_credentials: creds.update_keys.clone(),
            ..Default::default()
        };
        items.push(BatchItem::new(
            "app",
            requests::update_application(app_object_id, &patch)?,
        ));
    }
    if resolved.create_client_sp {
        items.push(BatchItem::new(
            "sp",
            requests::create_service_principal(client_id)?,
        ));
    }
    for res in &resolved.missing_resources {
        items.push(BatchItem::new(
            format!("res-{res}"),
            requests::create_service_principal(*res)?,
        ));
    }
    if let Some(options) = &creds.secret {
        items.push(BatchItem::new(
            "password",
            requests::add_password(app_object_id, &options.display_name(), options.end())?,
        ));
    }
    let mut service_principal_id = observed_sp.and_then(|sp| sp.id);
    let mut sp_created = false;
    if !items.is_empty() {
        progress.started(Step::CreateServicePrincipals);
        let mut pending = items;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            let sent = graph.request_count();
            let mut replies: Vec<(BatchItem, BatchItemResponse)> = pending
                .iter()
                .cloned()
                .zip(graph.batch(pending.clone()).await?)
                .collect();
            // Sent more than once (a retry after a 5xx or a throttled item): an earlier
            // attempt may have created a secret whose reply was lost.
            let resent = graph.request_count() - sent > 1;
            // The secret first: once created, it must be handed over or removed, whatever
            // else in this round trip failed.
            replies.sort_by_key(|(item, _)| item.id != "password");
            let mut lagging = Vec::new();
            let mut lag_error = None;
            for (item, reply) in replies {
                if !reply.is_success() && fresh && is_replication_lag(&reply.error()) {
                    lagging.push(item);
                    lag_error.get_or_insert_with(|| reply.error());
                    continue;
                }
                match reply.id.as_str() {
                    "password" => {
                        let days = creds.secret.as_ref().map_or(0, |o| i64::from(o.valid_days));
                        let created: PasswordReply = reply
                            .json()
                            .map_err(|e| lifetime_policy_error(e, CredentialKind::Secret, days))?;
                        *secret_out = Some(NewSecretOf {
                            secret: created.into_secret()?,
                            app_object_id: Some(app_object_id),
                            maybe_duplicated: resent,
                        });
                    }
                    "app" => reply.check()?,
                    "sp" => {
                        let sp =
                            service_principal_reply(graph, &replication, client_id, &reply).await?;
                        sp_created = reply.status == 201;
                        service_principal_id = Some(require(sp.id, "id")?);
                    }
                    id if id.starts_with("res-") => {
                        let res = resolved
                            .missing_resources
                            .iter()
                            .find(|r| id == format!("res-{r}"))
                            .copied()
                            .ok_or_else(|| not_found("the resource"))?;
                        let sp = service_principal_reply(graph, &replication, res, &reply).await?;
                        resources.push(sp);
                    }
                    _ => {}
                }
            }
            if lagging.is_empty() {
                break;
            }
            attempt += 1;
            if let Some(e) = lag_error.filter(|_| waited >= replication.timeout) {
                return Err(e);
            }
            let wait = replication.next_wait(attempt, waited);
            replication
                .wait("the new application", attempt, wait, waited)
                .await;
            waited += wait;
            pending = lagging;
        }
        progress.finished(Step::CreateServicePrincipals);
    }
    let service_principal_id =
        service_principal_id.ok_or_else(|| not_found("the service principal"))?;

    // Roles of resources created just now are checked against what Graph returned.
    for (p, sp_id) in &resolved.missing_grants {
        if sp_id.is_none() {
            let sp = resources
                .iter()
                .find(|sp| sp.app_id == Some(p.resource_app_id))
                .ok_or_else(|| not_found("the resource service principal"))?;
            verify_role(p, sp)?;
        }
    }

    // 3. Admin consent: every missing grant in one $batch.
    let mut statuses: Vec<PermissionStatus> = resolved
        .existing_grants
        .iter()
        .map(|p| PermissionStatus::new(p.clone(), true))
        .collect();
    let mut forbidden: Vec<(Permission, Error)> = Vec::new();
    if !resolved.missing_grants.is_empty() {
        progress.started(Step::GrantConsent);
        let grants: Vec<(Permission, ObjectId)> = resolved
            .missing_grants
            .iter()
            .map(|(p, sp)| {
                let rid = sp
                    .or_else(|| {
                        resources
                            .iter()
                            .find(|r| r.app_id == Some(p.resource_app_id))
                            .and_then(|r| r.id)
                    })
                    .ok_or_else(|| not_found("the resource service principal"))?;
                Ok((p.clone(), rid))
            })
            .collect::<Result<_>>()?;
        let outcome = grant_all(
            graph,
            &replication,
            service_principal_id,
            &grants,
            sp_created,
        )
        .await?;
        statuses.extend(
            outcome
                .granted
                .into_iter()
                .map(|p| PermissionStatus::new(p, true)),
        );
        for (p, e) in outcome.forbidden {
            statuses.push(PermissionStatus::new(p.clone(), false));
            forbidden.push((p, e));
        }
        progress.finished(Step::GrantConsent);
    }
    // Report in the profile's order.
    let order = spec.profile.permissions();
    statuses.sort_by_key(|s| {
        order
            .iter()
            .position(|p| {
                p.resource_app_id == s.permission.resource_app_id
                    && p.role_id == s.permission.role_id
            })
            .unwrap_or(usize::MAX)
    });
    let consent = if forbidden.is_empty() {
        ConsentStatus::Complete
    } else {
        ConsentStatus::Partial(PartialConsent::new(&statuses, &forbidden))
    };
    Ok(Applied {
        app_object_id,
        client_id,
        service_principal_id,
        app_created,
        permissions: statuses,
        consent,
        secret: None,
    })
}

/// The service principal from a create reply: 201 gives it; 409 means it exists (another run,
/// or a create whose reply was lost), so it is read back.
async fn service_principal_reply(
    graph: &Graph,
    replication: &Replication<'_>,
    app_id: ClientId,
    reply: &BatchItemResponse,
) -> Result<ServicePrincipal> {
    if reply.status == 409 {
        return replication
            .retry("the service principal", || async {
                let found: Collection<ServicePrincipal> = graph
                    .send_json(&requests::service_principals_by_app_ids(&[app_id]))
                    .await?;
                found
                    .value
                    .into_iter()
                    .next()
                    .ok_or_else(|| not_found("the service principal"))
            })
            .await;
    }
    reply.json()
}

struct GrantOutcome {
    granted: Vec<Permission>,
    forbidden: Vec<(Permission, Error)>,
}

async fn grant_all(
    graph: &Graph,
    replication: &Replication<'_>,
    principal: ObjectId,
    grants: &[(Permission, ObjectId)],
    principal_is_new: bool,
) -> Result<GrantOutcome> {
    let mut granted = Vec::new();
    let mut forbidden = Vec::new();
    let mut duplicates = Vec::new();
    let mut pending: Vec<usize> = (0..grants.len()).collect();
    let mut waited = Duration::ZERO;
    let mut attempt = 0;
    loop {
        let items = pending
            .iter()
            .map(|&i| {
                let (p, rid) = &grants[i];
                Ok(BatchItem::new(
                    i.to_string(),
                    requests::grant_app_role(*rid, principal, p.role_id)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let replies = graph.batch(items).await?;
        let mut lagging = Vec::new();
        for (&i, reply) in pending.iter().zip(&replies) {
            let permission = grants[i].0.clone();
            if reply.is_success() {
                granted.push(permission);
            } else if is_duplicate_grant(reply) {
                duplicates.push(permission);
            } else if reply.status == 403 {
                forbidden.push((permission, reply.error()));
            } else if principal_is_new
                && is_replication_lag(&reply.error())
                && waited < replication.timeout
            {
                lagging.push(i);
            } else {
                return Err(reply.error());
            }
        }
        if lagging.is_empty() {
            break;
        }
        attempt += 1;
        let wait = replication.next_wait(attempt, waited);
        replication
            .wait("the new service principal", attempt, wait, waited)
            .await;
        waited += wait;
        pending = lagging;
    }
    if !duplicates.is_empty() {
        // Another run granted these meanwhile: confirm by listing, then count them as granted.
        let listed: Collection<AppRoleAssignment> = graph
            .send_json(&requests::app_role_assignments(principal))
            .await?;
        for p in duplicates {
            let seen = listed.value.iter().any(|g| g.app_role_id == p.role_id);
            if !seen {
                tracing::debug!(permission = %p, "duplicate grant not yet listed; Graph reported it exists");
            }
            granted.push(p);
        }
    }
    Ok(GrantOutcome { granted, forbidden })
}

fn require<T>(v: Option<T>, field: &str) -> Result<T> {
    v.ok_or_else(|| {
        Error::decode(crate::error::DecodeError::new(
            "Graph's reply",
            format!("the object has no {field}"),
            b"",
        ))
    })
}

pub(crate) fn not_found(what: &str) -> Error {
    Error::graph(crate::error::GraphError {
        status: 404,
        code: Some("Request_ResourceNotFound".into()),
        message: Some(format!("{what} was not found (yet)")),
        request_id: None,
        client_request_id: None,
        date: None,
        request: "read back".into(),
        attempts: 1,
        retry_after: None,
    })
}

/// The admin role that can make a grant on this resource.
pub(crate) fn role_needed_for(resource: ClientId) -> &'static str {
    if resource == catalog::MICROSOFT_GRAPH.app_id {
        "Global Administrator or Privileged Role Administrator"
    } else {
        "Cloud Application Administrator, Application Administrator or Global Administrator"
    }
}
