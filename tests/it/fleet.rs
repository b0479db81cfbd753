//! Fleet provisioning against several fake tenants: per-tenant results, a failing tenant that
//! does not stop the others, the in-flight bound, progress events and the throttle gate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::graph_round_trips;
use entra_appreg::Graph;
use entra_appreg::fleet::{Fleet, FleetEvent, FleetTenant, TenantError, ThrottleGate};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::{AppRegistration, ProgressEvent, Step};
use entra_appreg::retry::RecordingSleeper;
use entra_appreg_fake::{FakeGraph, Fault, FaultRule};

async fn fakes(n: usize) -> Vec<FakeGraph> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(FakeGraph::start().await);
    }
    out
}

/// A fleet tenant for a fake, labelled with its tenant id, whose client never really sleeps.
fn tenant(fake: &FakeGraph, sleeper: &RecordingSleeper) -> FleetTenant {
    FleetTenant::new(
        fake.tenant_id().to_string(),
        fake.graph_builder().sleeper(sleeper.clone()),
    )
}

fn tenants(fakes: &[FakeGraph], sleeper: &RecordingSleeper) -> Vec<FleetTenant> {
    fakes.iter().map(|f| tenant(f, sleeper)).collect()
}

fn registration() -> AppRegistration {
    AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange).unwrap()
}

fn recorder() -> (
    Arc<Mutex<Vec<FleetEvent>>>,
    impl Fn(&FleetEvent) + Send + Sync,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    (events, move |e: &FleetEvent| {
        sink.lock().unwrap().push(e.clone())
    })
}

#[tokio::test]
async fn every_tenant_is_registered_with_its_own_client_in_four_round_trips() {
    let fakes = fakes(4).await;
    let fleet = Fleet::builder().max_in_flight(2).build().unwrap();
    let report = fleet
        .register(
            tenants(&fakes, &RecordingSleeper::default()),
            &registration(),
        )
        .await;

    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(report.tenants.len(), 4);
    for (i, (outcome, fake)) in report.tenants.iter().zip(&fakes).enumerate() {
        assert_eq!(outcome.tenant.index, i);
        assert_eq!(&*outcome.tenant.label, fake.tenant_id().to_string());
        let app = outcome.result.as_ref().unwrap();
        assert_eq!(app.tenant_id, fake.tenant_id());
        assert!(app.created && app.is_complete());
        assert_eq!(outcome.graph_requests, 4);
        assert_eq!(graph_round_trips(fake).len(), 4);
        assert_eq!(fake.snapshot().applications.len(), 1);
    }
    assert_eq!(report.graph_requests(), 16);
}

