//! Carrying out a plan: converge the tenant in as few sequential round trips as the
//! dependency chain allows (app → service principal → grants).
//!
//! No write replaces a collection (`requiredResourceAccess`, `keyCredentials`) whose current
//! content this run has not read: the create-if-missing upsert carries only the app's name and
//! audience; the collections follow in the service principal's round trip, by the app's object
//! id, once the upsert said the app is new (201). A 204 means the app existed after all (a run
//! racing this one, or a read that lagged): nothing else is written, and the caller reads the
//! app and starts over from what is there.

use std::time::Duration;

use crate::credentials::provisioner::PasswordReply;
use crate::credentials::{
    CredentialKind, IssuedCredential, SecretIntent, SecretOptions, lifetime_policy_error,
};
use crate::error::{Error, Result};
use crate::graph::models::{
    AppRoleAssignment, Application, Collection, KeyCredential, ServicePrincipal,
};
use crate::graph::{BatchItem, BatchItemResponse, Graph, requests};
use crate::ids::{ClientId, ObjectId};
use crate::profile::{Permission, catalog};
use crate::retry::{RetryAction, Tally};

use super::plan::{Resolved, SIGN_IN_AUDIENCE, verify_role};
use super::replication::{Replication, app_lag, grant_lag, not_replicated};
use super::{AppRegistration, ConsentStatus, PartialConsent, PermissionStatus};
use crate::progress::Step;

/// What `apply` produced, before it is turned into a [`RegisteredApp`](super::RegisteredApp).
pub(crate) struct Applied {
    pub app_object_id: ObjectId,
    pub client_id: ClientId,
    pub service_principal_id: ObjectId,
    pub app_created: bool,
    pub permissions: Vec<PermissionStatus>,
    pub consent: ConsentStatus,
}

/// How a run of `apply` ended.
pub(crate) enum Outcome {
    /// The tenant converged.
    Applied(Box<Applied>),
    /// The upsert answered 204: the app exists although the read did not see it. Only its
    /// name and audience were written; read it and plan again.
    AppExisted,
}

/// How a requested credential rides in the registration's round trips.
#[derive(Default)]
pub(crate) struct CredentialSteps {
    /// keyCredentials for an app this run creates (a certificate for a fresh app).
    pub create_keys: Option<Vec<KeyCredential>>,
    /// The whole keyCredentials list for an existing app (its keys, read with their `key`, plus
    /// the new certificate).
    pub update_keys: Option<Vec<KeyCredential>>,
    /// A secret to create beside the service principal.
    pub secret: Option<SecretOptions>,
    /// The run's marker, carried by the secret's display name.
    pub marker: String,
}

/// What the tenant read found, handed to `apply`.
pub(crate) struct Found {
    pub app: Option<Application>,
    pub client_sp: Option<ServicePrincipal>,
    pub resources: Vec<ServicePrincipal>,
    /// The app was created seconds ago by another run (the upsert answered 204 after a read
    /// that did not see it): its dependents may meet replication lag.
    pub app_is_young: bool,
}

/// What every step of one `apply` shares.
struct Steps<'a> {
    graph: &'a Graph,
    spec: &'a AppRegistration,
    replication: Replication<'a>,
    creds: &'a CredentialSteps,
}

/// Converges the tenant from what the read found. A secret created on the way is put in `held`
/// as soon as Graph returns it, whatever fails after: the caller hands it over or removes it.
pub(crate) async fn apply(
    graph: &Graph,
    spec: &AppRegistration,
    resolved: Resolved,
    found: Found,
    creds: CredentialSteps,
    held: &mut Option<NewSecretOf>,
    created_app: &mut Option<ObjectId>,
) -> Result<Outcome> {
    let steps = Steps {
        graph,
        spec,
        replication: Replication {
            graph,
            progress: &spec.progress,
            timeout: spec.replication_timeout,
        },
        creds: &creds,
    };
    steps.run(resolved, found, held, created_app).await
}

