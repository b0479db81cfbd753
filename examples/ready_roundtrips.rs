//! Round trips and time from nothing to ready, per profile: the registration, then the sign-ins
//! as the new app until every resource accepts it with every granted role, against the fake
//! tenant with 100 ms of latency on every request and no replication lag.
//!
//! ```sh
//! cargo run --release --example ready_roundtrips
//! ```
//!
//! Graph requests and sign-in requests are counted on one timeline, by a transport that sees
//! them all: a request sent while another is in flight shares its round trip. The floor is the
//! registration's 4 round trips plus one wave of sign-ins (every resource at once): 5.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use entra_appreg::credentials::{Certificate, CredentialKind, NewCredential, SecretOptions};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::{AppRegistration, ReadyOptions};
use entra_appreg::transport::{GraphTransport, ReqwestTransport, TransportError};
use entra_appreg_fake::FakeGraph;

const LATENCY: Duration = Duration::from_millis(100);
const FLOOR: u64 = 5;

/// Counts round trips over every request it carries.
struct RoundTrips {
    inner: ReqwestTransport,
    in_flight: AtomicU64,
    round_trips: AtomicU64,
}

#[async_trait]
impl GraphTransport for RoundTrips {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.round_trips.fetch_add(1, Ordering::SeqCst);
        }
        let reply = self.inner.send(request).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        reply
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "Fake tenant, {} ms per request, no replication lag, release build\n",
        LATENCY.as_millis()
    );
    println!(
        "| profile | credential | round trips to register | round trips to ready (floor {FLOOR}) | time to register | time to ready |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for profile in PermissionProfile::built_in() {
        for kind in [CredentialKind::Certificate, CredentialKind::Secret] {
            if !profile.allows(kind) {
                continue;
            }
            let fake = FakeGraph::builder().latency(LATENCY).start().await;
            let counter = Arc::new(RoundTrips {
                inner: ReqwestTransport::new()?,
                in_flight: AtomicU64::new(0),
                round_trips: AtomicU64::new(0),
            });
            let graph = fake.graph_builder().transport(counter.clone()).build()?;
            let certificate = Certificate::generate("Contoso Backup", 365)?;
            let new = match kind {
                CredentialKind::Certificate => NewCredential::Certificate(Box::new(certificate)),
                _ => NewCredential::Secret(SecretOptions::default()),
            };
            let started = Instant::now();
            let app = AppRegistration::new("Contoso Backup", profile.clone())?
                .with_credential(new)
                .apply(&graph)
                .await?;
            let registered = (
                counter.round_trips.load(Ordering::SeqCst),
                started.elapsed(),
            );
            let ready = app
                .wait_until_ready(&graph, &ReadyOptions::default())
                .await?;
            assert!(ready.ready, "{ready}");
            let to_ready = (
                counter.round_trips.load(Ordering::SeqCst),
                started.elapsed(),
            );
            let mark = if to_ready.0 > FLOOR { " ⚠" } else { "" };
            println!(
                "| {} | {} | {} | {}{mark} | {:.0} ms | {:.0} ms |",
                profile_name(profile),
                kind,
                registered.0,
                to_ready.0,
                registered.1.as_secs_f64() * 1000.0,
                to_ready.1.as_secs_f64() * 1000.0,
            );
        }
    }
    Ok(())
}

fn profile_name(profile: &PermissionProfile) -> String {
    match profile {
        PermissionProfile::MigrationTarget {
            create_mailboxes: true,
        } => format!("{profile} (create mailboxes)"),
        _ => profile.to_string(),
    }
}
