//! Adding, listing, rotating and removing the credentials of an existing application.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{
    Certificate, CredentialInfo, CredentialKind, IssuedCredential, NewCredential, NewSecret,
    SecretIntent, SecretJournal, SecretOptions, certificate_display_name, is_created_by_crate,
    lifetime_policy_error,
};

/// Lost `addPassword` replies a call recovers from before it gives up.
const MAX_LOST_REPLIES: u32 = 4;
use crate::auth::ClientSecret;
use crate::error::{Error, Result};
use crate::graph::models::{Application, KeyCredential};
use crate::graph::{Graph, requests};
use crate::ids::{ObjectId, Thumbprint};
use crate::profile::PermissionProfile;
use crate::retry::{Pace, Pause, Retry, RetryAction, Schedule, Tally};

/// Manages the credentials of one application.
///
/// ```no_run
/// # async fn run(graph: entra_appreg::Graph, app: entra_appreg::ObjectId) -> entra_appreg::Result<()> {
/// use entra_appreg::credentials::{Certificate, CredentialProvisioner, NewCredential};
/// let provisioner = CredentialProvisioner::new(&graph, app);
/// for c in provisioner.list().await? {
///     println!("{c}");
/// }
/// let cert = Certificate::generate("Contoso Backup", 365)?;
/// let rotation = provisioner.rotate(NewCredential::Certificate(Box::new(cert))).await?;
/// println!("retired {} older credentials", rotation.removed.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CredentialProvisioner {
    /// Its own handle on the client (a clone shares the connection and the token).
    graph: Graph,
    app: ObjectId,
    profile: Option<PermissionProfile>,
    journal: Option<Arc<dyn SecretJournal>>,
}

impl std::fmt::Debug for CredentialProvisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialProvisioner")
            .field("app", &self.app)
            .field("profile", &self.profile)
            .field("journal", &self.journal.is_some())
            .finish_non_exhaustive()
    }
}

/// The outcome of [`CredentialProvisioner::rotate`].
///
/// Once the new credential is added, a rotation always returns it: a failure after that point
/// (retiring the older credentials, or checking the new one's sign-in) keeps the older ones
/// and is reported in [`retirement_error`](Self::retirement_error), never as an error that
/// would lose a secret's only copy.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Rotation {
    /// The new credential, in place before anything was removed.
    pub issued: IssuedCredential,
    /// The older crate-created credentials of the same kind that were removed.
    pub removed: Vec<CredentialInfo>,
    /// Whether the product could sign in with the new credential, for a rotation that waited
    /// for it ([`CredentialProvisioner::rotate_when_ready`]); the older credentials are removed
    /// only when it could.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<crate::registration::Readiness>,
    /// Why older credentials this rotation was to retire may still be registered: the failure
    /// (as [`Error::report`] writes it) that stopped their removal, or the sign-in check of the
    /// new credential, after it was added. Retire them later with
    /// [`CredentialProvisioner::retire_older`], or rotate again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retirement_error: Option<String>,
    /// The error behind [`retirement_error`](Self::retirement_error), for a program to branch
    /// on ([`Error::kind`], [`Error::status`]); not serialised.
    #[serde(skip)]
    pub retirement_cause: Option<std::sync::Arc<Error>>,
    /// HTTP requests the rotation sent to Graph (a `$batch` counted once; not serialised).
    #[serde(skip)]
    pub graph_requests: u64,
    /// Round trips to Graph of the rotation: requests in flight together count once (not
    /// serialised).
    #[serde(skip)]
    pub graph_round_trips: u64,
}

impl CredentialProvisioner {
    /// Manages the application with this object id, through its own handle on `graph` (a
    /// clone: the provisioner can outlive the caller's borrow, be moved into a task, be kept).
    pub fn new(graph: &Graph, application_object_id: ObjectId) -> Self {
        Self {
            graph: graph.clone(),
            app: application_object_id,
            profile: None,
            journal: None,
        }
    }