/// Removes a secret this run created that the caller will never receive; when that fails too,
/// the secret is handed over in [`Error::CredentialNotRemoved`].
pub(crate) async fn remove_orphan(
    graph: &Graph,
    spec: &AppRegistration,
    error: Error,
    secret: NewSecretOf,
) -> Error {
    spec.progress.started(Step::Cleanup);
    let removal = match requests::remove_password(secret.app_object_id, secret.secret.key_id) {
        Ok(request) => graph.send(&request).await.map(|_| ()),
        Err(e) => Err(e),
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

/// The id of the certificates' read-back in the grants' `$batch`.
const KEYS_READ_BACK: &str = "keys";

/// A grant's item in the grants' `$batch`: its place in the list of grants to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GrantItem(usize);

impl GrantItem {
    fn id(self) -> String {
        format!("grant-{}", self.0)
    }

    fn parse(id: &str) -> Option<Self> {
        id.strip_prefix("grant-")?.parse().ok().map(GrantItem)
    }
}

/// A reply in the grants' `$batch` for no grant that was sent (the batch layer correlates replies
/// by id, so this is a reply that cannot be read, never a grant to guess at).
fn unknown_reply(id: &str) -> Error {
    Error::decode(crate::error::DecodeError::new(
        "the grants' $batch reply",
        format!(
            "an item answered with id {} that was not sent",
            crate::redact::short(id)
        ),
        b"",
    ))
}

/// The item of `sent` whose id is `id` (batch ids are not case-sensitive:
/// <https://learn.microsoft.com/graph/json-batching>).
fn sent_as(sent: &[BatchItem], id: &str) -> Option<BatchItem> {
    sent.iter().find(|i| i.id.eq_ignore_ascii_case(id)).cloned()
}

/// A secret created by this run, with the app it belongs to.
pub(crate) struct NewSecretOf {
    pub secret: crate::credentials::NewSecret,
    pub app_object_id: ObjectId,
}

/// The items of the round trip after the app's: each id says what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dependent {
    /// The app's update (collections, name).
    App,
    /// The app's own service principal.
    ServicePrincipal,
    /// A missing first-party resource service principal.
    Resource(ClientId),
    /// A new secret.
    Password,
    /// The deletion of a revoked permission's grant (by its place in the plan).
    Revoke(usize),
}

impl Dependent {
    fn id(self) -> String {
        match self {
            Dependent::App => "app".into(),
            Dependent::ServicePrincipal => "sp".into(),
            Dependent::Resource(r) => format!("res-{r}"),
            Dependent::Password => "password".into(),
            Dependent::Revoke(n) => format!("revoke-{n}"),
        }
    }

    /// Whether the item can meet the new app's replication lag: everything about the app, not
    /// a first-party resource's service principal, whose backing application is Microsoft's
    /// (for it, even the `Application.ReadWrite.OwnedBy` 403 is for good), nor the deletion of
    /// a grant, whose 404 means it is gone already.
    fn may_meet_lag(self) -> bool {
        !matches!(self, Dependent::Resource(_) | Dependent::Revoke(_))
    }

    /// The batch item that sends `request` as this dependent.
    fn item(self, request: crate::graph::GraphRequest) -> BatchItem {
        BatchItem::new(self.id(), request)
    }

    fn parse(id: &str) -> Option<Self> {
        match id {
            "app" => Some(Dependent::App),
            "sp" => Some(Dependent::ServicePrincipal),
            "password" => Some(Dependent::Password),
            _ if id.starts_with("revoke-") => {
                id["revoke-".len()..].parse().ok().map(Dependent::Revoke)
            }
            _ => id
                .strip_prefix("res-")
                .and_then(|r| r.parse().ok())
                .map(Dependent::Resource),
        }
    }
}

/// The app the registration works on, once it exists.
struct AppIds {
    object_id: ObjectId,
    client_id: ClientId,
    /// Created by this run's upsert (201).
    created: bool,
    /// Created seconds ago (by this run or one racing it): its dependents may meet replication
    /// lag.
    young: bool,
    /// This run created the app, and its audience is still to be set.
    set_audience: bool,
}

/// What the dependents' round trip created.
#[derive(Default)]
struct Dependents {
    service_principal: Option<ServicePrincipal>,
    resources: Vec<ServicePrincipal>,
}

/// The dependents' `$batch` between tries: what is still to send, what was created.
struct DependentsRound<'h> {
    pending: Vec<BatchItem>,
    created: Dependents,
    secret: &'h mut Option<NewSecretOf>,
}

/// The grants between tries: what is still to send, and how the others ended.
#[derive(Default)]
struct GrantRound {
    pending: Vec<usize>,
    /// The app whose certificates the next `$batch` reads back (the first one only).
    read_back: Option<ObjectId>,
    /// What that read-back found.
    keys_read: Option<Application>,
    granted: Vec<Permission>,
    forbidden: Vec<(Permission, Error)>,
    unconfirmed: Vec<Unconfirmed>,
}

/// A step that polls through replication lag failed: it met lag (the first such answer, when
/// the wait runs out), or something else.
enum Lagging {
    Lag(Error),
    Failed(Error),
}

