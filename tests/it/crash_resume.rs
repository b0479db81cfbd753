//! Crash and resume: the run is stopped after its k-th Graph request (the `apply` future is
//! dropped, as a killed installer's would be), then run again with a fresh client. The tenant
//! converges: exactly one app, one service principal, each grant exactly once; with a
//! credential, the only crate-created one is the one the caller holds.

use std::sync::Arc;
use std::time::Duration;

use crate::common::faulty::KillSwitch;
use crate::common::tenant::{
    AdminCredentials, Held, all_profiles, check_converged, check_credentials, check_no_duplicates,
    check_result, graph_over, label, registration, reqwest_transport,
    seed_app_with_admin_credentials,
};
use entra_appreg::credentials::{
    Certificate, FileJournal, IssuedCredential, NewCredential, SecretJournal, SecretOptions,
};
use entra_appreg::profile::{PermissionProfile, catalog};
use entra_appreg::transport::GraphTransport;
use entra_appreg_fake::FakeGraph;
use futures::StreamExt;

/// How a killed run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Killed {
    /// Stopped before its next request.
    Stopped,
    /// It needed no more requests than it was allowed, and finished.
    Finished,
}

/// Runs `apply` letting `allowed` Graph requests through, and drops it at the next one.
async fn run_killed_after(
    fake: &FakeGraph,
    profile: &PermissionProfile,
    allowed: u64,
    base: &Arc<dyn GraphTransport>,
) -> Result<Killed, String> {
    let (switch, killed) = KillSwitch::new(base.clone(), allowed);
    let (graph, _) = graph_over(fake, Arc::new(switch));
    let reg = registration(profile);
    let outcome = tokio::select! {
        biased;
        _ = killed.notified() => Killed::Stopped,
        r = reg.apply(&graph) => {
            let app = r.map_err(|e| format!("a run that was not killed failed: {e}"))?;
            let converged = check_converged(fake, &reg)?;
            check_result(&app, &converged, &reg)?;
            Killed::Finished
        }
    };
    check_no_duplicates(fake).map_err(|e| format!("after the kill at {allowed}: {e}"))?;
    Ok(outcome)
}

/// Kills successive runs after the given numbers of requests, then runs to the end.
async fn crash_then_resume(
    profile: &PermissionProfile,
    fake: &FakeGraph,
    kills: &[u64],
    base: &Arc<dyn GraphTransport>,
) -> Result<Vec<Killed>, String> {
    let mut outcomes = Vec::new();
    for &allowed in kills {
        outcomes.push(run_killed_after(fake, profile, allowed, base).await?);
    }
    let reg = registration(profile);
    let (graph, _) = graph_over(fake, base.clone());
    let app = reg
        .apply(&graph)
        .await
        .map_err(|e| format!("the resumed run failed: {e}"))?;
    let converged = check_converged(fake, &reg).map_err(|e| format!("resumed: {e}"))?;
    check_result(&app, &converged, &reg).map_err(|e| format!("resumed: {e}"))?;
    // And once more: nothing left to do.
    let again = reg
        .apply(&graph)
        .await
        .map_err(|e| format!("the run after resuming failed: {e}"))?;
    if !again.changes.is_empty() || again.graph_requests > 2 {
        return Err(format!(
            "a converged tenant still had changes: {:?} in {} requests",
            again.changes, again.graph_requests
        ));
    }
    Ok(outcomes)
}

fn report(what: &str, results: &[(String, Result<Vec<Killed>, String>)]) -> usize {
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(case, r)| r.as_ref().err().map(|e| format!("{case}: {e}")))
        .collect();
    let stopped = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .filter(|k| **k == Killed::Stopped)
        .count();
    eprintln!(
        "{what}: {} cases, {stopped} runs killed mid-flow, {} failed",
        results.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    stopped
}

/// The round trips of a fresh registration, for every profile.
const FRESH_ROUND_TRIPS: u64 = 4;