    /// Keeps a journal of the secrets about to be created (see
    /// [`SecretJournal`](super::SecretJournal)): a later run with the same journal removes a
    /// secret this one created but was stopped before returning.
    pub fn with_journal(mut self, journal: Arc<dyn SecretJournal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Applies the profile's credential rule (Backup-SharePoint: certificates only) before any
    /// request is sent.
    pub fn for_profile(mut self, profile: PermissionProfile) -> Self {
        self.profile = Some(profile);
        self
    }

    fn check(&self, new: &NewCredential) -> Result<()> {
        if let Some(p) = &self.profile {
            p.check_credential(new.kind())?;
        }
        new.check()
    }

    /// Reads the app's key credentials with their keys (`$select=keyCredentials`, the only read
    /// that returns them) and its password credentials.
    async fn read(&self) -> Result<Application> {
        self.graph
            .send_json(
                &crate::graph::GraphRequest::get(format!("/applications/{}", self.app))
                    .query("$select", "id,keyCredentials,passwordCredentials"),
            )
            .await
    }

    /// Every credential of the app, with expiry and whether the crate created it.
    ///
    /// # Errors
    ///
    /// [`Error::Graph`](crate::Error::Graph), [`Error::Auth`](crate::Error::Auth),
    /// [`Error::Transport`](crate::Error::Transport) or [`Error::Decode`](crate::Error::Decode)
    /// when the app cannot be read (a 404 [`Error::Graph`](crate::Error::Graph) when it does not
    /// exist).
    pub async fn list(&self) -> Result<Vec<CredentialInfo>> {
        Ok(list_of(&self.read().await?))
    }

    /// Adds a credential.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) before any request when the profile
    /// refuses the credential's kind or the credential is not usable; otherwise as
    /// [`add_certificate`](Self::add_certificate) and [`add_secret`](Self::add_secret).
    pub async fn add(&self, new: &NewCredential) -> Result<IssuedCredential> {
        self.check(new)?;
        match new {
            NewCredential::Certificate(cert) => self.add_certificate(cert).await,
            NewCredential::Secret(options) => {
                self.add_secret(options).await.map(IssuedCredential::Secret)
            }
        }
    }

    /// Registers a certificate: reads the existing keys and PATCHes the whole list with the new
    /// one appended, so every certificate already there survives.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) before any request when the profile
    /// refuses certificates or the certificate is not usable;
    /// [`Error::CredentialLifetimePolicy`](crate::Error::CredentialLifetimePolicy) when a tenant
    /// policy refuses its lifetime; [`Error::Graph`](crate::Error::Graph),
    /// [`Error::Auth`](crate::Error::Auth), [`Error::Transport`](crate::Error::Transport) or
    /// [`Error::Decode`](crate::Error::Decode) when reading or updating the app fails.
    pub async fn add_certificate(&self, cert: &Certificate) -> Result<IssuedCredential> {
        if let Some(p) = &self.profile {
            p.check_credential(CredentialKind::Certificate)?;
        }
        cert.check_usable(true)?;
        let app = self.read().await?;
        let mut keys = app.key_credentials.unwrap_or_default();
        if let Some(existing) = keys
            .iter()
            .find(|k| key_thumbprint(k).as_ref() == Some(cert.thumbprint()))
        {
            // Already registered (a re-run after a lost reply): nothing to add.
            return Ok(IssuedCredential::for_certificate(
                cert,
                existing
                    .key_id
                    .unwrap_or(crate::ids::KeyId::from_uuid(uuid::Uuid::nil())),
            ));
        }
        let new = cert.key_credential(&certificate_display_name(cert));
        let key_id = new
            .key_id
            .unwrap_or(crate::ids::KeyId::from_uuid(uuid::Uuid::nil()));
        keys.push(new);
        let days = (cert.not_after() - cert.not_before()).whole_days();
        self.patch_keys(keys)
            .await
            .map_err(|e| lifetime_policy_error(e, CredentialKind::Certificate, days))?;
        Ok(IssuedCredential::for_certificate(cert, key_id))
    }

    async fn patch_keys(&self, keys: Vec<KeyCredential>) -> Result<()> {
        let body = Application {
            key_credentials: Some(keys),
            ..Default::default()
        };
        self.graph
            .send(&requests::update_application(self.app, &body)?)
            .await
            .map(|_| ())
    }

    /// Creates a client secret (`addPassword`). A Backup-SharePoint provisioner refuses before
    /// sending anything.
    ///
    /// `addPassword` creates a new secret each time Graph carries it out, so it is never resent
    /// blindly: the secret's display name carries a marker of this call, and when a reply is lost
    /// (a 5xx, or a connection cut after the request left) the app's secrets are read, the ones
    /// carrying the marker removed, and a new one added, up to four times. The caller ends with
    /// exactly one new secret, the one returned.
    ///
    /// # Errors
    ///
    /// [`Error::MayHaveTakenEffect`] when replies were still lost after the last try: a secret
    /// carrying this call's marker may exist that nobody holds (with a journal, the next run
    /// removes it); the usual Graph and transport errors otherwise.
    pub async fn add_secret(&self, options: &SecretOptions) -> Result<NewSecret> {
        if let Some(p) = &self.profile {
            p.check_credential(CredentialKind::Secret)?;
        }
        options.check()?;
        let marker = super::new_marker();
        if let Some(journal) = &self.journal {
            let intent = SecretIntent::new(self.app, marker.clone());
            super::journal::off_runtime(journal, move |j| j.record(&intent)).await?;
        }
        let schedule = Schedule::poll(Duration::MAX, Pace::every(Duration::from_secs(1)))
            .with_max_attempts(MAX_LOST_REPLIES + 1);
        let classify = |f: &AddSecret| match f {
            AddSecret::Added(e) => lost_reply(e),
            AddSecret::Cleanup(_) => RetryAction::No,
        };
        let observe = |f: &AddSecret, _: &Pause| {
            if let AddSecret::Added(e) = f {
                tracing::warn!(error = %e, "the reply to addPassword was lost; removing what it may have created before adding again");
            }
        };
        let mut tally = Tally::default();
        let outcome = Retry::new(schedule, self.graph.sleeper())
            .within(&self.graph)
            .run(&mut tally, classify, observe, |attempt| {
                self.add_secret_after_lost(options, &marker, attempt)
            })
            .await
            .map_err(AddSecret::into_error);
        let lost = tally.waits;
        if let Some(journal) = &self.journal {
            let update = match &outcome {
                Ok(_) => super::journal::mark_done(journal, &marker).await,
                // Nothing carrying the marker can exist: nothing is left to finish.
                Err(e) if !e.may_have_taken_effect() && lost == 0 => {
                    super::journal::forget(journal, &marker).await
                }
                Err(_) => Ok(()),
            };
            if let Err(j) = update {
                tracing::warn!(error = %j, "the secret journal could not be updated");
            }
        }
        outcome
    }

    /// One try of [`add_secret`](Self::add_secret): after a lost reply, the secrets carrying
    /// the marker are removed first.
    async fn add_secret_after_lost(
        &self,
        options: &SecretOptions,
        marker: &str,
        attempt: u32,
    ) -> std::result::Result<NewSecret, AddSecret> {
        if attempt > 1 {
            self.remove_marked(marker)
                .await
                .map_err(AddSecret::Cleanup)?;
        }
        self.add_secret_once(options, marker)
            .await
            .map_err(AddSecret::Added)
    }

    async fn add_secret_once(&self, options: &SecretOptions, marker: &str) -> Result<NewSecret> {
        let request = requests::add_password(
            self.app,
            &options.display_name_for_run(marker),
            options.end(),
        )?;
        let reply = self.graph.send(&request).await.map_err(|e| {
            lifetime_policy_error(e, CredentialKind::Secret, i64::from(options.valid_days))
        })?;
        // Graph made the secret: a reply that cannot be read loses its value, but not the
        // secret.
        reply
            .json::<PasswordReply>()
            .and_then(PasswordReply::into_secret)
            .map_err(|e| Error::may_have_taken_effect_of(request.describe(), e))
    }

    /// Removes the app's secrets that carry `marker`.
    async fn remove_marked(&self, marker: &str) -> Result<()> {
        let app = self.read().await?;
        let marked: Vec<CredentialInfo> = list_of(&app)
            .into_iter()
            .filter(|c| c.kind == CredentialKind::Secret)
            .filter(|c| super::marker_of(c.display_name.as_deref()) == Some(marker))
            .collect();
        if marked.is_empty() {
            return Ok(());
        }
        self.remove_listed(&app, &marked).await
    }

    /// Removes crate-created credentials by id. Credentials the crate did not create are refused
    /// (an error, before anything is removed).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) before anything is removed when one of
    /// the credentials was not created by the crate; [`Error::Graph`](crate::Error::Graph),
    /// [`Error::Auth`](crate::Error::Auth), [`Error::Transport`](crate::Error::Transport) or
    /// [`Error::Decode`](crate::Error::Decode) when reading or updating the app fails.
    pub async fn remove(&self, key_ids: &[crate::ids::KeyId]) -> Result<Vec<CredentialInfo>> {
        let app = self.read().await?;
        let all = list_of(&app);
        let chosen: Vec<CredentialInfo> = all
            .iter()
            .filter(|c| key_ids.contains(&c.key_id))
            .cloned()
            .collect();
        if let Some(foreign) = chosen.iter().find(|c| !c.created_by_crate) {
            return Err(Error::precondition(
                "credential",
                format!(
                    "{foreign} was not created by {}; it is left alone",
                    super::CREATED_BY
                ),
            ));
        }
        self.remove_listed(&app, &chosen).await?;
        Ok(chosen)
    }

    async fn remove_listed(&self, app: &Application, chosen: &[CredentialInfo]) -> Result<()> {
        let certs: Vec<crate::ids::KeyId> = chosen
            .iter()
            .filter(|c| c.kind == CredentialKind::Certificate)
            .map(|c| c.key_id)
            .collect();
        if !certs.is_empty() {
            let keep: Vec<KeyCredential> = app
                .key_credentials
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|k| !k.key_id.is_some_and(|id| certs.contains(&id)))
                .collect();
            self.patch_keys(keep).await?;
        }
        for secret in chosen.iter().filter(|c| c.kind == CredentialKind::Secret) {
            self.remove_secret(secret.key_id).await?;
        }
        Ok(())
    }

