//! Signing in as the new app, and checking that its token carries the profile's roles.

use std::time::Duration;

use serde::Serialize;

use crate::auth::TokenProvider;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::profile::{PermissionProfile, catalog};
use crate::readiness::sign_in_not_replicated;
use crate::retry::{Pace, Pause, Retry, RetryAction, Schedule, Tally};

/// What [`verify_sign_in`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SignInCheck {
    /// The Microsoft Graph roles in the app's token.
    pub roles: Vec<String>,
    /// Graph roles of the profile missing from the token (still replicating, or not granted).
    pub missing: Vec<String>,
    /// Sign-in attempts made.
    pub attempts: u32,
}

impl SignInCheck {
    /// Whether every Graph role of the profile is in the token.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Why a sign-in as the app is not the answer yet.
enum NotYet {
    /// The token lacks some of the profile's Graph roles.
    Lacks(SignInCheck),
    /// The sign-in failed.
    Refused(Error),
}

/// Signs in as the app with `provider` and compares the token's `roles` with the profile's
/// Microsoft Graph permissions. While Entra replicates a new app or credential, sign-in fails
/// (AADSTS700016, AADSTS7000215) and new grants are missing from tokens: both are retried with
/// capped back-off until `timeout`. A missing role after that is reported, not an error.
///
/// # Errors
///
/// A sign-in failure other than Entra's replication codes (AADSTS700016, AADSTS7000215,
/// AADSTS700027, AADSTS7000229), or one of those still returned at `timeout`:
/// [`Error::Graph`](crate::Error::Graph), [`Error::Auth`](crate::Error::Auth),
/// [`Error::Transport`](crate::Error::Transport) or [`Error::Decode`](crate::Error::Decode). A
/// missing role is reported in the result, not as an error.
pub async fn verify_sign_in(
    graph: &Graph,
    provider: &dyn TokenProvider,
    profile: &PermissionProfile,
    timeout: Duration,
) -> Result<SignInCheck> {
    let wanted: Vec<String> = profile
        .permissions()
        .into_iter()
        .filter(|p| p.resource_app_id == catalog::MICROSOFT_GRAPH.app_id)
        .map(|p| p.value)
        .collect();
    let pace = Pace::Exponential {
        base: Duration::from_secs(2),
        max: Duration::from_secs(15),
    };
    let classify = |f: &NotYet| match f {
        NotYet::Lacks(_) => RetryAction::Poll,
        NotYet::Refused(e) => sign_in_not_replicated(e),
    };
    let observe = |f: &NotYet, pause: &Pause| {
        tracing::info!(
            attempts = pause.number,
            wait = ?pause.wait,
            "the new app cannot sign in yet; waiting for replication"
        );
        if let NotYet::Lacks(_) = f {
            // Roles appear only in tokens fetched after the grants replicated.
            provider.invalidate();
        }
    };
    let mut tally = Tally::default();
    let outcome = Retry::new(Schedule::poll(timeout, pace), graph.sleeper())
        .within(graph)
        .run(&mut tally, classify, observe, |attempts| {
            sign_in_once(graph, provider, &wanted, attempts)
        })
        .await;
    match outcome {
        Ok(check) | Err(NotYet::Lacks(check)) => Ok(check),
        Err(NotYet::Refused(e)) => Err(e),
    }
}

/// Signs in once and compares the token's roles with `wanted`.
async fn sign_in_once(
    graph: &Graph,
    provider: &dyn TokenProvider,
    wanted: &[String],
    attempts: u32,
) -> std::result::Result<SignInCheck, NotYet> {
    let token = graph.token_from(provider).await.map_err(NotYet::Refused)?;
    let roles = token.claims().map(|c| c.roles).unwrap_or_default();
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !roles.contains(w))
        .cloned()
        .collect();
    let check = SignInCheck {
        roles,
        missing,
        attempts,
    };
    if check.missing.is_empty() {
        Ok(check)
    } else {
        Err(NotYet::Lacks(check))
    }
}
