//! Fleet provisioning: the same registration in many tenants at once.
//!
//! A managed-service provider registers one product in hundreds of customer tenants. A [`Fleet`]
//! runs a job in every tenant — [`Fleet::register`] for an [`AppRegistration`], or any async
//! closure with [`Fleet::run`] — with at most [`FleetBuilder::max_in_flight`] tenants in flight,
//! one [`Graph`] client per tenant, and one [`TenantOutcome`] per tenant: a tenant that fails, or
//! whose job panics, is reported and the others go on.
//!
//! ```no_run
//! # async fn run(tenants: Vec<(String, String)>) -> entra_appreg::Result<()> {
//! use entra_appreg::Graph;
//! use entra_appreg::auth::StaticToken;
//! use entra_appreg::fleet::{Fleet, FleetTenant};
//! use entra_appreg::profile::PermissionProfile;
//! use entra_appreg::registration::AppRegistration;
//!
//! let fleet = Fleet::builder()
//!     .max_in_flight(32)
//!     .on_event(|event| eprintln!("{event}"))
//!     .build()?;
//! let registration = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)?;
//! // One Graph client per tenant: (tenant id, an admin token for it).
//! let tenants = tenants.into_iter().map(|(tenant, token)| {
//!     FleetTenant::new(
//!         tenant.clone(),
//!         Graph::builder().tenant(tenant).token_provider(StaticToken::new(token)),
//!     )
//! });
//! let report = fleet.register(tenants, &registration).await;
//! for outcome in &report.tenants {
//!     match &outcome.result {
//!         Ok(app) => println!("{}: client id {}", outcome.tenant, app.client_id),
//!         Err(e) => eprintln!("{}: {e}", outcome.tenant),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Throttling
//!
//! Each tenant's [`Graph`] client already honours `Retry-After` for its own requests, so a
//! throttled tenant slows itself down. What the fleet adds is a shared [`ThrottleGate`] in front
//! of *starting* tenants:
//!
//! - Entra throttles per tenant and per app in a tenant, and also per app across all tenants.
//!   One throttled tenant is most likely that tenant's own limit (a busy customer tenant), and
//!   holding the whole fleet back for it would only slow everyone else down. So by default one
//!   throttled tenant changes nothing for the others.
//! - Two or more tenants waiting out a throttle at the same moment point at a shared limit: the
//!   calling app's cross-tenant budget, a proxy in front of the fleet, or an incident at
//!   Microsoft. Starting more tenants would add load exactly where it hurts, so the gate stops
//!   starting new tenants until the throttles have passed (the latest `Retry-After` that keeps
//!   the count at the threshold, capped by [`ThrottleGate::PauseStarts::max_pause`]).
//! - Tenants already in flight are never paused by the gate: they are between dependent writes
//!   (app, service principal, grants), they wait out their own `Retry-After`, and stopping them
//!   half-way would only keep a half-registered app around for longer.
//!
//! The worst a wrong guess costs is one `Retry-After` of no new starts, while the tenants in
//! flight keep going. The gate learns of throttling from the replies themselves: the fleet wraps
//! the transport it gives every tenant's client and watches for `429` (and `503` with
//! `Retry-After`), including items of a `$batch`. Every wait goes through the fleet's
//! [`Sleeper`], so tests run without real delays.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::error::{Error, Result};
use crate::graph::{Graph, GraphBuilder};
use crate::registration::{AppRegistration, ProgressEvent, RegisteredApp};
use crate::retry::{Sleeper, TokioSleeper};
use crate::transport::GraphTransport;

mod report;
mod throttle;

pub use report::{FleetEvent, FleetReport, TenantError, TenantOutcome, TenantRef};
pub use throttle::ThrottleGate;
use throttle::{GateState, ThrottleWatch};

type EventCallback = dyn Fn(&FleetEvent) + Send + Sync;

/// Runs a job in many tenants concurrently. Build one with [`Fleet::builder`]; see the
/// [module docs](self).
pub struct Fleet {
    max_in_flight: usize,
    transport: Arc<dyn GraphTransport>,
    gate: ThrottleGate,
    sleeper: Arc<dyn Sleeper>,
    on_event: Option<Arc<EventCallback>>,
    tenant_deadline: Option<Duration>,
}

impl Fleet {
    /// The default bound on tenants in flight.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;

    /// Starts building a fleet.
    pub fn builder() -> FleetBuilder {
        FleetBuilder::default()
    }

    /// The bound on tenants in flight.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The throttling policy.
    pub fn throttle_gate(&self) -> &ThrottleGate {
        &self.gate
    }

