//! Signing in as the new app, and checking that its token carries the profile's roles.

use std::time::Duration;

use serde::Serialize;

use crate::auth::TokenProvider;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::profile::{PermissionProfile, catalog};
use crate::retry::capped_backoff;

/// What [`verify_sign_in`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// AADSTS codes that mean "Entra has not replicated the new app or credential yet".
const REPLICATION_CODES: [u32; 4] = [700_016, 7_000_215, 700_027, 7_000_229];

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
    let mut waited = Duration::ZERO;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match graph.token_from(provider).await {
            Ok(token) => {
                let roles = token.claims().map(|c| c.roles).unwrap_or_default();
                let missing: Vec<String> = wanted
                    .iter()
                    .filter(|w| !roles.contains(w))
                    .cloned()
                    .collect();
                if missing.is_empty() || waited >= timeout {
                    return Ok(SignInCheck {
                        roles,
                        missing,
                        attempts,
                    });
                }
                // Roles appear only in tokens fetched after the grants replicated.
                provider.invalidate();
            }
            Err(e) => {
                let replicating = matches!(&e, Error::Auth(a)
                    if a.aadsts.is_some_and(|c| REPLICATION_CODES.contains(&c)));
                if !replicating || waited >= timeout {
                    return Err(e);
                }
            }
        }
        let wait = capped_backoff(Duration::from_secs(2), Duration::from_secs(15), attempts)
            .min(timeout.saturating_sub(waited));
        tracing::info!(
            attempts,
            ?wait,
            "the new app cannot sign in yet; waiting for replication"
        );
        graph.sleeper().sleep(wait).await;
        waited += wait;
    }
}
