//! The Graph client over a scripted transport: retries, errors, batching, bad bodies.

use std::time::Duration;

use crate::common;
use crate::common::requests;
use crate::common::{Reply, fixture, scripted_graph};
use entra_appreg::graph::models::{Application, Collection, ServicePrincipal};
use entra_appreg::graph::{BatchItem, GraphRequest};
use entra_appreg::transport::{TransportError, TransportErrorKind};
use entra_appreg::{Error, Graph};
use serde_json::json;

fn throttled(retry_after: &str) -> Reply {
    Reply::json(429, fixture("error-throttled.json")).with_header("Retry-After", retry_after)
}

#[tokio::test]
async fn throttled_request_waits_retry_after_then_succeeds() {
    let (graph, t, sleeper) = scripted_graph(vec![
        throttled("7"),
        throttled("3"),
        Reply::json(200, fixture("application-list.json")),
    ]);
    let list: Collection<Application> = graph
        .send_json(&GraphRequest::get("/applications"))
        .await
        .unwrap();
    assert_eq!(list.value.len(), 1);
    assert_eq!(
        sleeper.durations(),
        vec![Duration::from_secs(7), Duration::from_secs(3)]
    );
    assert_eq!(graph.request_count(), 3);
    let seen = t.seen();
    // One client-request-id for all attempts of one logical request.
    assert_eq!(
        seen[0].header("client-request-id"),
        seen[2].header("client-request-id")
    );
    assert_eq!(seen[0].header("authorization"), Some("Bearer test-token"));
}

#[tokio::test]
async fn service_unavailable_is_retried_with_backoff() {
    let (graph, _t, sleeper) = scripted_graph(vec![
        Reply::raw(503, "text/plain", b"busy"),
        Reply::raw(504, "text/plain", b"timeout"),
        Reply::json(200, json!({"value": []})),
    ]);
    graph
        .send(&GraphRequest::get("/applications"))
        .await
        .unwrap();
    let waits = sleeper.durations();
    assert_eq!(waits.len(), 2);
    let policy = graph.retry_policy();
    assert!(waits[0] >= policy.base_delay / 2 && waits[0] <= policy.base_delay);
    assert!(waits[1] >= policy.base_delay && waits[1] <= policy.base_delay * 2);
}

#[tokio::test]
async fn forbidden_is_not_retried_and_keeps_graph_ids() {
    let (graph, t, sleeper) = scripted_graph(vec![
        Reply::json(403, fixture("error-authorization-denied.json"))
            .with_header("request-id", "rid-403"),
        Reply::json(200, json!({})),
    ]);
    let err = graph
        .send(&GraphRequest::post("/servicePrincipals/x/appRoleAssignedTo", &json!({})).unwrap())
        .await
        .unwrap_err();
    assert_eq!(t.seen().len(), 1);
    assert!(sleeper.durations().is_empty());
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.graph_code(), Some("Authorization_RequestDenied"));
    assert_eq!(err.request_id(), Some("rid-403"));
    let msg = err.report().to_string();
    assert!(msg.contains("Global Administrator"), "{msg}");
    assert!(msg.contains("request-id rid-403"), "{msg}");
    assert!(
        msg.contains("POST /servicePrincipals/x/appRoleAssignedTo"),
        "{msg}"
    );
}

#[tokio::test]
async fn throttling_gives_up_after_the_policy_attempts() {
    let replies = (0..10).map(|_| throttled("1")).collect();
    let (graph, t, _) = scripted_graph(replies);
    let err = graph
        .send(&GraphRequest::get("/applications"))
        .await
        .unwrap_err();
    assert_eq!(t.seen().len() as u32, graph.retry_policy().max_attempts);
    assert_eq!(err.status(), Some(429));
    assert!(err.to_string().contains("after 6 attempts"), "{err}");
}

