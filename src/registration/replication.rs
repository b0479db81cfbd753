//! Waiting out Entra's replication lag on objects this run (or a run racing it) created.
//!
//! Entra is eventually consistent: right after an app is created, its service principal's
//! creation, PATCHes and grants can fail for seconds (observed up to about a minute). Each answer
//! that means "not replicated yet" is one named classifier below, with its source. Only objects
//! created seconds ago are waited for; the same answer about an old object is a real error.
//!
//! Lag is **polled** at a short fixed interval: a request is cheap, and a doubling back-off
//! overshoots the moment an object appears by about as long as it has already waited.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, GraphError, Result};
use crate::graph::Graph;
use crate::retry::{Pace, Pause, Retry, RetryAction, Schedule, Tally};

use crate::progress::{ProgressEvent, ProgressSink};

fn graph_error(e: &Error) -> Option<&GraphError> {
    match e {
        Error::Graph(g) => Some(g),
        _ => None,
    }
}

/// Polls (or waits out Graph's `Retry-After`) when `lag` holds for a Graph error.
fn lag_when(e: &Error, lag: impl Fn(&GraphError) -> bool) -> RetryAction {
    match graph_error(e) {
        Some(g) if lag(g) => RetryAction::after_or(g.retry_after, RetryAction::Poll),
        _ => RetryAction::No,
    }
}

/// `404 Request_ResourceNotFound`: the object (or the one a path or body names) is not visible
/// yet. Source: Microsoft's "Designing for eventual consistency for Microsoft Entra" (a newly
/// created object can return "Not Found")
/// <https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra>
/// and Microsoft Graph's
/// [known issue on replication delay](https://learn.microsoft.com/graph/known-issues) ("the
/// object might not be immediately available"), and every peer client (Terraform azuread,
/// Azure CLI) retries it after a create.
pub(crate) fn not_found(e: &Error) -> RetryAction {
    lag_when(e, |g| {
        g.status == 404 && g.code.as_deref() == Some("Request_ResourceNotFound")
    })
}

/// `400 Request_BadRequest` "…does not reference a valid application object": a service
/// principal created right after its app. Source: the answer seen from real Graph (the fixture
/// `error-no-backing-application.json`); Terraform azuread retries it
/// (`internal/services/serviceprincipals/service_principal_resource.go`).
pub(crate) fn no_backing_application(e: &Error) -> RetryAction {
    lag_when(e, |g| {
        g.status == 400
            && g.message
                .as_deref()
                .is_some_and(|m| m.contains("does not reference a valid application object"))
    })
}

/// `400 Request_BadRequest` "Not a valid reference update.": an app role assignment to (or from)
/// a service principal that has not replicated. Source: Terraform azuread retries it for app
/// role assignments (`internal/services/approleassignments/app_role_assignment_resource.go`),
/// and Microsoft's Bicep samples note it
/// ([msgraph-bicep-types#193](https://github.com/microsoftgraph/msgraph-bicep-types/issues/193)).
pub(crate) fn invalid_reference_update(e: &Error) -> RetryAction {
    lag_when(e, |g| {
        g.status == 400
            && g.message
                .as_deref()
                .is_some_and(|m| m.contains("Not a valid reference update"))
    })
}

/// `403` "When using this permission, the backing application of the service principal being
/// created must in the local tenant": a caller holding `Application.ReadWrite.OwnedBy` creates
/// a service principal for an app that has not replicated. Lag, not a missing right. Source:
/// Terraform azuread retries it
/// (`internal/services/serviceprincipals/service_principal_resource.go`).
pub(crate) fn owned_by_backing_application(e: &Error) -> RetryAction {
    lag_when(e, |g| {
        g.status == 403
            && g.message.as_deref().is_some_and(|m| {
                m.contains("backing application of the service principal being created")
            })
    })
}

/// Lag on the service principal's creation, an update of the app or `addPassword` right after
/// the app was created: [`not_found`], [`no_backing_application`] or
/// [`owned_by_backing_application`].
pub(crate) fn app_lag(e: &Error) -> RetryAction {
    RetryAction::first_of(
        e,
        &[
            &not_found,
            &no_backing_application,
            &owned_by_backing_application,
        ],
    )
}

/// Lag on a grant to a service principal created seconds ago: [`not_found`] or
/// [`invalid_reference_update`].
pub(crate) fn grant_lag(e: &Error) -> RetryAction {
    RetryAction::first_of(e, &[&not_found, &invalid_reference_update])
}