#[tokio::test]
async fn a_tenant_that_refuses_app_creation_fails_alone() {
    let fakes = fakes(5).await;
    // The third tenant's admin may not create applications.
    fakes[2].inject_fault(
        FaultRule::new(Fault::Status {
            status: 403,
            retry_after: None,
        })
        .method("PATCH")
        .path_contains("/applications(uniqueName="),
    );
    let (events, on_event) = recorder();
    let fleet = Fleet::builder()
        .max_in_flight(2)
        .on_event(on_event)
        .build()
        .unwrap();
    let report = fleet
        .register(
            tenants(&fakes, &RecordingSleeper::default()),
            &registration(),
        )
        .await;

    assert_eq!((report.succeeded(), report.failed()), (4, 1));
    for (i, outcome) in report.tenants.iter().enumerate() {
        if i == 2 {
            let err = outcome.result.as_ref().unwrap_err();
            let TenantError::Failed(e) = err else {
                panic!("{err:?}")
            };
            assert_eq!(e.status(), Some(403), "{e}");
            assert!(fakes[i].snapshot().applications.is_empty());
        } else {
            assert!(outcome.result.as_ref().unwrap().is_complete());
            assert_eq!(fakes[i].snapshot().applications.len(), 1);
        }
    }
    let failed: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            FleetEvent::Finished {
                tenant,
                error: Some(error),
                ..
            } => Some((tenant.index, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, 2);
    assert!(failed[0].1.contains("403"), "{}", failed[0].1);
}

#[tokio::test]
async fn a_panicking_job_is_that_tenants_outcome_only() {
    let fakes = fakes(3).await;
    let fleet = Fleet::builder().max_in_flight(3).build().unwrap();
    let registration = registration();
    let report = fleet
        .run(tenants(&fakes, &RecordingSleeper::default()), |tenant| {
            let registration = tenant.registration(&registration);
            async move {
                if tenant.tenant().index == 1 {
                    panic!("boom in tenant 1");
                }
                registration.apply(tenant.graph()).await
            }
        })
        .await;
    assert_eq!(report.succeeded(), 2);
    match &report.tenants[1].result {
        Err(TenantError::Panicked(message)) => assert!(message.contains("boom")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn no_more_than_max_in_flight_tenants_run_at_once() {
    let fakes = fakes(9).await;
    for fake in &fakes {
        fake.set_latency(Duration::from_millis(20));
    }
    let fleet = Fleet::builder().max_in_flight(3).build().unwrap();
    let registration = registration();
    let now = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let report = fleet
        .run(tenants(&fakes, &RecordingSleeper::default()), |tenant| {
            let registration = tenant.registration(&registration);
            let (now, peak) = (&now, &peak);
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                let result = registration.apply(tenant.graph()).await;
                now.fetch_sub(1, Ordering::SeqCst);
                result
            }
        })
        .await;
    assert!(report.all_succeeded(), "{report:#?}");
    // Nine tenants of 4 × 20 ms each, three at a time: the bound is reached and never passed.
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(report.peak_in_flight, 3);
}

#[tokio::test]
async fn progress_events_name_their_tenant_and_come_between_started_and_finished() {
    let fakes = fakes(3).await;
    let (events, on_event) = recorder();
    let fleet = Fleet::builder()
        .max_in_flight(2)
        .on_event(on_event)
        .build()
        .unwrap();
    let report = fleet
        .register(
            tenants(&fakes, &RecordingSleeper::default()),
            &registration(),
        )
        .await;
    assert!(report.all_succeeded());

    let events = events.lock().unwrap().clone();
    for (i, fake) in fakes.iter().enumerate() {
        let mine: Vec<&FleetEvent> = events
            .iter()
            .filter(|e| e.tenant().is_some_and(|t| t.index == i))
            .collect();
        assert_eq!(
            &*mine[0].tenant().unwrap().label,
            fake.tenant_id().to_string()
        );
        assert!(matches!(mine[0], FleetEvent::Started { .. }), "{mine:#?}");
        assert!(
            matches!(
                mine.last().unwrap(),
                FleetEvent::Finished {
                    error: None,
                    graph_requests: 4,
                    ..
                }
            ),
            "{mine:#?}"
        );
        let steps: Vec<Step> = mine
            .iter()
            .filter_map(|e| match e {
                FleetEvent::Progress {
                    event: ProgressEvent::StepFinished { step },
                    ..
                } => Some(*step),
                _ => None,
            })
            .collect();
        assert_eq!(
            steps,
            [
                Step::ReadTenant,
                Step::WriteApplication,
                Step::CreateServicePrincipals,
                Step::GrantConsent
            ],
            "{mine:#?}"
        );
        assert!(
            mine[0]
                .to_string()
                .starts_with(&format!("[{}]", fake.tenant_id()))
        );
    }
}

#[tokio::test]
async fn two_throttled_tenants_hold_back_new_starts_until_their_retry_after_passes() {
    let fakes = fakes(4).await;
    // The first two tenants are throttled once each on their first round trip: one on the
    // `$batch` envelope, one on an item inside it.
    fakes[0].inject_fault(
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: Some(3),
        })
        .nth_request(1),
    );
    fakes[1].inject_fault(
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: Some(3),
        })
        .method("GET")
        .path_contains("/servicePrincipals"),
    );
    let (events, on_event) = recorder();
    let gate_sleeper = RecordingSleeper::default();
    let fleet = Fleet::builder()
        .max_in_flight(2)
        .sleeper(gate_sleeper.clone())
        .on_event(on_event)
        .build()
        .unwrap();
    let report = fleet
        .register(
            tenants(&fakes, &RecordingSleeper::default()),
            &registration(),
        )
        .await;
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(report.tenants[0].throttled, 1);
    assert_eq!(report.tenants[1].throttled, 1);
    assert_eq!(report.tenants[2].throttled, 0);

    // Both throttles were seen before either tenant finished, so the third tenant waited for
    // them: one pause of about 3 s, served before anything else started.
    assert_eq!(report.start_pauses, 1);
    let pauses = gate_sleeper.durations();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert!(
        pauses[0] > Duration::from_millis(2000) && pauses[0] <= Duration::from_secs(3),
        "{pauses:?}"
    );
    let events = events.lock().unwrap().clone();
    let paused = events
        .iter()
        .position(|e| {
            matches!(
                e,
                FleetEvent::StartsPaused {
                    throttled_tenants: 2,
                    ..
                }
            )
        })
        .expect("a pause event");
    let third_started = events
        .iter()
        .position(|e| matches!(e, FleetEvent::Started { tenant } if tenant.index == 2))
        .unwrap();
    assert!(paused < third_started);
    let throttled: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            FleetEvent::Throttled {
                tenant,
                retry_after,
            } => {
                assert_eq!(*retry_after, Duration::from_secs(3));
                Some(tenant.index)
            }
            _ => None,
        })
        .collect();
    assert_eq!(throttled.len(), 2);
}

