//! One run is enough: read, resolve, apply, and when a reply is lost or Graph stumbles, read
//! again and continue from what is there.
//!
//! Every write the registration makes is idempotent once it is re-planned from a fresh read (the
//! upsert, the app's PATCH, service principal creation, grants), except `addPassword`. So a pass
//! that fails with an answer that may hide a write that happened — a connection reset after the
//! request left, a 5xx, a truncated reply, an object not visible yet — is followed by another
//! pass, after a short jittered wait, for as long as the replication timeout allows: the run's
//! budget is time (the wall clock, and the waits a test's sleeper records), not a count of
//! passes, so a fault that keeps coming does not end the run early. `addPassword` is never resent
//! blindly: the secret carries the run's marker in its display name, so the next pass finds the
//! secrets this run created but never received, removes them, and only then adds one again. The
//! caller ends with exactly one new secret, the one it holds.

use crate::credentials::journal::{self, off_runtime};
use crate::credentials::provisioner::list_of;
use crate::credentials::{CredentialInfo, CredentialKind, marker_of};
use crate::error::{Error, Result};
use crate::graph::models::Application;
use crate::graph::{Graph, requests};

use super::AppRegistration;
use super::apply::{self, Applied, NewSecretOf};
use super::observe::Observed;
use super::plan::{Plan, Warning, WarningCode};
use super::replication::{Replication, not_replicated, worth_another_pass};
use crate::progress::Step;
use crate::retry::Tally;

/// What a converged run produced.
pub(crate) struct Converged {
    pub plan: Plan,
    pub certificate_key: Option<crate::ids::KeyId>,
    /// The app's credentials as the last read found them.
    pub older: Vec<CredentialInfo>,
    pub applied: Applied,
    /// The secret this run created and holds.
    pub secret: Option<NewSecretOf>,
    /// Secrets of earlier runs that never handed them over, removed by this one.
    pub retired_unfinished: Vec<CredentialInfo>,
    pub warnings: Vec<Warning>,
    /// The tenant's SharePoint host, if the reads found it.
    pub sharepoint_host: Option<String>,
}

pub(crate) async fn converge(
    spec: &AppRegistration,
    graph: &Graph,
    marker: &str,
) -> Result<Converged> {
    let (retired_unfinished, mut warnings) = retire_unfinished(spec, graph).await?;
    // The passes share one budget, the replication timeout, in wall-clock time: their waits,
    // their retries and each reply. Removing a secret of a run that gave up is not bounded by
    // it (`give_up` uses `graph`).
    let bounded = graph.with_deadline(spec.replication_timeout);
    let mut passes = Passes {
        spec,
        graph: &bounded,
        unbounded: graph,
        marker,
        held: None,
        password_maybe_sent: false,
        app_exists: false,
        created_app: None,
        creator: Tally::default(),
        creator_gone: false,
        visibility: Tally::default(),
        recovery: Tally::default(),
    };
    let mut done = passes.until_done().await?;
    if passes.created_app.is_some() {
        // The app is this run's, though a later pass found it existing.
        done.applied.app_created = true;
    }
    if let Some(held) = &passes.held {
        // The read of a later pass saw the secret this run holds, and took it for an older one.
        let others = done
            .older
            .iter()
            .filter(|c| c.created_by_crate && c.kind == CredentialKind::Secret)
            .any(|c| c.key_id != held.secret.key_id);
        if !others {
            done.plan
                .warnings
                .retain(|w| w.code != WarningCode::OlderCredentials);
        }
    }
    warnings.extend(done.plan.warnings.iter().cloned());
    Ok(Converged {
        plan: done.plan,
        certificate_key: done.certificate_key,
        older: done.older,
        applied: done.applied,
        secret: passes.held,
        retired_unfinished,
        warnings,
        sharepoint_host: done.sharepoint_host,
    })
}

/// The passes of one run, and what carries from one to the next.
struct Passes<'a> {
    spec: &'a AppRegistration,
    /// The client, bounded by the run's time budget: no pass starts once it is spent.
    graph: &'a Graph,
    /// The same client without that bound, for the cleanup of a run that gives up.
    unbounded: &'a Graph,
    marker: &'a str,
    /// The secret this run created and holds.
    held: Option<NewSecretOf>,
    /// Set when a pass failed after it may have sent `addPassword`.
    password_maybe_sent: bool,
    /// Set once the upsert said the app exists although the read did not see it: the app is
    /// then read until it is visible, and never upserted again.
    app_exists: bool,
    /// The app this run's upsert created (by a pass that may have failed after).
    created_app: Option<crate::ids::ObjectId>,
    /// The wait for another run that created the app to write its collections.
    creator: Tally,
    /// That wait is over: this run finishes the creation itself.
    creator_gone: bool,
    /// The wait for the app (or its keys) to be visible.
    visibility: Tally,
    /// The recovery passes.
    recovery: Tally,
}

