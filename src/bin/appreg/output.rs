//! What the commands print: one JSON object on stdout with `--json`, a readable summary
//! otherwise.
//!
//! The JSON is the library's own serialisation of its results, with three additions: the
//! certificate's `files` inside `credential`, a new secret's value as `credential.secret` (the
//! one place it is ever printed), and `graph_requests` counted over the whole command.

use std::fmt::Write as _;

use entra_appreg::redact::for_terminal_line;

use entra_appreg::credentials::{CertificateFiles, ConnectionDetails, IssuedCredential};
use entra_appreg::registration::{
    Audit, ConsentStatus, ExistingApp, Plan, Readiness, RegisteredApp,
};
use entra_appreg::{ClientId, ObjectId, TenantId};
use serde_json::{Value, json};

/// A finished command: what goes to stdout, and the exit code.
pub struct Outcome {
    /// The `--json` object.
    pub json: Value,
    /// The summary for humans.
    pub human: String,
    /// 0, or 3 for a partial consent.
    pub exit_code: u8,
}

/// A credential as JSON: the library's fields, plus `files` for a certificate and the value
/// as `secret` for a secret.
pub fn credential_json(issued: &IssuedCredential, files: Option<&CertificateFiles>) -> Value {
    let mut v = serde_json::to_value(issued).unwrap_or_else(|_| json!({}));
    match issued {
        IssuedCredential::Secret(s) => v["secret"] = json!(s.secret.expose_secret()),
        _ => v["files"] = json!(files),
    }
    v
}

fn with(mut v: Value, extra: Value) -> Value {
    if let (Some(map), Value::Object(extra)) = (v.as_object_mut(), extra) {
        map.extend(extra);
    }
    v
}

/// The wizard block: exactly what to type into the product's connection wizard. A secret's
/// value is shown here, once, with a note saying so.
fn wizard(
    tenant_id: TenantId,
    client_id: ClientId,
    credential: Option<&IssuedCredential>,
    files: Option<&CertificateFiles>,
) -> String {
    let details = ConnectionDetails::new(tenant_id, client_id, credential.cloned(), files.cloned());
    let mut s = format!("\nType this into the product's connection wizard:\n{details}");
    if let Some(IssuedCredential::Secret(secret)) = credential {
        let _ = writeln!(
            s,
            "Client secret value:     {}",
            secret.secret.expose_secret()
        );
        s.push_str(
            "  (shown only this once: Entra never shows it again. Copy it into the product now.)\n",
        );
    }
    s
}

/// Where `--cert-store` put the certificate: the JSON's `certificate_store`.
#[derive(Debug, serde::Serialize)]
pub struct StoreReport {
    /// `CurrentUser\\My` or `LocalMachine\\My`.
    pub location: String,
    /// The thumbprint the product looks the certificate up by.
    pub thumbprint: entra_appreg::Thumbprint,
    /// `false` when an earlier run had imported it already.
    pub imported: bool,
    /// Retired certificates `rotate` removed from the store.
    pub removed: Vec<entra_appreg::Thumbprint>,
}

/// Adds `certificate_store` to the JSON, when `--cert-store` imported a certificate.
pub fn add_store(outcome: &mut Outcome, report: Option<&StoreReport>) {
    if let Some(report) = report {
        outcome.json["certificate_store"] = serde_json::to_value(report).unwrap_or(Value::Null);
    }
}

/// Adds whether the product can sign in now: `ready` in the JSON, a section in the summary,
/// and exit code 4 when it cannot (unless consent was already partial: 3 says more).
pub fn add_readiness(outcome: &mut Outcome, readiness: &Readiness) {
    outcome.json["ready"] = serde_json::to_value(readiness).unwrap_or(Value::Null);
    let _ = writeln!(
        outcome.human,
        "{}",
        if readiness.ready {
            "Sign-in checked: the product can connect now."
        } else {
            "Sign-in checked: the product CANNOT connect with every permission yet."
        }
    );
    outcome.human.push_str(&readiness.to_string());
    if !readiness.ready {
        outcome.human.push_str(
            "Entra may still be replicating: wait a few minutes and run `appreg audit` with the credential, or run this again.\n",
        );
        if outcome.exit_code == crate::exit::EXIT_OK {
            outcome.exit_code = crate::exit::EXIT_NOT_READY;
        }
    }
}