    /// Removes one secret with `removePassword`; a failure counts as done when the app, read
    /// back, no longer has it (see [`confirm_secret_gone`](Self::confirm_secret_gone)).
    pub(crate) async fn remove_secret(&self, key_id: crate::ids::KeyId) -> Result<()> {
        let removed = self
            .graph
            .send(&requests::remove_password(self.app, key_id)?)
            .await;
        match removed {
            Ok(_) => Ok(()),
            Err(e) => self.confirm_secret_gone(key_id, e).await,
        }
    }

    /// After `removePassword` failed: `Ok` only when the app, read back, no longer has the
    /// secret (an earlier attempt whose reply was lost removed it, say); the read's error when
    /// the read itself stumbled in a way a registration recovers from (a transport failure, a
    /// 5xx, a 404 of a lagging replica), so that the failure says the secret's fate is unknown;
    /// otherwise the original error.
    ///
    /// Microsoft documents no answer of `removePassword` for a keyId the app does not have, so
    /// no reply (status, code or message) is taken to mean "already removed": the app's state
    /// decides. Only a 4xx is checked this way; 401, 403 and 429 say the request was not
    /// carried out, and a 5xx or a transport failure leaves the secret's fate to a re-run.
    async fn confirm_secret_gone(&self, key_id: crate::ids::KeyId, error: Error) -> Result<()> {
        let checkable = matches!(&error, Error::Graph(g)
            if (400..500).contains(&g.status) && !matches!(g.status, 401 | 403 | 429));
        if !checkable {
            return Err(error);
        }
        match self.read_password_credentials().await {
            Ok(app)
                if !app
                    .password_credentials
                    .iter()
                    .flatten()
                    .any(|p| p.key_id == Some(key_id)) =>
            {
                tracing::debug!(%key_id, "removePassword failed, but the secret is gone");
                Ok(())
            }
            Ok(_) => Err(error),
            // The read stumbled (a lost connection, a 5xx, a replica that lags: what a
            // registration reads the tenant again after): the secret's fate is unknown, and
            // that is the error a caller can act on.
            Err(read) if crate::registration::replication::worth_another_pass(&read).retries() => {
                tracing::debug!(%key_id, error = %read, "could not read the secrets back");
                Err(read)
            }
            Err(read) => {
                tracing::debug!(%key_id, error = %read, "could not read the secrets back");
                Err(error)
            }
        }
    }