#[tokio::test]
async fn a_run_killed_after_any_request_is_completed_by_the_next_run() {
    let base = reqwest_transport();
    let mut cases = Vec::new();
    for profile in all_profiles() {
        for allowed in 0..=FRESH_ROUND_TRIPS {
            cases.push((profile.clone(), false, vec![allowed]));
        }
    }
    // A tenant without Exchange's service principal: the flow creates it too.
    for allowed in 0..=FRESH_ROUND_TRIPS {
        cases.push((PermissionProfile::BackupExchange, true, vec![allowed]));
    }
    let results: Vec<_> = futures::stream::iter(cases)
        .map(|(profile, no_exchange, kills)| {
            let base = base.clone();
            async move {
                let fake = FakeGraph::start().await;
                if no_exchange {
                    fake.remove_resource_service_principal(catalog::EXCHANGE_ONLINE.app_id);
                }
                let r = crash_then_resume(&profile, &fake, &kills, &base).await;
                let name = format!(
                    "{}{} killed after {kills:?}",
                    label(&profile),
                    if no_exchange { " (no Exchange SP)" } else { "" }
                );
                (name, r)
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    let stopped = report("crash points", &results);
    assert_eq!(results.len(), 6 * 5);
    // Every kill point short of the end really stopped a run mid-flow.
    assert_eq!(stopped, 6 * 4);
}

#[tokio::test]
async fn two_successive_kills_at_every_pair_of_points_still_converge() {
    let base = reqwest_transport();
    let mut cases = Vec::new();
    for profile in [
        PermissionProfile::BackupExchange,
        PermissionProfile::BackupSharePoint,
    ] {
        for first in 1..FRESH_ROUND_TRIPS {
            // The second run starts from a partial tenant and needs at most four round trips.
            for second in 0..=4 {
                cases.push((profile.clone(), vec![first, second]));
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(cases)
        .map(|(profile, kills)| {
            let base = base.clone();
            async move {
                let fake = FakeGraph::start().await;
                let r = crash_then_resume(&profile, &fake, &kills, &base).await;
                (format!("{} killed after {kills:?}", label(&profile)), r)
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    report("double crash points", &results);
    assert_eq!(results.len(), 2 * 3 * 5);
}

/// Kills a run after `allowed` requests while Entra lags `lag` requests behind, then re-runs
/// until the tenant converges (at most `max_runs` runs). Every failed re-run must be a typed
/// Graph error and leave nothing duplicated. Returns how many re-runs it took.
async fn resume_under_lag(
    lag: u32,
    allowed: u64,
    max_runs: usize,
    base: &Arc<dyn GraphTransport>,
) -> Result<usize, String> {
    let profile = PermissionProfile::BackupExchange;
    let fake = FakeGraph::start().await;
    fake.set_replication_lag(lag);
    run_killed_after(&fake, &profile, allowed, base).await?;
    let reg = registration(&profile);
    let mut errors = Vec::new();
    for run in 1..=max_runs {
        let (graph, _) = graph_over(&fake, base.clone());
        match reg.apply(&graph).await {
            Ok(app) => {
                let converged = check_converged(&fake, &reg)?;
                check_result(&app, &converged, &reg)?;
                return Ok(run);
            }
            Err(e @ entra_appreg::Error::Graph(_)) => {
                check_no_duplicates(&fake)?;
                errors.push(e.to_string());
            }
            Err(e) => return Err(format!("not a Graph error: {e:?}")),
        }
    }
    Err(format!("no convergence in {max_runs} runs: {errors:#?}"))
}

#[tokio::test]
async fn a_run_killed_while_replication_lags_converges_over_reruns() {
    // Entra has not replicated what the killed run created when the next run starts: re-runs
    // may fail (typed, nothing duplicated), and the tenant converges within a few of them.
    let base = reqwest_transport();
    let mut results = Vec::new();
    let mut reruns = Vec::new();
    for lag in 1..=3 {
        for allowed in 1..FRESH_ROUND_TRIPS {
            let r = resume_under_lag(lag, allowed, 4, &base).await;
            if let Ok(n) = &r {
                reruns.push(*n);
            }
            results.push((
                format!("lag {lag}, killed after {allowed}"),
                r.map(|_| vec![Killed::Stopped]),
            ));
        }
    }
    report("crash points with replication lag", &results);
    eprintln!("runs needed after the kill: {reruns:?}");
}

#[tokio::test]
async fn a_run_killed_while_replication_lags_is_completed_by_the_next_run() {
    let base = reqwest_transport();
    let mut failures = Vec::new();
    for lag in 1..=3 {
        for allowed in 1..FRESH_ROUND_TRIPS {
            if let Err(e) = resume_under_lag(lag, allowed, 1, &base).await {
                failures.push(format!("lag {lag}, killed after {allowed}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_run_dropped_at_any_moment_with_requests_in_flight_is_completed_by_the_next_run() {
    // Wall-clock kills while replies are delayed: the future is dropped with a request in
    // flight, after the fake has acted on it but before its reply arrives.
    let base = reqwest_transport();
    let mut results = Vec::new();
    for profile in [
        PermissionProfile::BackupSharePoint,
        PermissionProfile::MigrationTarget {
            create_mailboxes: true,
        },
    ] {
        for millis in (0..=39).step_by(3) {
            let fake = FakeGraph::start().await;
            fake.set_latency(Duration::from_millis(5));
            let reg = registration(&profile);
            let (graph, _) = graph_over(&fake, base.clone());
            let killed =
                tokio::time::timeout(Duration::from_millis(millis), reg.apply(&graph)).await;
            let stopped = killed.is_err();
            fake.set_latency(Duration::ZERO);
            let r = async {
                check_no_duplicates(&fake)?;
                let (graph, _) = graph_over(&fake, base.clone());
                let app = reg
                    .apply(&graph)
                    .await
                    .map_err(|e| format!("the resumed run failed: {e}"))?;
                let converged = check_converged(&fake, &reg)?;
                check_result(&app, &converged, &reg)?;
                Ok(vec![if stopped {
                    Killed::Stopped
                } else {
                    Killed::Finished
                }])
            }
            .await;
            results.push((format!("{} dropped after {millis} ms", label(&profile)), r));
        }
    }
    let stopped = report("in-flight drops", &results);
    assert!(stopped >= 10, "only {stopped} runs were dropped mid-flow");
}

/// The credential a crash case attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    Certificate,
    Secret,
}

/// Kills a run with a credential after `allowed` Graph requests, then runs again with
/// `retire_previous_credentials(true)`: one app, grants once, and the only crate-created
/// credential is the one the caller holds (its certificate, or the secret the last run
/// returned); the admin's credentials, when seeded, are untouched.
async fn credential_crash_then_resume(
    cred: Cred,
    admin: Option<&AdminCredentials>,
    cert: &Certificate,
    allowed: u64,
    base: &Arc<dyn GraphTransport>,
) -> Result<Killed, String> {
    let fake = FakeGraph::start().await;
    if let Some(a) = admin {
        seed_app_with_admin_credentials(&fake, a);
    }
    let reg = {
        let reg = registration(&PermissionProfile::BackupExchange);
        match cred {
            Cred::Certificate => {
                reg.with_credential(NewCredential::Certificate(Box::new(cert.clone())))
            }
            Cred::Secret => reg.with_credential(NewCredential::Secret(SecretOptions::default())),
        }
        .retire_previous_credentials(true)
    };
    let (switch, killed) = KillSwitch::new(base.clone(), allowed);
    let (graph, _) = graph_over(&fake, Arc::new(switch));
    let outcome = tokio::select! {
        biased;
        _ = killed.notified() => Killed::Stopped,
        r = reg.apply(&graph) => {
            let _ = r.map_err(|e| format!("a run that was not killed failed: {e}"))?;
            Killed::Finished
        }
    };
    check_no_duplicates(&fake).map_err(|e| format!("after the kill: {e}"))?;
    let (graph, _) = graph_over(&fake, base.clone());
    let app = reg
        .apply(&graph)
        .await
        .map_err(|e| format!("the resumed run failed: {e}"))?;
    let converged = check_converged(&fake, &reg).map_err(|e| format!("resumed: {e}"))?;
    check_result(&app, &converged, &reg).map_err(|e| format!("resumed: {e}"))?;
    if app
        .warnings
        .iter()
        .any(|w| w.code == "older_credentials_not_retired")
    {
        return Err(format!("resumed: {:?}", app.warnings));
    }
    let held = match (cred, &app.credential) {
        (Cred::Certificate, Some(IssuedCredential::Certificate { thumbprint, .. }))
            if thumbprint == cert.thumbprint() =>
        {
            Held::Certificate(cert)
        }
        (Cred::Secret, Some(IssuedCredential::Secret(s))) => Held::Secret(s),
        (_, other) => return Err(format!("the resumed run's credential: {other:?}")),
    };
    check_credentials(&fake, held, admin).map_err(|e| format!("resumed: {e}"))?;
    Ok(outcome)
}

/// Round trips of a registration with a credential: 4 on a fresh tenant; on an existing app,
/// 2 reads, the update batch and the grants.
const CREDENTIAL_ROUND_TRIPS: u64 = 4;

#[tokio::test]
async fn a_run_with_a_credential_killed_after_any_request_leaves_only_the_credential_held() {
    let base = reqwest_transport();
    let cert = Certificate::generate("Contoso Backup", 365).unwrap();
    let admin = AdminCredentials::new(&Certificate::generate("Admin", 365).unwrap());
    let mut cases = Vec::new();
    for cred in [Cred::Certificate, Cred::Secret] {
        for seeded in [false, true] {
            for allowed in 0..=CREDENTIAL_ROUND_TRIPS {
                cases.push((cred, seeded, allowed));
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(cases)
        .map(|(cred, seeded, allowed)| {
            let (base, cert, admin) = (base.clone(), &cert, &admin);
            async move {
                let r = credential_crash_then_resume(
                    cred,
                    seeded.then_some(admin),
                    cert,
                    allowed,
                    &base,
                )
                .await;
                let name = format!(
                    "Backup-Exchange with a {cred:?}{} killed after {allowed}",
                    if seeded {
                        " (existing app, admin credentials)"
                    } else {
                        ""
                    }
                );
                (name, r.map(|k| vec![k]))
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    let stopped = report("credential crash points", &results);
    assert_eq!(results.len(), 2 * 2 * 5);
    // Every kill short of the last round trip stopped a run mid-flow.
    assert_eq!(stopped, 2 * 2 * 4);
}

/// Kills a run creating a secret, with a journal, before or just after its `allowed + 1`-th
/// Graph request reached Graph (so also between `addPassword` being carried out and its reply),
/// then runs again with the same journal and no retirement asked: the only crate-created secret
/// left is the one the second run returns, and the admin's credentials are untouched.
async fn journal_crash_then_resume(
    admin: Option<&AdminCredentials>,
    allowed: u64,
    after_sending: bool,
    base: &Arc<dyn GraphTransport>,
) -> Result<Killed, String> {
    let fake = FakeGraph::start().await;
    if let Some(a) = admin {
        seed_app_with_admin_credentials(&fake, a);
    }
    let dir = std::env::temp_dir().join(format!("journal-{}", uuid::Uuid::new_v4()));
    let journal: Arc<dyn SecretJournal> = Arc::new(FileJournal::in_folder(&dir));
    let reg = registration(&PermissionProfile::BackupExchange)
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .with_journal(journal.clone());
    let (switch, killed) = if after_sending {
        KillSwitch::after_sending(base.clone(), allowed)
    } else {
        KillSwitch::new(base.clone(), allowed)
    };
    let (graph, _) = graph_over(&fake, Arc::new(switch));
    let outcome = tokio::select! {
        biased;
        _ = killed.notified() => Killed::Stopped,
        r = reg.apply(&graph) => {
            let _ = r.map_err(|e| format!("a run that was not killed failed: {e}"))?;
            Killed::Finished
        }
    };
    let (graph, _) = graph_over(&fake, base.clone());
    let app = reg
        .apply(&graph)
        .await
        .map_err(|e| format!("the resumed run failed: {e}"))?;
    let converged = check_converged(&fake, &reg).map_err(|e| format!("resumed: {e}"))?;
    check_result(&app, &converged, &reg).map_err(|e| format!("resumed: {e}"))?;
    let Some(IssuedCredential::Secret(held)) = &app.credential else {
        return Err(format!(
            "the resumed run's credential: {:?}",
            app.credential
        ));
    };
    check_credentials(&fake, Held::Secret(held), admin).map_err(|e| format!("resumed: {e}"))?;
    let unfinished = journal.unfinished().map_err(|e| e.to_string())?;
    if !unfinished.is_empty() {
        return Err(format!("the journal still holds {unfinished:?}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(outcome)
}

#[tokio::test]
async fn with_a_journal_a_run_killed_around_add_password_leaves_only_the_secret_held() {
    let base = reqwest_transport();
    let admin = AdminCredentials::new(&Certificate::generate("Admin", 365).unwrap());
    let mut cases = Vec::new();
    for seeded in [false, true] {
        for after_sending in [false, true] {
            for allowed in 0..CREDENTIAL_ROUND_TRIPS {
                cases.push((seeded, after_sending, allowed));
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(cases)
        .map(|(seeded, after_sending, allowed)| {
            let (base, admin) = (base.clone(), &admin);
            async move {
                let r = journal_crash_then_resume(
                    seeded.then_some(admin),
                    allowed,
                    after_sending,
                    &base,
                )
                .await;
                let name = format!(
                    "Backup-Exchange with a secret and a journal, killed {} request {}{}",
                    if after_sending {
                        "just after sending"
                    } else {
                        "before"
                    },
                    allowed + 1,
                    if seeded {
                        " (existing app, admin credentials)"
                    } else {
                        ""
                    }
                );
                (name, r.map(|k| vec![k]))
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    let stopped = report("journal crash points", &results);
    assert_eq!(results.len(), 2 * 2 * 4);
    assert_eq!(stopped, 2 * 2 * 4);
}

/// A journal that remembers which thread each call ran on.
#[derive(Default)]
struct ThreadJournal {
    intents: std::sync::Mutex<Vec<entra_appreg::credentials::SecretIntent>>,
    threads: std::sync::Mutex<Vec<std::thread::ThreadId>>,
}

impl entra_appreg::credentials::SecretJournal for ThreadJournal {
    fn record(&self, intent: &entra_appreg::credentials::SecretIntent) -> entra_appreg::Result<()> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.intents.lock().unwrap().push(intent.clone());
        Ok(())
    }
    fn mark_done(&self, marker: &str) -> entra_appreg::Result<()> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        for i in self.intents.lock().unwrap().iter_mut() {
            if i.marker == marker {
                i.done = true;
            }
        }
        Ok(())
    }
    fn unfinished(&self) -> entra_appreg::Result<Vec<entra_appreg::credentials::SecretIntent>> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        Ok(self
            .intents
            .lock()
            .unwrap()
            .iter()
            .filter(|i| !i.done)
            .cloned()
            .collect())
    }
    fn forget(&self, marker: &str) -> entra_appreg::Result<()> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.intents.lock().unwrap().retain(|i| i.marker != marker);
        Ok(())
    }
}

/// The journal's calls (a file journal writes and fsyncs) run on tokio's blocking pool, never
/// on the thread that runs the registration: on a current-thread runtime, a blocked call would
/// stall every other task (a fleet's tenants).
#[tokio::test(flavor = "current_thread")]
async fn journal_calls_run_off_the_runtime_thread() {
    let fake = FakeGraph::start().await;
    let (graph, _) = crate::common::fake_graph(&fake);
    let journal = Arc::new(ThreadJournal::default());
    let app = registration(&PermissionProfile::BackupExchange)
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .with_journal(journal.clone())
        .apply(&graph)
        .await
        .unwrap();
    assert!(app.is_complete());
    let here = std::thread::current().id();
    let threads = journal.threads.lock().unwrap().clone();
    // unfinished (before the run), record (before addPassword), mark_done (handed over).
    assert!(threads.len() >= 3, "{threads:?}");
    assert!(
        threads.iter().all(|t| *t != here),
        "{threads:?} on {here:?}"
    );
    assert!(journal.intents.lock().unwrap().iter().all(|i| i.done));
}

/// A journal file that is not trusted (open to other users: planted, or copied carelessly)
/// stops the run before any request, as the input error it is.
#[cfg(unix)]
#[tokio::test]
async fn an_untrusted_journal_stops_the_run_before_any_request() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeGraph::start().await;
    let (graph, _) = crate::common::fake_graph(&fake);
    let dir = tempdir("untrusted-journal");
    let journal = FileJournal::in_folder(&dir);
    std::fs::write(journal.path(), b"[]").unwrap();
    std::fs::set_permissions(journal.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = registration(&PermissionProfile::BackupExchange)
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .with_journal(Arc::new(journal))
        .apply(&graph)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), entra_appreg::ErrorKind::InvalidInput, "{err:?}");
    assert!(err.to_string().contains(FileJournal::FILE_NAME), "{err}");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    // A rotation finds the app first: the journal is still checked before that read.
    let app = registration(&PermissionProfile::BackupExchange)
        .apply(&graph)
        .await
        .unwrap();
    fake.clear_requests();
    let err = registration(&PermissionProfile::BackupExchange)
        .with_journal(Arc::new(FileJournal::in_folder(&dir)))
        .rotate(
            &graph,
            NewCredential::Secret(SecretOptions::default()),
            &entra_appreg::registration::RotateOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), entra_appreg::ErrorKind::InvalidInput, "{err:?}");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert!(app.is_complete());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A journal file that turns untrusted once requests were sent (planted while the run went on)
/// stops the run before `addPassword`, and is not reported as input refused before any request.
#[cfg(unix)]
#[tokio::test]
async fn a_journal_planted_during_the_run_stops_it_before_add_password_as_a_precondition() {
    use std::os::unix::fs::PermissionsExt;
    struct PlantedAtRecord(FileJournal);
    impl SecretJournal for PlantedAtRecord {
        fn record(
            &self,
            intent: &entra_appreg::credentials::SecretIntent,
        ) -> entra_appreg::Result<()> {
            std::fs::write(self.0.path(), b"[]").unwrap();
            std::fs::set_permissions(self.0.path(), std::fs::Permissions::from_mode(0o666))
                .unwrap();
            self.0.record(intent)
        }
        fn mark_done(&self, marker: &str) -> entra_appreg::Result<()> {
            self.0.mark_done(marker)
        }
        fn unfinished(&self) -> entra_appreg::Result<Vec<entra_appreg::credentials::SecretIntent>> {
            self.0.unfinished()
        }
        fn forget(&self, marker: &str) -> entra_appreg::Result<()> {
            self.0.forget(marker)
        }
    }
    let fake = FakeGraph::start().await;
    let (graph, _) = crate::common::fake_graph(&fake);
    let dir = tempdir("planted-journal");
    let err = registration(&PermissionProfile::BackupExchange)
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .with_journal(Arc::new(PlantedAtRecord(FileJournal::in_folder(&dir))))
        .apply(&graph)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), entra_appreg::ErrorKind::Precondition, "{err:?}");
    assert!(!err.kind().nothing_sent());
    assert!(!fake.requests().is_empty());
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.path.contains("addPassword")),
        "{:?}",
        fake.requests()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A new folder only this user can open.
#[cfg(unix)]
fn tempdir(what: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("{what}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}