#[tokio::test]
async fn connection_failure_before_sending_is_retried_but_after_sending_is_not() {
    let (graph, t, _) = scripted_graph(vec![
        Reply::Fail(TransportError::not_sent(
            TransportErrorKind::Connect,
            "refused",
        )),
        Reply::json(200, json!({"value": []})),
    ]);
    graph
        .send(&GraphRequest::get("/applications"))
        .await
        .unwrap();
    assert_eq!(t.seen().len(), 2);

    let (graph, t, _) = scripted_graph(vec![
        Reply::Fail(TransportError::maybe_sent(TransportErrorKind::Io, "reset")),
        Reply::json(201, json!({})),
    ]);
    let err = graph
        .send(&GraphRequest::post("/applications", &json!({"displayName": "x"})).unwrap())
        .await
        .unwrap_err();
    assert_eq!(t.seen().len(), 1);
    // A POST is not idempotent unless said so: it may have created an app.
    assert!(matches!(err, Error::MayHaveTakenEffect { .. }), "{err:?}");
    assert!(err.may_have_reached_server());

    // An idempotent request that may have reached Graph is not sent again either, at this
    // layer: its caller re-reads.
    let (graph, t, _) = scripted_graph(vec![
        Reply::Fail(TransportError::maybe_sent(TransportErrorKind::Io, "reset")),
        Reply::json(204, json!({})),
    ]);
    let err = graph
        .send(
            &GraphRequest::patch("/applications/x", &json!({"displayName": "x"}))
                .unwrap()
                .idempotent(),
        )
        .await
        .unwrap_err();
    assert_eq!(t.seen().len(), 1);
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn a_post_is_not_sent_again_after_a_5xx_unless_marked_idempotent() {
    // A caller's own POST (a service principal, say) is not resent blindly after a 503.
    let (graph, t, _) = scripted_graph(vec![
        Reply::json(503, json!({"error": {"code": "ServiceUnavailable"}})),
        Reply::json(201, json!({})),
    ]);
    let post = || GraphRequest::post("/servicePrincipals", &json!({"appId": "x"})).unwrap();
    let err = graph.send(&post()).await.unwrap_err();
    assert!(err.may_have_taken_effect(), "{err:?}");
    assert_eq!(t.seen().len(), 1);
    // Marked safe to repeat, it is.
    let (graph, t, _) = scripted_graph(vec![
        Reply::json(503, json!({"error": {"code": "ServiceUnavailable"}})),
        Reply::json(201, json!({})),
    ]);
    graph.send(&post().idempotent()).await.unwrap();
    assert_eq!(t.seen().len(), 2);
}

#[tokio::test]
async fn a_patch_is_not_sent_again_after_a_5xx_unless_marked_idempotent() {
    // HTTP does not make PATCH idempotent (RFC 5789 §2): a caller's own PATCH is not resent
    // after a 503 unless it says it is safe to.
    let patch = || GraphRequest::patch("/applications/x", &json!({"notes": "x"})).unwrap();
    let (graph, t, _) = scripted_graph(vec![
        Reply::json(503, json!({"error": {"code": "ServiceUnavailable"}})),
        Reply::json(204, json!({})),
    ]);
    let err = graph.send(&patch()).await.unwrap_err();
    assert!(err.may_have_taken_effect(), "{err:?}");
    assert_eq!(t.seen().len(), 1);
    let (graph, t, _) = scripted_graph(vec![
        Reply::json(503, json!({"error": {"code": "ServiceUnavailable"}})),
        Reply::json(204, json!({})),
    ]);
    graph.send(&patch().idempotent()).await.unwrap();
    assert_eq!(t.seen().len(), 2);
}

#[tokio::test]
async fn html_error_page_from_a_proxy_is_a_typed_error() {
    // A 502 of a read is retried (it is safe to send twice); the proxy answers every try.
    let page = || {
        Reply::raw(
            502,
            "text/html",
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        )
    };
    let (graph, t, _) = scripted_graph((0..6).map(|_| page()).collect());
    let err = graph
        .send(&GraphRequest::get("/applications"))
        .await
        .unwrap_err();
    assert_eq!(t.seen().len(), 6);
    assert_eq!(err.status(), Some(502));
    assert!(err.to_string().contains("502 Bad Gateway"), "{err}");
}

#[tokio::test]
async fn truncated_and_empty_and_html_success_bodies_are_decode_errors() {
    let full = fixture("application-list.json").to_string();
    let cases = [
        Reply::raw(200, "application/json", &full.as_bytes()[..full.len() / 2]),
        Reply::raw(200, "application/json", b""),
        Reply::raw(200, "text/html", b"<html>login portal</html>"),
        Reply::json(200, json!({"value": "not a list"})),
    ];
    for reply in cases {
        let (graph, _, _) = scripted_graph(vec![reply]);
        let err = graph
            .send_json::<Collection<Application>>(&GraphRequest::get("/applications"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err:?}");
    }
}

#[tokio::test]
async fn decode_error_snippet_never_shows_a_secret() {
    let body = br#"{"secretText":"Qx8Q~top-secret-value","keyId":12"#;
    let (graph, _, _) = scripted_graph(vec![Reply::raw(200, "application/json", body)]);
    let err = graph
        .send_json::<serde_json::Value>(
            &GraphRequest::post("/applications/x/addPassword", &json!({})).unwrap(),
        )
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("top-secret"), "{shown}");
}

fn batch_reply(items: serde_json::Value) -> Reply {
    Reply::json(200, json!({ "responses": items }))
}

#[tokio::test]
async fn batch_correlates_shuffled_replies_by_id() {
    let (graph, t, _) = scripted_graph(vec![batch_reply(json!([
        {"id": "b", "status": 200, "body": {"value": [{"id": "7ea9e944-71ce-443d-811c-71e8047b557a"}]}},
        {"id": "a", "status": 200, "body": {"value": []}},
    ]))]);
    let replies = graph
        .batch(vec![
            BatchItem::new("a", GraphRequest::get("/applications")),
            BatchItem::new("b", GraphRequest::get("/servicePrincipals")),
        ])
        .await
        .unwrap();
    assert_eq!(replies[0].id, "a");
    assert_eq!(replies[1].id, "b");
    let sps: Collection<ServicePrincipal> = replies[1].json().unwrap();
    assert_eq!(sps.value.len(), 1);
    assert_eq!(graph.request_count(), 1);
    let sent = t.seen()[0].json();
    assert_eq!(sent["requests"][0]["url"], "/applications");
    assert_eq!(sent["requests"][1]["method"], "GET");
}

#[tokio::test]
async fn batch_ids_are_not_case_sensitive() {
    // Graph compares batch ids without regard to case (json-batching): a reply may spell the
    // id otherwise, and two ids differing only in case are one id.
    let (graph, t, _) = scripted_graph(vec![batch_reply(json!([
        {"id": "PASSWORD", "status": 200, "body": {"n": 2}},
        {"id": "app", "status": 204},
    ]))]);
    let replies = graph
        .batch(vec![
            BatchItem::new("App", GraphRequest::get("/a")),
            BatchItem::new("Password", GraphRequest::get("/b")).depends_on("APP"),
        ])
        .await
        .unwrap();
    let ids: Vec<&str> = replies.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["App", "Password"]);
    assert_eq!(replies[1].body.as_ref().unwrap()["n"], 2);
    assert_eq!(
        t.seen()[0].json()["requests"][1]["dependsOn"],
        json!(["App"])
    );
    let dup = graph
        .batch(vec![
            BatchItem::new("app", GraphRequest::get("/a")),
            BatchItem::new("APP", GraphRequest::get("/b")),
        ])
        .await
        .unwrap_err();
    assert!(dup.is_invalid_input(), "{dup}");
    assert_eq!(t.seen().len(), 1);
}