/// Whether a failed pass of the registration may have hidden a write that happened, or met an
/// object that is not visible yet, so that reading the tenant again and continuing can succeed:
/// a transport failure (the request may have reached Graph), a 5xx (Graph documents 503/504 as
/// transient, and a 500 after a write may mean it was applied), a reply that could not be read
/// (a proxy cutting it short), a 429 that outlasted the retry policy's attempts (throttling
/// ends; the run's time budget bounds how long it is waited out), or one of the lag answers
/// above. A 401/403 or any other 4xx is not. Source: Microsoft Graph's
/// [throttling guidance](https://learn.microsoft.com/graph/throttling) for the 429, its
/// [error reference](https://learn.microsoft.com/graph/errors) for the 5xx, and the lag
/// answers' own sources.
pub(crate) fn worth_another_pass(e: &Error) -> RetryAction {
    match e {
        // A lost `addPassword` reply: the run reconciles by its marker before adding again.
        Error::Transport(_) | Error::Decode(_) | Error::MayHaveTakenEffect { .. } => {
            RetryAction::Backoff
        }
        Error::Graph(g) if g.status >= 500 || g.status == 429 => {
            RetryAction::after_or(g.retry_after, RetryAction::Backoff)
        }
        // Not the `Application.ReadWrite.OwnedBy` 403: a pass that meets it on the new app's
        // service principal has waited it out already (the app is young in every pass after
        // the first), and on a Microsoft resource's it is for good.
        _ => RetryAction::first_of(
            e,
            &[
                &not_found,
                &no_backing_application,
                &invalid_reference_update,
            ],
        ),
    }
}

/// The error of a wait for `what` that used up the timeout, keeping Graph's last answer.
pub(crate) fn not_replicated(what: &str, waited: Duration, last: Option<Error>) -> Error {
    Error::NotReplicated {
        what: what.to_owned(),
        waited,
        last: match last {
            Some(Error::Graph(g)) => Some(g),
            _ => None,
        },
    }
}

/// Polls for objects that have not replicated yet, up to a timeout, with progress events.
pub(crate) struct Replication<'a> {
    pub graph: &'a Graph,
    pub progress: &'a ProgressSink,
    pub timeout: Duration,
}

impl Replication<'_> {
    /// The poll interval while an object is young.
    pub(crate) const FAST: Duration = Duration::from_secs(1);
    /// The poll interval once it has been awaited for [`Self::SLOW_AFTER`].
    pub(crate) const SLOW: Duration = Duration::from_secs(2);
    /// When polling slows down.
    pub(crate) const SLOW_AFTER: Duration = Duration::from_secs(30);

    /// Polls every second, every two after half a minute, up to the timeout.
    fn polling(&self) -> Retry<'_> {
        let pace = Pace::Interval {
            fast: Self::FAST,
            slow: Self::SLOW,
            slow_after: Self::SLOW_AFTER,
        };
        Retry::new(Schedule::poll(self.timeout, pace), self.graph.sleeper()).within(self.graph)
    }

    /// Another pass about every second (jittered, so that a fault at a fixed period cannot fall
    /// into step with the passes), as long as the timeout allows: the budget is time, not a
    /// count of passes.
    fn recovering(&self) -> Retry<'_> {
        self.jittered(self.timeout, Self::FAST)
    }

    /// Pauses of about `around` (between half and one and a half times it), for at most
    /// `budget` and never past the run's deadline.
    pub(crate) fn jittered(&self, budget: Duration, around: Duration) -> Retry<'_> {
        let pace = Pace::Jittered { around };
        Retry::new(Schedule::poll(budget, pace), self.graph.sleeper()).within(self.graph)
    }

    fn waiting_for(&self, what: &str, pause: &Pause) {
        self.progress.emit(ProgressEvent::WaitingForReplication {
            what: what.to_owned(),
            attempt: pause.number,
            retry_in: pause.wait,
            waited: pause.waited,
        });
    }

    /// Runs `op` until it succeeds, polling while `classify` sees lag, with `state` carried from
    /// one try to the next (see [`Retry::run_with`]). `tally` says how long it waited.
    pub(crate) async fn poll<S, T, E, Fut>(
        &self,
        what: &str,
        tally: &mut Tally,
        state: S,
        classify: impl Fn(&E) -> RetryAction,
        op: impl FnMut(S, u32) -> Fut,
    ) -> (S, std::result::Result<T, E>)
    where
        Fut: Future<Output = (S, std::result::Result<T, E>)>,
    {
        self.polling()
            .run_with(tally, state, classify, |_, p| self.waiting_for(what, p), op)
            .await
    }

    /// Waits before looking again for `what`, or returns `false` when the timeout is used up.
    pub(crate) async fn wait(&self, tally: &mut Tally, what: &str) -> bool {
        self.polling()
            .pause(tally, RetryAction::Poll, |p| self.waiting_for(what, p))
            .await
    }

    /// Waits before another pass of a run whose last pass failed with `error`, or returns
    /// `false` when that is not [`worth_another_pass`], or the passes or the timeout are used up.
    pub(crate) async fn wait_to_recover(&self, tally: &mut Tally, error: &Error) -> bool {
        // The pass that failed counts as a try of the recovery budget, as it would in
        // `Retry::run`.
        tally.attempts += 1;
        self.recovering()
            .pause(tally, worth_another_pass(error), |p| {
                recovering(self.progress, error, p)
            })
            .await
    }

    /// Runs `op`, which re-plans from a fresh read each time, again after each failure
    /// [`worth_another_pass`], as a registration's passes are.
    pub(crate) async fn recover<T, Fut>(&self, op: impl FnMut(u32) -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        self.recovering()
            .run(
                &mut Tally::default(),
                worth_another_pass,
                |e, p| recovering(self.progress, e, p),
                op,
            )
            .await
    }

    /// Runs `op` until it finds what it looks for (`Some`), polling while it finds nothing.
    pub(crate) async fn until_found<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let mut tally = Tally::default();
        let classify = |s: &Search| match s {
            Search::NotYet => RetryAction::Poll,
            Search::Failed(_) => RetryAction::No,
        };
        let (_, found) = self
            .poll(what, &mut tally, (), classify, |(), _| {
                let found = op();
                async move {
                    let outcome = match found.await {
                        Ok(Some(found)) => Ok(found),
                        Ok(None) => Err(Search::NotYet),
                        Err(e) => Err(Search::Failed(e)),
                    };
                    ((), outcome)
                }
            })
            .await;
        found.map_err(|s| match s {
            Search::NotYet => not_replicated(what, tally.waited, None),
            Search::Failed(e) => e,
        })
    }
}

