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
//!   crate (nothing is sent in parallel within one registration);
//! - `writes`: Graph writes, inside a `$batch` or not;
//! - `wall`: time of `apply` with 100 ms per request, beside the floor: the fewest sequential
//!   round trips the dependency chain allows (4 fresh, 2 matching, 1 with the client id), times
//!   100 ms.
//!
//! The `credential` column is where certificate and secret rows go; registration alone attaches
//! no credential.

use std::time::{Duration, Instant};

use entra_appreg::Graph;
use entra_appreg::auth::StaticToken;
use entra_appreg::fake::{FakeGraph, RequestKind};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;

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
    let profiles = [
        PermissionProfile::BackupExchange,
        PermissionProfile::BackupSharePoint,
        PermissionProfile::MigrationSource,
        PermissionProfile::MigrationTarget {
            create_mailboxes: false,
        },
        PermissionProfile::MigrationTarget {
            create_mailboxes: true,
        },
    ];
    let mut rows = Vec::new();
    for profile in profiles {
        let fake = FakeGraph::start().await;
        fake.set_latency(LATENCY);
        let graph = Graph::builder()
            .tenant(fake.tenant_id().to_string())
            .graph_root(fake.graph_root().as_str())
            .login_root(fake.login_root().as_str())
            .token_provider(StaticToken::new(fake.admin_token()))
            .build()?;
        let name = profile_name(&profile);
        let registration = AppRegistration::new("Contoso Backup", profile)?;

        let (first, row) = measure(&fake, &graph, &registration, &name, "fresh", 4).await?;
        rows.push(row);
        let (_, row) = measure(&fake, &graph, &registration, &name, "matching", 2).await?;
        rows.push(row);
        let known = registration.clone().with_client_id(first.client_id);
        let (_, row) =
            measure(&fake, &graph, &known, &name, "matching, client id known", 1).await?;
        rows.push(row);
    }
    print_table(&rows);
    Ok(())
}

async fn measure(
    fake: &FakeGraph,
    graph: &Graph,
    registration: &AppRegistration,
    profile: &str,
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
    let writes = log
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("$batch"))
        .count();
    let row = Row {
        profile: profile.to_owned(),
        credential: "none",
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
