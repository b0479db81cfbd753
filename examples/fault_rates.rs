//! What faults that keep coming cost a registration: requests, round trips and simulated wall
//! time per run, when 0%, 10%, 20% and 30% of Graph requests, `$batch` items and connections
//! fail at random (the fake's seeded [`RandomFaults`]: 429, 503, a write carried out then
//! answered 500 or 503, a replica that has not seen an object, a connection lost before or
//! after the request reached Graph).
//!
//! ```sh
//! cargo run --release --example fault_rates
//! ```
//!
//! Each rate runs 100 seeds of Backup-Exchange on a fresh tenant, half with a certificate and
//! half with a secret. Waits are not served (a recording sleeper), so a run takes milliseconds;
//! its simulated wall time is its round trips at 100 ms each plus every wait it asked for
//! (back-off, `Retry-After`, recovery, replication).

use std::sync::Arc;
use std::time::Duration;

use entra_appreg::credentials::{Certificate, NewCredential, SecretOptions};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg::retry::RecordingSleeper;
use entra_appreg::transport::ReqwestTransport;
use entra_appreg_fake::{FakeGraph, RandomFaults};
use futures::StreamExt;

const SEEDS: u64 = 100;
const ROUND_TRIP: Duration = Duration::from_millis(100);

struct Run {
    converged: bool,
    requests: u64,
    round_trips: u64,
    simulated: Duration,
}

async fn one(seed: u64, rate: f64, certificate: &Certificate) -> Run {
    let fake = FakeGraph::builder()
        .random_faults(RandomFaults::new(seed, rate))
        .start()
        .await;
    let sleeper = RecordingSleeper::default();
    let transport = Arc::new(ReqwestTransport::new().expect("a TLS backend"));
    let graph = fake
        .graph_builder()
        .transport(fake.flaky_transport(transport))
        .sleeper(sleeper.clone())
        .build()
        .expect("a client");
    let credential = if seed.is_multiple_of(2) {
        NewCredential::Certificate(Box::new(certificate.clone()))
    } else {
        NewCredential::Secret(SecretOptions::default())
    };
    let outcome = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .expect("a valid registration")
        .with_credential(credential)
        .apply(&graph)
        .await;
    let (requests, round_trips) = match &outcome {
        Ok(app) => (app.graph_requests, app.graph_round_trips),
        // A failed run reports no counts; its requests are the fake's log.
        Err(_) => (fake.requests().len() as u64, 0),
    };
    Run {
        converged: outcome.is_ok_and(|app| app.is_complete()),
        requests,
        round_trips,
        simulated: ROUND_TRIP * u32::try_from(round_trips).unwrap_or(u32::MAX) + sleeper.total(),
    }
}

fn percentile<T: Copy + Ord>(sorted: &[T], p: usize) -> T {
    sorted[(sorted.len() - 1) * p / 100]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let certificate = Certificate::generate("Contoso Backup", 30)?;
    println!(
        "Backup-Exchange on a fresh fake tenant, {SEEDS} seeds per rate (half certificate, half secret)\n"
    );
    println!(
        "| faults | converged | requests (median / p95 / max) | round trips (median / p95 / max) | simulated time (median / p95 / max) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for rate in [0.0, 0.1, 0.2, 0.3] {
        let runs: Vec<Run> = futures::stream::iter(0..SEEDS)
            .map(|seed| one(seed, rate, &certificate))
            .buffer_unordered(8)
            .collect()
            .await;
        let converged = runs.iter().filter(|r| r.converged).count();
        let ok: Vec<&Run> = runs.iter().filter(|r| r.converged).collect();
        let mut requests: Vec<u64> = ok.iter().map(|r| r.requests).collect();
        let mut trips: Vec<u64> = ok.iter().map(|r| r.round_trips).collect();
        let mut time: Vec<Duration> = ok.iter().map(|r| r.simulated).collect();
        requests.sort_unstable();
        trips.sort_unstable();
        time.sort_unstable();
        if ok.is_empty() {
            println!("| {:.0}% | 0 / {SEEDS} | | | |", rate * 100.0);
            continue;
        }
        println!(
            "| {:.0}% | {converged} / {SEEDS} | {} / {} / {} | {} / {} / {} | {:.1} s / {:.1} s / {:.1} s |",
            rate * 100.0,
            percentile(&requests, 50),
            percentile(&requests, 95),
            percentile(&requests, 100),
            percentile(&trips, 50),
            percentile(&trips, 95),
            percentile(&trips, 100),
            percentile(&time, 50).as_secs_f64(),
            percentile(&time, 95).as_secs_f64(),
            percentile(&time, 100).as_secs_f64(),
        );
    }
    Ok(())
}