    /// `GET /applications/{id}?$select=id,passwordCredentials`.
    async fn read_password_credentials(&self) -> Result<Application> {
        self.graph
            .send_json(
                &crate::graph::GraphRequest::get(format!("/applications/{}", self.app))
                    .query("$select", "id,passwordCredentials"),
            )
            .await
    }

    /// Adds a new credential, then removes the older crate-created credentials of the same kind:
    /// overlap, never a gap. Credentials the crate did not create are untouched.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add). Once the new credential is added, nothing is an error: a failure
    /// to remove the older ones is [`Rotation::retirement_error`].
    pub async fn rotate(&self, new: NewCredential) -> Result<Rotation> {
        self.check(&new)?;
        let (graph, meter) = self.graph.metered();
        let this = self.on(&graph);
        let issued = this.add(&new).await?;
        let (removed, kept) = this.retire_keeping(new.kind(), issued.key_id()).await;
        Ok(Rotation {
            issued,
            removed,
            ready: None,
            retirement_error: kept.as_ref().map(|k| k.message.clone()),
            retirement_cause: kept.map(|k| std::sync::Arc::new(k.cause)),
            graph_requests: meter.requests(),
            graph_round_trips: meter.round_trips(),
        })
    }

    /// This provisioner on another handle of its client (a metered one).
    fn on(&self, graph: &Graph) -> CredentialProvisioner {
        CredentialProvisioner {
            graph: graph.clone(),
            app: self.app,
            profile: self.profile.clone(),
            journal: self.journal.clone(),
        }
    }

