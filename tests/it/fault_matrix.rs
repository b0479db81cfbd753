//! The fault matrix: a fresh registration with one fault injected at each Graph request of the
//! flow (and at each kind of item inside its `$batch` requests), for every profile.
//!
//! Each case must complete in the run the fault hit, with the exact expected tenant state: one
//! run is enough for every single transient fault (a lost reply is reconciled by reading the
//! tenant again; a lost `addPassword` by the run's marker, never by sending it again). No
//! application, service principal or grant is ever duplicated, and the one live crate-created
//! credential is the one the caller holds.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::common::faulty::{FaultyTransport, Hook, ItemMatch, LoginFault, WireFault};
use crate::common::tenant::{
    AdminCredentials, Held, all_profiles, check_converged, check_credentials, check_no_duplicates,
    check_result, graph_over, label, registration, reqwest_transport,
};
use entra_appreg::credentials::{
    CREATED_BY, Certificate, IssuedCredential, NewCredential, NewSecret, SecretOptions,
};
use entra_appreg::graph::models::{Application, PasswordCredential};
use entra_appreg::profile::{PermissionProfile, catalog};
use entra_appreg::registration::AppRegistration;
use entra_appreg::transport::GraphTransport;
use entra_appreg::{Error, UniqueName};
use entra_appreg_fake::{FakeGraph, Fault, FaultRule, RequestKind};
use futures::StreamExt;

/// The faults of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FaultKind {
    /// 429 with `Retry-After: 7`.
    Throttled,
    /// 503 without `Retry-After`.
    Unavailable,
    /// A connection reset before the request reached the server.
    ResetBeforeSend,
    /// A connection reset after the server acted on the request.
    ResetAfterServerActed,
    /// The server acted, then answered 500.
    ActedThen500,
    /// The server acted, then answered 503 (so the client retries a write that happened).
    ActedThen503,
    /// 404 `Request_ResourceNotFound`, as a replica that has not seen the object yet.
    Lag404,
    /// 400 "…does not reference a valid application object".
    Lag400,
}

impl FaultKind {
    const ALL: [FaultKind; 8] = [
        FaultKind::Throttled,
        FaultKind::Unavailable,
        FaultKind::ResetBeforeSend,
        FaultKind::ResetAfterServerActed,
        FaultKind::ActedThen500,
        FaultKind::ActedThen503,
        FaultKind::Lag404,
        FaultKind::Lag400,
    ];

    /// Whether the fault can hit one item of a `$batch` (a connection fails whole requests).
    fn applies_to_items(self) -> bool {
        !matches!(
            self,
            FaultKind::ResetBeforeSend | FaultKind::ResetAfterServerActed
        )
    }

    /// The status the fake logs when its fault rule fires.
    fn fake_status(self) -> Option<u16> {
        match self {
            FaultKind::Throttled => Some(429),
            FaultKind::Unavailable | FaultKind::ActedThen503 => Some(503),
            FaultKind::ActedThen500 => Some(500),
            FaultKind::Lag404 => Some(404),
            _ => None,
        }
    }

    fn fake_fault(self) -> Option<Fault> {
        Some(match self {
            FaultKind::Throttled => Fault::Status {
                status: 429,
                retry_after: Some(7),
            },
            FaultKind::Unavailable => Fault::Status {
                status: 503,
                retry_after: None,
            },
            FaultKind::ActedThen500 => Fault::ActThenFail { status: 500 },
            FaultKind::ActedThen503 => Fault::ActThenFail { status: 503 },
            FaultKind::Lag404 => Fault::ReplicationLag,
            _ => return None,
        })
    }
}

/// Where in request `k` the fault lands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// The whole HTTP request (for a `$batch`: the envelope).
    Request,
    /// The first item of the `$batch` with this method and path (relative to `/v1.0`). A service
    /// principal's id in the path is written `{sp:APPID}` and resolved when request `k` is sent,
    /// as it may not exist before the run creates it.
    Item { method: String, path: String },
}