impl Lagging {
    /// The step's error once no more tries are made.
    fn into_error(self, what: &str, waited: Duration) -> Error {
        match self {
            Lagging::Lag(e) => not_replicated(what, waited, Some(e)),
            Lagging::Failed(e) => e,
        }
    }
}

impl Steps<'_> {
    async fn run(
        &self,
        resolved: Resolved,
        found: Found,
        held: &mut Option<NewSecretOf>,
        created_app: &mut Option<ObjectId>,
    ) -> Result<Outcome> {
        // 1. The application: created by the upsert when the read did not see it.
        let Some(app) = self
            .write_application(&found, &resolved, *created_app)
            .await?
        else {
            return Ok(Outcome::AppExisted);
        };
        if app.created {
            *created_app = Some(app.object_id);
        }
        // 2. Everything that needs only the app, in one round trip.
        let (service_principal_id, resources) =
            self.dependents(&resolved, found, &app, held).await?;
        // 3. Admin consent: every missing grant in one $batch. In the same $batch, a
        //    certificate sent is read back: another run may have replaced the whole collection
        //    since this one read it.
        let read_back = self.sent_certificate().map(|_| app.object_id);
        let (permissions, consent, keys_read) = self
            .consent(
                &resolved,
                &resources,
                service_principal_id,
                app.young,
                read_back,
            )
            .await?;
        self.certificate_kept(app.object_id, keys_read).await?;
        Ok(Outcome::Applied(Box::new(Applied {
            app_object_id: app.object_id,
            client_id: app.client_id,
            service_principal_id,
            app_created: app.created,
            permissions,
            consent,
        })))
    }

    /// The app as the read found it, or as the upsert created it; `None` when the upsert said
    /// it existed after all.
    async fn write_application(
        &self,
        found: &Found,
        resolved: &Resolved,
        created_app: Option<ObjectId>,
    ) -> Result<Option<AppIds>> {
        let Some(app) = &found.app else {
            return Ok(create_application(self.graph, self.spec)
                .await?
                .map(|app| AppIds {
                    young: app.created || found.app_is_young,
                    ..app
                }));
        };
        let object_id = require(app.id, "id")?;
        Ok(Some(AppIds {
            object_id,
            client_id: require(app.app_id, "appId")?,
            created: false,
            young: found.app_is_young,
            // Created by an earlier pass of this run, or by an earlier run, which stopped before
            // it set the audience.
            set_audience: (created_app == Some(object_id) || resolved.finish_creation)
                && app.sign_in_audience.as_deref() != Some(SIGN_IN_AUDIENCE),
        }))
    }

    /// The round trip after the app's: the app's collections, its service principal, missing
    /// resource service principals and a new secret. Returns the app's service principal id and
    /// every resource service principal.
    async fn dependents(
        &self,
        resolved: &Resolved,
        found: Found,
        app: &AppIds,
        held: &mut Option<NewSecretOf>,
    ) -> Result<(ObjectId, Vec<ServicePrincipal>)> {
        let items = dependent_items(self.spec, resolved, self.creds, app)?;
        let mut resources = found.resources;
        let mut service_principal_id = found.client_sp.and_then(|sp| sp.id);
        if self.creds.secret.is_some()
            && let Some(journal) = &self.spec.journal
        {
            // Recorded before the secret can exist: a run killed before handing it over leaves
            // an intent the next run finishes.
            let intent = SecretIntent::new(app.object_id, self.creds.marker.clone());
            crate::credentials::journal::off_runtime(journal, move |j| j.record(&intent)).await?;
        }
        if !items.is_empty() {
            self.spec.progress.started(Step::CreateServicePrincipals);
            let created = self.create_dependents(app, items, held).await?;
            if let Some(sp) = created.service_principal {
                service_principal_id = Some(require(sp.id, "id")?);
            }
            resources.extend(created.resources);
            self.spec.progress.finished(Step::CreateServicePrincipals);
        }
        let service_principal_id = service_principal_id.ok_or_else(|| {
            Error::decode(crate::error::DecodeError::new(
                "Graph's replies",
                "no service principal was found or created for the app",
                b"",
            ))
        })?;
        Ok((service_principal_id, resources))
    }

    /// Sends the dependents' `$batch`, polling the items that meet replication lag on an app
    /// created seconds ago. A created secret is recorded first, whatever else failed, so that it
    /// is handed over or removed.
    async fn create_dependents(
        &self,
        app: &AppIds,
        items: Vec<BatchItem>,
        held: &mut Option<NewSecretOf>,
    ) -> Result<Dependents> {
        const WHAT: &str = "the new application";
        let mut tally = Tally::default();
        let classify = |f: &Lagging| match f {
            Lagging::Lag(e) => app_lag(e),
            Lagging::Failed(_) => RetryAction::No,
        };
        let round = DependentsRound {
            pending: items,
            created: Dependents::default(),
            secret: held,
        };
        let (round, outcome) = self
            .replication
            .poll(
                WHAT,
                &mut tally,
                round,
                classify,
                |mut round, _| async move {
                    let outcome = self.dependents_round(app, &mut round).await;
                    (round, outcome)
                },
            )
            .await;
        outcome
            .map(|()| round.created)
            .map_err(|f| f.into_error(WHAT, tally.waited))
    }

    /// One `$batch` of the dependents. Fails with the first lag answer when items met lag; they
    /// are then the pending ones.
    async fn dependents_round(
        &self,
        app: &AppIds,
        round: &mut DependentsRound<'_>,
    ) -> std::result::Result<(), Lagging> {
        let sent = std::mem::take(&mut round.pending);
        let mut replies = self
            .graph
            .batch(sent.clone())
            .await
            .map_err(Lagging::Failed)?;
        // The secret first: whatever fails after, it is held.
        replies.sort_by_key(|r| Dependent::parse(&r.id) != Some(Dependent::Password));
        let mut lag: Option<Error> = None;
        // Items Graph did not run because one they depend on failed (424): sent again with it.
        let mut not_run: Vec<BatchItemResponse> = Vec::new();
        for reply in replies {
            let Some(kind) = Dependent::parse(&reply.id) else {
                continue;
            };
            if reply.status == 424 {
                not_run.push(reply);
                continue;
            }
            if !reply.is_success()
                && app.young
                && kind.may_meet_lag()
                && app_lag(&reply.error()).retries()
            {
                round.pending.extend(sent_as(&sent, &reply.id));
                lag.get_or_insert_with(|| reply.error());
                continue;
            }
            self.created(kind, &reply, app, round)
                .await
                .map_err(Lagging::Failed)?;
        }
        for reply in not_run {
            let item = sent_as(&sent, &reply.id);
            let waits = item
                .iter()
                .flat_map(|i| &i.depends_on)
                .any(|d| round.pending.iter().any(|p| p.id.eq_ignore_ascii_case(d)));
            if !waits {
                // What it depends on neither succeeded nor waits out lag: its own error is
                // the one reported, and this item was not carried out.
                return Err(Lagging::Failed(reply.error()));
            }
            round.pending.extend(item);
        }
        // Sent again in their first order; a dependency that succeeded is no longer named.
        round
            .pending
            .sort_by_key(|p| sent.iter().position(|i| i.id == p.id));
        let pending: Vec<String> = round.pending.iter().map(|p| p.id.clone()).collect();
        for item in &mut round.pending {
            item.depends_on
                .retain(|d| pending.iter().any(|p| p.eq_ignore_ascii_case(d)));
        }
        lag.map_or(Ok(()), |e| Err(Lagging::Lag(e)))
    }

    /// Records what one dependent's reply created.
    async fn created(
        &self,
        kind: Dependent,
        reply: &BatchItemResponse,
        app: &AppIds,
        round: &mut DependentsRound<'_>,
    ) -> Result<()> {
        match kind {
            Dependent::Password => {
                let days = self
                    .creds
                    .secret
                    .as_ref()
                    .map_or(0, |o| i64::from(o.valid_days));
                let created: PasswordReply = reply
                    .json()
                    .map_err(|e| lifetime_policy_error(e, CredentialKind::Secret, days))?;
                *round.secret = Some(NewSecretOf {
                    secret: created.into_secret()?,
                    app_object_id: app.object_id,
                });
            }
            Dependent::App => reply.check()?,
            // Gone already (another run, or a lost reply): revoked all the same.
            Dependent::Revoke(_) if reply.status == 404 => {}
            Dependent::Revoke(_) => reply.check()?,
            Dependent::ServicePrincipal => {
                let sp = self.service_principal_reply(app.client_id, reply).await?;
                round.created.service_principal = Some(sp);
            }
            Dependent::Resource(res) => {
                let sp = self.service_principal_reply(res, reply).await?;
                round.created.resources.push(sp);
            }
        }
        Ok(())
    }

    /// The certificate this run sends in the app's `keyCredentials`, if any.
    fn sent_certificate(&self) -> Option<&KeyCredential> {
        self.creds
            .create_keys
            .as_ref()
            .or(self.creds.update_keys.as_ref())
            .and_then(|keys| keys.last())
    }

    /// After the app's `keyCredentials` were sent: reads them back, and when this run's
    /// certificate is not among them (another run that read the collection before this one wrote
    /// it wrote its own list after), sends the list read back with the certificate added, and
    /// reads again. `keyCredentials` can only be written whole
    /// (<https://learn.microsoft.com/graph/api/application-update>; `addKey` needs a proof signed
    /// by a certificate the app already holds, which a new app has not), so two runs adding
    /// different certificates at once would otherwise keep only the last one written. (A run
    /// that finds an app another run has just created waits for its creator's first write
    /// before it writes: see `converge`.)
    ///
    /// What this cannot see: a writer that read the collection before this run wrote it and
    /// writes its own list only after this read-back. A later run shows it, and so does
    /// [`RegisteredApp::wait_until_ready`](super::RegisteredApp::wait_until_ready), whose
    /// sign-in with the certificate then fails.
    ///
    /// `first_read`: the read-back that rode in the grants' `$batch`, if there was one and it
    /// succeeded.
    async fn certificate_kept(
        &self,
        app: ObjectId,
        mut first_read: Option<Application>,
    ) -> Result<()> {
        let Some(ours) = self.sent_certificate() else {
            return Ok(());
        };
        let thumbprint = crate::credentials::provisioner::key_thumbprint(ours);
        let paced = self
            .replication
            .jittered(self.replication.timeout, Duration::from_secs(2));
        let mut tally = Tally::default();
        loop {
            let read: Application = match first_read.take() {
                Some(read) => read,
                None => {
                    self.graph
                        .send_json(&requests::application_key_credentials(app))
                        .await?
                }
            };
            let mut keys = read.key_credentials.unwrap_or_default();
            if keys
                .iter()
                .any(|k| crate::credentials::provisioner::key_thumbprint(k) == thumbprint)
            {
                return Ok(());
            }
            tracing::warn!(
                "another writer replaced the app's certificates after this run added its own; adding it again"
            );
            if !paced.pause(&mut tally, RetryAction::Backoff, |_| {}).await {
                return Err(Error::NotReplicated {
                    what: "the app's certificates with this run's certificate (another run may be replacing them)".into(),
                    waited: tally.waited,
                    last: None,
                });
            }
            keys.push(ours.clone());
            let patch = Application {
                key_credentials: Some(keys),
                ..Default::default()
            };
            self.graph
                .send(&requests::update_application(app, &patch)?)
                .await?;
        }
    }

    /// The service principal from a create reply: 201 gives it; 409 means it exists (another
    /// run, or a create whose reply was lost), so it is read back, waiting until the read sees
    /// it.
    async fn service_principal_reply(
        &self,
        app_id: ClientId,
        reply: &BatchItemResponse,
    ) -> Result<ServicePrincipal> {
        if reply.status != 409 {
            return reply.json();
        }
        self.replication
            .until_found("the service principal", || async {
                let found: Collection<ServicePrincipal> = self
                    .graph
                    .send_json(&requests::service_principals_by_app_ids(&[app_id]))
                    .await?;
                Ok(found.value.into_iter().next())
            })
            .await
    }

    /// Grants what is missing and says, per permission of the profile, whether it is granted.
    async fn consent(
        &self,
        resolved: &Resolved,
        resources: &[ServicePrincipal],
        service_principal_id: ObjectId,
        young: bool,
        read_back: Option<ObjectId>,
    ) -> Result<(Vec<PermissionStatus>, ConsentStatus, Option<Application>)> {
        let grants = grants_to_make(resolved, resources)?;
        let new_objects = NewObjects {
            principal: young || resolved.create_client_sp,
            resources: resolved.missing_resources.clone(),
        };
        let mut statuses: Vec<PermissionStatus> = resolved
            .existing_grants
            .iter()
            .map(|p| PermissionStatus::new(p.clone(), true))
            .collect();
        let mut forbidden = Vec::new();
        let mut keys_read = None;
        if !grants.is_empty() {
            self.spec.progress.started(Step::GrantConsent);
            let outcome = self
                .grant_all(service_principal_id, &grants, &new_objects, read_back)
                .await?;
            keys_read = outcome.keys_read;
            let granted = outcome.granted.into_iter();
            statuses.extend(granted.map(|p| PermissionStatus::new(p, true)));
            for (p, e) in outcome.forbidden {
                statuses.push(PermissionStatus::new(p.clone(), false));
                forbidden.push((p, e));
            }
            self.spec.progress.finished(Step::GrantConsent);
        }
        sort_by_profile(self.spec, &mut statuses);
        let consent = if forbidden.is_empty() {
            ConsentStatus::Complete
        } else {
            ConsentStatus::Partial(PartialConsent::new(&statuses, &forbidden))
        };
        Ok((statuses, consent, keys_read))
    }

    /// Makes `grants`; the first `$batch` also reads back `read_back`'s certificates.
    async fn grant_all(
        &self,
        principal: ObjectId,
        grants: &[(Permission, ObjectId)],
        new: &NewObjects,
        read_back: Option<ObjectId>,
    ) -> Result<GrantOutcome> {
        const WHAT: &str = "the new service principal";
        let mut tally = Tally::default();
        let classify = |f: &Lagging| match f {
            Lagging::Lag(_) => RetryAction::Poll,
            Lagging::Failed(_) => RetryAction::No,
        };
        let round = GrantRound {
            pending: (0..grants.len()).collect(),
            read_back,
            ..GrantRound::default()
        };
        let (round, outcome) = self
            .replication
            .poll(
                WHAT,
                &mut tally,
                round,
                classify,
                |mut round, _| async move {
                    let outcome = self.grant_round(principal, grants, new, &mut round).await;
                    (round, outcome)
                },
            )
            .await;
        outcome.map_err(|f| f.into_error(WHAT, tally.waited))?;
        let mut granted = round.granted;
        if !round.unconfirmed.is_empty() {
            granted.extend(self.confirm_grants(principal, round.unconfirmed).await?);
        }
        Ok(GrantOutcome {
            granted,
            forbidden: round.forbidden,
            keys_read: round.keys_read,
        })
    }

    /// One `$batch` of the pending grants. Fails with the first lag answer when grants met lag;
    /// they are then the pending ones.
    async fn grant_round(
        &self,
        principal: ObjectId,
        grants: &[(Permission, ObjectId)],
        new: &NewObjects,
        round: &mut GrantRound,
    ) -> std::result::Result<(), Lagging> {
        let pending = std::mem::take(&mut round.pending);
        let mut items = pending
            .iter()
            .map(|&i| {
                let (p, rid) = &grants[i];
                Ok(BatchItem::new(
                    GrantItem(i).id(),
                    requests::grant_app_role(*rid, principal, p.role_id)?,
                ))
            })
            .collect::<Result<Vec<_>>>()
            .map_err(Lagging::Failed)?;
        let read_back = round.read_back.take();
        if let Some(app) = read_back {
            items.push(BatchItem::new(
                KEYS_READ_BACK,
                requests::application_key_credentials(app),
            ));
        }
        let replies = self.graph.batch(items).await.map_err(Lagging::Failed)?;
        let mut lag = None;
        for reply in &replies {
            if read_back.is_some() && reply.id.eq_ignore_ascii_case(KEYS_READ_BACK) {
                // A failed read-back is made again on its own after the grants.
                round.keys_read = reply.is_success().then(|| reply.json().ok()).flatten();
                continue;
            }
            let Some(GrantItem(i)) = GrantItem::parse(&reply.id).filter(|g| pending.contains(&g.0))
            else {
                return Err(Lagging::Failed(unknown_reply(&reply.id)));
            };
            let (permission, resource) = grants[i].clone();
            let young = new.principal || new.resources.contains(&permission.resource_app_id);
            if reply.is_success() {
                round.granted.push(permission);
            } else if reply.status == 403 {
                round.forbidden.push((permission, reply.error()));
            } else if young && grant_lag(&reply.error()).retries() {
                round.pending.push(i);
                lag.get_or_insert_with(|| reply.error());
            } else if reply.status == 400 {
                round.unconfirmed.push(Unconfirmed {
                    permission,
                    resource,
                    error: reply.error(),
                });
            } else {
                return Err(Lagging::Failed(reply.error()));
            }
        }
        lag.map_or(Ok(()), |e| Err(Lagging::Lag(e)))
    }

    /// Grants refused with a 400 that may mean "already granted" (by a run racing this one, or
    /// by an earlier attempt whose reply was lost): Graph's wording is not documented, so the
    /// grants are read back. A grant counts as made only when the read shows it. When Graph said
    /// it exists, the read is polled (listing may lag just after a grant); any other 400 is
    /// returned at once.
    async fn confirm_grants(
        &self,
        principal: ObjectId,
        unconfirmed: Vec<Unconfirmed>,
    ) -> Result<Vec<Permission>> {
        let classify = |f: &Unlisted| match f {
            Unlisted::SaidExists => RetryAction::Poll,
            Unlisted::Refused | Unlisted::Failed(_) => RetryAction::No,
        };
        let state = (unconfirmed, Vec::new());
        let ((unconfirmed, confirmed), outcome) = self
            .replication
            .poll(
                "the existing grant",
                &mut Tally::default(),
                state,
                classify,
                |(mut unconfirmed, mut confirmed), _| async move {
                    let outcome = self
                        .confirm_round(principal, &mut unconfirmed, &mut confirmed)
                        .await;
                    ((unconfirmed, confirmed), outcome)
                },
            )
            .await;
        match outcome {
            Ok(()) => Ok(confirmed),
            Err(Unlisted::Failed(e)) => Err(e),
            Err(Unlisted::SaidExists | Unlisted::Refused) => {
                Err(clone_error(&unconfirmed[0].error))
            }
        }
    }

    /// Lists the grants once and moves those it shows from `unconfirmed` to `confirmed`.
    async fn confirm_round(
        &self,
        principal: ObjectId,
        unconfirmed: &mut Vec<Unconfirmed>,
        confirmed: &mut Vec<Permission>,
    ) -> std::result::Result<(), Unlisted> {
        let listed: Collection<AppRoleAssignment> = self
            .graph
            .send_json(&requests::app_role_assignments(principal))
            .await
            .map_err(Unlisted::Failed)?;
        unconfirmed.retain(|u| {
            let seen = listed
                .value
                .iter()
                .any(|g| g.resource_id == u.resource && g.app_role_id == u.permission.role_id);
            if seen {
                confirmed.push(u.permission.clone());
            }
            !seen
        });
        if unconfirmed.is_empty() {
            Ok(())
        } else if unconfirmed.iter().all(|u| says_already_granted(&u.error)) {
            Err(Unlisted::SaidExists)
        } else {
            Err(Unlisted::Refused)
        }
    }
}

