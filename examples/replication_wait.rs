//! How soon a registration notices that Entra has replicated what it created.
//!
//! ```sh
//! cargo run --release --example replication_wait
//! ```
//!
//! For each lag (2, 8 and 30 s of real time) the fake tenant keeps every application and service
//! principal it creates invisible for that long, answering as Graph does meanwhile (404, 400
//! "…does not reference a valid application object", 400 "Not a valid reference update."), with
//! 20 ms of latency per request. A fresh Backup-Exchange registration is timed with the crate's
//! real sleeper. The service principal waits for the app, and the grants wait for the service
//! principal, so each run sits through the lag about twice; the floor is what an oracle that
//! knew the exact moment each object appeared would take. `over the floor` is the time past it,
//! the cost of polling, for both awaited objects together; `per awaited object` halves it
//! (target: under 2.5 s past each lag).

use std::time::{Duration, Instant};

use entra_appreg::Graph;
use entra_appreg::auth::StaticToken;
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg_fake::{FakeGraph, RequestKind};

const LATENCY: Duration = Duration::from_millis(20);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| lag | time to done | floor | over the floor | per awaited object | round trips |");
    println!("|---|---|---|---|---|---|");
    for lag_secs in [2u64, 8, 30] {
        let lag = Duration::from_secs(lag_secs);
        let fake = FakeGraph::builder()
            .latency(LATENCY)
            .replication_delay(lag)
            .start()
            .await;
        let graph = Graph::builder()
            .tenant(fake.tenant_id().to_string())
            .graph_root(fake.graph_root().as_str())
            .token_provider(StaticToken::new(fake.admin_token()))
            .build()?;
        let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)?;
        let started = Instant::now();
        let app = reg.apply(&graph).await?;
        let took = started.elapsed();
        assert!(app.is_complete());
        let round_trips = fake
            .requests()
            .iter()
            .filter(|r| r.kind == RequestKind::Graph && r.batch.is_none())
            .count();
        // The app becomes visible `lag` after the upsert (round trip 2), the service principal
        // `lag` after the round trip that creates it; then the grants take one round trip.
        let floor = lag * 2 + LATENCY * 4;
        let over = took.saturating_sub(floor);
        println!(
            "| {lag_secs} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {round_trips} |",
            took.as_secs_f64(),
            floor.as_secs_f64(),
            over.as_secs_f64(),
            over.as_secs_f64() / 2.0
        );
    }
    Ok(())
}