/// `register`.
pub fn registered(app: &RegisteredApp, files: Option<&CertificateFiles>, requests: u64) -> Outcome {
    let mut json = serde_json::to_value(app).unwrap_or_else(|_| json!({}));
    json["credential"] = app
        .credential
        .as_ref()
        .map_or(Value::Null, |c| credential_json(c, files));
    json["graph_requests"] = json!(requests);

    let mut h = String::new();
    let state = if app.created {
        "created"
    } else if app.changes.is_empty() {
        "already up to date"
    } else {
        "updated"
    };
    let _ = writeln!(
        h,
        "Registered \"{}\" in tenant {} ({state}).",
        app.display_name, app.tenant_id
    );
    let _ = writeln!(h, "  Unique name:           {}", app.unique_name);
    let _ = writeln!(h, "  Profile:               {}", app.profile);
    let _ = writeln!(h, "  Application object id: {}", app.application_object_id);
    let _ = writeln!(h, "  Service principal id:  {}", app.service_principal_id);
    let _ = writeln!(h, "Permissions (admin consent):");
    for p in &app.permissions {
        let mark = if p.granted {
            "granted    "
        } else {
            "NOT granted"
        };
        let _ = writeln!(h, "  {mark} {}", p.permission);
    }
    if !app.changes.is_empty() {
        let _ = writeln!(h, "Changes made:");
        for c in &app.changes {
            let _ = writeln!(h, "  + {c}");
        }
    }
    for k in &app.kept_permissions {
        let _ = writeln!(h, "  = kept {k} (declared outside the profile)");
    }
    for r in &app.retired_credentials {
        let _ = writeln!(h, "  - removed the older {r}");
    }
    let _ = writeln!(h, "Graph requests: {requests}");
    h.push_str(&wizard(
        app.tenant_id,
        app.client_id,
        app.credential.as_ref(),
        files,
    ));
    for w in app.warnings.iter().filter(|w| w.code == "ews_retirement") {
        let _ = writeln!(
            h,
            "Exchange Web Services — one more step for an administrator:"
        );
        for line in w.message.lines() {
            let _ = writeln!(h, "  {line}");
        }
    }
    let exit_code = match app.consent {
        ConsentStatus::Complete => crate::exit::EXIT_OK,
        _ => crate::exit::EXIT_PARTIAL,
    };
    Outcome {
        json,
        human: h,
        exit_code,
    }
}

/// `plan`.
pub fn plan(plan: &Plan, tenant_id: TenantId, requests: u64) -> Outcome {
    let json = with(
        serde_json::to_value(plan).unwrap_or_else(|_| json!({})),
        json!({
            "tenant_id": tenant_id,
            "up_to_date": plan.is_up_to_date(),
            "graph_requests": requests,
        }),
    );
    let human = format!("Tenant {tenant_id}\n{plan}Graph requests: {requests}\n");
    Outcome {
        json,
        human,
        exit_code: crate::exit::EXIT_OK,
    }
}

/// Adds a warning of the tool's own to the JSON's `warnings` and to the summary.
pub fn add_warning(outcome: &mut Outcome, code: &str, message: String) {
    let _ = writeln!(outcome.human, "warning: {message}");
    let warning = json!({ "code": code, "message": message });
    match outcome.json["warnings"].as_array_mut() {
        Some(warnings) => warnings.push(warning),
        None => outcome.json["warnings"] = json!([warning]),
    }
}