/// Why grants refused with a 400 are not confirmed yet.
enum Unlisted {
    /// Graph said each exists, and the list does not show it yet: listing lags.
    SaidExists,
    /// Graph refused one for another reason.
    Refused,
    /// The list could not be read.
    Failed(Error),
}

/// The create-if-missing upsert, carrying only the name: when the read missed an app that
/// exists (Graph answers 204, and updates it), nothing else of it changes, its audience above
/// all. A new app's audience is set in the update that follows. `None` when Graph answered 204.
async fn create_application(graph: &Graph, spec: &AppRegistration) -> Result<Option<AppIds>> {
    spec.progress.started(Step::WriteApplication);
    let body = Application {
        display_name: Some(spec.display_name.clone()),
        ..Default::default()
    };
    let response = graph
        .send(&requests::upsert_application(&spec.unique_name, &body)?)
        .await?;
    let Some(app) = response.json_opt::<Application>()? else {
        return Ok(None);
    };
    spec.progress.finished(Step::WriteApplication);
    Ok(Some(AppIds {
        object_id: require(app.id, "id")?,
        client_id: require(app.app_id, "appId")?,
        created: response.status() == 201,
        young: false,
        set_audience: response.status() == 201,
    }))
}

/// The requests of the round trip after the app's: the app's collections (or other update),
/// its service principal, missing resource service principals and a new secret.
fn dependent_items(
    spec: &AppRegistration,
    resolved: &Resolved,
    creds: &CredentialSteps,
    app: &AppIds,
) -> Result<Vec<BatchItem>> {
    let mut items = Vec::new();
    // A new app's collections are known (empty): they are set whole. An existing app's were
    // read, and the plan merged them with what the profile adds.
    // The audience goes only to an app this run created: an existing app's is left as the plan
    // says.
    let sign_in_audience = app.set_audience.then(|| SIGN_IN_AUDIENCE.to_owned());
    let patch = if app.created {
        Application {
            required_resource_access: resolved.required_resource_access.clone(),
            key_credentials: creds.create_keys.clone(),
            sign_in_audience,
            ..Default::default()
        }
    } else {
        Application {
            display_name: resolved.rename.then(|| spec.display_name.clone()),
            required_resource_access: resolved.required_resource_access.clone(),
            key_credentials: creds.update_keys.clone(),
            sign_in_audience,
            ..Default::default()
        }
    };
    if patch != Application::default() {
        items.push(Dependent::App.item(requests::update_application(app.object_id, &patch)?));
    }
    if resolved.create_client_sp {
        items.push(
            Dependent::ServicePrincipal.item(requests::create_service_principal(app.client_id)?),
        );
    }
    for res in &resolved.missing_resources {
        items.push(Dependent::Resource(*res).item(requests::create_service_principal(*res)?));
    }
    for (n, (principal, assignment)) in resolved.revoke_grants.iter().enumerate() {
        items.push(
            Dependent::Revoke(n).item(requests::delete_app_role_assignment(*principal, assignment)),
        );
    }
    if let Some(options) = &creds.secret {
        let name = options.display_name_for_run(&creds.marker);
        let request = requests::add_password(app.object_id, &name, options.end())?;
        let mut item = Dependent::Password.item(request);
        // Graph runs a batch's requests in any order unless `dependsOn` orders them
        // (https://learn.microsoft.com/graph/json-batching): two writes to the app go in order.
        if items.iter().any(|i| i.id == Dependent::App.id()) {
            item = item.depends_on(Dependent::App.id());
        }
        items.push(item);
    }
    Ok(items)
}