    /// Rotates without a gap for the product: adds the new credential, signs in with it as the
    /// app `client_id` until every resource the profile grants on accepts it with every role
    /// (as [`RegisteredApp::wait_until_ready`](crate::registration::RegisteredApp::wait_until_ready)
    /// does), and only then removes the older crate-created credentials of the same kind —
    /// unless `keep_previous`, which leaves them for the product to switch first (retire them
    /// later with [`retire_older`](Self::retire_older), or `register --retire-previous`). When the
    /// new credential is not ready within `options.timeout`, the older ones stay and
    /// [`Rotation::ready`] says why.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] without a profile ([`for_profile`](Self::for_profile)), before any
    /// request; otherwise as [`add`](Self::add). Once the new credential is added, nothing is an
    /// error: a failed sign-in check or removal is [`Rotation::retirement_error`].
    pub async fn rotate_when_ready(
        &self,
        new: NewCredential,
        client_id: crate::ids::ClientId,
        options: &crate::registration::ReadyOptions,
        keep_previous: bool,
    ) -> Result<Rotation> {
        let Some(profile) = &self.profile else {
            return Err(Error::invalid_input(
                "rotation",
                "waiting until the product can sign in needs the app's profile: call for_profile first",
            ));
        };
        self.check(&new)?;
        let (graph, meter) = self.graph.metered();
        let this = self.on(&graph);
        let issued = this.add(&new).await?;
        let Some(credential) = crate::registration::AppCredential::attached(&new, &issued) else {
            return Err(Error::decode(crate::error::DecodeError::new(
                "Graph's reply",
                format!("the credential added is not the kind asked for: {issued:?}"),
                b"",
            )));
        };
        let ready = crate::readiness::wait_until_ready(
            &graph,
            client_id,
            &profile.permissions(),
            &credential,
            options,
        )
        .await;
        let (removed, kept, ready) = match ready {
            Ok(ready) if ready.ready && !keep_previous => {
                let (removed, kept) = this.retire_keeping(new.kind(), issued.key_id()).await;
                (removed, kept, Some(ready))
            }
            Ok(ready) => (Vec::new(), None, Some(ready)),
            Err(e) => (
                Vec::new(),
                Some(Kept::new(
                    "the new credential's sign-in could not be checked, so the older ones were kept",
                    e,
                )),
                None,
            ),
        };
        Ok(Rotation {
            issued,
            removed,
            ready,
            retirement_error: kept.as_ref().map(|k| k.message.clone()),
            retirement_cause: kept.map(|k| std::sync::Arc::new(k.cause)),
            graph_requests: meter.requests(),
            graph_round_trips: meter.round_trips(),
        })
    }

    /// [`retire_older`](Self::retire_older) after a new credential was added: its failure is
    /// reported, not returned, so that the caller still gets the new credential.
    async fn retire_keeping(
        &self,
        kind: CredentialKind,
        keep: crate::ids::KeyId,
    ) -> (Vec<CredentialInfo>, Option<Kept>) {
        match self.retire_older(kind, keep).await {
            Ok(removed) => (removed, None),
            Err(e) => {
                tracing::warn!(error = %e, "the older credentials could not all be removed");
                (
                    Vec::new(),
                    Some(Kept::new(
                        "the older credentials could not all be removed (some may be gone; list the app's credentials to see)",
                        e,
                    )),
                )
            }
        }
    }

