//! What a fleet run reports: events while it runs, one outcome per tenant at the end.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::registration::ProgressEvent;

/// Which tenant an event or outcome is about: its position in the input and its label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TenantRef {
    /// Position in the tenants given to [`Fleet::run`](super::Fleet::run), from 0.
    pub index: usize,
    /// The label given to [`FleetTenant::new`](super::FleetTenant::new).
    pub label: Arc<str>,
}

impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}
/// Something an operator may want to see while a fleet runs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FleetEvent {
    /// A tenant got its slot and started.
    Started {
        /// Which.
        tenant: TenantRef,
    },
    /// A step of a tenant's job (the registration's own [`ProgressEvent`]).
    Progress {
        /// Which tenant.
        tenant: TenantRef,
        /// What happened there.
        event: ProgressEvent,
    },
    /// Graph throttled a request of this tenant; its client retries after `retry_after`.
    Throttled {
        /// Which tenant.
        tenant: TenantRef,
        /// The wait Graph asked for (1 s when it named none).
        retry_after: Duration,
    },
    /// A tenant finished, successfully or not.
    Finished {
        /// Which.
        tenant: TenantRef,
        /// Why it failed, or `None` on success.
        error: Option<String>,
        /// Time from start to finish.
        elapsed: Duration,
        /// Graph requests its client sent.
        graph_requests: u64,
    },
    /// Enough tenants are throttled that no new tenant starts for `pause` (see
    /// [`ThrottleGate`](super::ThrottleGate)).
    StartsPaused {
        /// Tenants waiting out a throttle now.
        throttled_tenants: usize,
        /// How long new starts wait.
        pause: Duration,
    },
}

impl FleetEvent {
    /// The tenant the event is about (`None` for fleet-wide events).
    pub fn tenant(&self) -> Option<&TenantRef> {
        match self {
            FleetEvent::Started { tenant }
            | FleetEvent::Progress { tenant, .. }
            | FleetEvent::Throttled { tenant, .. }
            | FleetEvent::Finished { tenant, .. } => Some(tenant),
            FleetEvent::StartsPaused { .. } => None,
        }
    }
}

impl fmt::Display for FleetEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetEvent::Started { tenant } => write!(f, "[{tenant}] started"),
            FleetEvent::Progress { tenant, event } => write!(f, "[{tenant}] {event}"),
            FleetEvent::Throttled {
                tenant,
                retry_after,
            } => write!(
                f,
                "[{tenant}] throttled by Graph; retrying in {:.1} s",
                retry_after.as_secs_f64()
            ),
            FleetEvent::Finished {
                tenant,
                error: None,
                elapsed,
                graph_requests,
            } => write!(
                f,
                "[{tenant}] done in {:.2} s ({graph_requests} Graph requests)",
                elapsed.as_secs_f64()
            ),
            FleetEvent::Finished {
                tenant,
                error: Some(error),
                elapsed,
                ..
            } => write!(
                f,
                "[{tenant}] failed after {:.2} s: {error}",
                elapsed.as_secs_f64()
            ),
            FleetEvent::StartsPaused {
                throttled_tenants,
                pause,
            } => write!(
                f,
                "{throttled_tenants} tenants throttled: no new tenant starts for {:.1} s",
                pause.as_secs_f64()
            ),
        }
    }
}

/// Why a tenant's job did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// The job returned an error (or the tenant's client could not be built).
    #[error(transparent)]
    Failed(Error),
    /// The job panicked; the message is the panic's.
    #[error("the tenant's job panicked: {0}")]
    Panicked(String),
}

impl TenantError {
    /// The crate error, unless the job panicked.
    pub fn as_error(&self) -> Option<&Error> {
        match self {
            TenantError::Failed(e) => Some(e),
            TenantError::Panicked(_) => None,
        }
    }
}

/// How one tenant went.
#[derive(Debug)]
#[non_exhaustive]
pub struct TenantOutcome<T> {
    /// Which tenant.
    pub tenant: TenantRef,
    /// What the job returned.
    pub result: std::result::Result<T, TenantError>,
    /// Time from the tenant's start (after waiting for a slot) to its end.
    pub elapsed: Duration,
    /// Graph requests the tenant's client sent (a `$batch` counted once, retries included).
    pub graph_requests: u64,
    /// Throttled replies the tenant got (`429`, or `503` with `Retry-After`; batch items too).
    pub throttled: u32,
}

/// The outcome of every tenant of a [`Fleet::run`](super::Fleet::run), in the order the tenants were given.
#[derive(Debug)]
#[must_use = "some tenants may have failed"]
#[non_exhaustive]
pub struct FleetReport<T> {
    /// One outcome per tenant.
    pub tenants: Vec<TenantOutcome<T>>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// The most tenants that were in flight at once.
    pub peak_in_flight: usize,
    /// How many times the [`ThrottleGate`](super::ThrottleGate) held new starts back.
    pub start_pauses: u32,
}

impl<T> FleetReport<T> {
    /// Tenants whose job succeeded.
    pub fn succeeded(&self) -> usize {
        self.tenants.iter().filter(|o| o.result.is_ok()).count()
    }

    /// Tenants whose job failed.
    pub fn failed(&self) -> usize {
        self.tenants.len() - self.succeeded()
    }

    /// Whether every tenant succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.tenants.iter().all(|o| o.result.is_ok())
    }

    /// Graph requests sent by all tenants together.
    pub fn graph_requests(&self) -> u64 {
        self.tenants.iter().map(|o| o.graph_requests).sum()
    }
}