/// A search that has not found its object: not visible yet, or failed.
enum Search {
    NotYet,
    Failed(Error),
}

fn recovering(progress: &ProgressSink, error: &Error, pause: &Pause) {
    let reason = match error {
        Error::Transport(_) => "the connection to Microsoft Graph failed".to_owned(),
        Error::MayHaveTakenEffect { .. } => {
            "the reply to a new secret was lost; the secret is looked for and removed".to_owned()
        }
        Error::Decode(_) => "a reply from Microsoft Graph could not be read".to_owned(),
        Error::Graph(g) if g.status >= 500 => format!("Microsoft Graph answered {}", g.status),
        _ => "Microsoft Graph does not show an object yet".to_owned(),
    };
    progress.emit(ProgressEvent::Recovering {
        attempt: pause.number,
        retry_in: pause.wait,
        reason,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str, message: &str) -> GraphError {
        GraphError {
            status,
            code: Some(code.into()),
            message: Some(message.into()),
            request_id: None,
            client_request_id: None,
            date: None,
            request: "POST /servicePrincipals".into(),
            attempts: 1,
            retry_after: None,
        }
    }

    #[test]
    fn each_lag_answer_is_told_from_a_real_refusal() {
        let not_found = err(
            404,
            "Request_ResourceNotFound",
            "Resource 'x' does not exist",
        );
        let reference = err(400, "Request_BadRequest", "Not a valid reference update.");
        let backing = err(
            400,
            "Request_BadRequest",
            "The appId 'x' of the service principal does not reference a valid application object.",
        );
        let owned_by = err(
            403,
            "Authorization_RequestDenied",
            "When using this permission, the backing application of the service principal being created must in the local tenant",
        );
        let denied = err(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
        let duplicate = err(
            400,
            "Request_BadRequest",
            "Permission being assigned already exists on the object.",
        );
        let as_error = |g: &GraphError| Error::Graph(Box::new(g.clone()));
        let is_app_lag = |e| app_lag(&e).retries();
        let is_grant_lag = |e| grant_lag(&e).retries();
        for lag in [&not_found, &backing, &owned_by] {
            assert!(is_app_lag(as_error(lag)), "{lag:?}");
        }
        for lag in [&not_found, &reference] {
            assert!(is_grant_lag(as_error(lag)), "{lag:?}");
        }
        for real in [&denied, &duplicate] {
            assert!(!is_app_lag(as_error(real)) && !is_grant_lag(as_error(real)));
        }
        assert!(!is_grant_lag(as_error(&owned_by)));
        assert!(!is_app_lag(as_error(&reference)));
        // A pass is not run again for the OwnedBy 403: it was polled where it can be lag.
        assert!(!worth_another_pass(&as_error(&owned_by)).retries());
        assert!(!worth_another_pass(&as_error(&denied)).retries());
        assert!(worth_another_pass(&as_error(&backing)).retries());
    }
}
