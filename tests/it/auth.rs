//! Sign-in: device code states, client secrets, token caching, tenant resolution, redaction.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common;
use crate::common::requests;
use crate::common::{Reply, fake_graph};
use entra_appreg::auth::{
    ClientSecret, ClientSecretCredential, DeviceCodeCredential, DeviceCodePrompt, StaticToken,
    TokenContext, TokenProvider,
};
use entra_appreg::graph::GraphRequest;
use entra_appreg::graph::models::{Application, Collection, ServicePrincipal};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg::retry::RecordingSleeper;
use entra_appreg::{Error, Graph};
use entra_appreg_fake::{FakeGraph, RequestKind};
use serde_json::json;

fn device_code_graph(
    fake: &FakeGraph,
    tenant: String,
) -> (Graph, RecordingSleeper, Arc<Mutex<Vec<DeviceCodePrompt>>>) {
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let seen = prompts.clone();
    let sleeper = RecordingSleeper::default();
    let graph = Graph::builder()
        .tenant(tenant)
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(DeviceCodeCredential::new(move |p| {
            seen.lock().unwrap().push(p.clone())
        }))
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    (graph, sleeper, prompts)
}

fn login_requests(fake: &FakeGraph) -> Vec<entra_appreg_fake::RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::Login)
        .collect()
}

#[tokio::test]
async fn device_code_polls_while_pending_then_signs_in_once() {
    let fake = FakeGraph::start().await;
    fake.set_device_code_polls_before_approval(3);
    let (graph, sleeper, prompts) = device_code_graph(&fake, fake.tenant_domain());
    // The tenant was named by domain: its GUID comes from the token.
    assert_eq!(graph.tenant_id().await.unwrap(), fake.tenant_id());
    let prompts = prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 1);
    assert!(prompts[0].message.contains(&prompts[0].user_code));
    assert_eq!(
        prompts[0].verification_uri,
        "https://microsoft.com/devicelogin"
    );
    // Three pending polls and the approving one, each after the 5 s interval.
    assert_eq!(sleeper.durations(), vec![Duration::from_secs(5); 4]);
    let logins = login_requests(&fake);
    assert!(logins[0].path.ends_with("/oauth2/v2.0/devicecode"));
    assert_eq!(logins.len(), 1 + 4);
    let scope = logins[0].body.as_ref().unwrap()["scope"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        scope.contains("https://graph.microsoft.com/Application.ReadWrite.All"),
        "{scope}"
    );
    assert!(scope.contains("https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All"));
    assert_eq!(
        logins[0].body.as_ref().unwrap()["client_id"],
        "14d82eec-204b-4c2f-b7e8-296a70dab67e"
    );

    // The token is cached: Graph calls sign in no more.
    for _ in 0..3 {
        graph
            .send(&GraphRequest::get("/applications"))
            .await
            .unwrap();
    }
    assert_eq!(login_requests(&fake).len(), 5);
}

