//! Registration: the app, its declared permissions, its service principal and admin consent,
//! converged idempotently.
//!
//! [`AppRegistration`] describes what should exist; [`AppRegistration::plan`] reads the tenant
//! and says what would change; [`AppRegistration::apply`] makes it so. `apply` can be run any
//! number of times, and again after a failure at any point: it finds the app by its
//! `uniqueName`, adds only what is missing, keeps what an admin added, and grants each role once.
//!
//! Round trips on a fresh tenant: one read (`$batch`), the app upsert, the service principal,
//! the grants (`$batch`) — four, the least the dependency chain allows. On a tenant that
//! already matches: two reads and no writes (one read when the client id is known).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;

use crate::credentials::provisioner::key_thumbprint;
use crate::credentials::{
    CredentialInfo, CredentialProvisioner, IssuedCredential, NewCredential, SecretJournal,
    certificate_display_name,
};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::ids::{ClientId, ObjectId, TenantId, UniqueName, quote_for_error};
use crate::profile::{Permission, PermissionProfile};

mod app_ref;
mod apply;
mod converge;
mod observe;
mod plan;
pub(crate) mod replication;

pub(crate) use crate::progress::ProgressSink;
pub use crate::progress::{ProgressEvent, Step};
pub use crate::readiness::{AppCredential, Readiness, ReadyOptions, ResourceReadiness};
pub use app_ref::AppRef;

/// How [`AppRegistration::rotate`] rotates.
///
/// ```
/// use entra_appreg::registration::{ReadyOptions, RotateOptions};
/// let options = RotateOptions::default()
///     .with_ready(ReadyOptions::default().with_timeout(std::time::Duration::from_secs(600)))
///     .keep_previous(true);
/// assert!(options.keep_previous);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RotateOptions {
    /// How long to wait until the product can sign in with the new credential, and how (default:
    /// [`ReadyOptions::default`], 5 minutes).
    pub ready: ReadyOptions,
    /// Keep the older credentials the crate created even once the new one is ready (default
    /// `false`: they are removed then).
    pub keep_previous: bool,
}

impl RotateOptions {
    /// Another wait until the new credential is ready.
    pub fn with_ready(mut self, ready: ReadyOptions) -> Self {
        self.ready = ready;
        self
    }

    /// Keeps (`true`) or removes (`false`, the default) the older credentials once the new one
    /// is ready.
    pub fn keep_previous(mut self, keep: bool) -> Self {
        self.keep_previous = keep;
        self
    }
}
pub use plan::{Change, ExistingApp, KeptPermission, Plan, SIGN_IN_AUDIENCE, Warning, WarningCode};

/// The longest display name Graph accepts.
pub const MAX_DISPLAY_NAME: usize = 256;

/// What should exist in the tenant: an app registration for a product, with a profile's
/// permissions granted.
///
/// ```no_run
/// # async fn run(graph: entra_appreg::Graph) -> entra_appreg::Result<()> {
/// use entra_appreg::registration::AppRegistration;
/// use entra_appreg::profile::PermissionProfile;
///
/// let registration = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)?;
/// println!("{}", registration.plan(&graph).await?);
/// let app = registration.apply(&graph).await?;
/// println!("client id {}", app.client_id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AppRegistration {
    pub(crate) display_name: String,
    pub(crate) unique_name: UniqueName,
    pub(crate) profile: PermissionProfile,
    pub(crate) client_id: Option<ClientId>,
    pub(crate) progress: ProgressSink,
    pub(crate) replication_timeout: Duration,
    pub(crate) credential: Option<NewCredential>,
    pub(crate) retire_previous: bool,
    pub(crate) journal: Option<Arc<dyn SecretJournal>>,
    /// Permissions to take off the app (declaration and grant), named by value.
    pub(crate) revoke: Vec<Permission>,
}

impl AppRegistration {
    /// How long `apply` waits, at most, for Entra to replicate an object it created.
    pub const DEFAULT_REPLICATION_TIMEOUT: Duration = Duration::from_secs(120);

    /// An app named `display_name` with the profile's permissions. Its unique name is derived
    /// from the display name ([`UniqueName::derive_from_display_name`]) unless set.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty, over-long (more than [`MAX_DISPLAY_NAME`] characters)
    /// or unprintable display name, or one from which no unique name can be derived (use
    /// [`with_names`](Self::with_names)).
    pub fn new(display_name: impl Into<String>, profile: PermissionProfile) -> Result<Self> {
        let display_name = display_name.into();
        validate_display_name(&display_name)?;
        let unique_name = UniqueName::derive_from_display_name(&display_name)?;
        Self::with_names(display_name, unique_name, profile)
    }

