//! Registers a Backup-Exchange app in many fake tenants at once, a bounded number in flight,
//! and prints a summary per tenant. One tenant's admin may not create applications: that tenant
//! fails, and the others go on.
//!
//! ```sh
//! cargo run --example fleet
//! cargo run --release --example fleet -- --tenants 200 --in-flight 32 --latency-ms 100 --totals-only
//! ```
//!
//! Against real tenants, give each `FleetTenant` a `Graph::builder()` with the tenant's id and
//! sign-in instead of a fake's.

use std::time::{Duration, Instant};

use entra_appreg::fleet::{Fleet, FleetEvent, FleetTenant, TenantError};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg_fake::{FakeGraph, Fault, FaultRule};

struct Options {
    tenants: usize,
    in_flight: usize,
    latency: Duration,
    totals_only: bool,
    quiet: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        tenants: 12,
        in_flight: 4,
        latency: Duration::from_millis(100),
        totals_only: false,
        quiet: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--tenants" => o.tenants = number("--tenants")? as usize,
            "--in-flight" => o.in_flight = number("--in-flight")? as usize,
            "--latency-ms" => o.latency = Duration::from_millis(number("--latency-ms")?),
            "--totals-only" => o.totals_only = true,
            "--quiet" => o.quiet = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; use --tenants N --in-flight N --latency-ms N --totals-only --quiet"
                ));
            }
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = options()?;

    // The customers' tenants: one fake Entra tenant each, on loopback.
    let started = Instant::now();
    let fakes = futures::future::join_all((0..o.tenants).map(|i| {
        FakeGraph::builder()
            .tenant_domain(format!("customer{:03}.onmicrosoft.com", i + 1))
            .latency(o.latency)
            .start()
    }))
    .await;
    // The third customer's admin may not create applications.
    if let Some(fake) = fakes.get(2) {
        fake.inject_fault(
            FaultRule::new(Fault::Status {
                status: 403,
                retry_after: None,
            })
            .method("PATCH")
            .path_contains("/applications"),
        );
    }
    println!(
        "{} fake tenants started in {:.2} s; {} ms per request, {} in flight\n",
        fakes.len(),
        started.elapsed().as_secs_f64(),
        o.latency.as_millis(),
        o.in_flight
    );
    let rss_with_fakes = memory_mib("VmRSS");

    let quiet = o.quiet;
    let fleet = Fleet::builder()
        .max_in_flight(o.in_flight)
        .on_event(move |event| match event {
            FleetEvent::Progress { .. } => {}
            _ if quiet => {}
            _ => eprintln!("  {event}"),
        })
        .build()?;
    let registration = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)?;
    let tenants = fakes
        .iter()
        .map(|fake| FleetTenant::new(fake.tenant_domain(), fake.graph_builder()));

    let report = fleet.register(tenants, &registration).await;

    if !o.totals_only {
        if !quiet {
            println!();
        }
        println!(
            "{:<30} {:<8} {:<38} {:>8} {:>8}",
            "tenant", "result", "client id / error", "requests", "time"
        );
        for outcome in &report.tenants {
            let (result, detail) = match &outcome.result {
                Ok(app) if app.is_complete() => ("ok", app.client_id.to_string()),
                Ok(app) => ("partial", app.client_id.to_string()),
                Err(e) => ("FAILED", short_error(e)),
            };
            println!(
                "{:<30} {:<8} {:<38} {:>8} {:>6.2} s",
                outcome.tenant.label,
                result,
                detail,
                outcome.graph_requests,
                outcome.elapsed.as_secs_f64()
            );
        }
    }
    for outcome in &report.tenants {
        if let Err(e) = &outcome.result {
            match e.as_error() {
                Some(error) => println!("\n{}: {}", outcome.tenant.label, error.report()),
                None => println!("\n{}: {e}", outcome.tenant.label),
            }
        }
    }
    println!(
        "\n{} tenants: {} registered, {} failed, {} Graph requests, {} at most in flight, {:.2} s",
        report.tenants.len(),
        report.succeeded(),
        report.failed(),
        report.graph_requests(),
        report.peak_in_flight,
        report.elapsed.as_secs_f64()
    );
    if let (Some(fakes_only), Some(peak)) = (rss_with_fakes, memory_mib("VmHWM")) {
        println!(
            "memory: peak {peak:.0} MiB resident, of which {fakes_only:.0} MiB before the fleet started (the fakes)"
        );
    }

    // Dropping a fake stops its server: wiremock waits for that on a tokio lock inside a
    // non-tokio `block_on`, which spins for ever once this task's cooperative budget is spent
    // (after about 128 drops in one poll). Yielding between drops renews the budget.
    for fake in fakes {
        drop(fake);
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// A memory figure of this process from /proc (Linux), in MiB.
fn memory_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The status and Graph error code, or the start of the message.
fn short_error(e: &TenantError) -> String {
    match e.as_error() {
        Some(e) if e.status().is_some() => format!(
            "{} {}",
            e.status().unwrap_or_default(),
            e.graph_code().unwrap_or_default()
        ),
        _ => e.to_string().chars().take(38).collect(),
    }
}