    /// Applies `registration` in every tenant (see [`AppRegistration::apply`]) and returns one
    /// outcome per tenant, in the order given. The registration's own progress callback is
    /// replaced by the fleet's [`FleetEvent::Progress`] events.
    ///
    /// A credential set on the registration
    /// ([`AppRegistration::with_credential`]) is attached in every tenant: a new secret in
    /// each, but the *same* certificate everywhere. For a certificate per tenant, or anything
    /// else that differs per tenant (a client id remembered from an earlier run), use
    /// [`Fleet::run`].
    pub async fn register(
        &self,
        tenants: impl IntoIterator<Item = FleetTenant>,
        registration: &AppRegistration,
    ) -> FleetReport<RegisteredApp> {
        self.run(tenants, |tenant| {
            let registration = tenant.registration(registration);
            async move { registration.apply(tenant.graph()).await }
        })
        .await
    }

    /// Runs `job` once in every tenant, at most [`max_in_flight`](Self::max_in_flight) at a
    /// time, and returns one outcome per tenant, in the order given. A job's error or panic is
    /// that tenant's outcome; the other tenants go on.
    ///
    /// The job gets a [`TenantRun`]: the tenant's [`Graph`] client (built from the tenant's
    /// [`GraphBuilder`] over the fleet's transport) and a way to report progress.
    ///
    /// The jobs run concurrently on the task that awaits `run` (they are not spawned, so they
    /// may borrow from the caller). Keep CPU-heavy work such as RSA key generation (tens of
    /// milliseconds each) off this task — generate certificates beforehand, or with
    /// [`Certificate::generate_async`](crate::credentials::Certificate::generate_async) — or it
    /// holds up every tenant in flight. The crate's own journal writes run on tokio's blocking
    /// pool.
    ///
    /// ```no_run
    /// # async fn demo(fleet: entra_appreg::fleet::Fleet, tenants: Vec<entra_appreg::fleet::FleetTenant>,
    /// #   registration: entra_appreg::registration::AppRegistration) {
    /// let report = fleet
    ///     .run(tenants, |tenant| {
    ///         let registration = tenant.registration(&registration);
    ///         async move {
    ///             let app = registration.apply(tenant.graph()).await?;
    ///             // further steps in the same tenant go here, with the same client
    ///             Ok(app.client_id)
    ///         }
    ///     })
    ///     .await;
    /// println!("{} of {} tenants done", report.succeeded(), report.tenants.len());
    /// # }
    /// ```
    pub async fn run<T, F, Fut>(
        &self,
        tenants: impl IntoIterator<Item = FleetTenant>,
        job: F,
    ) -> FleetReport<T>
    where
        F: Fn(TenantRun) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let shared = Arc::new(Shared {
            gate: GateState::new(self.gate.clone()),
            on_event: self.on_event.clone(),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            start_pauses: AtomicU32::new(0),
        });
        let slots = tokio::sync::Semaphore::new(self.max_in_flight);
        let starts = tokio::sync::Mutex::new(());
        let job = &job;
        let mut running: FuturesUnordered<_> = tenants
            .into_iter()
            .enumerate()
            .map(|(index, tenant)| {
                let tenant_ref = TenantRef {
                    index,
                    label: Arc::from(tenant.label),
                };
                self.run_one(tenant_ref, tenant.graph, job, &slots, &starts, &shared)
            })
            .collect();
        let mut tenants = Vec::with_capacity(running.len());
        while let Some(outcome) = running.next().await {
            tenants.push(outcome);
        }
        tenants.sort_by_key(|o: &TenantOutcome<T>| o.tenant.index);
        FleetReport {
            tenants,
            elapsed: started.elapsed(),
            peak_in_flight: shared.peak_in_flight.load(Ordering::Relaxed),
            start_pauses: shared.start_pauses.load(Ordering::Relaxed),
        }
    }

    async fn run_one<T, F, Fut>(
        &self,
        tenant: TenantRef,
        builder: GraphBuilder,
        job: &F,
        slots: &tokio::sync::Semaphore,
        starts: &tokio::sync::Mutex<()>,
        shared: &Arc<Shared>,
    ) -> TenantOutcome<T>
    where
        F: Fn(TenantRun) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        // The semaphore is never closed.
        let _slot = slots.acquire().await.ok();
        {
            // One tenant at a time passes the gate, in the order the slots were granted.
            let _turn = starts.lock().await;
            self.wait_for_gate(shared).await;
        }
        let now = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        shared.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        shared.emit(&FleetEvent::Started {
            tenant: tenant.clone(),
        });
        let started = Instant::now();
        let watch = Arc::new(ThrottleWatch {
            inner: Arc::clone(&self.transport),
            tenant: tenant.clone(),
            shared: Arc::clone(shared),
            throttled: AtomicU32::new(0),
        });
        let (result, graph_requests) = match builder.transport(Arc::clone(&watch)).build() {
            Err(e) => (Err(TenantError::Failed(e)), 0),
            Ok(graph) => {
                let graph = match self.tenant_deadline {
                    Some(d) => graph.with_deadline(d),
                    None => graph,
                };
                let run = TenantRun {
                    tenant: tenant.clone(),
                    graph: graph.clone(),
                    shared: Arc::clone(shared),
                };
                let result = AssertUnwindSafe(async { job(run).await })
                    .catch_unwind()
                    .await;
                let result = match result {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(e)) => Err(TenantError::Failed(e)),
                    Err(panic) => Err(TenantError::Panicked(panic_message(panic.as_ref()))),
                };
                (result, graph.request_count())
            }
        };
        let elapsed = started.elapsed();
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        shared.emit(&FleetEvent::Finished {
            tenant: tenant.clone(),
            error: result.as_ref().err().map(ToString::to_string),
            elapsed,
            graph_requests,
        });
        TenantOutcome {
            tenant,
            result,
            elapsed,
            graph_requests,
            throttled: watch.throttled.load(Ordering::Relaxed),
        }
    }

    /// Waits while the gate holds new starts back.
    async fn wait_for_gate(&self, shared: &Shared) {
        loop {
            let now = Instant::now();
            let Some((throttled_tenants, pause)) = shared.gate.pause_needed(now) else {
                return;
            };
            shared.start_pauses.fetch_add(1, Ordering::Relaxed);
            shared.emit(&FleetEvent::StartsPaused {
                throttled_tenants,
                pause,
            });
            self.sleeper.sleep(pause).await;
            // Count the pause as served even when the sleeper returned early (a test sleeper).
            shared.gate.expire_until(now + pause);
        }
    }
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("max_in_flight", &self.max_in_flight)
            .field("gate", &self.gate)
            .field("sleeper", &self.sleeper)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Fleet`].
#[derive(Default)]
pub struct FleetBuilder {
    max_in_flight: Option<usize>,
    transport: Option<Arc<dyn GraphTransport>>,
    gate: Option<ThrottleGate>,
    sleeper: Option<Arc<dyn Sleeper>>,
    on_event: Option<Arc<EventCallback>>,
    tenant_deadline: Option<Duration>,
}

impl FleetBuilder {
    /// Gives each tenant's job this long, from when it starts (default: no limit but the
    /// job's own, such as a registration's replication timeout). The tenant's [`Graph`] carries
    /// the deadline: no retry, poll, replication wait or recovery pass waits past it, and each
    /// reply is awaited for what is left of it (at least 10 s). A job past its deadline ends
    /// at its next wait with the error it met; the other tenants go on.
    ///
    /// It is not a hard cancel: what a job must finish once it started, such as removing a
    /// secret a failed registration cannot hand over, still runs.
    pub fn tenant_deadline(mut self, deadline: Duration) -> Self {
        self.tenant_deadline = Some(deadline);
        self
    }

    /// At most this many tenants in flight (default [`Fleet::DEFAULT_MAX_IN_FLIGHT`]).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n);
        self
    }

    /// The transport every tenant's client uses, for Graph and sign-in alike (default: one
    /// [`ReqwestTransport`](crate::transport::ReqwestTransport) shared by all tenants). It
    /// replaces any transport set on a tenant's [`GraphBuilder`]: the fleet wraps it to watch for
    /// throttling.
    pub fn transport(mut self, transport: impl GraphTransport + 'static) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// How throttling in some tenants holds back new starts (default
    /// [`ThrottleGate::default`]).
    pub fn throttle_gate(mut self, gate: ThrottleGate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The sleeper for the gate's pauses (default: [`TokioSleeper`]). Each tenant's own waits go
    /// through the sleeper of its [`GraphBuilder`].
    pub fn sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Some(Arc::new(sleeper));
        self
    }

    /// Observes every [`FleetEvent`]. Called from the tasks that run the tenants: keep it quick.
    pub fn on_event(mut self, f: impl Fn(&FleetEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// Validates the settings and builds the fleet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for `max_in_flight` 0 or a [`ThrottleGate::PauseStarts`] of 0
    /// tenants; without a transport and without the `reqwest` feature, or when the default
    /// transport cannot be built, an error saying so.
    pub fn build(self) -> Result<Fleet> {
        let max_in_flight = self.max_in_flight.unwrap_or(Fleet::DEFAULT_MAX_IN_FLIGHT);
        if max_in_flight == 0 {
            return Err(Error::invalid_input(
                "fleet",
                "max_in_flight must be at least 1",
            ));
        }
        let gate = self.gate.unwrap_or_default();
        if let ThrottleGate::PauseStarts { tenants: 0, .. } = gate {
            return Err(Error::invalid_input(
                "throttle gate",
                "PauseStarts needs at least 1 throttled tenant; use ThrottleGate::Off to never pause",
            ));
        }
        let transport = match self.transport {
            Some(t) => t,
            None => default_transport()?,
        };
        Ok(Fleet {
            max_in_flight,
            transport,
            tenant_deadline: self.tenant_deadline,
            gate,
            sleeper: self.sleeper.unwrap_or_else(|| Arc::new(TokioSleeper)),
            on_event: self.on_event,
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_transport() -> Result<Arc<dyn GraphTransport>> {
    Ok(Arc::new(crate::transport::ReqwestTransport::new()?))
}

#[cfg(not(feature = "reqwest"))]
fn default_transport() -> Result<Arc<dyn GraphTransport>> {
    Err(Error::invalid_input(
        "transport",
        "is required: the `reqwest` feature is off, so pass a GraphTransport to the fleet",
    ))
}

impl fmt::Debug for FleetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBuilder")
            .field("max_in_flight", &self.max_in_flight)
            .field("gate", &self.gate)
            .field("tenant_deadline", &self.tenant_deadline)
            .finish_non_exhaustive()
    }
}

/// One tenant of a fleet: a label for reports and events, and how to build its [`Graph`]
/// client.
pub struct FleetTenant {
    label: String,
    graph: GraphBuilder,
}

impl FleetTenant {
    /// A tenant named `label` (its id or domain, or a customer name) whose client is built from
    /// `graph` when its turn comes. The fleet sets the builder's transport
    /// ([`FleetBuilder::transport`]); everything else (tenant, endpoints, sign-in, retry policy,
    /// sleeper) is the builder's.
    pub fn new(label: impl Into<String>, graph: GraphBuilder) -> Self {
        Self {
            label: label.into(),
            graph,
        }
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl fmt::Debug for FleetTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetTenant")
            .field("label", &self.label)
            .field("graph", &self.graph)
            .finish()
    }
}

/// What a job gets for its tenant: the tenant's [`Graph`] client and a progress channel.
pub struct TenantRun {
    tenant: TenantRef,
    graph: Graph,
    shared: Arc<Shared>,
}

impl TenantRun {
    /// Which tenant this is.
    pub fn tenant(&self) -> &TenantRef {
        &self.tenant
    }

    /// The tenant's client.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Reports a progress event of this tenant as [`FleetEvent::Progress`].
    pub fn report(&self, event: &ProgressEvent) {
        self.shared.emit(&FleetEvent::Progress {
            tenant: self.tenant.clone(),
            event: event.clone(),
        });
    }

    /// A progress callback that reports as [`report`](Self::report) does, for any step that
    /// takes one (such as [`AppRegistration::on_progress`]).
    pub fn progress_callback(&self) -> impl Fn(&ProgressEvent) + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        let tenant = self.tenant.clone();
        move |event: &ProgressEvent| {
            shared.emit(&FleetEvent::Progress {
                tenant: tenant.clone(),
                event: event.clone(),
            });
        }
    }

    /// A copy of `spec` whose progress events are this tenant's [`FleetEvent::Progress`].
    pub fn registration(&self, spec: &AppRegistration) -> AppRegistration {
        spec.clone().on_progress(self.progress_callback())
    }
}

impl fmt::Debug for TenantRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantRun")
            .field("tenant", &self.tenant)
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

/// State shared by the tenants of one run.
struct Shared {
    gate: GateState,
    on_event: Option<Arc<EventCallback>>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    start_pauses: AtomicU32,
}

impl Shared {
    fn emit(&self, event: &FleetEvent) {
        tracing::debug!(%event, "fleet");
        if let Some(f) = &self.on_event {
            f(event);
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transport::{TransportError, TransportErrorKind};

    fn unused_transport() -> impl GraphTransport {
        |_r: http::Request<Vec<u8>>| async {
            Err::<http::Response<Vec<u8>>, _>(TransportError::not_sent(
                TransportErrorKind::Other,
                "unused",
            ))
        }
    }

    #[test]
    fn fleet_futures_are_send_so_a_fleet_can_run_on_a_spawned_task() {
        fn assert_send<T: Send>(_: &T) {}
        let fleet = Fleet::builder()
            .transport(unused_transport())
            .build()
            .unwrap();
        let registration = AppRegistration::new(
            "Contoso Backup",
            crate::profile::PermissionProfile::BackupExchange,
        )
        .unwrap();
        let future = fleet.register(Vec::new(), &registration);
        assert_send(&future);
    }

    #[test]
    fn settings_are_checked() {
        assert!(
            Fleet::builder()
                .max_in_flight(0)
                .transport(unused_transport())
                .build()
                .is_err()
        );
        assert!(
            Fleet::builder()
                .transport(unused_transport())
                .throttle_gate(ThrottleGate::PauseStarts {
                    tenants: 0,
                    max_pause: Duration::from_secs(1),
                })
                .build()
                .is_err()
        );
    }
}
