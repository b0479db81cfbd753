//! Round trips and wall time of a registration, per profile, against the fake tenant with 100 ms
//! of latency on every request.
//!
//! ```sh
//! cargo run --release --example roundtrips
//! ```
//!
//! For each profile it registers the app on a fresh tenant, then runs again on the same tenant
//! (which now matches), then again with the client id from the first run. Columns:
//!
//! - `requests`: Graph HTTP requests the client sent (`RegisteredApp::graph_requests`; a `$batch`
//!   counts once);
//! - `round trips`: top-level Graph requests in the fake's log, which are sequential in this
//!   crate (nothing is sent in parallel within one registration); the run's own count
//!   (`RegisteredApp::graph_round_trips`) is checked against it;
//! - `writes`: Graph writes, inside a `$batch` or not;
//! - `wall`: time of `apply` with 100 ms per request, beside the floor: the fewest sequential
//!   round trips the dependency chain allows (4 fresh, 2 matching, 1 with the client id; 2 with
//!   the client id and a certificate, whose keys are read by object id), times 100 ms.
//!
//! The `credential` column says what rode along: `none`; `certificate` (a new RSA-2048
//! certificate on the fresh tenant, the same one again on the re-runs, where it is recognised as
//! already registered); `secret` (a new secret on the fresh tenant; the re-runs keep it and ask
//! for no new one). Certificates are generated before timing starts.

use std::time::{Duration, Instant};

use entra_appreg::Graph;
use entra_appreg::credentials::{Certificate, NewCredential, SecretOptions};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg_fake::{FakeGraph, RequestKind};

const LATENCY: Duration = Duration::from_millis(100);

/// What one measured `apply` cost.
struct Row {
    profile: String,
    credential: &'static str,
    tenant: &'static str,
    requests: u64,
    round_trips: usize,
    writes: usize,
    wall: Duration,
    floor: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let profiles = PermissionProfile::built_in();
    let mut rows = Vec::new();
    for profile in profiles {
        for credential in ["none", "certificate", "secret"] {
            if credential == "secret"
                && !profile.allows(entra_appreg::credentials::CredentialKind::Secret)
            {
                continue;
            }
            let fake = FakeGraph::start().await;
            fake.set_latency(LATENCY);
            let graph = fake.graph_builder().build()?;
            let name = profile_name(profile);
            let bare = AppRegistration::new("Contoso Backup", profile.clone())?;
            let (fresh, rerun) = match credential {
                "certificate" => {
                    let certificate = Certificate::generate("Contoso Backup", 365)?;
                    let with =
                        bare.with_credential(NewCredential::Certificate(Box::new(certificate)));
                    (with.clone(), with)
                }
                "secret" => (
                    bare.clone()
                        .with_credential(NewCredential::Secret(SecretOptions::default())),
                    bare,
                ),
                _ => (bare.clone(), bare),
            };

            let (first, row) =
                measure(&fake, &graph, &fresh, &name, credential, "fresh", 4).await?;
            rows.push(row);
            let (_, row) = measure(&fake, &graph, &rerun, &name, credential, "matching", 2).await?;
            rows.push(row);
            let known = rerun.clone().with_client_id(first.client_id);
            // A certificate needs the app's keys, which Graph returns only on a read by object
            // id: with the client id known, that read follows the first.
            let known_floor = if credential == "certificate" { 2 } else { 1 };
            let (_, row) = measure(
                &fake,
                &graph,
                &known,
                &name,
                credential,
                "matching, client id known",
                known_floor,
            )
            .await?;
            rows.push(row);
        }
    }
    print_table(&rows);
    Ok(())
}

async fn measure(
    fake: &FakeGraph,
    graph: &Graph,
    registration: &AppRegistration,
    profile: &str,
    credential: &'static str,
    tenant: &'static str,
    floor: usize,
) -> Result<(entra_appreg::registration::RegisteredApp, Row), Box<dyn std::error::Error>> {
    fake.clear_requests();
    let started = Instant::now();
    let app = registration.apply(graph).await?;
    let wall = started.elapsed();
    let log: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::Graph)
        .collect();
    let round_trips = log.iter().filter(|r| r.batch.is_none()).count();
    // What the run says it cost is what the tenant saw.
    assert_eq!(app.graph_round_trips as usize, round_trips);
    let writes = log
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("$batch"))
        .count();
    let row = Row {
        profile: profile.to_owned(),
        credential,
        tenant,
        requests: app.graph_requests,
        round_trips,
        writes,
        wall,
        floor,
    };
    Ok((app, row))
}

fn profile_name(profile: &PermissionProfile) -> String {
    match profile {
        PermissionProfile::MigrationTarget {
            create_mailboxes: true,
        } => format!("{profile} (create mailboxes)"),
        _ => profile.to_string(),
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "Fake tenant, {} ms per request, release build\n",
        LATENCY.as_millis()
    );
    println!(
        "| profile | credential | tenant | requests | round trips (floor) | writes | wall (floor) |"
    );
    println!("|---|---|---|---:|---:|---:|---:|");
    for r in rows {
        let floor_wall = LATENCY * r.floor as u32;
        let mark = if r.round_trips > r.floor { " ⚠" } else { "" };
        println!(
            "| {} | {} | {} | {} | {} ({}){mark} | {} | {:.0} ms ({} ms) |",
            r.profile,
            r.credential,
            r.tenant,
            r.requests,
            r.round_trips,
            r.floor,
            r.writes,
            r.wall.as_secs_f64() * 1000.0,
            floor_wall.as_millis(),
        );
    }
}