    /// An app named `display_name` whose unique name is given rather than derived: needed when
    /// no unique name can be derived (a display name without ASCII letters or digits), where
    /// [`new`](Self::new) followed by [`with_unique_name`](Self::with_unique_name) would fail.
    ///
    /// ```
    /// use entra_appreg::UniqueName;
    /// use entra_appreg::profile::PermissionProfile;
    /// use entra_appreg::registration::AppRegistration;
    /// let r = AppRegistration::with_names(
    ///     "バックアップ",
    ///     UniqueName::new("contoso-backup-jp").unwrap(),
    ///     PermissionProfile::BackupExchange,
    /// )
    /// .unwrap();
    /// assert_eq!(r.unique_name().as_str(), "contoso-backup-jp");
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty, over-long or unprintable display name.
    pub fn with_names(
        display_name: impl Into<String>,
        unique_name: UniqueName,
        profile: PermissionProfile,
    ) -> Result<Self> {
        let display_name = display_name.into();
        validate_display_name(&display_name)?;
        Ok(Self {
            display_name,
            unique_name,
            profile,
            client_id: None,
            progress: ProgressSink::default(),
            replication_timeout: Self::DEFAULT_REPLICATION_TIMEOUT,
            credential: None,
            retire_previous: false,
            journal: None,
            revoke: Vec::new(),
        })
    }