/// The tenant the registration starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// A tenant with the first-party resource service principals and nothing else.
    Fresh,
    /// The same without Exchange Online's service principal, which the flow must create.
    NoExchange,
    /// The app exists, without permissions or service principal, holding a certificate and a
    /// secret an admin made by hand and an older crate-created credential of the kind the run
    /// attaches (which `retire_previous_credentials(true)` removes).
    Existing,
}

/// The credential a case attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cred {
    None,
    Certificate,
    Secret,
}

/// What every case of a test shares: the transport, and certificates generated once.
struct Ctx {
    base: Arc<dyn GraphTransport>,
    /// The caller's certificate.
    cert: Certificate,
    /// Credentials an admin made on the existing app.
    admin: AdminCredentials,
    /// A certificate an earlier run of the crate registered.
    older_cert: Certificate,
}

impl Ctx {
    fn new(base: Arc<dyn GraphTransport>) -> Self {
        let generate = || Certificate::generate("Contoso Backup", 365).expect("a certificate");
        Self {
            base,
            cert: generate(),
            admin: AdminCredentials::new(&generate()),
            older_cert: generate(),
        }
    }

    /// The registration of a case: every run of a credential case retires what earlier runs
    /// left behind.
    fn registration(&self, profile: &PermissionProfile, cred: Cred) -> AppRegistration {
        let reg = registration(profile);
        match cred {
            Cred::None => reg,
            Cred::Certificate => reg
                .with_credential(NewCredential::Certificate(Box::new(self.cert.clone())))
                .retire_previous_credentials(true),
            Cred::Secret => reg
                .with_credential(NewCredential::Secret(SecretOptions::default()))
                .retire_previous_credentials(true),
        }
    }

    fn admin(&self, start: Start) -> Option<&AdminCredentials> {
        (start == Start::Existing).then_some(&self.admin)
    }
}

impl Start {
    async fn tenant(self, cred: Cred, ctx: &Ctx) -> FakeGraph {
        let fake = FakeGraph::start().await;
        match self {
            Start::Fresh => {}
            Start::NoExchange => {
                fake.remove_resource_service_principal(catalog::EXCHANGE_ONLINE.app_id)
            }
            Start::Existing => {
                let mut keys = vec![ctx.admin.key.clone()];
                let mut secrets = vec![ctx.admin.secret.clone()];
                let now = time::OffsetDateTime::now_utc();
                match cred {
                    Cred::Certificate => keys.push(
                        ctx.older_cert
                            .key_credential(&format!("{CREATED_BY}: an earlier run")),
                    ),
                    Cred::Secret => secrets.push({
                        let mut v = PasswordCredential::default();
                        v.key_id = Some(entra_appreg::KeyId::from_uuid(uuid::Uuid::new_v4()));
                        v.display_name = Some(format!("{CREATED_BY}: client secret 2024-05-01"));
                        v.hint = Some("Old".into());
                        v.start_date_time = Some(now - time::Duration::days(300));
                        v.end_date_time = Some(now + time::Duration::days(430));
                        v
                    }),
                    Cred::None => {}
                }
                fake.seed_application({
                    let mut v = Application::default();
                    v.display_name = Some("Contoso Backup".into());
                    v.unique_name = Some(
                        UniqueName::derive_from_display_name("Contoso Backup")
                            .unwrap()
                            .to_string(),
                    );
                    v.sign_in_audience = Some("AzureADMyOrg".into());
                    v.key_credentials = Some(keys);
                    v.password_credentials = Some(secrets);
                    v
                });
            }
        }
        fake
    }
}

#[derive(Clone, Debug)]
struct Case {
    profile: PermissionProfile,
    start: Start,
    cred: Cred,
    k: u64,
    target: Target,
    fault: FaultKind,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:?}, credential {:?}) request {} {:?}: {:?}",
            label(&self.profile),
            self.start,
            self.cred,
            self.k,
            self.target,
            self.fault
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    CompletedFirstRun,
}

