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

use super::progress::{ProgressEvent, ProgressSink};

/// `404 Request_ResourceNotFound`: the object (or the one a path or body names) is not visible
/// yet. Source: GRAPH.md §4; Microsoft's
/// [known issue on replication delay](https://learn.microsoft.com/graph/known-issues) ("the
/// object might not be immediately available"), and every peer client (Terraform azuread,
/// Azure CLI) retries it after a create.
pub(crate) fn is_not_found(e: &GraphError) -> bool {
    e.status == 404 && e.code.as_deref() == Some("Request_ResourceNotFound")
}

/// `400 Request_BadRequest` "…does not reference a valid application object": a service
/// principal created right after its app. Source: GRAPH.md §4 and the fixture
/// `error-no-backing-application.json`; Terraform azuread retries it
/// (`internal/services/serviceprincipals/service_principal_resource.go`).
pub(crate) fn is_no_backing_application(e: &GraphError) -> bool {
    e.status == 400
        && e.message
            .as_deref()
            .is_some_and(|m| m.contains("does not reference a valid application object"))
}

/// `400 Request_BadRequest` "Not a valid reference update.": an app role assignment to (or from)
/// a service principal that has not replicated. Source: GRAPH.md §4; Terraform azuread retries
/// it for app role assignments, and Microsoft's Bicep samples note it.
pub(crate) fn is_invalid_reference_update(e: &GraphError) -> bool {
    e.status == 400
        && e.message
            .as_deref()
            .is_some_and(|m| m.contains("Not a valid reference update"))
}

/// `403` "When using this permission, the backing application of the service principal being
/// created must in the local tenant": a caller holding `Application.ReadWrite.OwnedBy` creates
/// a service principal for an app that has not replicated. Lag, not a missing right. Source:
/// GRAPH.md §4; Terraform azuread retries it.
pub(crate) fn is_owned_by_backing_application(e: &GraphError) -> bool {
    e.status == 403
        && e.message.as_deref().is_some_and(|m| {
            m.contains("backing application of the service principal being created")
        })
}

/// The error of a wait for `what` that used up the timeout, keeping Graph's last answer.
pub(crate) fn not_replicated(what: &str, poll: &Poll, last: Error) -> Error {
    Error::NotReplicated {
        what: what.to_owned(),
        waited: poll.waited,
        last: match last {
            Error::Graph(g) => Some(g),
            _ => None,
        },
    }
}

fn graph_error(e: &Error) -> Option<&GraphError> {
    match e {
        Error::Graph(g) => Some(g),
        _ => None,
    }
}

/// Lag on the service principal's creation, an update of the app or `addPassword` right after
/// the app was created.
pub(crate) fn is_app_lag(e: &Error) -> bool {
    graph_error(e).is_some_and(|g| {
        is_not_found(g) || is_no_backing_application(g) || is_owned_by_backing_application(g)
    })
}

/// Lag on a grant to a service principal created seconds ago.
pub(crate) fn is_grant_lag(e: &Error) -> bool {
    graph_error(e).is_some_and(|g| is_not_found(g) || is_invalid_reference_update(g))
}

/// Whether a failed pass of the registration may have hidden a write that happened, or met an
/// object that is not visible yet, so that reading the tenant again and continuing can succeed:
/// a transport failure (the request may have reached Graph), a 5xx (Graph documents 503/504 as
/// transient, and a 500 after a write may mean it was applied), a reply that could not be read
/// (a proxy cutting it short), or one of the lag answers above. A 429 that outlasted the retry
/// budget, a 401/403 or any other 4xx is not.
pub(crate) fn is_worth_another_pass(e: &Error) -> bool {
    match e {
        // A lost `addPassword` reply: the run reconciles by its marker before adding again.
        Error::Transport(_) | Error::Decode(_) | Error::MayHaveTakenEffect { .. } => true,
        Error::Graph(g) => {
            g.status >= 500
                || is_not_found(g)
                || is_no_backing_application(g)
                || is_invalid_reference_update(g)
                || is_owned_by_backing_application(g)
        }
        _ => false,
    }
}