    /// Attaches a credential in the registration's own round trips: a certificate rides in the
    /// app's creation (or in the update of an existing app, which keeps every certificate already
    /// there), a secret beside the service principal's creation. The profile's rule is checked
    /// before anything is sent (Backup-SharePoint refuses a secret).
    pub fn with_credential(mut self, credential: NewCredential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// After the new credential is in place, removes the older credentials of the same kind that
    /// the crate created (never those it did not create). Off by default: older ones are only
    /// reported.
    pub fn retire_previous_credentials(mut self, retire: bool) -> Self {
        self.retire_previous = retire;
        self
    }

    /// Keeps a journal of the secrets this registration is about to create (see
    /// [`SecretJournal`]): before `addPassword` is sent, the
    /// intent is recorded; once the secret is handed over in the result, it is marked done. A
    /// later run with the same journal removes the secrets of intents never marked done — those
    /// of a run killed between creating a secret and returning it — and reports them in
    /// [`RegisteredApp::retired_credentials`] with the warning `unfinished_secret_removed`.
    ///
    /// Without a journal, a lost reply is still recovered within the run, but a secret created by
    /// a process that was killed stays valid until it expires or is removed.
    pub fn with_journal(mut self, journal: Arc<dyn SecretJournal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Checks everything that can be checked before a request: the credential against the
    /// profile, lifetimes, an expired certificate or one without its key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming what is wrong; nothing has been sent.
    pub fn validate(&self) -> Result<()> {
        if let Some(c) = &self.credential {
            self.profile.check_credential(c.kind())?;
            c.check()?;
        }
        let profile = self.profile.permissions();
        if let Some(both) = self.revoke.iter().find(|r| {
            profile.iter().any(|p| {
                p.resource_app_id == r.resource_app_id && p.value.eq_ignore_ascii_case(&r.value)
            })
        }) {
            return Err(Error::invalid_input(
                "revoke",
                format!(
                    "{both} is part of the {} profile: it cannot be revoked and granted at once",
                    self.profile
                ),
            ));
        }
        Ok(())
    }

    /// Takes these permissions off the app: out of its declared permissions
    /// (`requiredResourceAccess`) and their grants (app role assignments) deleted, in the
    /// registration's own round trips. Explicit, never implied by a profile; a permission the app
    /// neither declares nor holds is a note (`nothing_to_revoke`), so a re-run is safe. Values are
    /// looked up in the tenant, as a profile file's are
    /// ([`Permission::parse_resource_value`](crate::profile::Permission::parse_resource_value)).
    pub fn revoke_permissions(mut self, permissions: impl IntoIterator<Item = Permission>) -> Self {
        self.revoke.extend(permissions);
        self
    }

    /// Sets the unique name (the key that makes re-runs find the same app).
    pub fn with_unique_name(mut self, unique_name: UniqueName) -> Self {
        self.unique_name = unique_name;
        self
    }

    /// Whether `app` is the one this registration is for: its unique name (in any case, as
    /// Entra compares it), or the client id given with
    /// [`with_client_id`](Self::with_client_id).
    pub(crate) fn is_for(&self, app: &crate::graph::models::Application) -> bool {
        app.unique_name
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(self.unique_name().as_str()))
            || (self.client_id.is_some() && app.app_id == self.client_id)
    }

    /// The client id from an earlier run: the app is then read in one round trip.
    pub fn with_client_id(mut self, client_id: ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// Observes progress (steps, replication waits), for an installer's UI.
    pub fn on_progress(mut self, f: impl Fn(&ProgressEvent) + Send + Sync + 'static) -> Self {
        self.progress = ProgressSink::new(Arc::new(f));
        self
    }

    /// The longest wait for replication of an object this run created (default 2 minutes).
    pub fn with_replication_timeout(mut self, timeout: Duration) -> Self {
        self.replication_timeout = timeout;
        self
    }

    /// The display name.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The unique name.
    pub fn unique_name(&self) -> &UniqueName {
        &self.unique_name
    }

    /// The profile.
    pub fn profile(&self) -> &PermissionProfile {
        &self.profile
    }

    /// Reads the tenant and lists every change [`apply`](Self::apply) would make, with warnings.
    /// Writes nothing.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate), before any request; [`Error::Graph`], [`Error::Auth`],
    /// [`Error::Transport`] or [`Error::Decode`] when signing in or reading the tenant fails;
    /// [`Error::RoleMismatch`] when a permission does not match the tenant's resource service
    /// principal.
    pub async fn plan(&self, graph: &Graph) -> Result<Plan> {
        let span = tracing::info_span!("appreg.plan", unique_name = %self.unique_name, profile = %self.profile);
        async {
            let (graph, meter) = graph.metered();
            let (_, mut resolved) = self.read_and_resolve(&graph).await?;
            resolved.plan.graph_requests = meter.requests();
            resolved.plan.graph_round_trips = meter.round_trips();
            Ok(resolved.plan)
        }
        .instrument(span)
        .await
    }

    /// Validates the spec, reads the tenant and computes what would change.
    pub(crate) async fn read_and_resolve(
        &self,
        graph: &Graph,
    ) -> Result<(observe::Observed, plan::Resolved)> {
        self.read_and_resolve_varied(graph, false).await
    }

    /// [`read_and_resolve`](Self::read_and_resolve); with `vary`, the first read's length
    /// varies at random (see [`observe::observe`]).
    pub(crate) async fn read_and_resolve_varied(
        &self,
        graph: &Graph,
        vary: bool,
    ) -> Result<(observe::Observed, plan::Resolved)> {
        self.validate()?;
        self.progress.started(Step::ReadTenant);
        let observed = observe::observe(graph, self, vary).await?;
        self.progress.finished(Step::ReadTenant);
        let claims = graph.access_token().await?.claims();
        let resolved = plan::resolve(self, &observed, claims.as_ref())?;
        Ok((observed, resolved))
    }

    /// Converges the tenant to this registration and returns what exists now.
    ///
    /// When the signed-in admin may grant some roles but not others (a Cloud Application
    /// Administrator cannot grant Microsoft Graph roles), the app is still registered and the
    /// result's [`RegisteredApp::consent`] is [`ConsentStatus::Partial`], naming what is missing
    /// and the role that can grant it.
    ///
    /// # Cancelling
    ///
    /// Dropping the future (a timeout around it, an installer's Cancel button) stops the run
    /// between two requests, or with one in flight. The tenant is left as a killed process
    /// would leave it: whatever was written stays, and a later run continues from it, never
    /// duplicating the app, its service principal or a grant. The one thing a cancel can lose is
    /// a secret: if `addPassword` was in flight, Graph may have created it and nobody holds it.
    /// With a [journal](Self::with_journal), the intent was recorded before the request, and
    /// the next run with the same journal removes that secret; without one, it stays valid
    /// until it expires or is removed (`retire_previous_credentials`). A certificate cannot be
    /// lost this way: the caller holds it before the run starts.
    ///
    /// # Errors
    ///
    /// As [`plan`](Self::plan), and [`Error::InvalidInput`] before any request when the
    /// [journal](Self::with_journal) cannot be used (a file that is not trusted; met later in
    /// the run, it is [`Error::Precondition`]); then [`Error::Graph`], [`Error::Auth`],
    /// [`Error::Transport`] or [`Error::Decode`] when a write fails beyond what the run
    /// recovers from,
    /// [`Error::NotReplicated`] when an object this run created did not appear within the
    /// replication timeout, [`Error::CredentialLifetimePolicy`] when a tenant policy refuses the
    /// credential's lifetime, [`Error::MayHaveTakenEffect`] when replies to `addPassword` stayed
    /// lost, and [`Error::CredentialNotRemoved`] when a new secret could not be removed after a
    /// failure (it is handed over inside the error). A refused grant is not an error: see
    /// [`RegisteredApp::consent`].
    pub async fn apply(&self, graph: &Graph) -> Result<RegisteredApp> {
        let span = tracing::info_span!("appreg.apply", unique_name = %self.unique_name, profile = %self.profile);
        self.apply_inner(graph).instrument(span).await
    }

    async fn apply_inner(&self, graph: &Graph) -> Result<RegisteredApp> {
        self.validate()?;
        crate::credentials::journal::check_before_requests(self.journal.as_ref()).await?;
        let (graph, meter) = graph.metered();
        let graph = &graph;
        // Resolved before anything is written: once a secret exists, nothing may fail that
        // would lose it.
        let tenant_id = graph.tenant_id().await?;
        let marker = crate::credentials::new_marker();
        let converged = converge::converge(self, graph, &marker).await?;
        let applied = converged.applied;
        let credential = match (&self.credential, converged.secret) {
            (_, Some(s)) => Some(IssuedCredential::Secret(s.secret)),
            (Some(NewCredential::Certificate(cert)), _) => Some(IssuedCredential::for_certificate(
                cert,
                converged
                    .certificate_key
                    .unwrap_or(crate::ids::KeyId::from_uuid(uuid::Uuid::nil())),
            )),
            _ => None,
        };
        let mut retired = converged.retired_unfinished;
        let mut warnings = converged.warnings;
        self.name_client_id_in_ews_warning(&mut warnings, applied.client_id);
        if let Some(issued) = &credential {
            let older = &converged.older;
            let app = applied.app_object_id;
            match self.retire_after_issuing(graph, app, issued, older).await {
                Ok(r) => retired.extend(r),
                Err(warning) => warnings.push(warning),
            }
            warnings.extend(self.mark_handed_over(issued, &marker).await);
        }
        let plan = converged.plan;
        Ok(RegisteredApp {
            tenant_id,
            client_id: applied.client_id,
            application_object_id: applied.app_object_id,
            service_principal_id: applied.service_principal_id,
            display_name: self.display_name.clone(),
            unique_name: self.unique_name.clone(),
            profile: self.profile.clone(),
            created: applied.app_created,
            permissions: applied.permissions,
            consent: applied.consent,
            changes: plan.changes,
            kept_permissions: plan.kept_permissions,
            warnings,
            retired_credentials: retired,
            graph_requests: meter.requests(),
            graph_round_trips: meter.round_trips(),
            sharepoint_host: converged.sharepoint_host,
            app_credential: self
                .credential
                .as_ref()
                .zip(credential.as_ref())
                .and_then(|(requested, issued)| AppCredential::attached(requested, issued)),
            credential,
        })
    }

    /// The plan of a new app could not name its client id in the EWS command: now it can.
    fn name_client_id_in_ews_warning(&self, warnings: &mut [Warning], client_id: ClientId) {
        for w in warnings.iter_mut().filter(|w| w.code == "ews_retirement") {
            if let Some(ews) = self.profile.ews_allow_list_instructions(Some(client_id)) {
                w.message = ews;
            }
        }
    }

    /// With retirement asked for, removes the older crate-created credentials of the issued
    /// one's kind. The new credential is in place: failing to retire the older ones must not
    /// lose it (a secret is shown only in this result), so a failure is a warning that lets a
    /// re-run retire them.
    async fn retire_after_issuing(
        &self,
        graph: &Graph,
        app: ObjectId,
        issued: &IssuedCredential,
        older: &[CredentialInfo],
    ) -> std::result::Result<Vec<CredentialInfo>, Warning> {
        let any = older
            .iter()
            .any(|c| c.created_by_crate && c.kind == issued.kind() && c.key_id != issued.key_id());
        if !self.retire_previous || !any {
            return Ok(Vec::new());
        }
        self.progress.started(Step::Cleanup);
        let retired = self.retire_older(graph, app, issued).await;
        self.progress.finished(Step::Cleanup);
        retired.map_err(|e| Warning {
            code: WarningCode::OlderCredentialsNotRetired,
            message: format!(
                "the new {} is in place, but older ones this tool created could not be removed: {e}. Run this again with retirement on to remove them.",
                issued.kind()
            ),
        })
    }

    /// Records in the journal that the new secret is handed over; a warning when it cannot.
    async fn mark_handed_over(&self, issued: &IssuedCredential, marker: &str) -> Option<Warning> {
        let IssuedCredential::Secret(_) = issued else {
            return None;
        };
        let journal = self.journal.as_ref()?;
        let e = crate::credentials::journal::mark_done(journal, marker)
            .await
            .err()?;
        Some(Warning {
            code: WarningCode::JournalNotUpdated,
            message: format!(
                "the new secret is in place, but the journal could not record that it was handed over ({e}): a later run with this journal would remove it. Fix the journal file before running again."
            ),
        })
    }

    /// Retires the older crate-created credentials of the new one's kind. Retiring is re-planned
    /// from a fresh read each time, so a lost reply or a stumble is recovered in the run.
    async fn retire_older(
        &self,
        graph: &Graph,
        app: ObjectId,
        issued: &IssuedCredential,
    ) -> Result<Vec<CredentialInfo>> {
        let replication = replication::Replication {
            graph,
            progress: &self.progress,
            timeout: self.replication_timeout,
        };
        let provisioner = CredentialProvisioner::new(graph, app);
        replication
            .recover(|_| provisioner.retire_older(issued.kind(), issued.key_id()))
            .await
    }

    /// How the requested credential rides in the round trips, and the new certificate's key id;
    /// `None` while the keys of an app that is to get a certificate cannot be read yet (not
    /// replicated): the PATCH replaces the whole list, and without the existing keys it would
    /// delete them.
    pub(crate) fn credential_steps(
        &self,
        observed: &observe::Observed,
    ) -> Option<(apply::CredentialSteps, Option<crate::ids::KeyId>)> {
        let mut steps = apply::CredentialSteps::default();
        let mut key_id = None;
        match &self.credential {
            Some(NewCredential::Certificate(cert)) => {
                if observed.app.is_some() && observed.keys.is_none() {
                    return None;
                }
                let existing = observed.keys.clone().unwrap_or_default();
                if let Some(found) = existing
                    .iter()
                    .find(|k| key_thumbprint(k).as_ref() == Some(cert.thumbprint()))
                {
                    // Already registered by an earlier run: nothing to send.
                    key_id = found.key_id;
                } else {
                    let new = cert.key_credential(&certificate_display_name(cert));
                    key_id = new.key_id;
                    if observed.app.is_none() {
                        steps.create_keys = Some(vec![new]);
                    } else {
                        let mut all = existing;
                        all.push(new);
                        steps.update_keys = Some(all);
                    }
                }
            }
            Some(NewCredential::Secret(options)) => steps.secret = Some(options.clone()),
            None => {}
        }
        Some((steps, key_id))
    }

    /// The portal procedure for this registration, as Markdown.
    pub fn manual_instructions(&self) -> String {
        self.profile.manual_instructions(&self.display_name)
    }

    /// Finds the app (by client id when given, else by unique name) and its service principal,
    /// as [`AppRef::find`] does: reads only, and nothing about the profile (an app whose
    /// permissions differ from it is found all the same).
    ///
    /// # Errors
    ///
    /// As [`AppRef::find`].
    pub async fn find(&self, graph: &Graph) -> Result<Option<ExistingApp>> {
        self.app_ref().find(graph).await
    }

    async fn plan_without_credential(&self, graph: &Graph) -> Result<Plan> {
        let mut bare = self.clone();
        bare.credential = None;
        bare.plan(graph).await
    }

    /// Compares an existing app with the profile: missing permissions and grants (the plan's
    /// changes), permissions outside the profile, and every credential with its expiry. Reads
    /// only. `None` when the app does not exist.
    ///
    /// # Errors
    ///
    /// As [`plan`](Self::plan); [`Error::Graph`], [`Error::Auth`], [`Error::Transport`] or
    /// [`Error::Decode`] when the app's credentials cannot be read.
    pub async fn audit(&self, graph: &Graph, expiry_warning_days: u32) -> Result<Option<Audit>> {
        let plan = self.plan_without_credential(graph).await?;
        let Some(app) = plan.application.clone() else {
            return Ok(None);
        };
        let credentials = CredentialProvisioner::new(graph, app.object_id)
            .list()
            .await?;
        let expiring = crate::credentials::expiry_warnings(&credentials, expiry_warning_days);
        Ok(Some(Audit {
            application: app,
            missing: plan.changes,
            extra_permissions: plan.kept_permissions,
            credentials,
            expiring,
            warnings: plan.warnings,
            orphaned_credentials: plan.orphaned_credentials,
        }))
    }

    /// Signs in as the registered app `client_id` with `credential` to every resource the profile
    /// grants on, as [`RegisteredApp::wait_until_ready`] does, and says per resource whether the
    /// product can connect and what is missing: the answer to "why can't the product connect?"
    /// for an existing app. With `options.timeout` zero, each resource is tried once.
    ///
    /// # Errors
    ///
    /// Only when the tenant's initial domain cannot be read (for SharePoint's host).
    pub async fn check_sign_in(
        &self,
        graph: &Graph,
        client_id: ClientId,
        credential: &AppCredential,
        options: &ReadyOptions,
    ) -> Result<Readiness> {
        crate::readiness::wait_until_ready(
            graph,
            client_id,
            &self.profile.permissions(),
            credential,
            options,
        )
        .await
    }

    /// Adds a new credential to the existing app, waits until the product can sign in with it to
    /// every resource the profile grants on ([`RotateOptions::ready`]: 5 minutes by default),
    /// then removes the older ones of the same kind that the crate created: overlap, never a
    /// gap. When the new one is not ready in time the older ones stay, and
    /// [`Rotation::ready`](crate::credentials::Rotation::ready) says why. With
    /// [`RotateOptions::keep_previous`] they stay in any case. The profile's credential rule
    /// applies.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before any request when the profile refuses the credential or it is
    /// not usable, or the [journal](Self::with_journal) cannot be used;
    /// [`Error::NotRegistered`] when the app is not registered; otherwise as
    /// [`CredentialProvisioner::rotate_when_ready`](crate::credentials::CredentialProvisioner::rotate_when_ready).
    pub async fn rotate(
        &self,
        graph: &Graph,
        credential: NewCredential,
        options: &RotateOptions,
    ) -> Result<crate::credentials::Rotation> {
        self.profile.check_credential(credential.kind())?;
        credential.check()?;
        crate::credentials::journal::check_before_requests(self.journal.as_ref()).await?;
        let (graph, meter) = graph.metered();
        let app = self
            .find(&graph)
            .await?
            .ok_or_else(|| self.not_registered())?;
        let mut provisioner =
            CredentialProvisioner::new(&graph, app.object_id).for_profile(self.profile.clone());
        if let Some(journal) = &self.journal {
            provisioner = provisioner.with_journal(journal.clone());
        }
        let mut rotation = provisioner
            .rotate_when_ready(
                credential,
                app.client_id,
                &options.ready,
                options.keep_previous,
            )
            .await?;
        rotation.graph_requests = meter.requests();
        rotation.graph_round_trips = meter.round_trips();
        Ok(rotation)
    }

    /// Deletes the app (Entra keeps it in deleted items for 30 days; its service principal and
    /// grants go with it). Returns what was deleted, or `None` when there was nothing to delete.
    /// The app is found as [`find`](Self::find) finds it, whatever its permissions.
    ///
    /// # Errors
    ///
    /// As [`find`](Self::find); [`Error::Graph`], [`Error::Auth`], [`Error::Transport`] or
    /// [`Error::Decode`] when the delete fails (a 404, the app already gone, is not an error).
    pub async fn remove(&self, graph: &Graph) -> Result<Option<ExistingApp>> {
        self.app_ref().remove(graph).await
    }

    fn not_registered(&self) -> Error {
        Error::NotRegistered {
            app: self.app_ref().to_string(),
        }
    }

    /// The app this registration describes, by its unique name (and client id, when given):
    /// for finding, rotating or removing it without the rest of the registration.
    pub fn app_ref(&self) -> AppRef {
        let by_name = AppRef::unique_name(self.unique_name.clone());
        match self.client_id {
            Some(id) => by_name.with_client_id(id),
            None => by_name,
        }
    }
}

/// An existing app compared with its profile.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Audit {
    /// The app.
    pub application: ExistingApp,
    /// What is missing: the changes `apply` would make (permissions, service principal, grants).
    pub missing: Vec<Change>,
    /// Declared permissions outside the profile.
    pub extra_permissions: Vec<KeptPermission>,
    /// Every credential, with expiry and whether the crate created it.
    pub credentials: Vec<CredentialInfo>,
    /// Credentials expiring soon (or expired); in JSON, the warning for each.
    pub expiring: Vec<crate::credentials::ExpiringCredential>,
    /// Other things to know.
    pub warnings: Vec<Warning>,
    /// Secrets an earlier run created but never handed over (see
    /// [`Plan::orphaned_credentials`]); listed apart from `credentials`' handed-over ones only
    /// when the registration has a journal.
    pub orphaned_credentials: Vec<CredentialInfo>,
}

impl Audit {
    /// Whether the app matches its profile and no credential is about to expire.
    pub fn is_healthy(&self) -> bool {
        self.missing.is_empty() && self.expiring.is_empty()
    }
}

impl fmt::Debug for AppRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRegistration")
            .field("display_name", &self.display_name)
            .field("unique_name", &self.unique_name)
            .field("profile", &self.profile)
            .field("client_id", &self.client_id)
            .field("replication_timeout", &self.replication_timeout)
            .finish_non_exhaustive()
    }
}

