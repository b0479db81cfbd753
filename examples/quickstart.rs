//! Registers a Backup-Exchange app in an embedded fake tenant: sign in with the device code
//! flow, print the plan, apply it with a new certificate, print what the product's connection
//! wizard needs, apply it again (nothing to do), and print request counts.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Against a real tenant, drop the fake and its two URLs: the same code signs in at
//! login.microsoftonline.com and registers the app in Microsoft Graph.

use entra_appreg::Graph;
use entra_appreg::auth::DeviceCodeCredential;
use entra_appreg::credentials::{Certificate, NewCredential};
use entra_appreg::graph::GraphRequest;
use entra_appreg::graph::models::{Collection, ServicePrincipal};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg_fake::FakeGraph;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A fake Entra tenant on loopback: no network, no account needed.
    let fake = FakeGraph::start().await;
    println!(
        "Fake tenant {} ({}) at {}\n",
        fake.tenant_domain(),
        fake.tenant_id(),
        fake.uri()
    );

    // The admin signs in with the device code flow; the fake approves after one poll.
    let graph = Graph::builder()
        .tenant(fake.tenant_domain())
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(DeviceCodeCredential::new(|prompt| {
            println!("Sign-in: {}\n", prompt.message);
        }))
        .build()?;
    println!("Signed in to tenant {}\n", graph.tenant_id().await?);

    // The resource service principals the permissions belong to, in one request.
    let profile = PermissionProfile::BackupExchange;
    let ids: Vec<String> = profile
        .resource_app_ids()
        .iter()
        .map(|id| format!("'{id}'"))
        .collect();
    let request = GraphRequest::get("/servicePrincipals")
        .query("$filter", &format!("appId in ({})", ids.join(",")))
        .query("$select", "id,appId,displayName,appRoles");
    let found: Collection<ServicePrincipal> = graph.send_json(&request).await?;
    println!("Resource service principals in the tenant:");
    for sp in &found.value {
        let roles = sp.app_roles.as_ref().map_or(0, Vec::len);
        println!(
            "  {} (appId {}, {roles} app roles)",
            sp.display_name.as_deref().unwrap_or("?"),
            sp.app_id.map(|a| a.to_string()).unwrap_or_default()
        );
    }
    println!();

    let registration = AppRegistration::new("Contoso Backup for Microsoft 365", profile)?
        .on_progress(|event| eprintln!("  … {event}"));

    // The product signs in with a certificate: RSA 2048, SHA-256, valid for a year. (A real
    // installer writes it to disk first, with `Certificate::write_files`, so the key is never lost.)
    let certificate = Certificate::generate(registration.display_name(), 365)?;
    let with_certificate = registration
        .clone()
        .with_credential(NewCredential::Certificate(Box::new(certificate)));

    let plan = with_certificate.plan(&graph).await?;
    println!("{plan}");

    let before = graph.request_count();
    let app = with_certificate.apply(&graph).await?;
    println!(
        "Registered: client id {}, tenant {}, service principal {}",
        app.client_id, app.tenant_id, app.service_principal_id
    );
    for p in &app.permissions {
        println!(
            "  {} {}",
            if p.granted { "granted" } else { "NOT granted" },
            p.permission
        );
    }
    println!(
        "First apply: {} Graph requests ({} changes)\n",
        graph.request_count() - before,
        app.changes.len()
    );
    let details = app.connection_details(None);
    println!("Type this into the product's connection wizard:\n{details}");

    let again = registration.apply(&graph).await?;
    println!(
        "Second apply: {} changes, {} Graph requests, no writes",
        again.changes.len(),
        again.graph_requests
    );
    let known = registration
        .clone()
        .with_client_id(app.client_id)
        .apply(&graph)
        .await?;
    println!(
        "With the client id from the first run: {} Graph request(s)",
        known.graph_requests
    );
    Ok(())
}