/// How a pass ended, when it did not fail.
enum Pass {
    /// The tenant converged.
    Done(Box<Done>),
    /// The upsert said the app exists although the read did not see it.
    AppExisted,
    /// The app, or the keys of an app whose certificates must be sent back whole, is not
    /// visible yet.
    NotVisible,
    /// Another run created the app and has not written its collections yet.
    CreatorPending,
}

/// How long a run that adds a certificate waits for another run that has just created the app
/// to write its collections (its next round trip), before it finishes the creation itself: the
/// creator writes `keyCredentials` whole without reading them, so a certificate written before
/// that would be replaced.
const CREATOR_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What the pass that converged read and did.
struct Done {
    plan: Plan,
    sharepoint_host: Option<String>,
    certificate_key: Option<crate::ids::KeyId>,
    older: Vec<CredentialInfo>,
    applied: Applied,
}

impl Passes<'_> {
    /// Passes until one converges, waiting for what is not visible and recovering from what
    /// [`worth_another_pass`] says may have hidden a write. A run that stops removes the
    /// secret it holds (or hands it over in the error).
    async fn until_done(&mut self) -> Result<Done> {
        let replication = Replication {
            graph: self.graph,
            progress: &self.spec.progress,
            timeout: self.spec.replication_timeout,
        };
        loop {
            let error = match self.pass().await {
                Ok(Pass::Done(done)) => return Ok(*done),
                Ok(Pass::AppExisted) => {
                    self.app_exists = true;
                    continue;
                }
                Ok(Pass::CreatorPending) => {
                    let wait =
                        replication.jittered(CREATOR_GRACE, std::time::Duration::from_secs(2));
                    if !wait
                        .pause(&mut self.creator, crate::retry::RetryAction::Poll, |_| {})
                        .await
                    {
                        tracing::info!(
                            "the run that created the app has not finished it; finishing it here"
                        );
                        self.creator_gone = true;
                    }
                    continue;
                }
                Ok(Pass::NotVisible) => {
                    let what = "the application";
                    if replication.wait(&mut self.visibility, what).await {
                        continue;
                    }
                    not_replicated(what, self.visibility.waited, None)
                }
                Err(e) => {
                    if worth_another_pass(&e).retries() {
                        tracing::warn!(error = %e, "a reply was lost or Graph stumbled; reading the tenant again");
                    }
                    // Time spent: the wall clock, or the waits asked of the sleeper when it
                    // does not really sleep (a test's), whichever is more.
                    let in_time = self.graph.time_left().is_some_and(|left| !left.is_zero());
                    if in_time && replication.wait_to_recover(&mut self.recovery, &e).await {
                        continue;
                    }
                    e
                }
            };
            let held = self.held.take();
            return Err(give_up(self.spec, self.unbounded, error, held, self.marker).await);
        }
    }

    /// One pass: read, resolve, and apply from what is there.
    async fn pass(&mut self) -> Result<Pass> {
        let (spec, graph) = (self.spec, self.graph);
        // A recovery pass varies its length at random (see `observe`): a fault that comes every
        // n-th request cannot then land on the same write in every pass.
        let vary = self.recovery.attempts > 0;
        let (observed, resolved) = spec.read_and_resolve_varied(graph, vary).await?;
        let credential = spec.credential_steps(&observed);
        let Some((mut steps, certificate_key)) =
            credential.filter(|_| !self.app_exists || observed.app.is_some())
        else {
            return Ok(Pass::NotVisible);
        };
        let others_creation = observed
            .app
            .as_ref()
            .is_some_and(|a| a.id.is_some() && a.id != self.created_app);
        if resolved.finish_creation
            && steps.update_keys.is_some()
            && others_creation
            && !self.creator_gone
        {
            return Ok(Pass::CreatorPending);
        }
        if self.password_maybe_sent
            && let Some(app) = &observed.app
        {
            let keep = self.held.as_ref().map(|h| h.secret.key_id);
            sweep_marker(graph, app, self.marker, keep).await?;
            self.password_maybe_sent = false;
        }
        let plan = resolved.plan.clone();
        if self.held.is_some() {
            steps.secret = None;
        }
        steps.marker = self.marker.to_owned();
        let older = observed_credentials(&observed);
        let sharepoint_host = observed.sharepoint_host.clone();
        let found = apply::Found {
            app: observed.app,
            client_sp: observed.client_sp,
            resources: observed.resources,
            // After a failed pass the app may be seconds old (created by it): its dependents
            // may meet replication lag.
            app_is_young: self.app_exists || self.recovery.attempts > 0,
        };
        let sends_secret = steps.secret.is_some();
        let outcome = apply::apply(
            graph,
            spec,
            resolved,
            found,
            steps,
            &mut self.held,
            &mut self.created_app,
        )
        .await;
        if outcome.is_err() && sends_secret && self.held.is_none() {
            self.password_maybe_sent = true;
        }
        Ok(match outcome? {
            apply::Outcome::Applied(applied) => Pass::Done(Box::new(Done {
                plan,
                sharepoint_host,
                certificate_key,
                older,
                applied: *applied,
            })),
            apply::Outcome::AppExisted => Pass::AppExisted,
        })
    }
}

