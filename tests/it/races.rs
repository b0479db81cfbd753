//! Races: several `apply` calls for the same unique name at once, each with its own client.
//! Whatever the interleaving — chosen request by request, by latency and start offsets, under
//! throttling, after a killed run — the tenant ends with one app, one service principal and
//! each grant once, and every run that succeeds reports that same app.

use std::sync::Arc;
use std::time::Duration;

use crate::common::faulty::{Interleaver, KillSwitch};
use crate::common::tenant::{
    check_converged, check_no_duplicates, check_result, graph_over, label, registration,
    reqwest_transport,
};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::RegisteredApp;
use entra_appreg::transport::GraphTransport;
use entra_appreg::{Error, Result};
use entra_appreg_fake::FakeGraph;
use futures::StreamExt;

const PROFILES: [PermissionProfile; 2] = [
    PermissionProfile::BackupExchange,
    PermissionProfile::BackupSharePoint,
];

/// Checks the tenant and the runs' results after a race. With `all_succeed`, every run must
/// succeed; otherwise runs may fail with a typed Graph error, as long as one succeeds.
fn check_race(
    fake: &FakeGraph,
    profile: &PermissionProfile,
    results: &[Result<RegisteredApp>],
    all_succeed: bool,
) -> std::result::Result<usize, String> {
    let reg = registration(profile);
    let converged = check_converged(fake, &reg)?;
    let mut failed = 0;
    for r in results {
        match r {
            Ok(app) => check_result(app, &converged, &reg)?,
            Err(e) if all_succeed => return Err(format!("a run failed: {e}")),
            Err(Error::Graph(_)) => failed += 1,
            Err(e) => return Err(format!("a run failed without a Graph error: {e:?}")),
        }
    }
    if failed == results.len() {
        return Err("every run failed".into());
    }
    Ok(failed)
}

/// Runs `runs` applies at once, their Graph requests sent in the order `pattern` gives.
async fn interleaved(
    fake: &FakeGraph,
    profile: &PermissionProfile,
    runs: usize,
    pattern: Vec<usize>,
    base: &Arc<dyn GraphTransport>,
) -> (Vec<Result<RegisteredApp>>, Vec<usize>) {
    let order = Interleaver::new(runs, pattern);
    let reg = registration(profile);
    let applies = (0..runs).map(|run| {
        let (graph, _) = graph_over(fake, Arc::new(order.transport(run, base.clone())));
        let reg = reg.clone();
        let order = order.clone();
        async move {
            let r = reg.apply(&graph).await;
            order.finish(run);
            r
        }
    });
    let results = futures::future::join_all(applies).await;
    (results, order.order())
}

fn summarise(what: &str, results: &[(String, std::result::Result<usize, String>)]) -> usize {
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(case, r)| r.as_ref().err().map(|e| format!("{case}: {e}")))
        .collect();
    let lost: usize = results.iter().filter_map(|(_, r)| r.as_ref().ok()).sum();
    eprintln!(
        "{what}: {} races, {lost} runs lost with a typed error, {} broke the promise",
        results.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    lost
}

/// Every order of 4 requests of one run among 4 of the other (a fresh registration is 4
/// round trips, and so is a run on a half-done tenant): the 70 distinct interleavings. Any
/// further request (a read-back after losing a race) goes as it comes.
fn two_run_patterns() -> Vec<Vec<usize>> {
    (0u32..256)
        .filter(|bits| bits.count_ones() == 4)
        .map(|bits| (0..8).map(|i| ((bits >> i) & 1) as usize).collect())
        .collect()
}