fn validate_display_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid_input("display name", "must not be empty"));
    }
    let len = name.chars().count();
    if len > MAX_DISPLAY_NAME {
        return Err(Error::invalid_input(
            "display name",
            format!("is {len} characters long; Graph allows at most {MAX_DISPLAY_NAME}"),
        ));
    }
    if name.chars().any(crate::ids::is_hidden_char) {
        return Err(Error::invalid_input(
            "display name",
            format!(
                "must not contain control or invisible formatting characters: {}",
                quote_for_error(name)
            ),
        ));
    }
    Ok(())
}

/// One permission of the profile and whether it is granted now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PermissionStatus {
    /// The permission.
    #[serde(flatten)]
    pub permission: Permission,
    /// Whether admin consent is in place.
    pub granted: bool,
}

impl PermissionStatus {
    pub(crate) fn new(permission: Permission, granted: bool) -> Self {
        Self {
            permission,
            granted,
        }
    }
}

/// Whether every permission of the profile is granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConsentStatus {
    /// Every permission is granted.
    Complete,
    /// Some grants were refused (403): the app is registered but not fully consented.
    Partial(PartialConsent),
}

/// What could not be granted, and who can grant it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PartialConsent {
    /// Granted permissions.
    pub granted: Vec<Permission>,
    /// Permissions Graph refused to grant.
    pub not_granted: Vec<Permission>,
    /// The admin roles that can grant them: for each resource with a refused grant, the
    /// roles any one of which can grant it ("Global Administrator or Privileged Role
    /// Administrator"). In JSON, `required_role`, joined with "; ".
    #[serde(rename = "required_role", serialize_with = "joined")]
    pub required_roles: Vec<String>,
    /// A sentence for the admin, with Graph's request-id.
    pub message: String,
}