#[tokio::test]
async fn concurrent_requests_share_one_sign_in() {
    let fake = FakeGraph::start().await;
    let (graph, _, prompts) = device_code_graph(&fake, fake.tenant_id().to_string());
    let reqs: Vec<_> = (0..5)
        .map(|_| {
            let g = graph.clone();
            tokio::spawn(async move { g.send(&GraphRequest::get("/applications")).await })
        })
        .collect();
    for r in reqs {
        r.await.unwrap().unwrap();
    }
    assert_eq!(prompts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn declined_sign_in_stops_with_the_aadsts_code() {
    let fake = FakeGraph::start().await;
    fake.decline_device_code(true);
    let (graph, _, _) = device_code_graph(&fake, fake.tenant_domain());
    let err = graph.tenant_id().await.unwrap_err();
    let Error::Auth(auth) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(auth.error, "authorization_declined");
    assert!(err.aadsts_code().is_some());
    assert!(err.correlation_id().is_some());
    let report = err.report().to_string();
    assert!(report.contains("approve"), "{report}");
    assert!(report.contains("correlation id"), "{report}");
    // Polling stopped at the decline.
    assert_eq!(login_requests(&fake).len(), 2);
}

#[tokio::test]
async fn slow_down_adds_five_seconds_and_expired_token_stops() {
    let code = json!({"device_code": "dc-secret", "user_code": "ABC", "verification_uri": "https://microsoft.com/devicelogin",
                      "expires_in": 900, "interval": 2, "message": "go"});
    let oauth = |e: &str| {
        Reply::json(
            400,
            json!({"error": e, "error_description": "AADSTS70016: pending", "error_codes": [70016]}),
        )
    };
    let run = |replies: Vec<Reply>| async {
        let transport = common::Scripted::new(replies);
        let sleeper = RecordingSleeper::default();
        let tenant: entra_appreg::Tenant = common::TENANT.parse().unwrap();
        let endpoints = entra_appreg::Endpoints::default()
            .with_login_root("http://127.0.0.1:9")
            .unwrap();
        let ctx = TokenContext::new(&transport, &endpoints, &tenant, &sleeper);
        let cred = DeviceCodeCredential::new(|_| {});
        let result = cred.token(&ctx).await;
        (result, sleeper.durations(), transport.seen())
    };
    let (ok, waits, _) = run(vec![
        Reply::json(200, code.clone()),
        oauth("authorization_pending"),
        oauth("slow_down"),
        Reply::json(
            200,
            json!({"access_token": "at", "expires_in": 3600, "token_type": "Bearer"}),
        ),
    ])
    .await;
    assert!(ok.is_ok());
    assert_eq!(waits, [2, 2, 7].map(Duration::from_secs));

    let (expired, _, seen) = run(vec![Reply::json(200, code), oauth("expired_token")]).await;
    let err = expired.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(seen.len(), 2);
    // The device code is a secret of the flow: never in the error.
    assert!(!format!("{err} {err:?}").contains("dc-secret"));
}

#[tokio::test]
async fn a_device_code_that_outlives_its_expiry_fails_without_polling_forever() {
    let code = json!({"device_code": "d", "user_code": "U", "verification_uri": "https://x", "expires_in": 10, "interval": 5});
    let pending = || Reply::json(400, json!({"error": "authorization_pending"}));
    let transport = common::Scripted::new(vec![
        Reply::json(200, code),
        pending(),
        pending(),
        pending(),
        pending(),
    ]);
    let sleeper = RecordingSleeper::default();
    let tenant: entra_appreg::Tenant = common::TENANT.parse().unwrap();
    let endpoints = entra_appreg::Endpoints::default();
    let ctx = TokenContext::new(&transport, &endpoints, &tenant, &sleeper);
    let err = DeviceCodeCredential::new(|_| {})
        .token(&ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(sleeper.total(), Duration::from_secs(10));
}

#[tokio::test]
async fn client_secret_signs_in_as_the_app_and_a_wrong_secret_names_aadsts7000215() {
    let fake = FakeGraph::start().await;
    let (admin, _) = fake_graph(&fake);
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .apply(&admin)
        .await
        .unwrap();
    let reply: serde_json::Value = admin
        .send_json(
            &requests::add_password(
                app.application_object_id,
                "test",
                time::OffsetDateTime::now_utc() + time::Duration::days(30),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let secret = reply["secretText"].as_str().unwrap().to_owned();

    let as_app = |secret: &str| {
        Graph::builder()
            .tenant(fake.tenant_id().to_string())
            .graph_root(fake.graph_root().as_str())
            .login_root(fake.login_root().as_str())
            .token_provider(ClientSecretCredential::new(
                app.client_id,
                ClientSecret::new(secret),
            ))
            .build()
            .unwrap()
    };
    let token = as_app(&secret).access_token().await.unwrap();
    let claims = token.claims().unwrap();
    assert_eq!(claims.tid, Some(fake.tenant_id()));
    let mut roles = claims.roles.clone();
    roles.sort();
    assert_eq!(
        roles,
        [
            "Directory.Read.All",
            "Group.Read.All",
            "MailboxSettings.ReadWrite",
            "User.Read.All"
        ]
    );

    let err = as_app("not-the-secret").access_token().await.unwrap_err();
    assert_eq!(err.aadsts_code(), Some(7_000_215));
    assert!(err.correlation_id().is_some());
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(&secret) && !shown.contains("not-the-secret"),
        "{shown}"
    );
    // The form with the secret went to the fake, and its log redacts it.
    let logged = serde_json::to_string(
        &fake
            .requests()
            .iter()
            .map(|r| r.body.clone())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!logged.contains(&secret));
}

#[tokio::test]
async fn unknown_tenant_and_unauthenticated_calls_are_typed_errors() {
    let fake = FakeGraph::start().await;
    let (graph, _, _) = device_code_graph(&fake, "nosuch.onmicrosoft.com".into());
    let err = graph.access_token().await.unwrap_err();
    assert_eq!(err.aadsts_code(), Some(90_002), "{err}");

    let stranger = Graph::builder()
        .tenant(fake.tenant_id().to_string())
        .graph_root(fake.graph_root().as_str())
        .token_provider(StaticToken::new("eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.c2ln"))
        .build()
        .unwrap();
    let err = stranger
        .send(&GraphRequest::get("/applications"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    let report = err.report().to_string();
    assert!(report.contains("sign in again"), "{report}");
    assert!(!report.contains("eyJ"));
}

#[tokio::test]
async fn debug_output_of_clients_and_credentials_shows_no_secret() {
    let fake = FakeGraph::start().await;
    let secret = "Qx8Q~very-secret-value";
    let token = fake.admin_token();
    let cred = ClientSecretCredential::new(
        fake.tenant_id().to_string().parse().unwrap(),
        ClientSecret::new(secret),
    );
    let graph = Graph::builder()
        .tenant(fake.tenant_id().to_string())
        .graph_root(fake.graph_root().as_str())
        .token_provider(StaticToken::new(token.clone()))
        .build()
        .unwrap();
    let fetched = graph.access_token().await.unwrap();
    let shown = format!(
        "{cred:?} {graph:?} {fetched:?} {:?} {:?}",
        ClientSecret::new(secret),
        DeviceCodeCredential::new(|_| {})
    );
    assert!(!shown.contains(secret), "{shown}");
    assert!(!shown.contains(&token), "{shown}");
    assert_eq!(fetched.expose_secret(), token);
}

#[tokio::test]
async fn app_lookups_decode_into_typed_models() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let sps: Collection<ServicePrincipal> = graph
        .send_json(&requests::service_principals_by_app_ids(
            &PermissionProfile::BackupSharePoint.resource_app_ids(),
        ))
        .await
        .unwrap();
    assert_eq!(sps.value.len(), 3);
    assert!(
        sps.value
            .iter()
            .all(|sp| sp.app_roles.as_ref().is_some_and(|r| !r.is_empty()))
    );
    let missing = graph
        .send_json::<Application>(&requests::application_by_unique_name(
            &entra_appreg::UniqueName::new("nothing-here").unwrap(),
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));
}

#[tokio::test]
async fn the_device_code_prompt_shows_only_printable_bounded_text() {
    let hostile = format!("Sign in\u{1b}[2J\r\nnow{}", "x".repeat(10_000));
    let code = json!({"device_code": "d", "user_code": "AB\u{202E}C", "verification_uri": "https://microsoft.com/devicelogin",
                      "expires_in": 900, "interval": 5, "message": hostile});
    let transport = common::Scripted::new(vec![
        Reply::json(200, code),
        Reply::json(200, json!({"access_token": "at", "expires_in": 3600})),
    ]);
    let sleeper = RecordingSleeper::default();
    let tenant: entra_appreg::Tenant = common::TENANT.parse().unwrap();
    let endpoints = entra_appreg::Endpoints::default();
    let ctx = TokenContext::new(&transport, &endpoints, &tenant, &sleeper);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    DeviceCodeCredential::new(move |p| sink.lock().unwrap().push(p.clone()))
        .token(&ctx)
        .await
        .unwrap();
    let prompt = seen.lock().unwrap()[0].clone();
    assert!(
        !prompt.message.chars().any(char::is_control),
        "{:?}",
        &prompt.message[..40]
    );
    assert!(prompt.message.chars().count() <= 1024);
    assert!(prompt.message.starts_with("Sign in[2Jnow"));
    assert_eq!(prompt.user_code, "ABC");
}

#[tokio::test]
async fn device_code_for_china_without_a_client_id_is_refused_before_any_request() {
    let fake = FakeGraph::start().await;
    let built = Graph::builder()
        .tenant(fake.tenant_domain())
        .cloud(entra_appreg::Cloud::China)
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(DeviceCodeCredential::new(|_| {}))
        .build();
    let err = built.unwrap_err();
    let Error::InvalidInput { what, reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*what, "device-code client id");
    // It says what to pass, and why the default does not work there.
    assert!(reason.contains("with_client_id"), "{reason}");
    assert!(reason.contains("--client-id"), "{reason}");
    assert!(reason.contains("AADSTS700016"), "{reason}");
    assert!(fake.requests().is_empty());

    // Called outside a Graph client, the provider refuses too, before its transport is used.
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let transport = move |_: http::Request<Vec<u8>>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async {
            Err::<http::Response<Vec<u8>>, _>(entra_appreg::TransportError::not_sent(
                entra_appreg::transport::TransportErrorKind::Other,
                "not expected",
            ))
        }
    };
    let tenant: entra_appreg::Tenant = common::TENANT.parse().unwrap();
    let endpoints = entra_appreg::Endpoints::for_cloud(entra_appreg::Cloud::China);
    let sleeper = RecordingSleeper::default();
    let ctx = TokenContext::new(&transport, &endpoints, &tenant, &sleeper);
    let err = DeviceCodeCredential::new(|_| {})
        .token(&ctx)
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), 0);

    // The other clouds keep the default public client.
    for cloud in [
        entra_appreg::Cloud::Global,
        entra_appreg::Cloud::UsGov,
        entra_appreg::Cloud::UsGovDod,
    ] {
        assert_eq!(
            DeviceCodeCredential::new(|_| {})
                .client_id_for(cloud)
                .unwrap(),
            DeviceCodeCredential::GRAPH_COMMAND_LINE_TOOLS
        );
    }
}

#[tokio::test]
async fn a_named_public_client_is_the_one_sent_to_devicecode_and_token() {
    let fake = FakeGraph::start().await;
    fake.set_device_code_polls_before_approval(2);
    let public_client: entra_appreg::ClientId =
        "5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse().unwrap();
    let graph = Graph::builder()
        .tenant(fake.tenant_domain())
        .cloud(entra_appreg::Cloud::China)
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(DeviceCodeCredential::new(|_| {}).with_client_id(public_client))
        .sleeper(RecordingSleeper::default())
        .build()
        .unwrap();
    let token = graph.access_token().await.unwrap();
    let logins = login_requests(&fake);
    // The device-code request, two pending polls, the approving one.
    assert_eq!(logins.len(), 4);
    assert!(logins[0].path.ends_with("/oauth2/v2.0/devicecode"));
    for login in &logins {
        assert_eq!(
            login.body.as_ref().unwrap()["client_id"],
            public_client.to_string(),
            "{}",
            login.path
        );
    }
    assert!(logins[1..].iter().all(|l| l.path.ends_with("/token")));
    // The scopes name China's Graph.
    let scope = logins[0].body.as_ref().unwrap()["scope"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        scope.contains("https://microsoftgraph.chinacloudapi.cn/Application.ReadWrite.All"),
        "{scope}"
    );
    // The token was issued to that client.
    assert_eq!(
        token.claims().unwrap().appid.as_deref(),
        Some(public_client.to_string().as_str())
    );
}

#[tokio::test]
async fn sign_in_retries_a_request_that_never_left_as_the_clients_policy_says() {
    let not_sent = || {
        Reply::Fail(entra_appreg::transport::TransportError::not_sent(
            entra_appreg::transport::TransportErrorKind::Connect,
            "connection refused",
        ))
    };
    let sign_in = |max_attempts: u32| async move {
        let transport = common::Scripted::new(vec![
            not_sent(),
            not_sent(),
            Reply::json(200, json!({"access_token": "at", "expires_in": 3600})),
        ]);
        let sleeper = RecordingSleeper::default();
        let policy = entra_appreg::retry::RetryPolicy::default().with_max_attempts(max_attempts);
        let graph = Graph::builder()
            .tenant(common::TENANT)
            .graph_root("http://127.0.0.1:9")
            .login_root("http://127.0.0.1:9")
            .token_provider(ClientSecretCredential::new(
                common::TENANT.parse().unwrap(),
                ClientSecret::new("s"),
            ))
            .transport(transport.clone())
            .retry_policy(policy)
            .sleeper(sleeper.clone())
            .build()
            .unwrap();
        let token = graph.access_token().await;
        (token, transport.seen().len(), sleeper.durations().len())
    };
    // The default policy's six tries get through the two failed connections.
    let (token, sent, waits) = sign_in(6).await;
    assert!(token.is_ok(), "{token:?}");
    assert_eq!((sent, waits), (3, 2));
    // A client that allows two tries stops at the second failed connection.
    let (token, sent, waits) = sign_in(2).await;
    assert!(matches!(token, Err(Error::Transport(_))), "{token:?}");
    assert_eq!((sent, waits), (2, 1));
}