fn observed_credentials(observed: &Observed) -> Vec<CredentialInfo> {
    observed.app.as_ref().map(list_of).unwrap_or_default()
}

/// The run stops: a secret it holds is removed (or handed over in the error), and the journal
/// says which.
async fn give_up(
    spec: &AppRegistration,
    graph: &Graph,
    error: Error,
    held: Option<NewSecretOf>,
    marker: &str,
) -> Error {
    let Some(secret) = held else {
        return error;
    };
    let error = apply::remove_orphan(graph, spec, error, secret).await;
    if let Some(journal) = &spec.journal {
        // Removed: nothing is left to finish. Not removed: the error hands the secret over.
        let _ = journal::forget(journal, marker).await;
    }
    error
}

/// Removes the secrets carrying `marker` other than `keep`: ones this run created but never
/// received (a lost `addPassword` reply).
async fn sweep_marker(
    graph: &Graph,
    app: &Application,
    marker: &str,
    keep: Option<crate::ids::KeyId>,
) -> Result<Vec<CredentialInfo>> {
    let Some(app_id) = app.id else {
        return Ok(Vec::new());
    };
    let lost: Vec<CredentialInfo> = list_of(app)
        .into_iter()
        .filter(|c| c.kind == CredentialKind::Secret)
        .filter(|c| marker_of(c.display_name.as_deref()) == Some(marker))
        .filter(|c| Some(c.key_id) != keep)
        .collect();
    for c in &lost {
        crate::credentials::CredentialProvisioner::new(graph, app_id)
            .remove_secret(c.key_id)
            .await?;
        tracing::warn!(key_id = %c.key_id, "removed a secret this run created but never received");
    }
    Ok(lost)
}

/// Finishes what earlier runs with the same journal left for this app: removes the secrets
/// carrying the markers of intents that were never marked done, and forgets those intents.
///
/// An intent is acted on only when its app is the one this registration is for
/// ([`AppRegistration::is_for`], read with its secrets): a journal names apps by object id, and
/// one planted or copied from another folder must not reach another app's secrets. `plan` and
/// `audit` list the same secrets: they match intents against the app the registration found. Other intents are left as they
/// are. Only secrets the crate created ([`marker_of`]) are removed.
async fn retire_unfinished(
    spec: &AppRegistration,
    graph: &Graph,
) -> Result<(Vec<CredentialInfo>, Vec<Warning>)> {
    let Some(journal) = &spec.journal else {
        return Ok((Vec::new(), Vec::new()));
    };
    let intents = off_runtime(journal, |j| j.unfinished()).await?;
    if intents.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    spec.progress.started(Step::Cleanup);
    let mut retired = Vec::new();
    for intent in intents {
        let app = match graph
            .send_json::<Application>(&requests::application_password_credentials(
                intent.app_object_id,
            ))
            .await
        {
            Ok(app) => app,
            // The app is gone (deleted): so are its secrets.
            Err(e) if e.status() == Some(404) => {
                journal::forget(journal, &intent.marker).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if !spec.is_for(&app) {
            tracing::warn!(
                app = %intent.app_object_id,
                "the secret journal names another app: its intent is left alone"
            );
            continue;
        }
        retired.extend(sweep_marker(graph, &app, &intent.marker, None).await?);
        journal::forget(journal, &intent.marker).await?;
    }
    spec.progress.finished(Step::Cleanup);
    let warnings = if retired.is_empty() {
        Vec::new()
    } else {
        vec![Warning {
            code: WarningCode::UnfinishedSecretRemoved,
            message: format!(
                "removed {} secret(s) that an earlier run created but never handed over (it was stopped before it finished); no other credential was touched",
                retired.len()
            ),
        }]
    };
    Ok((retired, warnings))
}