/// Polls for objects that have not replicated yet, up to a timeout, with progress events.
pub(crate) struct Replication<'a> {
    pub graph: &'a Graph,
    pub progress: &'a ProgressSink,
    pub timeout: Duration,
}

/// One wait for one object: how long it has been awaited, and how often.
#[derive(Debug, Default)]
pub(crate) struct Poll {
    pub waited: Duration,
    pub attempt: u32,
}

impl Replication<'_> {
    /// The poll interval while an object is young.
    pub(crate) const FAST: Duration = Duration::from_secs(1);
    /// The poll interval once it has been awaited for [`Self::SLOW_AFTER`].
    pub(crate) const SLOW: Duration = Duration::from_secs(2);
    /// When polling slows down.
    pub(crate) const SLOW_AFTER: Duration = Duration::from_secs(30);

    /// Waits before the next try, or returns `false` when the timeout is used up. A
    /// `Retry-After` longer than the interval is honoured.
    pub(crate) async fn wait(
        &self,
        poll: &mut Poll,
        what: &str,
        retry_after: Option<Duration>,
    ) -> bool {
        if poll.waited >= self.timeout {
            return false;
        }
        let interval = if poll.waited < Self::SLOW_AFTER {
            Self::FAST
        } else {
            Self::SLOW
        };
        let wait = retry_after
            .map_or(interval, |r| r.max(interval))
            .min(self.timeout - poll.waited);
        poll.attempt += 1;
        self.progress.emit(ProgressEvent::WaitingForReplication {
            what: what.to_owned(),
            attempt: poll.attempt,
            retry_in: wait,
            waited: poll.waited,
        });
        self.graph.sleeper().sleep(wait).await;
        poll.waited += wait;
        true
    }

    /// Waits before another pass of a run whose last pass failed with `error` (see
    /// [`is_worth_another_pass`]), or returns `false` when the timeout is used up.
    pub(crate) async fn wait_to_recover(&self, poll: &mut Poll, error: &Error) -> bool {
        if poll.waited >= self.timeout {
            return false;
        }
        let retry_after = graph_error(error).and_then(|g| g.retry_after);
        let wait = retry_after
            .map_or(Self::FAST, |r| r.max(Self::FAST))
            .min(self.timeout - poll.waited);
        poll.attempt += 1;
        let reason = match error {
            Error::Transport(_) => "the connection to Microsoft Graph failed".to_owned(),
            Error::MayHaveTakenEffect { .. } => {
                "the reply to a new secret was lost; the secret is looked for and removed"
                    .to_owned()
            }
            Error::Decode(_) => "a reply from Microsoft Graph could not be read".to_owned(),
            Error::Graph(g) if g.status >= 500 => format!("Microsoft Graph answered {}", g.status),
            _ => "Microsoft Graph does not show an object yet".to_owned(),
        };
        self.progress.emit(ProgressEvent::Recovering {
            attempt: poll.attempt,
            retry_in: wait,
            reason,
        });
        self.graph.sleeper().sleep(wait).await;
        poll.waited += wait;
        true
    }

    /// Runs `op` until it finds what it looks for (`Some`), polling while it finds nothing.
    pub(crate) async fn until_found<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let mut poll = Poll::default();
        loop {
            if let Some(found) = op().await? {
                return Ok(found);
            }
            if !self.wait(&mut poll, what, None).await {
                return Err(Error::NotReplicated {
                    what: what.to_owned(),
                    waited: poll.waited,
                    last: None,
                });
            }
        }
    }
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
        for lag in [&not_found, &backing, &owned_by] {
            assert!(is_app_lag(&as_error(lag)), "{lag:?}");
        }
        for lag in [&not_found, &reference] {
            assert!(is_grant_lag(&as_error(lag)), "{lag:?}");
        }
        for real in [&denied, &duplicate] {
            assert!(!is_app_lag(&as_error(real)) && !is_grant_lag(&as_error(real)));
        }
        assert!(!is_grant_lag(&as_error(&owned_by)));
        assert!(!is_app_lag(&as_error(&reference)));
    }
}