/// A list of names as one string, "; "-joined.
fn joined<S: serde::Serializer>(names: &[String], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&names.join("; "))
}

impl PartialConsent {
    fn new(statuses: &[PermissionStatus], forbidden: &[(Permission, Error)]) -> Self {
        let granted = statuses
            .iter()
            .filter(|s| s.granted)
            .map(|s| s.permission.clone())
            .collect();
        let not_granted: Vec<Permission> = forbidden.iter().map(|(p, _)| p.clone()).collect();
        let mut required_roles: Vec<String> = Vec::new();
        for p in &not_granted {
            let role = apply::role_needed_for(p.resource_app_id);
            if !required_roles.iter().any(|r| r == role) {
                required_roles.push(role.to_owned());
            }
        }
        let required_role = required_roles.join("; ");
        let request_id = forbidden
            .iter()
            .find_map(|(_, e)| e.request_id().map(str::to_owned));
        let list: Vec<String> = not_granted.iter().map(ToString::to_string).collect();
        let mut message = format!(
            "the app is registered, but admin consent was refused for {}: the signed-in account lacks the role to grant them. A {required_role} can complete it: run this again signed in as one, or grant admin consent in the portal (App registrations > API permissions > Grant admin consent).",
            list.join(", ")
        );
        if let Some(id) = request_id {
            message.push_str(&format!(" request-id {id}"));
        }
        Self {
            granted,
            not_granted,
            required_roles,
            message,
        }
    }
}