#[tokio::test]
async fn batch_splits_at_twenty() {
    let items: Vec<_> = (0..45)
        .map(|i| {
            BatchItem::new(
                i.to_string(),
                GraphRequest::get(format!("/applications/{i}")),
            )
        })
        .collect();
    let reply_for = |range: std::ops::Range<i32>| {
        batch_reply(
            range
                .rev()
                .map(|i| json!({"id": i.to_string(), "status": 200, "body": {"n": i}}))
                .collect(),
        )
    };
    let (graph, t, _) =
        scripted_graph(vec![reply_for(0..20), reply_for(20..40), reply_for(40..45)]);
    let replies = graph.batch(items).await.unwrap();
    assert_eq!(replies.len(), 45);
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r.body.as_ref().unwrap()["n"], i);
    }
    let sizes: Vec<usize> = t
        .seen()
        .iter()
        .map(|s| s.json()["requests"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![20, 20, 5]);
}

#[tokio::test]
async fn batch_retries_throttled_items_and_their_failed_dependents_only() {
    let (graph, t, sleeper) = scripted_graph(vec![
        batch_reply(json!([
            {"id": "3", "status": 424, "body": {"error": {"code": "FailedDependency"}}},
            {"id": "1", "status": 201, "body": {"ok": 1}},
            {"id": "2", "status": 429, "headers": {"Retry-After": "7"}, "body": {"error": {"code": "TooManyRequests"}}},
        ])),
        batch_reply(json!([
            {"id": "3", "status": 201, "body": {"ok": 3}},
            {"id": "2", "status": 201, "body": {"ok": 2}},
        ])),
    ]);
    let replies = graph
        .batch(vec![
            BatchItem::new("1", GraphRequest::get("/a")),
            BatchItem::new("2", GraphRequest::get("/b")),
            BatchItem::new("3", GraphRequest::get("/c")).depends_on("2"),
        ])
        .await
        .unwrap();
    assert!(replies.iter().all(|r| r.is_success()), "{replies:?}");
    // Each reply says how many times its item was sent.
    let attempts: Vec<u32> = replies.iter().map(|r| r.attempts()).collect();
    assert_eq!(attempts, vec![1, 2, 2]);
    assert_eq!(sleeper.durations(), vec![Duration::from_secs(7)]);
    let second = t.seen()[1].json();
    let ids: Vec<_> = second["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("2"), json!("3")]);
    assert_eq!(second["requests"][1]["dependsOn"], json!(["2"]));
}

#[tokio::test]
async fn batch_item_errors_are_returned_per_item_with_ids() {
    let (graph, _, _) = scripted_graph(vec![batch_reply(json!([
        {"id": "1", "status": 400, "headers": {"request-id": "rid-1"}, "body": fixture("error-duplicate-assignment.json")},
    ]))]);
    let replies = graph
        .batch(vec![BatchItem::new("1", GraphRequest::get("/a"))])
        .await
        .unwrap();
    let err = replies[0].check().unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.request_id(), Some("rid-1"));
    assert_eq!(replies[0].error_code(), Some("Request_BadRequest"));
}