/// The grants to make, each with its resource service principal's id; roles of resources
/// created just now are checked against what Graph returned.
fn grants_to_make(
    resolved: &Resolved,
    resources: &[ServicePrincipal],
) -> Result<Vec<(Permission, ObjectId)>> {
    resolved
        .missing_grants
        .iter()
        .map(|(p, sp_id)| {
            let rid = match sp_id {
                Some(id) => *id,
                None => {
                    let sp = resources
                        .iter()
                        .find(|sp| sp.app_id == Some(p.resource_app_id))
                        .ok_or_else(|| {
                            Error::decode(crate::error::DecodeError::new(
                                "Graph's replies",
                                format!(
                                    "no service principal of {} was found or created",
                                    p.resource
                                ),
                                b"",
                            ))
                        })?;
                    verify_role(p, sp)?;
                    require(sp.id, "id")?
                }
            };
            Ok((p.clone(), rid))
        })
        .collect()
}

/// Reports permissions in the profile's order.
fn sort_by_profile(spec: &AppRegistration, statuses: &mut [PermissionStatus]) {
    let order = spec.profile.permissions();
    statuses.sort_by_key(|s| {
        order
            .iter()
            .position(|p| {
                p.resource_app_id == s.permission.resource_app_id
                    && p.value.eq_ignore_ascii_case(&s.permission.value)
            })
            .unwrap_or(usize::MAX)
    });
}