/// The registered app: ids the product needs, and what happened.
#[derive(Debug, Clone, Serialize)]
#[must_use = "check `consent`: some grants may have been refused"]
#[non_exhaustive]
pub struct RegisteredApp {
    /// The tenant GUID.
    pub tenant_id: TenantId,
    /// The application (client) id.
    pub client_id: ClientId,
    /// The application object id.
    pub application_object_id: ObjectId,
    /// The service principal object id.
    pub service_principal_id: ObjectId,
    /// The display name.
    pub display_name: String,
    /// The unique name.
    pub unique_name: UniqueName,
    /// The profile (in JSON, its name).
    pub profile: PermissionProfile,
    /// Whether this run created the app.
    pub created: bool,
    /// Every permission of the profile, with its consent state.
    pub permissions: Vec<PermissionStatus>,
    /// Whether consent is complete.
    pub consent: ConsentStatus,
    /// What this run changed (empty when the tenant already matched).
    pub changes: Vec<Change>,
    /// Declared permissions outside the profile, kept.
    pub kept_permissions: Vec<KeptPermission>,
    /// Things to know.
    pub warnings: Vec<Warning>,
    /// The credential this run attached (a secret's value is not serialised: read it with
    /// [`ClientSecret::expose_secret`](crate::auth::ClientSecret::expose_secret)).
    pub credential: Option<IssuedCredential>,
    /// Older crate-created credentials this run removed.
    pub retired_credentials: Vec<CredentialInfo>,
    /// HTTP requests sent to Graph by this run (a `$batch` counted once).
    pub graph_requests: u64,
    /// Round trips to Graph of this run: requests in flight together count once (not
    /// serialised).
    #[serde(skip)]
    pub graph_round_trips: u64,
    /// The tenant's SharePoint host, when the registration read it (for readiness).
    #[serde(skip)]
    sharepoint_host: Option<String>,
    /// What the app signs in with: the credential this run attached (for readiness).
    #[serde(skip)]
    app_credential: Option<AppCredential>,
}