#[tokio::test]
async fn batch_with_missing_reply_or_bad_ids_is_an_error_not_a_panic() {
    let (graph, _, _) = scripted_graph(vec![batch_reply(json!([]))]);
    let err = graph
        .batch(vec![BatchItem::new("1", GraphRequest::get("/a"))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");

    let (graph, t, _) = scripted_graph(vec![]);
    let dup = graph
        .batch(vec![
            BatchItem::new("1", GraphRequest::get("/a")),
            BatchItem::new("1", GraphRequest::get("/b")),
        ])
        .await
        .unwrap_err();
    assert!(dup.is_invalid_input());
    let forward = graph
        .batch(vec![
            BatchItem::new("1", GraphRequest::get("/a")).depends_on("2"),
        ])
        .await
        .unwrap_err();
    assert!(forward.is_invalid_input());
    assert!(t.seen().is_empty());
}

#[test]
fn builder_rejects_bad_settings_before_sending_anything() {
    let base = || Graph::builder().token_provider(entra_appreg::auth::StaticToken::new("t"));
    assert!(base().build().unwrap_err().is_invalid_input());
    assert!(
        base()
            .tenant("not a tenant")
            .build()
            .unwrap_err()
            .is_invalid_input()
    );
    let err = base()
        .tenant(common::TENANT)
        .graph_root("http://graph.example.com")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(Graph::builder().tenant(common::TENANT).build().is_err());
}

#[tokio::test]
async fn redirects_are_refused_by_the_default_transport() {
    // A loopback server that answers every request with a redirect.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let graph = Graph::builder()
        .tenant(common::TENANT)
        .graph_root(format!("http://{addr}"))
        .token_provider(entra_appreg::auth::StaticToken::new("t"))
        .build()
        .unwrap();
    let err = graph
        .send(&GraphRequest::get("/applications"))
        .await
        .unwrap_err();
    match err {
        Error::Transport(e) => assert_eq!(e.kind(), TransportErrorKind::Redirect),
        other => panic!("{other:?}"),
    }
}

fn add_password_item(id: &str) -> BatchItem {
    BatchItem::new(
        id,
        requests::add_password(
            "8e0f7b4c-5a4f-4d53-9c8a-0d6a5c3e2b11".parse().unwrap(),
            "entra-appreg: client secret",
            time::OffsetDateTime::now_utc() + time::Duration::days(30),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn a_non_idempotent_request_is_sent_again_only_when_it_certainly_did_not_act() {
    let add = || {
        requests::add_password(
            "8e0f7b4c-5a4f-4d53-9c8a-0d6a5c3e2b11".parse().unwrap(),
            "entra-appreg: client secret",
            time::OffsetDateTime::now_utc() + time::Duration::days(30),
        )
        .unwrap()
    };
    assert!(!add().is_idempotent());
    let created =
        json!({"keyId": "3b7c8d2e-4f5a-4b6c-9d7e-8f9a0b1c2d3e", "secretText": "Qx8Q~s3cr3t"});
    // 429 and a failure before sending: sent again.
    let (graph, t, _) = scripted_graph(vec![
        throttled("2"),
        Reply::Fail(TransportError::not_sent(
            TransportErrorKind::Connect,
            "refused",
        )),
        Reply::json(200, created.clone()),
    ]);
    graph.send(&add()).await.unwrap();
    assert_eq!(t.seen().len(), 3);
    // 503 and 504: the error at once, with the request-id, and nothing sent again.
    for status in [503, 504] {
        let (graph, t, sleeper) = scripted_graph(vec![
            Reply::json(status, fixture("error-throttled.json"))
                .with_header("request-id", "rid-5xx"),
            Reply::json(200, created.clone()),
        ]);
        let err = graph.send(&add()).await.unwrap_err();
        assert!(err.may_have_taken_effect(), "{err:?}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.request_id(), Some("rid-5xx"));
        assert_eq!(t.seen().len(), 1);
        assert!(sleeper.durations().is_empty());
    }
    // The same failures of an idempotent request are sent again, as before.
    let (graph, t, _) = scripted_graph(vec![
        Reply::json(503, json!({})),
        Reply::json(200, json!({"value": []})),
    ]);
    graph
        .send(&GraphRequest::get("/applications"))
        .await
        .unwrap();
    assert_eq!(t.seen().len(), 2);
}

#[tokio::test]
async fn a_batch_never_resends_a_non_idempotent_item_that_may_have_acted() {
    // The item answered 503: returned as it is, not sent again; reading it says it may have
    // taken effect. The idempotent item beside it is sent again.
    let (graph, t, _) = scripted_graph(vec![
        batch_reply(json!([
            {"id": "pw", "status": 503, "headers": {"request-id": "rid-pw"}, "body": {"error": {"code": "ServiceUnavailable"}}},
            {"id": "get", "status": 503, "body": {"error": {"code": "ServiceUnavailable"}}},
        ])),
        batch_reply(json!([{"id": "get", "status": 200, "body": {"value": []}}])),
    ]);
    let replies = graph
        .batch(vec![
            add_password_item("pw"),
            BatchItem::new("get", GraphRequest::get("/applications")),
        ])
        .await
        .unwrap();
    assert_eq!(t.seen().len(), 2);
    let resent: Vec<_> = t.seen()[1].json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(resent, [json!("get")]);
    let err = replies[0].check().unwrap_err();
    assert!(err.may_have_taken_effect(), "{err:?}");
    assert_eq!(err.request_id(), Some("rid-pw"));
    assert!(replies[1].is_success());

    // Throttled, it is sent again.
    let (graph, t, _) = scripted_graph(vec![
        batch_reply(json!([
            {"id": "pw", "status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"code": "TooManyRequests"}}},
        ])),
        batch_reply(
            json!([{"id": "pw", "status": 200, "body": {"keyId": "3b7c8d2e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"}}]),
        ),
    ]);
    let replies = graph.batch(vec![add_password_item("pw")]).await.unwrap();
    assert!(replies[0].is_success());
    assert_eq!(t.seen().len(), 2);
}

#[tokio::test]
async fn a_batch_that_fails_after_a_secret_was_made_says_so_instead_of_losing_it() {
    // Round one made the secret and throttled the other item; the envelope re-sending that
    // item fails. The secret's reply cannot be returned: the error says it was made.
    let (graph, t, _) = scripted_graph(vec![
        batch_reply(json!([
            {"id": "pw", "status": 200, "body": {"keyId": "3b7c8d2e-4f5a-4b6c-9d7e-8f9a0b1c2d3e", "secretText": "Qx8Q~s3cr3t-value"}},
            {"id": "get", "status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"code": "TooManyRequests"}}},
        ])),
        Reply::json(
            400,
            json!({"error": {"code": "BadRequest", "innerError": {"request-id": "rid-400"}}}),
        ),
    ]);
    let err = graph
        .batch(vec![
            add_password_item("pw"),
            BatchItem::new("get", GraphRequest::get("/applications")),
        ])
        .await
        .unwrap_err();
    let Error::MayHaveTakenEffect { request, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        request.contains("/addPassword") && request.contains("reply is lost"),
        "{request}"
    );
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.request_id(), Some("rid-400"));
    assert_eq!(t.seen().len(), 2);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");

    // A reply that cannot be read: the secret was made all the same.
    let (graph, _, _) = scripted_graph(vec![Reply::raw(
        200,
        "application/json",
        br#"{"responses":[{"id":"pw","status":200,"body":{"secretText":"Qx8Q~s3cr"#,
    )]);
    let err = graph
        .batch(vec![add_password_item("pw")])
        .await
        .unwrap_err();
    let Error::MayHaveTakenEffect {
        request, source, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(request.contains("holding POST /applications/"), "{request}");
    assert!(matches!(source.as_ref(), Error::Decode(_)), "{source:?}");
    assert!(!format!("{err} {err:?}").contains("s3cr"), "{err}");
}

/// The crate's futures can be spawned on a multi-threaded runtime.
#[test]
fn public_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let (graph, _, _) = scripted_graph(Vec::new());
    let profile = entra_appreg::profile::PermissionProfile::BackupExchange;
    let reg = entra_appreg::registration::AppRegistration::new("Contoso", profile).unwrap();
    let secret = || {
        entra_appreg::credentials::NewCredential::Secret(
            entra_appreg::credentials::SecretOptions::default(),
        )
    };
    send(graph.send(&GraphRequest::get("/a")));
    send(graph.batch(Vec::new()));
    send(graph.access_token());
    send(reg.plan(&graph));
    send(reg.apply(&graph));
    send(reg.rotate(
        &graph,
        secret(),
        &entra_appreg::registration::RotateOptions::default(),
    ));
    let app = entra_appreg::ObjectId::from(uuid_of(1));
    let provisioner = entra_appreg::credentials::CredentialProvisioner::new(&graph, app);
    send(provisioner.add_secret(&entra_appreg::credentials::SecretOptions::default()));
    send(provisioner.rotate(secret()));
}

fn uuid_of(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}