/// Which objects are seconds old, so that a grant naming them may meet replication lag.
struct NewObjects {
    /// The app's service principal.
    principal: bool,
    /// Resource service principals created by this run.
    resources: Vec<ClientId>,
}

struct GrantOutcome {
    granted: Vec<Permission>,
    forbidden: Vec<(Permission, Error)>,
    /// The certificates read back in the first `$batch`, when the read succeeded.
    keys_read: Option<Application>,
}

/// A grant Graph refused with a 400 that is not lag: granted only if a read shows it.
struct Unconfirmed {
    permission: Permission,
    resource: ObjectId,
    error: Error,
}

/// Whether Graph's 400 says the assignment exists ("Permission being assigned already exists on
/// the object."). Used only to decide whether to wait for the read that confirms it.
fn says_already_granted(e: &Error) -> bool {
    matches!(e, Error::Graph(g) if g.message.as_deref().is_some_and(|m| m.contains("already exists")))
}

fn clone_error(e: &Error) -> Error {
    match e {
        Error::Graph(g) => Error::Graph(g.clone()),
        other => Error::decode(crate::error::DecodeError::new(
            "a grant",
            other.to_string(),
            b"",
        )),
    }
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

/// The admin role that can make a grant on this resource.
pub(crate) fn role_needed_for(resource: ClientId) -> &'static str {
    if resource == catalog::MICROSOFT_GRAPH.app_id {
        "Global Administrator or Privileged Role Administrator"
    } else {
        "Cloud Application Administrator, Application Administrator or Global Administrator"
    }
}

#[cfg(test)]
mod tests {
    use super::{Dependent, GrantItem};

    #[test]
    fn batch_item_ids_read_back_as_what_they_were_written_from() {
        for g in [GrantItem(0), GrantItem(7), GrantItem(19)] {
            assert_eq!(GrantItem::parse(&g.id()), Some(g));
        }
        let resource = "00000003-0000-0000-c000-000000000000".parse().unwrap();
        for d in [
            Dependent::App,
            Dependent::ServicePrincipal,
            Dependent::Resource(resource),
            Dependent::Password,
            Dependent::Revoke(3),
        ] {
            assert_eq!(Dependent::parse(&d.id()), Some(d));
        }
        for stranger in ["", "7", "grant-", "grant-x", "res-", "res-nope", "APP"] {
            assert_eq!(GrantItem::parse(stranger), None, "{stranger}");
            assert_eq!(Dependent::parse(stranger), None, "{stranger}");
        }
    }
}
