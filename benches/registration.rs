//! Registration benchmarks against the fake tenant.
//!
//! ```sh
//! cargo bench --bench registration
//! ```
//!
//! - `registration/fresh_zero_latency`: wall time of a fresh Backup-Exchange registration (four
//!   round trips) against a fake with no added latency: the crate, its HTTP client and the fake.
//! - `registration/fresh_zero_latency_client_cpu`: the same run, but the time reported is the CPU
//!   time of the thread that runs the registration (a current-thread runtime: the crate, reqwest
//!   and hyper's client side). The fake answers on its own thread, so its cost is not counted.
//! - `registration/fresh_with_certificate_zero_latency_client_cpu`: the same CPU measure with a
//!   certificate riding in the app's creation (generated once before measuring: key generation
//!   is `benches/certificate.rs`'s subject).
//! - `fleet/200_tenants_100ms_32_in_flight`: a Backup-Exchange registration in 200 fake tenants
//!   with 100 ms per request, 32 in flight. The fakes start once, before measuring; each
//!   iteration registers a new app, so every tenant is fresh.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use entra_appreg::credentials::{Certificate, NewCredential};
use entra_appreg::fleet::{Fleet, FleetTenant};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg_fake::FakeGraph;

fn graph_builder(fake: &FakeGraph) -> entra_appreg::graph::GraphBuilder {
    fake.graph_builder()
}

/// A registration under a name never used before, so the tenant is fresh for it.
fn fresh_registration() -> AppRegistration {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    AppRegistration::new(
        format!("Contoso Backup {n}"),
        PermissionProfile::BackupExchange,
    )
    .expect("a valid name")
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always available
    // on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `iters` fresh registrations on a new fake (so the fake's directory stays small) and
/// returns what `clock` measured around them.
fn fresh_registrations(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    clock: fn() -> Duration,
    certificate: Option<&Certificate>,
) -> Duration {
    rt.block_on(async {
        let fake = FakeGraph::start().await;
        let graph = graph_builder(&fake).build().expect("client");
        let registrations: Vec<AppRegistration> = (0..iters)
            .map(|_| match certificate {
                Some(c) => fresh_registration()
                    .with_credential(NewCredential::Certificate(Box::new(c.clone()))),
                None => fresh_registration(),
            })
            .collect();
        let start = clock();
        for registration in &registrations {
            let app = registration.apply(&graph).await.expect("registered");
            assert_eq!(app.graph_requests, 4);
        }
        clock() - start
    })
}

fn wall_clock() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

fn registration(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("registration");
    group.sample_size(30);
    group.bench_function("fresh_zero_latency", |b| {
        b.iter_custom(|iters| fresh_registrations(&rt, iters, wall_clock, None))
    });
    group.bench_function("fresh_zero_latency_client_cpu", |b| {
        b.iter_custom(|iters| fresh_registrations(&rt, iters, thread_cpu_time, None))
    });
    let certificate = Certificate::generate("Contoso Backup", 365).expect("certificate");
    group.bench_function("fresh_with_certificate_zero_latency_client_cpu", |b| {
        b.iter_custom(|iters| fresh_registrations(&rt, iters, thread_cpu_time, Some(&certificate)))
    });
    group.finish();
}

fn fleet(c: &mut Criterion) {
    const TENANTS: usize = 200;
    const IN_FLIGHT: usize = 32;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fakes: Vec<FakeGraph> = rt.block_on(futures::future::join_all((0..TENANTS).map(|_| {
        FakeGraph::builder()
            .latency(Duration::from_millis(100))
            .start()
    })));
    let fleet = Fleet::builder()
        .max_in_flight(IN_FLIGHT)
        .build()
        .expect("fleet");
    let mut group = c.benchmark_group("fleet");
    // About 3 s an iteration: ten samples of one iteration each.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(25));
    group.bench_function("200_tenants_100ms_32_in_flight", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let registration = fresh_registration();
                    let tenants: Vec<FleetTenant> = fakes
                        .iter()
                        .map(|f| FleetTenant::new(f.tenant_id().to_string(), graph_builder(f)))
                        .collect();
                    let start = Instant::now();
                    let report = fleet.register(tenants, &registration).await;
                    total += start.elapsed();
                    assert!(report.all_succeeded(), "{:?}", report.failed());
                    assert_eq!(report.graph_requests(), 4 * TENANTS as u64);
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, registration, fleet);
criterion_main!(benches);