impl RegisteredApp {
    /// Whether every permission is granted.
    pub fn is_complete(&self) -> bool {
        self.consent == ConsentStatus::Complete
    }

    /// What the product's connection wizard asks for: the tenant id, the client id, and the
    /// credential this run attached, with the certificate's `files` when they were written.
    pub fn connection_details(
        &self,
        files: Option<crate::credentials::CertificateFiles>,
    ) -> crate::credentials::ConnectionDetails {
        crate::credentials::ConnectionDetails::new(
            self.tenant_id,
            self.client_id,
            self.credential.clone(),
            files,
        )
    }
}

impl RegisteredApp {
    /// What the product signs in with: the certificate with its private key, or the secret,
    /// that this run attached. `None` when the run attached no credential (a re-run that kept
    /// the app's credentials).
    pub fn app_credential(&self) -> Option<&AppCredential> {
        self.app_credential.as_ref()
    }

    /// Signs in as the new app with the credential this run attached, for every resource its
    /// profile grants on (Microsoft Graph, Exchange Online, SharePoint Online), until each token
    /// carries every role granted there, or `options.timeout` runs out. A refused new credential
    /// and missing roles are waited for; the answer says, per resource, whether it is ready,
    /// the roles seen and missing, the sign-ins made and the time it took.
    ///
    /// For an app this run attached no credential to, check the credential the product holds
    /// with [`AppRegistration::check_sign_in`].
    ///
    /// # Errors
    ///
    /// [`Error::Precondition`] when this run attached no credential; otherwise only when the
    /// tenant's initial domain cannot be read (for SharePoint's host). Sign-in failures are
    /// reported in the result, not as errors.
    pub async fn wait_until_ready(
        &self,
        graph: &Graph,
        options: &ReadyOptions,
    ) -> Result<Readiness> {
        let Some(credential) = &self.app_credential else {
            return Err(Error::precondition(
                "readiness",
                "this run attached no credential to sign in with: check the one the product \
                 holds with AppRegistration::check_sign_in",
            ));
        };
        let granted: Vec<Permission> = self
            .permissions
            .iter()
            .filter(|p| p.granted)
            .map(|p| p.permission.clone())
            .collect();
        // The host the registration read, unless the caller named one.
        let mut options = options.clone();
        if options.sharepoint_host.is_none() {
            options.sharepoint_host.clone_from(&self.sharepoint_host);
        }
        crate::readiness::wait_until_ready(graph, self.client_id, &granted, credential, &options)
            .await
    }
}