#[tokio::test]
async fn one_throttled_tenant_does_not_hold_back_the_others_by_default() {
    let fakes = fakes(3).await;
    fakes[0].inject_fault(
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: Some(5),
        })
        .method("PATCH"),
    );
    let gate_sleeper = RecordingSleeper::default();
    let fleet = Fleet::builder()
        .max_in_flight(1)
        .sleeper(gate_sleeper.clone())
        .build()
        .unwrap();
    let report = fleet
        .register(
            tenants(&fakes, &RecordingSleeper::default()),
            &registration(),
        )
        .await;
    assert!(report.all_succeeded());
    assert_eq!(report.tenants[0].throttled, 1);
    assert_eq!(report.start_pauses, 0);
    assert!(gate_sleeper.durations().is_empty());

    // A stricter gate pauses for a single throttled tenant; `Off` never pauses.
    for (gate, pauses) in [
        (
            ThrottleGate::PauseStarts {
                tenants: 1,
                max_pause: Duration::from_secs(2),
            },
            1,
        ),
        (ThrottleGate::Off, 0),
    ] {
        let fakes = self::fakes(2).await;
        fakes[0].inject_fault(
            FaultRule::new(Fault::Status {
                status: 429,
                retry_after: Some(5),
            })
            .method("PATCH"),
        );
        let gate_sleeper = RecordingSleeper::default();
        let fleet = Fleet::builder()
            .max_in_flight(1)
            .throttle_gate(gate.clone())
            .sleeper(gate_sleeper.clone())
            .build()
            .unwrap();
        let report = fleet
            .register(
                tenants(&fakes, &RecordingSleeper::default()),
                &registration(),
            )
            .await;
        assert!(report.all_succeeded());
        assert_eq!(report.start_pauses, pauses, "{gate:?}");
        // max_pause caps a 5 s Retry-After at 2 s.
        assert!(
            gate_sleeper
                .durations()
                .iter()
                .all(|d| *d <= Duration::from_secs(2))
        );
    }
}

#[tokio::test]
async fn a_tenant_whose_client_cannot_be_built_fails_alone() {
    let fakes = fakes(1).await;
    let sleeper = RecordingSleeper::default();
    let broken = FleetTenant::new(
        "no sign-in configured",
        Graph::builder().tenant("contoso.onmicrosoft.com"),
    );
    let fleet = Fleet::builder().build().unwrap();
    let report = fleet
        .register(vec![broken, tenant(&fakes[0], &sleeper)], &registration())
        .await;
    assert_eq!((report.succeeded(), report.failed()), (1, 1));
    let err = report.tenants[0].result.as_ref().unwrap_err();
    assert!(
        err.as_error().is_some_and(|e| e.is_invalid_input()),
        "{err}"
    );
    assert_eq!(report.tenants[0].graph_requests, 0);
}

/// A tenant whose Graph never recovers stops at the fleet's per-tenant deadline, not at the
/// registration's own (longer) replication timeout; the other tenants are registered.
#[tokio::test]
async fn a_tenant_past_its_deadline_stops_there_and_the_others_finish() {
    let fakes = fakes(3).await;
    fakes[1].set_fault_every(Some((
        1,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    )));
    let sleepers: Vec<RecordingSleeper> = (0..3).map(|_| RecordingSleeper::default()).collect();
    let tenants: Vec<FleetTenant> = fakes
        .iter()
        .zip(&sleepers)
        .map(|(f, s)| tenant(f, s))
        .collect();
    let deadline = Duration::from_secs(20);
    let fleet = Fleet::builder().tenant_deadline(deadline).build().unwrap();
    let report = fleet.register(tenants, &registration()).await;

    assert_eq!((report.succeeded(), report.failed()), (2, 1));
    let TenantError::Failed(e) = report.tenants[1].result.as_ref().unwrap_err() else {
        panic!("{:?}", report.tenants[1].result.as_ref().err())
    };
    assert_eq!(e.status(), Some(503), "{e}");
    // Simulated time: the waits the tenant asked for end at its deadline (a wait that would
    // pass it is cut to it), far below the replication timeout of 2 minutes.
    let waited = sleepers[1].total();
    assert!(waited <= deadline, "{waited:?}");
    assert!(waited >= deadline / 2, "{waited:?}: stopped early");
}