/// `audit`.
pub fn audit(
    audit: &Audit,
    tenant_id: TenantId,
    unique_name: &str,
    profile: &str,
    requests: u64,
) -> Outcome {
    let json = with(
        serde_json::to_value(audit).unwrap_or_else(|_| json!({})),
        json!({
            "tenant_id": tenant_id,
            "unique_name": unique_name,
            "profile": profile,
            "healthy": audit.is_healthy(),
            "graph_requests": requests,
        }),
    );
    let app = &audit.application;
    let mut h = String::new();
    let _ = writeln!(
        h,
        "Audit of \"{}\" (unique name {unique_name}) against {profile}, tenant {tenant_id}:",
        for_terminal_line(app.display_name.as_deref().unwrap_or(""))
    );
    let _ = writeln!(h, "  Application (client) id: {}", app.client_id);
    let _ = writeln!(h, "  Application object id:   {}", app.object_id);
    match app.service_principal_id {
        Some(sp) => {
            let _ = writeln!(h, "  Service principal id:    {sp}");
        }
        None => {
            let _ = writeln!(h, "  Service principal:       missing");
        }
    }
    if audit.missing.is_empty() {
        let _ = writeln!(h, "Permissions: all declared and granted.");
    } else {
        let _ = writeln!(h, "Missing (register would make these changes):");
        for c in &audit.missing {
            let _ = writeln!(h, "  + {c}");
        }
    }
    for k in &audit.extra_permissions {
        let _ = writeln!(h, "  = extra {k} (outside the profile)");
    }
    let _ = writeln!(h, "Credentials:");
    if audit.credentials.is_empty() {
        let _ = writeln!(h, "  none");
    }
    for c in &audit.credentials {
        let by = if c.created_by_crate {
            ""
        } else {
            " [not created by this tool]"
        };
        let _ = writeln!(h, "  {c}{by}");
    }
    for e in &audit.expiring {
        let _ = writeln!(h, "  ! {e}");
    }
    for c in &audit.orphaned_credentials {
        let _ = writeln!(
            h,
            "  - the next register here removes {c}: an earlier run created it but was stopped before handing it over"
        );
    }
    let _ = writeln!(
        h,
        "{}",
        if audit.is_healthy() {
            "Healthy: the app matches its profile and no credential expires soon."
        } else {
            "Needs attention: run register to add what is missing, rotate for expiring credentials."
        }
    );
    let _ = writeln!(h, "Graph requests: {requests}");
    Outcome {
        json,
        human: h,
        exit_code: crate::exit::EXIT_OK,
    }
}

/// `rotate`.
#[allow(clippy::too_many_arguments)]
pub fn rotated(
    rotation: &entra_appreg::credentials::Rotation,
    tenant_id: TenantId,
    client_id: ClientId,
    application_object_id: ObjectId,
    unique_name: &str,
    files: Option<&CertificateFiles>,
    requests: u64,
) -> Outcome {
    let json = json!({
        "tenant_id": tenant_id,
        "client_id": client_id,
        "application_object_id": application_object_id,
        "unique_name": unique_name,
        "credential": credential_json(&rotation.issued, files),
        "retired_credentials": rotation.removed,
        "graph_requests": requests,
    });
    let mut h = String::new();
    let _ = writeln!(
        h,
        "Added a new {} (key id {}) to the app with unique name {unique_name}.",
        rotation.issued.kind(),
        rotation.issued.key_id()
    );
    let ready = rotation.ready.as_ref().is_none_or(|r| r.ready);
    if !ready {
        let _ = writeln!(
            h,
            "The older credentials were KEPT: the product cannot sign in with the new one yet."
        );
    } else if rotation.removed.is_empty() {
        let _ = writeln!(h, "No older credential created by this tool was removed.");
    }
    for r in &rotation.removed {
        let _ = writeln!(h, "  - removed the older {r}");
    }
    let _ = writeln!(h, "Graph requests: {requests}");
    h.push_str(&wizard(tenant_id, client_id, Some(&rotation.issued), files));
    let mut outcome = Outcome {
        json,
        human: h,
        exit_code: crate::exit::EXIT_OK,
    };
    if let Some(readiness) = &rotation.ready {
        add_readiness(&mut outcome, readiness);
    }
    outcome
}

/// `remove`.
pub fn removed(
    removed: Option<&ExistingApp>,
    tenant_id: TenantId,
    unique_name: &str,
    requests: u64,
) -> Outcome {
    let json = json!({
        "tenant_id": tenant_id,
        "unique_name": unique_name,
        "removed": removed.is_some(),
        "application": removed,
        "graph_requests": requests,
    });
    let human = match removed {
        Some(app) => format!(
            "Deleted the app registration \"{}\" (client id {}, unique name {unique_name}) from tenant {tenant_id}. Entra keeps it in deleted items for 30 days.\nGraph requests: {requests}\n",
            for_terminal_line(app.display_name.as_deref().unwrap_or("")),
            app.client_id
        ),
        None => format!(
            "No app registration with unique name {unique_name} in tenant {tenant_id}: nothing to delete.\nGraph requests: {requests}\n"
        ),
    };
    Outcome {
        json,
        human,
        exit_code: crate::exit::EXIT_OK,
    }
}