    /// Removes the crate-created credentials of `kind` other than `keep`. Credentials the crate
    /// did not create are untouched.
    ///
    /// # Errors
    ///
    /// [`Error::Graph`](crate::Error::Graph), [`Error::Auth`](crate::Error::Auth),
    /// [`Error::Transport`](crate::Error::Transport) or [`Error::Decode`](crate::Error::Decode)
    /// when reading the app or removing a credential fails.
    pub async fn retire_older(
        &self,
        kind: CredentialKind,
        keep: crate::ids::KeyId,
    ) -> Result<Vec<CredentialInfo>> {
        let app = self.read().await?;
        let older: Vec<CredentialInfo> = list_of(&app)
            .into_iter()
            .filter(|c| c.created_by_crate && c.kind == kind && c.key_id != keep)
            .collect();
        if !older.is_empty() {
            self.remove_listed(&app, &older).await?;
        }
        Ok(older)
    }
}

/// Why a rotation kept the older credentials: a sentence for the admin, and the error.
struct Kept {
    message: String,
    cause: Error,
}

impl Kept {
    fn new(context: &str, cause: Error) -> Self {
        Self {
            message: format!("{context}: {}", cause.report()),
            cause,
        }
    }
}

/// How a try of `add_secret` failed.
enum AddSecret {
    /// `addPassword` failed.
    Added(Error),
    /// Removing what a lost reply may have created failed.
    Cleanup(Error),
}

impl AddSecret {
    fn into_error(self) -> Error {
        match self {
            AddSecret::Added(e) | AddSecret::Cleanup(e) => e,
        }
    }
}

/// An `addPassword` whose reply was lost (a 5xx, or a connection cut after the request left):
/// Graph may have created a secret nobody holds, so the call is made again only after the
/// secrets carrying the call's marker are removed. Source: Microsoft's
/// [addPassword](https://learn.microsoft.com/graph/api/application-addpassword) page (the
/// `secretText` is returned only in the reply; each call creates a new secret).
fn lost_reply(e: &Error) -> RetryAction {
    if e.may_have_taken_effect() {
        RetryAction::Poll
    } else {
        RetryAction::No
    }
}

/// The thumbprint of a key credential whose `key` was read.
pub(crate) fn key_thumbprint(k: &KeyCredential) -> Option<Thumbprint> {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(k.key.as_deref()?)
        .ok()?;
    Some(Thumbprint::of_der(&der))
}

pub(crate) fn list_of(app: &Application) -> Vec<CredentialInfo> {
    let certs = app.key_credentials.iter().flatten().filter_map(|k| {
        Some(CredentialInfo {
            kind: CredentialKind::Certificate,
            key_id: k.key_id?,
            display_name: k.display_name.clone(),
            start: k.start_date_time,
            expires: k.end_date_time,
            thumbprint: key_thumbprint(k),
            created_by_crate: is_created_by_crate(k.display_name.as_deref()),
        })
    });
    let secrets = app.password_credentials.iter().flatten().filter_map(|p| {
        Some(CredentialInfo {
            kind: CredentialKind::Secret,
            key_id: p.key_id?,
            display_name: p.display_name.clone(),
            start: p.start_date_time,
            expires: p.end_date_time,
            thumbprint: None,
            created_by_crate: is_created_by_crate(p.display_name.as_deref()),
        })
    });
    certs.chain(secrets).collect()
}

/// The reply of `addPassword`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordReply {
    key_id: Option<crate::ids::KeyId>,
    secret_text: Option<String>,
    hint: Option<String>,
    display_name: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    start_date_time: Option<time::OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    end_date_time: Option<time::OffsetDateTime>,
}

impl PasswordReply {
    pub(crate) fn into_secret(self) -> Result<NewSecret> {
        let missing = |what: &str| {
            Error::decode(crate::error::DecodeError::new(
                "the reply to addPassword",
                format!("it has no {what}"),
                b"",
            ))
        };
        Ok(NewSecret {
            key_id: self.key_id.ok_or_else(|| missing("keyId"))?,
            secret: ClientSecret::new(self.secret_text.ok_or_else(|| missing("secretText"))?),
            hint: self.hint,
            display_name: self.display_name.unwrap_or_default(),
            start: self.start_date_time,
            expires: self.end_date_time,
        })
    }
}

impl std::fmt::Debug for PasswordReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordReply(<redacted>)")
    }
}