/// The Graph round trips of an unfaulted fresh registration, with the items of each `$batch`
/// (method and path relative to `/v1.0`), first of each kind only.
async fn baseline(
    profile: &PermissionProfile,
    start: Start,
    cred: Cred,
    ctx: &Ctx,
) -> Vec<(String, String, Vec<(String, String)>)> {
    let fake = start.tenant(cred, ctx).await;
    let (graph, _) = graph_over(&fake, ctx.base.clone());
    let reg = ctx.registration(profile, cred);
    let app = reg
        .apply(&graph)
        .await
        .expect("the unfaulted run completes");
    let converged = check_converged(&fake, &reg).expect("the unfaulted run converges");
    check_result(&app, &converged, &reg).expect("the unfaulted result is exact");
    check_held(&fake, cred, ctx, start, &app.credential, &[])
        .expect("the unfaulted run's credential is exact");
    let log: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::Graph)
        .collect();
    let snap = fake.snapshot();
    let sps = snap.service_principals;
    let apps = snap.applications;
    let strip = |p: &str| {
        let p = p.strip_prefix("/v1.0").unwrap_or(p);
        p.split('/')
            .map(|seg| {
                if apps
                    .iter()
                    .any(|a| a.id.is_some_and(|id| id.to_string() == seg))
                {
                    return "{app}".to_owned();
                }
                if let Some(app_id) = apps.iter().find_map(|a| a.app_id) {
                    let app_id = app_id.to_string();
                    if seg.contains(&app_id) {
                        return seg.replace(&app_id, "{appId}");
                    }
                }
                sps.iter()
                    .find(|sp| sp.id.is_some_and(|id| id.to_string() == seg))
                    .and_then(|sp| sp.app_id)
                    .map_or_else(|| seg.to_owned(), |a| format!("{{sp:{a}}}"))
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    log.iter()
        .filter(|r| r.batch.is_none())
        .map(|top| {
            let mut items: Vec<(String, String)> = Vec::new();
            for item in log.iter().filter(|r| r.batch == Some(top.seq)) {
                let key = (item.method.clone(), strip(&item.path));
                if !items.contains(&key) {
                    items.push(key);
                }
            }
            (top.method.clone(), strip(&top.path), items)
        })
        .collect()
}

/// Replaces each `{sp:APPID}` in `path` with the id that service principal has now, and
/// `{app}` with the application's object id.
fn resolve(fake: &FakeGraph, path: &str) -> String {
    let snap = fake.snapshot();
    let sps = snap.service_principals;
    path.split('/')
        .map(|seg| {
            if seg == "{app}" {
                return snap
                    .applications
                    .first()
                    .and_then(|a| a.id)
                    .map_or_else(|| seg.to_owned(), |id| id.to_string());
            }
            if let Some(app_id) = snap.applications.first().and_then(|a| a.app_id)
                && seg.contains("{appId}")
            {
                return seg.replace("{appId}", &app_id.to_string());
            }
            seg.strip_prefix("{sp:")
                .and_then(|rest| rest.strip_suffix('}'))
                .and_then(|app_id| {
                    sps.iter()
                        .find(|sp| sp.app_id.is_some_and(|a| a.to_string() == app_id))
                })
                .and_then(|sp| sp.id)
                .map_or_else(|| seg.to_owned(), |id| id.to_string())
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The credentials are exact after a successful run: the caller holds the only crate-created
/// one (its certificate, or the secret `issued`), and the admin's are untouched. `handed_back`:
/// secrets earlier failed runs returned inside `Error::CredentialNotRemoved`.
fn check_held(
    fake: &FakeGraph,
    cred: Cred,
    ctx: &Ctx,
    start: Start,
    issued: &Option<IssuedCredential>,
    handed_back: &[NewSecret],
) -> Result<(), String> {
    let admin = ctx.admin(start);
    match (cred, issued) {
        (Cred::None, None) => Ok(()),
        (Cred::Certificate, Some(IssuedCredential::Certificate { thumbprint, .. })) => {
            if thumbprint != ctx.cert.thumbprint() {
                return Err(format!(
                    "the result names another certificate: {thumbprint}"
                ));
            }
            check_credentials(fake, Held::Certificate(&ctx.cert), admin)
        }
        (Cred::Secret, Some(IssuedCredential::Secret(s))) => {
            check_credentials(fake, Held::Secret(s), admin)?;
            // A secret handed back by a failed run was retired by the run that succeeded.
            match handed_back.iter().find(|h| h.key_id != s.key_id) {
                Some(h)
                    if fake.snapshot().applications[0]
                        .password_credentials
                        .iter()
                        .flatten()
                        .any(|p| p.key_id == Some(h.key_id)) =>
                {
                    Err(format!("the handed-back secret {} is still live", h.key_id))
                }
                _ => Ok(()),
            }
        }
        (_, issued) => Err(format!("the result's credential: {issued:?}")),
    }
}

async fn run_case(case: &Case, ctx: &Ctx) -> Result<Outcome, String> {
    let base = &ctx.base;
    let fake = Arc::new(case.start.tenant(case.cred, ctx).await);
    let mut wire = None;
    let transport: Arc<dyn GraphTransport> = match case.fault.fake_fault() {
        Some(fault) => {
            let rule = FaultRule::new(fault).nth_request(case.k);
            match &case.target {
                Target::Request => {
                    fake.inject_fault(rule);
                    base.clone()
                }
                Target::Item { method, path } => {
                    let (fake, method, path) = (fake.clone(), method.clone(), path.clone());
                    Arc::new(Hook::new(base.clone(), case.k, move || {
                        let path = format!("/v1.0{}", resolve(&fake, &path));
                        fake.inject_fault(rule.clone().method(method.as_str()).path_contains(path));
                    }))
                }
            }
        }
        None => {
            let fault = match (case.fault, &case.target) {
                (FaultKind::ResetBeforeSend, _) => WireFault::ResetBeforeSend,
                (FaultKind::ResetAfterServerActed, _) => WireFault::ResetAfterServerActed,
                (FaultKind::Lag400, Target::Request) => WireFault::LagBadRequest { item: None },
                (FaultKind::Lag400, Target::Item { method, path }) => {
                    let (fake, method, path) = (fake.clone(), method.clone(), path.clone());
                    WireFault::LagBadRequest {
                        item: Some(ItemMatch::new(move |m, url| {
                            m == method
                                && url.split('?').next() == Some(resolve(&fake, &path).as_str())
                        })),
                    }
                }
                (other, _) => unreachable!("{other:?} is injected by the fake"),
            };
            let t = Arc::new(FaultyTransport::new(base.clone(), case.k, fault));
            wire = Some(t.clone());
            t
        }
    };
    let (graph, sleeper) = graph_over(&fake, transport);
    let reg = ctx.registration(&case.profile, case.cred);
    let first = reg.apply(&graph).await;

    // The fault must really have been injected, or the case proves nothing.
    let fired = match (&wire, case.fault.fake_status()) {
        (Some(t), _) => t.fired(),
        (None, Some(status)) => fake.requests().iter().any(|r| r.status == status),
        (None, None) => false,
    };
    if !fired {
        return Err("the fault was never injected".into());
    }
    check_no_duplicates(&fake).map_err(|e| format!("after the first run: {e}"))?;

    let outcome = match first {
        Ok(app) => {
            let converged = check_converged(&fake, &reg)?;
            check_result(&app, &converged, &reg)?;
            if case.fault == FaultKind::Throttled
                && !sleeper.durations().contains(&Duration::from_secs(7))
            {
                return Err(format!(
                    "Retry-After was not honoured: waits {:?}",
                    sleeper.durations()
                ));
            }
            if app
                .warnings
                .iter()
                .any(|w| w.code == "older_credentials_not_retired")
            {
                // The retirement of older credentials is part of the run: it absorbs the fault
                // too.
                return Err(format!(
                    "the retirement should have absorbed the fault: {:?}",
                    app.warnings
                ));
            }
            check_held(&fake, case.cred, ctx, case.start, &app.credential, &[])?;
            Outcome::CompletedFirstRun
        }
        Err(e) => return Err(format!("the client should have absorbed the fault: {e}")),
    };
    Ok(outcome)
}

/// Every case of the matrix for these starts: each round trip `k` of the unfaulted flow, each
/// fault on the whole request, and each item-level fault on each kind of item of a `$batch`.
async fn cases(starts: Vec<(PermissionProfile, Start, Cred)>, ctx: &Ctx) -> Vec<Case> {
    let mut out = Vec::new();
    for (profile, start, cred) in starts {
        let trips = baseline(&profile, start, cred, ctx).await;
        let expected = match (start, cred) {
            // Read, the app's keys and grants, its update with the service principal and the
            // secret, the grants; then retiring the older credential: read, remove.
            (Start::Existing, Cred::Certificate | Cred::Secret) => 6,
            _ => 4,
        };
        assert_eq!(trips.len(), expected, "{}: {trips:?}", label(&profile));
        for (i, (_, _, items)) in trips.iter().enumerate() {
            let k = i as u64 + 1;
            let mut targets = vec![Target::Request];
            targets.extend(items.iter().map(|(method, path)| Target::Item {
                method: method.clone(),
                path: path.clone(),
            }));
            for target in targets {
                for fault in FaultKind::ALL {
                    if target != Target::Request && !fault.applies_to_items() {
                        continue;
                    }
                    out.push(Case {
                        profile: profile.clone(),
                        start,
                        cred,
                        k,
                        target: target.clone(),
                        fault,
                    });
                }
            }
        }
    }
    out
}

/// Cases per profile: 4 round trips × 8 faults, plus 6 item faults per kind of batch item
/// (2 reads, the new app's collections, 1 service principal, 1 grant item per resource; for
/// SharePoint a third read, the organization, for its host).
const EXPECTED_CASES: usize = 68 // Backup-Exchange: grants on Exchange and Graph
    + 80 // Backup-SharePoint: grants on Exchange, Graph and SharePoint, and the organization
    + 68 // Migration-Source
    + 68 // Migration-Target
    + 68 // Migration-Target with mailbox creation
    + 68; // Backup-Exchange without Exchange's service principal

/// Runs every case, 6 at a time, and reports them; returns how many there were, after
/// asserting that each completed in the run its fault hit.
async fn run_matrix(what: &str, cases: Vec<Case>, ctx: &Ctx) -> usize {
    let results: Vec<(Case, Result<Outcome, String>)> = futures::stream::iter(cases)
        .map(|case| async move {
            let r = run_case(&case, ctx).await;
            (case, r)
        })
        .buffer_unordered(6)
        .collect()
        .await;

    if std::env::var_os("FAULT_MATRIX_DETAIL").is_some() {
        for (case, r) in &results {
            eprintln!("{case}: {r:?}");
        }
    }
    let mut per_fault: BTreeMap<FaultKind, BTreeMap<Outcome, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    for (case, r) in &results {
        match r {
            Ok(o) => {
                *per_fault
                    .entry(case.fault)
                    .or_default()
                    .entry(*o)
                    .or_default() += 1
            }
            Err(e) => failures.push(format!("{case}: {e}")),
        }
    }
    let first: usize = per_fault
        .values()
        .filter_map(|m| m.get(&Outcome::CompletedFirstRun))
        .sum();
    eprintln!(
        "{what}: {} cases, {first} completed in the run the fault hit, {} broke the promise; by fault: {per_fault:?}",
        results.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases broke the promise:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    assert_eq!(first, results.len());
    results.len()
}

#[tokio::test]
async fn every_fault_at_every_request_completes_in_the_run_it_hit() {
    let ctx = Ctx::new(reqwest_transport());
    let mut starts: Vec<(PermissionProfile, Start, Cred)> = all_profiles()
        .into_iter()
        .map(|p| (p, Start::Fresh, Cred::None))
        .collect();
    starts.push((
        PermissionProfile::BackupExchange,
        Start::NoExchange,
        Cred::None,
    ));
    let cases = cases(starts, &ctx).await;
    let n = run_matrix("fault matrix", cases, &ctx).await;
    assert_eq!(n, EXPECTED_CASES, "the matrix changed size");
}

/// Cases with a credential. On a fresh tenant the certificate rides with the new app's
/// collections and is read back in the grants' `$batch` (one more kind of item: 6 more cases),
/// the secret's `addPassword` in the service principal's `$batch` (one more kind of item: 6
/// more cases).
const EXPECTED_CREDENTIAL_CASES: usize = 74 // Backup-Exchange, certificate
    + 74 // Backup-Exchange, secret
    + 86 // Backup-SharePoint, certificate (with the organization read)
    + EXISTING_CERTIFICATE_CASES
    + EXISTING_SECRET_CASES;

/// Backup-Exchange on the existing app, with a certificate: 6 round trips (2 reads, the update
/// batch, the grants, then retiring the older certificate: read, PATCH) × 8 faults, plus 6 item
/// faults for each of 10 kinds of batch item (2 + 3 reads, the app's PATCH, the service
/// principal, 2 grants, the certificates' read-back).
const EXISTING_CERTIFICATE_CASES: usize = 6 * 8 + 10 * 6;
/// The same with a secret: the second read has no keys to read, no certificate is read back,
/// and the update batch carries `addPassword` (retiring ends with `removePassword`).
const EXISTING_SECRET_CASES: usize = 6 * 8 + 9 * 6;

#[tokio::test]
async fn with_a_certificate_or_a_secret_every_fault_leaves_exactly_the_credential_the_caller_holds()
{
    let ctx = Ctx::new(reqwest_transport());
    let starts = vec![
        (
            PermissionProfile::BackupExchange,
            Start::Fresh,
            Cred::Certificate,
        ),
        (
            PermissionProfile::BackupExchange,
            Start::Fresh,
            Cred::Secret,
        ),
        (
            PermissionProfile::BackupSharePoint,
            Start::Fresh,
            Cred::Certificate,
        ),
        (
            PermissionProfile::BackupExchange,
            Start::Existing,
            Cred::Certificate,
        ),
        (
            PermissionProfile::BackupExchange,
            Start::Existing,
            Cred::Secret,
        ),
    ];
    let cases = cases(starts, &ctx).await;
    let n = run_matrix("credential fault matrix", cases, &ctx).await;
    assert_eq!(n, EXPECTED_CREDENTIAL_CASES, "the matrix changed size");
}

/// Sign-in requests of a device-code sign-in that the fake approves after two polls: the
/// device-code request, two pending polls, the poll that gets the token.
const DEVICE_CODE_REQUESTS: u64 = 4;

#[tokio::test]
async fn a_reset_at_any_sign_in_request_is_retried_or_fails_typed_and_signing_in_again_works() {
    let base = reqwest_transport();
    let mut cases = 0;
    for nth in 1..=DEVICE_CODE_REQUESTS {
        for fault in [WireFault::ResetBeforeSend, WireFault::ResetAfterServerActed] {
            let fake = FakeGraph::builder()
                .device_code_polls_before_approval(2)
                .start()
                .await;
            let faulty = Arc::new(LoginFault::new(base.clone(), nth, fault.clone()));
            let device = |t: Arc<dyn GraphTransport>| {
                entra_appreg::Graph::builder()
                    .tenant(fake.tenant_domain())
                    .graph_root(fake.graph_root().as_str())
                    .login_root(fake.login_root().as_str())
                    .token_provider(entra_appreg::auth::DeviceCodeCredential::new(|_| {}))
                    .transport(t)
                    .sleeper(entra_appreg::retry::RecordingSleeper::default())
                    .build()
                    .unwrap()
            };
            let graph = device(faulty.clone());
            let r = graph.tenant_id().await;
            assert!(
                faulty.fired(),
                "request {nth} {fault:?}: the fault was not injected"
            );
            match (&fault, r) {
                (_, Ok(id)) => assert_eq!(id, fake.tenant_id()),
                (WireFault::ResetAfterServerActed, Err(Error::Transport(t)))
                    if t.may_have_reached_server() =>
                {
                    let again = device(base.clone()).tenant_id().await;
                    assert_eq!(
                        again.unwrap(),
                        fake.tenant_id(),
                        "request {nth}: signing in again"
                    );
                }
                (_, Err(e)) => panic!("request {nth} {fault:?}: {e}"),
            }
            cases += 1;
        }
    }
    eprintln!("sign-in faults: {cases} cases");
    assert_eq!(cases, 2 * DEVICE_CODE_REQUESTS);
}

/// Every fifth Graph request (a `$batch` item counts) fails: with a 503 Graph did not act on,
/// or one it did (a lost reply). A recovery pass sends as many requests as the last, so a count
/// of passes would let the fault land on `addPassword` every time. The run's budget is time: it
/// ends right, with exactly one new credential, the one the caller holds.
#[tokio::test]
async fn a_fault_every_fifth_request_still_converges_in_one_run() {
    use entra_appreg::credentials::{Certificate, NewCredential, SecretOptions};
    let faults = [
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::ActThenFail { status: 503 },
        Fault::ActThenFail { status: 500 },
    ];
    for fault in faults {
        for secret in [true, false] {
            for every in [4u32, 5, 6, 7] {
                let fake = FakeGraph::start().await;
                let (graph, sleeper) = crate::common::fake_graph(&fake);
                fake.set_fault_every(Some((every, fault.clone())));
                let credential = if secret {
                    NewCredential::Secret(SecretOptions::default())
                } else {
                    NewCredential::Certificate(Box::new(
                        Certificate::generate("Contoso Backup", 30).unwrap(),
                    ))
                };
                let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
                    .unwrap()
                    .with_credential(credential)
                    .apply(&graph)
                    .await
                    .unwrap_or_else(|e| panic!("{fault:?} every {every}, secret {secret}: {e}"));
                assert!(app.is_complete(), "every {every}");
                fake.set_fault_every(None);
                let stored = fake.snapshot().applications.remove(0);
                let secrets = stored.password_credentials.unwrap_or_default().len();
                let keys = stored.key_credentials.unwrap_or_default().len();
                assert_eq!(
                    (secrets, keys),
                    if secret { (1, 0) } else { (0, 1) },
                    "every {every}"
                );
                // Within the replication timeout, in simulated time.
                let slept: std::time::Duration = sleeper.durations().iter().sum();
                assert!(
                    slept <= AppRegistration::DEFAULT_REPLICATION_TIMEOUT,
                    "{slept:?}"
                );
            }
        }
    }
}

/// A fault that never ends stops the run once its time budget (the replication timeout) is
/// spent, with Graph's answer, and a fault that is not transient stops it at once.
#[tokio::test]
async fn a_fault_that_never_ends_stops_the_run_within_its_time_budget() {
    let budget = Duration::from_secs(20);
    let fake = FakeGraph::start().await;
    let (graph, sleeper) = crate::common::fake_graph(&fake);
    fake.set_fault_every(Some((
        1,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    )));
    let err = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_replication_timeout(budget)
        .apply(&graph)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    let slept: Duration = sleeper.durations().iter().sum();
    // Every wait of the run — recovery passes and each request's own retries — stays within
    // the budget.
    assert!(slept <= budget, "{slept:?}");
    assert!(slept >= budget / 2, "{slept:?}: the run gave up early");

    let fake = FakeGraph::start().await;
    let (graph, sleeper) = crate::common::fake_graph(&fake);
    fake.set_fault_every(Some((
        1,
        Fault::GraphError {
            status: 400,
            code: "Request_BadRequest".into(),
            message: "Invalid request.".into(),
        },
    )));
    let err = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .apply(&graph)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(sleeper.durations().is_empty(), "a 400 is not waited out");
}