#[tokio::test]
async fn every_interleaving_of_two_runs_ends_with_one_app_and_each_grant_once() {
    let base = reqwest_transport();
    let mut cases = Vec::new();
    for profile in PROFILES {
        for pattern in two_run_patterns() {
            cases.push((profile.clone(), pattern));
        }
    }
    let results: Vec<_> = futures::stream::iter(cases)
        .map(|(profile, pattern)| {
            let base = base.clone();
            async move {
                let fake = FakeGraph::start().await;
                let (runs, order) = interleaved(&fake, &profile, 2, pattern, &base).await;
                let r = check_race(&fake, &profile, &runs, true);
                (format!("{} order {order:?}", label(&profile)), r)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    summarise("request-by-request interleavings", &results);
    assert_eq!(results.len(), 2 * 70);
}

#[tokio::test]
async fn two_runs_racing_on_an_app_a_killed_run_left_half_done_converge() {
    // The killed run created the app (2 requests) or also its service principal (3).
    let base = reqwest_transport();
    let mut cases = Vec::new();
    for profile in PROFILES {
        for allowed in [2, 3] {
            for pattern in two_run_patterns() {
                cases.push((profile.clone(), allowed, pattern));
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(cases)
        .map(|(profile, allowed, pattern)| {
            let base = base.clone();
            async move {
                let fake = FakeGraph::start().await;
                let (switch, killed) = KillSwitch::new(base.clone(), allowed);
                let (graph, _) = graph_over(&fake, Arc::new(switch));
                let reg = registration(&profile);
                tokio::select! {
                    _ = killed.notified() => {}
                    r = reg.apply(&graph) => panic!("the run was not killed: {r:?}"),
                }
                let (runs, order) = interleaved(&fake, &profile, 2, pattern, &base).await;
                let r = check_race(&fake, &profile, &runs, true);
                (
                    format!(
                        "{} killed after {allowed}, then order {order:?}",
                        label(&profile)
                    ),
                    r,
                )
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    summarise("races after a killed run", &results);
    assert_eq!(results.len(), 2 * 2 * 70);
}

#[tokio::test]
async fn three_runs_in_several_orders_end_with_one_app() {
    let base = reqwest_transport();
    let patterns: Vec<Vec<usize>> = vec![
        vec![0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2],
        vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2],
        vec![2, 1, 0, 2, 1, 0, 2, 1, 0],
        vec![0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0],
        vec![1, 1, 1, 0, 0, 0, 2, 2, 2],
        vec![0, 1, 1, 2, 2, 2, 0, 0, 0, 1],
    ];
    let mut results = Vec::new();
    for profile in PROFILES {
        for pattern in &patterns {
            let fake = FakeGraph::start().await;
            let (runs, order) = interleaved(&fake, &profile, 3, pattern.clone(), &base).await;
            let r = check_race(&fake, &profile, &runs, true);
            results.push((format!("{} order {order:?}", label(&profile)), r));
        }
    }
    summarise("three-run interleavings", &results);
}

/// Two runs at once, the second started `offset` later, every reply delayed by `latency`.
async fn race_with_timing(
    profile: &PermissionProfile,
    latency: Duration,
    offset: Duration,
    configure: impl Fn(&FakeGraph),
    base: &Arc<dyn GraphTransport>,
) -> (FakeGraph, Vec<Result<RegisteredApp>>) {
    let fake = FakeGraph::start().await;
    fake.set_latency(latency);
    configure(&fake);
    let reg = registration(profile);
    let (a, _) = graph_over(&fake, base.clone());
    let (b, _) = graph_over(&fake, base.clone());
    let (ra, rb) = tokio::join!(reg.apply(&a), async {
        tokio::time::sleep(offset).await;
        reg.apply(&b).await
    });
    fake.set_latency(Duration::ZERO);
    fake.set_throttle_every(None, 0);
    fake.set_unavailable_every(None);
    (fake, vec![ra, rb])
}

#[tokio::test]
async fn two_runs_with_latency_and_start_offsets_end_with_one_app_and_each_grant_once() {
    let base = reqwest_transport();
    let mut cases = Vec::new();
    for profile in PROFILES {
        for latency in [1, 4, 12] {
            for offset in [0, 1, 2, 5, 9, 14, 20, 30] {
                cases.push((profile.clone(), latency, offset));
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(cases)
        .map(|(profile, latency, offset)| {
            let base = base.clone();
            async move {
                let (fake, runs) = race_with_timing(
                    &profile,
                    Duration::from_millis(latency),
                    Duration::from_millis(offset),
                    |_| {},
                    &base,
                )
                .await;
                let r = check_race(&fake, &profile, &runs, true);
                (
                    format!(
                        "{} latency {latency} ms, offset {offset} ms",
                        label(&profile)
                    ),
                    r,
                )
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    summarise("timed races", &results);
}

#[tokio::test]
async fn two_runs_under_throttling_end_with_one_app_and_each_grant_once() {
    let base = reqwest_transport();
    let mut cases = Vec::new();
    for profile in PROFILES {
        for every in 2..=6 {
            for unavailable in [false, true] {
                for offset in [0, 3] {
                    cases.push((profile.clone(), every, unavailable, offset));
                }
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(cases)
        .map(|(profile, every, unavailable, offset)| {
            let base = base.clone();
            async move {
                let (fake, runs) = race_with_timing(
                    &profile,
                    Duration::from_millis(2),
                    Duration::from_millis(offset),
                    |f| {
                        if unavailable {
                            f.set_unavailable_every(Some(every));
                        } else {
                            f.set_throttle_every(Some(every), 1);
                        }
                    },
                    &base,
                )
                .await;
                // A run may give up on an item Graph throttled at every attempt (typed, after
                // the policy's attempts); the tenant is then completed by a later run.
                let r = async {
                    check_no_duplicates(&fake)?;
                    let mut lost = 0;
                    for run in &runs {
                        match run {
                            Ok(_) => {}
                            Err(e) if matches!(e.status(), Some(429 | 503)) => lost += 1,
                            Err(e) => return Err(format!("a run failed: {e}")),
                        }
                    }
                    let reg = registration(&profile);
                    let (graph, _) = graph_over(&fake, base.clone());
                    let again = reg
                        .apply(&graph)
                        .await
                        .map_err(|e| format!("the run after the race failed: {e}"))?;
                    let converged = check_converged(&fake, &reg)?;
                    check_result(&again, &converged, &reg)?;
                    for app in runs.iter().flatten() {
                        check_result(app, &converged, &reg)?;
                    }
                    Ok(lost)
                }
                .await;
                let what = if unavailable { "503" } else { "429" };
                (
                    format!(
                        "{} {what} every {every}, offset {offset} ms",
                        label(&profile)
                    ),
                    r,
                )
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    summarise("throttled races", &results);
}

#[tokio::test]
async fn two_runs_while_replication_lags_end_with_one_app_and_each_grant_once() {
    // The loser may fail (typed) when it meets the winner's app before Entra replicated it; the
    // tenant is still exact and a later run succeeds.
    let base = reqwest_transport();
    let mut results = Vec::new();
    for profile in PROFILES {
        for lag in 1..=3 {
            for bits in 0u32..16 {
                let pattern: Vec<usize> = (0..4).map(|i| ((bits >> i) & 1) as usize).collect();
                let fake = FakeGraph::start().await;
                fake.set_replication_lag(lag);
                let (runs, order) = interleaved(&fake, &profile, 2, pattern, &base).await;
                let r = check_race(&fake, &profile, &runs, false).and_then(|lost| {
                    check_no_duplicates(&fake)?;
                    Ok(lost)
                });
                results.push((format!("{} lag {lag}, order {order:?}", label(&profile)), r));
            }
        }
    }
    let lost = summarise("races under replication lag", &results);
    eprintln!("races under replication lag: {lost} losing runs failed with a typed error");
}

#[tokio::test]
async fn two_runs_while_replication_lags_both_succeed() {
    let base = reqwest_transport();
    let mut results = Vec::new();
    for profile in PROFILES {
        for lag in 1..=3 {
            for bits in 0u32..16 {
                let pattern: Vec<usize> = (0..4).map(|i| ((bits >> i) & 1) as usize).collect();
                let fake = FakeGraph::start().await;
                fake.set_replication_lag(lag);
                let (runs, order) = interleaved(&fake, &profile, 2, pattern, &base).await;
                let r = check_race(&fake, &profile, &runs, true);
                results.push((format!("{} lag {lag}, order {order:?}", label(&profile)), r));
            }
        }
    }
    summarise("races under replication lag, both succeeding", &results);
}

/// Two runs that add different certificates to the same app at once both end with their
/// certificate registered, in every order of their first five requests each: `keyCredentials`
/// is written whole, so a run whose list was replaced by the other's (written from a read
/// made before this run's write) finds out by reading it back, and adds its certificate again;
/// and a run that finds the app just created by the other waits for the creator's first write.
#[tokio::test]
async fn two_runs_adding_different_certificates_to_a_new_app_both_keep_theirs() {
    two_certificates_at_once(false).await;
}

/// The same on an app that exists (made by hand, with its audience set): neither run creates
/// it, both read its empty certificate list and write their own.
#[tokio::test]
async fn two_runs_adding_different_certificates_to_an_existing_app_both_keep_theirs() {
    two_certificates_at_once(true).await;
}

async fn two_certificates_at_once(existing: bool) {
    use entra_appreg::credentials::{Certificate, NewCredential};
    let certs = [
        Certificate::generate("Contoso Backup A", 30).unwrap(),
        Certificate::generate("Contoso Backup B", 30).unwrap(),
    ];
    let patterns: Vec<Vec<usize>> = (0u32..1024)
        .filter(|bits| bits.count_ones() == 5)
        .map(|bits| (0..10).map(|i| ((bits >> i) & 1) as usize).collect())
        .collect();
    let base = reqwest_transport();
    let profile = PermissionProfile::BackupExchange;
    let results: Vec<(Vec<usize>, String, std::result::Result<usize, String>)> =
        futures::stream::iter(patterns)
            .map(|pattern| {
                let (base, certs, profile) = (base.clone(), &certs, profile.clone());
                let pattern_of = pattern.clone();
                async move {
                    let fake = FakeGraph::start().await;
                    if existing {
                        let mut app = entra_appreg::graph::models::Application::default();
                        app.display_name = Some("Contoso Backup".into());
                        app.unique_name = Some("contoso-backup".into());
                        app.sign_in_audience = Some("AzureADMyOrg".into());
                        fake.seed_application(app);
                    }
                    let order = Interleaver::one_at_a_time(2, pattern);
                    let applies = (0..2).map(|run| {
                        // Waits pass at 1/200 of their length: a run that waits for another
                        // does so while the other's requests go on.
                        let graph = fake
                            .graph_builder()
                            .transport(Arc::new(order.transport(run, base.clone())))
                            .sleeper(Scaled)
                            .build()
                            .unwrap();
                        let reg = registration(&profile).with_credential(
                            NewCredential::Certificate(Box::new(certs[run].clone())),
                        );
                        let order = order.clone();
                        async move {
                            let r = reg.apply(&graph).await;
                            order.finish(run);
                            r
                        }
                    });
                    let runs = futures::future::join_all(applies).await;
                    let mut r = check_race(&fake, &profile, &runs, true);
                    if r.is_ok() {
                        let snap = fake.snapshot();
                        let keys = snap.applications[0]
                            .key_credentials
                            .clone()
                            .unwrap_or_default();
                        let held: Vec<bool> = certs
                            .iter()
                            .map(|c| {
                                keys.iter().any(|k| {
                                    k.key.as_deref().is_some_and(|b64| {
                                        use base64::Engine;
                                        base64::engine::general_purpose::STANDARD
                                            .decode(b64)
                                            .is_ok_and(|der| der == c.der())
                                    })
                                })
                            })
                            .collect();
                        if held != [true, true] || keys.len() != 2 {
                            r = Err(format!(
                                "the app holds {} keys; run A's kept: {}, run B's kept: {}",
                                keys.len(),
                                held[0],
                                held[1]
                            ));
                        }
                    }
                    (pattern_of, format!("order {:?}", order.order()), r)
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
    assert_eq!(results.len(), 252);
    // How far one run gets ahead of the other, in requests.
    let lead = |p: &[usize]| {
        p.iter()
            .scan(0i32, |d, r| {
                *d += if *r == 0 { 1 } else { -1 };
                Some(d.abs())
            })
            .max()
            .unwrap_or(0)
    };
    let (in_step, apart): (Vec<_>, Vec<_>) = results.into_iter().partition(|(p, _, _)| {
        // A new app: every order. An existing app: the orders where neither run gets two
        // requests ahead. Only a run that read the list before the other wrote it, and writes
        // its own after the other read it back, can replace it unseen (no `If-Match` on
        // applications is documented to stop it); the runs are then further apart.
        !existing || lead(p) <= 1
    });
    let strip = |v: Vec<(Vec<usize>, String, std::result::Result<usize, String>)>| {
        v.into_iter().map(|(_, l, r)| (l, r)).collect::<Vec<_>>()
    };
    let in_step = strip(in_step);
    summarise("two certificates at once, in step", &in_step);
    assert!(in_step.len() >= 32, "{} orders", in_step.len());
    let apart = strip(apart);
    let lost = apart.iter().filter(|(_, r)| r.is_err()).count();
    eprintln!(
        "two certificates at once, further apart: {lost} of {} orders lost one",
        apart.len()
    );
}

/// Sleeps for 1/200 of what it is asked: waits keep their order against requests in flight.
#[derive(Debug)]
struct Scaled;

impl entra_appreg::retry::Sleeper for Scaled {
    fn sleep(&self, duration: Duration) -> entra_appreg::retry::SleepFuture {
        Box::pin(tokio::time::sleep(duration / 200))
    }
}
