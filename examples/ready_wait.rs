//! How soon `wait_until_ready` notices that Entra accepts a new certificate with its roles.
//!
//! ```sh
//! cargo run --release --example ready_wait
//! ```
//!
//! For each lag (5, 20 and 60 s of real time) the fake tenant's token endpoint refuses every
//! certificate registered, and leaves out of tokens every role granted, for that long after it
//! was made (`FakeGraphBuilder::sign_in_delay`), as Entra does right after a registration. A
//! Backup-Exchange app is registered with a certificate (no sign-in delay applies to the
//! registration itself), then `RegisteredApp::wait_until_ready` is timed with the crate's real
//! sleeper, 20 ms of latency per request. `over` is the time to ready minus what is left of the
//! lag when the wait starts: the cost of polling (target: under 2.5 s).

use std::time::{Duration, Instant};

use entra_appreg::credentials::{Certificate, NewCredential};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::{AppRegistration, ReadyOptions};
use entra_appreg_fake::FakeGraph;

const LATENCY: Duration = Duration::from_millis(20);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = Certificate::generate("Contoso Backup", 30)?;
    println!("| lag | time to ready | lag left at the start | over | sign-ins |");
    println!("|---|---|---|---|---|");
    for lag_secs in [5u64, 20, 60] {
        let lag = Duration::from_secs(lag_secs);
        let fake = FakeGraph::builder()
            .latency(LATENCY)
            .sign_in_delay(lag)
            .start()
            .await;
        let graph = fake.graph_builder().build()?;
        let registered_at = Instant::now();
        let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)?
            .with_credential(NewCredential::Certificate(Box::new(cert.clone())))
            .apply(&graph)
            .await?;
        // The certificate rode in the second round trip, the grants in the fourth: the last of
        // them is accepted `lag` after the end of the registration at the latest.
        let left = lag.saturating_sub(registered_at.elapsed());
        let started = Instant::now();
        let ready = app
            .wait_until_ready(&graph, &ReadyOptions::default())
            .await?;
        let took = started.elapsed();
        assert!(ready.ready, "{ready}");
        let sign_ins: u32 = ready.resources.iter().map(|r| r.attempts).sum();
        println!(
            "| {lag_secs} s | {:.2} s | {:.2} s | {:.2} s | {sign_ins} |",
            took.as_secs_f64(),
            left.as_secs_f64(),
            took.saturating_sub(left).as_secs_f64()
        );
    }
    Ok(())
}
