//! Hostile input. Every decoder of a reply — Graph objects and collections, `$batch`, Graph
//! errors of every status, token and device-code replies — is fed arbitrary bytes, truncated
//! JSON, JSON of the wrong shape, HTML and bodies of several megabytes: the answer is a value
//! or a typed error whose messages stay short, never a panic. Malformed caller input — tenants,
//! names, unique names, profiles, permissions, URLs, tokens — is rejected before any request is
//! sent.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common;
use entra_appreg::auth::{ClientSecret, ClientSecretCredential, DeviceCodeCredential, StaticToken};
use entra_appreg::credentials::{Certificate, NewCredential, PfxEncryption, SecretOptions};
use entra_appreg::graph::models::{AppRoleAssignment, Application, Collection, ServicePrincipal};
use entra_appreg::graph::{BatchItem, GraphRequest};
use entra_appreg::profile::{Permission, PermissionProfile, catalog};
use entra_appreg::registration::AppRegistration;
use entra_appreg::retry::{RecordingSleeper, RetryPolicy};
use entra_appreg::transport::TransportError;
use entra_appreg::{ClientId, Error, Graph, Tenant, UniqueName};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Cases per property.
const CASES: u32 = 256;
/// The longest `Display` of an error, whatever the reply held.
const MAX_DISPLAY: usize = 4_000;
/// The longest `Debug` of an error (which escapes each unprintable character in up to ten).
const MAX_DEBUG: usize = 12_000;

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RT.with(|rt| rt.block_on(f))
}

/// Runs a property for [`CASES`] cases and prints how many ran.
fn check<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    check_cases(name, CASES, strategy, test);
}

/// Runs a property for `cases` cases and prints how many ran.
fn check_cases<S>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let ran = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |v| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(v)
    });
    if let Err(e) = result {
        let shown = e.to_string();
        panic!("{name}: {}", shown.chars().take(3_000).collect::<String>());
    }
    let ran = ran.load(Ordering::Relaxed);
    eprintln!("property {name}: {ran} cases");
    assert!(ran >= cases as usize, "{name}: only {ran} cases ran");
}

// ----- replies -----------------------------------------------------------------------------

/// A canned HTTP reply.
#[derive(Clone, Debug)]
struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Canned {
    fn new(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    fn response(&self) -> http::Response<Vec<u8>> {
        let mut b = http::Response::builder().status(self.status);
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b.body(self.body.clone()).expect("a valid response")
    }
}

/// A client whose every request (Graph or login) gets `reply`; it counts the requests.
fn graph_answering(reply: Canned) -> (Graph, Arc<AtomicUsize>, RecordingSleeper) {
    graph_routing(move |_| reply.clone())
}

/// A client whose requests are answered by `route(path)`.
fn graph_routing(
    route: impl Fn(&str) -> Canned + Send + Sync + 'static,
) -> (Graph, Arc<AtomicUsize>, RecordingSleeper) {
    graph_routing_with(RetryPolicy::default(), route)
}

/// A client whose requests are answered by `route(path)`, retrying as `policy` says.
fn graph_routing_with(
    policy: RetryPolicy,
    route: impl Fn(&str) -> Canned + Send + Sync + 'static,
) -> (Graph, Arc<AtomicUsize>, RecordingSleeper) {
    let sent = Arc::new(AtomicUsize::new(0));
    let count = sent.clone();
    let route = Arc::new(route);
    let transport = move |req: http::Request<Vec<u8>>| {
        count.fetch_add(1, Ordering::Relaxed);
        let reply = route(req.uri().path()).response();
        async move { Ok::<_, TransportError>(reply) }
    };
    let sleeper = RecordingSleeper::default();
    let graph = Graph::builder()
        .tenant(common::TENANT)
        .graph_root("http://127.0.0.1:9")
        .login_root("http://127.0.0.1:9")
        .token_provider(StaticToken::new("t.t.t"))
        .transport(transport)
        .sleeper(sleeper.clone())
        .retry_policy(policy)
        .build()
        .expect("a valid client");
    (graph, sent, sleeper)
}

/// The error is one of `allowed`, its `Display` is printable, and its `Display` and `Debug` are
/// bounded.
fn typed_and_bounded(e: &Error, allowed: &[&str]) -> Result<(), TestCaseError> {
    let kind = match e {
        Error::Graph(_) => "graph",
        Error::Decode(_) => "decode",
        Error::Auth(_) => "auth",
        Error::Transport(_) => "transport",
        Error::InvalidInput { .. } => "invalid input",
        Error::Io { .. } => "file",
        _ => "other",
    };
    let shown = e.to_string();
    let head: String = shown.chars().take(300).collect();
    prop_assert!(allowed.contains(&kind), "{kind} error: {head}");
    prop_assert!(!shown.is_empty());
    // A reply's control characters (a newline, a terminal escape) never reach an error's text.
    prop_assert!(
        !shown.chars().any(char::is_control),
        "a control character in: {:?}",
        shown.chars().take(600).collect::<String>()
    );
    let n = shown.chars().count();
    prop_assert!(n <= MAX_DISPLAY, "Display is {n} characters: {head}…");
    let n = format!("{e:?}").chars().count();
    prop_assert!(n <= MAX_DEBUG, "Debug is {n} characters: {head}…");
    Ok(())
}

// ----- strategies ----------------------------------------------------------------------------

/// Field names the decoders look for, and some they do not.
fn key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "id", "appId", "value", "responses", "status", "headers", "body", "error", "code",
            "message", "innerError", "request-id", "client-request-id", "date",
            "access_token", "expires_in", "device_code", "user_code", "verification_uri",
            "interval", "error_description", "error_codes", "correlation_id", "trace_id",
            "@odata.nextLink", "appRoles", "displayName", "principalId", "resourceId",
            "appRoleId", "Retry-After", "createdDateTime", "requiredResourceAccess",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
    .boxed()
}

/// A long run of one character, up to `max`.
fn long_string(max: usize) -> BoxedStrategy<String> {
    (any::<char>(), 0..max)
        .prop_map(|(c, n)| c.to_string().repeat(n))
        .boxed()
}

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![0u64, 1, 429, 503, 65_535, 65_536, u64::MAX])
            .prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,30}".prop_map(Value::from),
        long_string(3_000).prop_map(Value::from),
        Just(json!("00000000-0000-0000-0000-000000000000")),
        Just(json!("2025-03-04T09:12:44Z")),
    ]
    .boxed()
}

/// Any JSON value, a few levels deep.
fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                btree_map(key(), inner, 0..6)
                    .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

/// JSON pointers of every value inside `doc` (the root excluded).
fn pointers(doc: &Value, at: String, out: &mut Vec<String>) {
    match doc {
        Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

/// `doc` with one value replaced by any JSON (a wrong type, mostly), or removed.
fn mutated(doc: Value) -> BoxedStrategy<Value> {
    let mut paths = Vec::new();
    pointers(&doc, String::new(), &mut paths);
    let paths = Arc::new(paths);
    (any::<prop::sample::Index>(), json_value(), any::<bool>())
        .prop_map(move |(i, v, remove)| {
            let mut d = doc.clone();
            let p = i.get(paths.as_slice());
            if remove {
                let (parent, last) = p.rsplit_once('/').expect("a pointer");
                match d.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        let i: usize = last.parse().expect("an index");
                        a.remove(i);
                    }
                    _ => {}
                }
            } else if let Some(slot) = d.pointer_mut(p) {
                *slot = v;
            }
            d
        })
        .boxed()
}

fn html() -> BoxedStrategy<Vec<u8>> {
    ("\\PC{0,200}", any::<u16>())
        .prop_map(|(text, n)| {
            format!(
                "<!DOCTYPE html><html><head><title>{n} Proxy Error</title></head><body><h1>{text}</h1></body></html>"
            )
            .into_bytes()
        })
        .boxed()
}

/// Bodies around a well-formed reply `doc`: itself, truncated, mutated, any JSON, bytes, HTML,
/// blank.
fn body_around(doc: Value) -> BoxedStrategy<Vec<u8>> {
    let text = serde_json::to_vec(&doc).expect("JSON");
    let len = text.len();
    let truncated = text.clone();
    prop_oneof![
        1 => Just(text),
        2 => (0..len).prop_map(move |n| truncated[..n].to_vec()),
        4 => mutated(doc).prop_map(|d| serde_json::to_vec(&d).expect("JSON")),
        2 => json_value().prop_map(|d| serde_json::to_vec(&d).expect("JSON")),
        1 => vec(any::<u8>(), 0..600),
        1 => html(),
        1 => "[ \t\r\n]{0,6}".prop_map(String::into_bytes),
    ]
    .boxed()
}

fn status() -> BoxedStrategy<u16> {
    prop_oneof![
        3 => prop::sample::select(vec![200u16, 201, 204]),
        1 => prop::sample::select(vec![400u16, 401, 403, 404, 409, 429, 500, 502, 503, 504]),
        1 => 100u16..600,
    ]
    .boxed()
}

fn header_value() -> BoxedStrategy<String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[0-9]{1,25}",
        "-?[0-9]{1,6}\\.[0-9]{0,6}",
        prop::sample::select(vec!["1e309", "NaN", "inf", "-1", "18446744073709551616"])
            .prop_map(str::to_owned),
        (0..6_000usize).prop_map(|n| "r".repeat(n)),
    ]
    .boxed()
}

/// Reply headers a proxy or a broken server might send.
fn headers() -> BoxedStrategy<Vec<(String, String)>> {
    vec(
        (
            prop::sample::select(vec![
                "content-type",
                "retry-after",
                "request-id",
                "client-request-id",
                "x-ms-ags-diagnostic",
            ]),
            header_value(),
        )
            .prop_map(|(k, v)| (k.to_owned(), v)),
        0..4,
    )
    .boxed()
}

fn canned(doc: Value) -> BoxedStrategy<Canned> {
    (status(), headers(), body_around(doc))
        .prop_map(|(status, headers, body)| Canned {
            status,
            headers,
            body,
        })
        .boxed()
}

fn fixture(name: &str) -> Value {
    common::fixture(name)
}

// ----- Graph replies -------------------------------------------------------------------------

fn graph_reply_decodes_or_fails_typed<T: DeserializeOwned + Debug>(
    reply: Canned,
) -> Result<(), TestCaseError> {
    let status = reply.status;
    let (graph, _, _) = graph_answering(reply);
    let r = block_on(graph.send_json::<T>(&GraphRequest::get("/applications")));
    match r {
        Ok(_) => prop_assert!((200..300).contains(&status), "decoded a {status}"),
        Err(e) if (200..300).contains(&status) => typed_and_bounded(&e, &["decode"])?,
        Err(e) => {
            typed_and_bounded(&e, &["graph"])?;
            prop_assert_eq!(e.status(), Some(status));
        }
    }
    Ok(())
}

#[test]
fn application_collection_replies_decode_or_fail_typed() {
    check(
        "Collection<Application>",
        canned(fixture("application-list.json")),
        graph_reply_decodes_or_fails_typed::<Collection<Application>>,
    );
}

#[test]
fn application_replies_decode_or_fail_typed() {
    check(
        "Application",
        canned(fixture("application-created.json")),
        graph_reply_decodes_or_fails_typed::<Application>,
    );
}

#[test]
fn service_principal_replies_decode_or_fail_typed() {
    check(
        "ServicePrincipal",
        canned(fixture("serviceprincipal-exchange.json")),
        graph_reply_decodes_or_fails_typed::<ServicePrincipal>,
    );
    check(
        "Collection<ServicePrincipal>",
        canned(json!({"value": [fixture("serviceprincipal-graph.json"),
                                fixture("serviceprincipal-sharepoint.json")]})),
        graph_reply_decodes_or_fails_typed::<Collection<ServicePrincipal>>,
    );
}

#[test]
fn app_role_assignment_replies_decode_or_fail_typed() {
    check(
        "AppRoleAssignment",
        canned(fixture("approleassignment.json")),
        graph_reply_decodes_or_fails_typed::<AppRoleAssignment>,
    );
    check(
        "Collection<AppRoleAssignment>",
        canned(fixture("approleassignments-list.json")),
        graph_reply_decodes_or_fails_typed::<Collection<AppRoleAssignment>>,
    );
}

/// A Graph error body with every field any JSON, long strings in the id fields.
fn error_body() -> BoxedStrategy<Vec<u8>> {
    let text = || prop_oneof![json_value(), long_string(6_000).prop_map(Value::from)];
    prop_oneof![
        3 => (text(), text(), text(), text(), text(), json_value()).prop_map(
            |(code, message, rid, crid, date, details)| {
                serde_json::to_vec(&json!({"error": {"code": code, "message": message,
                    "innerError": {"request-id": rid, "client-request-id": crid, "date": date},
                    "details": details}}))
                .expect("JSON")
            }
        ),
        1 => body_around(fixture("error-authorization-denied.json")),
        1 => html(),
        1 => vec(any::<u8>(), 0..400),
    ]
    .boxed()
}

#[test]
fn error_replies_of_every_status_are_typed_and_bounded() {
    let strategy = (100u16..600, headers(), error_body()).prop_map(|(status, headers, body)| {
        let mut c = Canned::new(status, body);
        c.headers.extend(headers);
        c
    });
    check("Graph error replies", strategy, |reply| {
        let status = reply.status;
        let (graph, sent, sleeper) = graph_answering(reply);
        let r = block_on(graph.send(&GraphRequest::get("/applications")));
        let attempts = sent.load(Ordering::Relaxed);
        prop_assert!((1..=6).contains(&attempts), "{attempts} attempts");
        match r {
            Ok(resp) => prop_assert!((200..300).contains(&status) && resp.status() == status),
            Err(e) => {
                typed_and_bounded(&e, &["graph"])?;
                prop_assert_eq!(e.status(), Some(status));
                // Only throttling and the server errors the Azure SDK guidelines retry are
                // retried (for a read, which is safe to send twice).
                let retried = matches!(status, 429 | 500 | 502 | 503 | 504);
                prop_assert_eq!(
                    attempts > 1,
                    retried,
                    "{} attempts for {}",
                    attempts,
                    status
                );
            }
        }
        // However long Graph asks to wait, the waits are capped.
        let policy = graph.retry_policy();
        for wait in sleeper.durations() {
            prop_assert!(
                wait <= policy.max_retry_after.max(policy.max_delay),
                "{wait:?}"
            );
        }
        Ok(())
    });
}

/// A `$batch` reply around the fixture, or built item by item from hostile parts.
fn batch_body() -> BoxedStrategy<Vec<u8>> {
    let item = (
        prop_oneof![
            prop::sample::select(vec!["app", "sps", "x"]).prop_map(Value::from),
            json_value()
        ],
        prop_oneof![
            (100u16..600).prop_map(Value::from),
            json_value()
        ],
        prop_oneof![
            btree_map(
                prop::sample::select(vec!["Retry-After", "request-id", "Content-Type", "x"])
                    .prop_map(str::to_owned),
                prop_oneof![header_value().prop_map(Value::from), json_value()],
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
            json_value()
        ],
        prop_oneof![
            json_value(),
            error_body().prop_map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null)),
            Just(json!({"value": [fixture("application-created.json")]})),
        ],
    )
        .prop_map(|(id, status, headers, body)| {
            json!({"id": id, "status": status, "headers": headers, "body": body})
        });
    prop_oneof![
        2 => body_around(fixture("batch-response.json")),
        3 => vec(item, 0..4).prop_map(|items| {
            serde_json::to_vec(&json!({ "responses": items })).expect("JSON")
        }),
    ]
    .boxed()
}

#[test]
fn batch_replies_are_decoded_item_by_item_or_fail_typed() {
    let strategy = (status(), batch_body()).prop_map(|(s, b)| Canned::new(s, b));
    check("$batch replies", strategy, |reply| {
        let (graph, _, _) = graph_answering(reply);
        let items = vec![
            BatchItem::new("app", GraphRequest::get("/applications")),
            BatchItem::new("sps", GraphRequest::get("/servicePrincipals")),
        ];
        match block_on(graph.batch(items)) {
            Ok(replies) => {
                prop_assert_eq!(replies.len(), 2);
                for r in &replies {
                    if let Err(e) = r.json::<Collection<Application>>() {
                        typed_and_bounded(&e, &["graph", "decode"])?;
                    }
                    if !r.is_success() {
                        typed_and_bounded(&r.error(), &["graph"])?;
                    }
                    let debug = format!("{r:?}");
                    prop_assert!(
                        debug.chars().count() <= MAX_DEBUG,
                        "Debug {} chars",
                        debug.len()
                    );
                }
            }
            Err(e) => typed_and_bounded(&e, &["graph", "decode"])?,
        }
        Ok(())
    });
}

// ----- sign-in replies -----------------------------------------------------------------------

#[test]
fn token_replies_give_a_token_or_a_typed_error() {
    let ok = fixture("token-client-credentials.json");
    let err = fixture("token-error-invalid-secret.json");
    // Token fields of any type and size, the lifetimes at the edges of time included.
    let fields = (
        prop_oneof![
            json_value(),
            any::<u64>().prop_map(|exp| Value::from(jwt(json!({"exp": exp})))),
        ],
        prop_oneof![json_value(), any::<u64>().prop_map(Value::from)],
    )
        .prop_map(|(token, expires_in)| {
            let body = json!({"access_token": token, "expires_in": expires_in});
            Canned::new(200, body.to_string().into_bytes())
        });
    let strategy = prop_oneof![canned(ok), canned(err), fields];
    check("token replies", strategy, |reply| {
        let (graph, _, _) = graph_answering(reply);
        let credential = ClientSecretCredential::new(
            "5f0f8757-988d-474c-9f85-74a6bc70dfd0"
                .parse()
                .expect("a GUID"),
            ClientSecret::new("s3cret-value"),
        );
        if let Err(e) = block_on(graph.token_from(&credential)) {
            typed_and_bounded(&e, &["auth", "decode"])?;
        }
        Ok(())
    });
}

#[test]
fn device_code_replies_give_a_token_or_a_typed_error() {
    let code = fixture("devicecode.json");
    let pending = fixture("token-error-authorization-pending.json");
    let token = fixture("token-client-credentials.json");
    let strategy = (canned(code), prop_oneof![canned(pending), canned(token)]);
    check("device-code replies", strategy, |(code, token)| {
        let (graph, _, _) = graph_routing(move |path| {
            if path.ends_with("/devicecode") {
                code.clone()
            } else {
                token.clone()
            }
        });
        let credential = DeviceCodeCredential::new(|_| {});
        if let Err(e) = block_on(graph.token_from(&credential)) {
            typed_and_bounded(&e, &["auth", "decode"])?;
        }
        Ok(())
    });
}

// ----- bodies of several megabytes -----------------------------------------------------------

const MB: usize = 1024 * 1024;

/// Bodies of one to several megabytes: deep nesting, a huge string in each field that ends up in an error,
/// HTML, bytes.
fn huge_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let big = |n: usize| "x".repeat(n);
    vec![
        ("deep nesting", "[".repeat(3 * MB).into_bytes()),
        ("deep objects", "{\"a\":".repeat(MB / 4).into_bytes()),
        (
            "huge error message",
            json!({"error": {"code": "x", "message": big(3 * MB)}}).to_string().into_bytes(),
        ),
        (
            "huge error code",
            json!({"error": {"code": big(3 * MB), "message": "m"}}).to_string().into_bytes(),
        ),
        (
            "huge innerError ids",
            json!({"error": {"code": "x", "message": "m", "innerError": {
                "request-id": big(2 * MB), "client-request-id": big(2 * MB), "date": big(2 * MB)}}})
            .to_string()
            .into_bytes(),
        ),
        (
            "huge OAuth error",
            json!({"error": big(MB), "error_description": big(2 * MB), "error_codes": [7000215],
                   "correlation_id": big(2 * MB), "trace_id": big(2 * MB)})
            .to_string()
            .into_bytes(),
        ),
        (
            "huge batch item",
            json!({"responses": [
                {"id": "app", "status": 403, "headers": {"request-id": big(3 * MB), "Retry-After": big(MB)},
                 "body": {"error": {"code": big(MB), "message": big(MB),
                          "innerError": {"request-id": big(MB)}}}},
                {"id": "sps", "status": 200, "headers": {}, "body": {"value": [], "x": big(MB)}}]})
            .to_string()
            .into_bytes(),
        ),
        (
            "huge HTML",
            format!("<html><body>{}</body></html>", "<p>proxy</p>".repeat(500_000)).into_bytes(),
        ),
        ("huge bytes", (0..4 * MB).map(|i| (i * 7919 % 251) as u8).collect()),
        (
            "huge token",
            json!({"access_token": big(3 * MB), "expires_in": 3599}).to_string().into_bytes(),
        ),
        (
            "huge device code",
            json!({"device_code": big(2 * MB), "user_code": big(MB), "verification_uri": big(MB),
                   "expires_in": 900, "interval": 5, "message": big(MB)})
            .to_string()
            .into_bytes(),
        ),
    ]
}

fn outcome<T>(r: Result<T, Error>, allowed: &[&str]) -> Result<(), TestCaseError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => typed_and_bounded(&e, allowed),
    }
}

#[test]
fn bodies_of_several_megabytes_give_typed_errors_with_short_messages() {
    // Two attempts are enough to go through the retry path: each parses megabytes.
    let policy = RetryPolicy::default().with_max_attempts(2);
    let mut probes = 0;
    let mut failures = Vec::new();
    for (what, body) in huge_bodies() {
        for status in [200u16, 503] {
            let reply = Canned::new(status, body.clone());
            let answer = reply.clone();
            let (graph, _, _) = graph_routing_with(policy.clone(), move |_| answer.clone());
            let checks: Vec<(&str, Result<(), TestCaseError>)> =
                vec![
                    (
                        "Collection<Application>",
                        outcome(
                            block_on(graph.send_json::<Collection<Application>>(
                                &GraphRequest::get("/applications"),
                            )),
                            &["graph", "decode"],
                        ),
                    ),
                    (
                        "$batch",
                        match block_on(graph.batch(vec![
                            BatchItem::new("app", GraphRequest::get("/applications")),
                            BatchItem::new("sps", GraphRequest::get("/servicePrincipals")),
                        ])) {
                            Ok(replies) => replies
                                .iter()
                                .filter(|r| !r.is_success())
                                .try_for_each(|r| typed_and_bounded(&r.error(), &["graph"])),
                            Err(e) => typed_and_bounded(&e, &["graph", "decode"]),
                        },
                    ),
                    (
                        "token",
                        outcome(
                            block_on(
                                graph.token_from(&ClientSecretCredential::new(
                                    "5f0f8757-988d-474c-9f85-74a6bc70dfd0"
                                        .parse()
                                        .expect("a GUID"),
                                    ClientSecret::new("s3cret-value"),
                                )),
                            ),
                            &["auth", "decode"],
                        ),
                    ),
                ];
            for (decoder, r) in checks {
                probes += 1;
                if let Err(e) = r {
                    failures.push(format!("{what}, HTTP {status}, {decoder}: {e}"));
                }
            }
            // The device-code flow: the huge body as the device-code reply, then as the token reply.
            let token = Canned::new(status, body.clone());
            let code = Canned::new(
                200,
                serde_json::to_vec(&fixture("devicecode.json")).unwrap(),
            );
            for (a, b) in [(reply.clone(), token.clone()), (code, token)] {
                let (graph, _, _) = graph_routing_with(policy.clone(), move |path| {
                    if path.ends_with("/devicecode") {
                        a.clone()
                    } else {
                        b.clone()
                    }
                });
                probes += 1;
                if let Err(e) = outcome(
                    block_on(graph.token_from(&DeviceCodeCredential::new(|_| {}))),
                    &["auth", "decode"],
                ) {
                    failures.push(format!("{what}, HTTP {status}, device code: {e}"));
                }
            }
        }
    }
    eprintln!("huge bodies: {probes} probes, {} failed", failures.len());
    assert_eq!(probes, 11 * 2 * 5);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_valid_reply_of_several_megabytes_still_decodes() {
    let app = fixture("application-created.json");
    let n = 3_000;
    let body = serde_json::to_vec(&json!({ "value": vec![app; n] })).unwrap();
    assert!(body.len() > 3 * MB, "{} bytes", body.len());
    let (graph, _, _) = graph_answering(Canned::new(200, body));
    let list: Collection<Application> =
        block_on(graph.send_json(&GraphRequest::get("/applications"))).unwrap();
    assert_eq!(list.value.len(), n);
}

// ----- caller input --------------------------------------------------------------------------

/// What an installer passes through from its user.
#[derive(Debug, Clone)]
struct Inputs {
    tenant: String,
    display_name: String,
    unique_name: Option<String>,
    profile: String,
    graph_root: String,
    login_root: String,
    token: String,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            tenant: common::TENANT.into(),
            display_name: "Contoso Backup".into(),
            unique_name: None,
            profile: "Backup-Exchange".into(),
            graph_root: "https://graph.microsoft.com".into(),
            login_root: "https://login.microsoftonline.com".into(),
            token: "eyJ0eXAiOiJKV1QifQ.eyJ0aWQiOiJ4In0.c2ln".into(),
        }
    }
}

/// Builds the client and the registration from `inputs` and applies it, over a transport that
/// counts what it is asked to send (and answers nothing useful). Returns the error and the
/// number of requests that reached the transport.
fn install(inputs: &Inputs) -> (Result<(), Error>, usize) {
    let sent = Arc::new(AtomicUsize::new(0));
    let count = sent.clone();
    let transport = move |_req: http::Request<Vec<u8>>| {
        count.fetch_add(1, Ordering::Relaxed);
        async move {
            Ok::<_, TransportError>(
                http::Response::builder()
                    .status(599)
                    .body(Vec::new())
                    .unwrap(),
            )
        }
    };
    let r = block_on(async {
        let graph = Graph::builder()
            .tenant(inputs.tenant.clone())
            .graph_root(inputs.graph_root.clone())
            .login_root(inputs.login_root.clone())
            .token_provider(StaticToken::new(inputs.token.clone()))
            .transport(transport)
            .sleeper(RecordingSleeper::default())
            .build()?;
        let profile: PermissionProfile = inputs.profile.parse()?;
        let mut reg = AppRegistration::new(inputs.display_name.clone(), profile)?;
        if let Some(u) = &inputs.unique_name {
            reg = reg.with_unique_name(UniqueName::new(u.clone())?);
        }
        reg.apply(&graph).await.map(|_| ())
    });
    (r, sent.load(Ordering::Relaxed))
}

fn rejected_before_sending(inputs: &Inputs) -> Result<(), String> {
    match install(inputs) {
        (Err(e), 0) if e.is_invalid_input() => {
            let n = e.to_string().chars().count();
            if n > 1_000 {
                return Err(format!("a {n}-character message"));
            }
            Ok(())
        }
        (Err(e), n) => Err(format!("{n} requests, then {e}")),
        (Ok(()), n) => Err(format!("accepted, {n} requests")),
    }
}

#[test]
fn malformed_caller_input_is_rejected_before_any_request() {
    let bad = |f: &dyn Fn(&mut Inputs)| {
        let mut i = Inputs::default();
        f(&mut i);
        i
    };
    let mut cases: Vec<(&str, Inputs)> = vec![
        ("empty tenant", bad(&|i| i.tenant = String::new())),
        (
            "tenant with a space",
            bad(&|i| i.tenant = "contoso com".into()),
        ),
        (
            "tenant with a slash",
            bad(&|i| i.tenant = "contoso.com/../x".into()),
        ),
        (
            "tenant with a quote",
            bad(&|i| i.tenant = "x'.onmicrosoft.com".into()),
        ),
        (
            "tenant with a newline",
            bad(&|i| i.tenant = "contoso.com\nx".into()),
        ),
        (
            "tenant without a dot",
            bad(&|i| i.tenant = "contoso".into()),
        ),
        (
            "broken GUID",
            bad(&|i| i.tenant = "72f988bf-86f1-41af-91ab-2d7cd011db4z".into()),
        ),
        (
            "GUID without hyphens",
            bad(&|i| i.tenant = "72f988bf86f141af91ab2d7cd011db47".into()),
        ),
        (
            "257-character display name",
            bad(&|i| i.display_name = "a".repeat(257)),
        ),
        (
            "blank display name",
            bad(&|i| i.display_name = " \t ".into()),
        ),
        (
            "display name with a NUL",
            bad(&|i| i.display_name = "Contoso\0Backup".into()),
        ),
        (
            "display name with a newline",
            bad(&|i| i.display_name = "Contoso\nBackup".into()),
        ),
        (
            "display name with ESC",
            bad(&|i| i.display_name = "Contoso \u{1b}[31m".into()),
        ),
        (
            "display name with a C1 control",
            bad(&|i| i.display_name = "Contoso\u{85}".into()),
        ),
        (
            "display name of punctuation only",
            bad(&|i| i.display_name = "!!! ???".into()),
        ),
        (
            "257-character unique name",
            bad(&|i| i.unique_name = Some("u".repeat(257))),
        ),
        (
            "unique name with a tab",
            bad(&|i| i.unique_name = Some("a\tb".into())),
        ),
        (
            "unique name with a newline",
            bad(&|i| i.unique_name = Some("a'\n'b".into())),
        ),
        (
            "padded unique name",
            bad(&|i| i.unique_name = Some(" contoso ".into())),
        ),
        (
            "blank unique name",
            bad(&|i| i.unique_name = Some("  ".into())),
        ),
        (
            "unknown profile",
            bad(&|i| i.profile = "Backup-OneDrive".into()),
        ),
        ("empty profile", bad(&|i| i.profile = String::new())),
        (
            "plain http Graph",
            bad(&|i| i.graph_root = "http://graph.microsoft.com".into()),
        ),
        (
            "plain http login",
            bad(&|i| i.login_root = "http://login.microsoftonline.com".into()),
        ),
        (
            "http to a LAN host",
            bad(&|i| i.graph_root = "http://10.0.0.1:8080".into()),
        ),
        (
            "http to a look-alike",
            bad(&|i| i.graph_root = "http://localhost.evil.example".into()),
        ),
        (
            "http with userinfo",
            bad(&|i| i.login_root = "http://127.0.0.1@evil.example".into()),
        ),
        (
            "ftp Graph",
            bad(&|i| i.graph_root = "ftp://127.0.0.1".into()),
        ),
        (
            "file login",
            bad(&|i| i.login_root = "file:///etc/passwd".into()),
        ),
        (
            "javascript Graph",
            bad(&|i| i.graph_root = "javascript:alert(1)".into()),
        ),
        (
            "data login",
            bad(&|i| i.login_root = "data:text/plain,x".into()),
        ),
        (
            "not a URL",
            bad(&|i| i.graph_root = "graph.microsoft.com".into()),
        ),
        ("empty URL", bad(&|i| i.login_root = String::new())),
        (
            "URL with a query",
            bad(&|i| i.graph_root = "https://graph.microsoft.com/?x=1".into()),
        ),
        (
            "URL with a fragment",
            bad(&|i| i.login_root = "https://login.microsoftonline.com/#x".into()),
        ),
        (
            "token with CRLF",
            bad(&|i| i.token = "abc\r\nX-Injected: 1".into()),
        ),
        ("token with NUL", bad(&|i| i.token = "abc\0def".into())),
    ];
    // Each of the above on its own; the valid defaults for control.
    let mut failures = Vec::new();
    for (what, inputs) in cases.drain(..) {
        if let Err(e) = rejected_before_sending(&inputs) {
            failures.push(format!("{what}: {e}"));
        }
    }
    let (r, sent) = install(&Inputs::default());
    assert!(
        sent > 0 && r.is_err(),
        "the valid inputs reach the transport"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quotes_and_odd_characters_in_a_unique_name_are_escaped_not_rejected() {
    for name in [
        "o'brien", "''", "a'b'c", "x \" y", "a&b=c#d", "50%", "a/b?c", "it’s",
    ] {
        let inputs = Inputs {
            unique_name: Some(name.into()),
            ..Inputs::default()
        };
        let (r, sent) = install(&inputs);
        assert!(sent > 0, "{name}: {r:?}");
        assert!(!r.unwrap_err().is_invalid_input(), "{name}");
        let u = UniqueName::new(name).unwrap();
        assert_eq!(u.odata_literal(), format!("'{}'", name.replace('\'', "''")));
    }
}

#[test]
fn unknown_permissions_are_rejected_before_any_request() {
    let graph = catalog::MICROSOFT_GRAPH.app_id;
    for value in [
        "Mail.ReadWrite",
        "user.read.all ",
        "",
        "Sites.FullControl.All",
        "x\u{0}",
    ] {
        let e = Permission::from_catalog(graph, value).unwrap_err();
        assert!(e.is_invalid_input(), "{value:?}");
    }
    let unknown: ClientId = "11111111-2222-3333-4444-555555555555".parse().unwrap();
    assert!(Permission::from_catalog(unknown, "User.Read.All").is_err());
    assert!(
        entra_appreg::profile::CustomProfile::from_pairs("Odd", [(graph, "Nope.All")])
            .unwrap_err()
            .is_invalid_input()
    );
    for value in [
        "has space".to_owned(),
        String::new(),
        "x".repeat(121),
        "tab\t".into(),
    ] {
        assert!(Permission::with_role_id(graph, &value, uuid::Uuid::nil().into()).is_err());
    }
}

/// Strings with a fair share of what breaks parsers: controls, quotes, separators, non-ASCII,
/// long runs.
fn nasty_string() -> BoxedStrategy<String> {
    prop_oneof![
        "\\PC{0,40}",
        ".{0,40}",
        "[ -~]{0,300}",
        "[a-z0-9' &#%/?\\-]{1,40}",
        (long_string(300), "[a-z]{0,3}").prop_map(|(a, b)| a + &b),
        vec(
            prop::sample::select(vec![
                'a', ' ', '\'', '\t', '\n', '\0', '\u{85}', 'é', '日', '.', '-', '\u{202E}',
                '\u{200B}', '\u{FEFF}'
            ]),
            0..270
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
    .boxed()
}

#[test]
fn any_tenant_string_is_parsed_or_rejected_before_any_request() {
    check("tenants", nasty_string(), |s| {
        let inputs = Inputs {
            tenant: s.clone(),
            ..Inputs::default()
        };
        match s.parse::<Tenant>() {
            Ok(t) => {
                // Accepted: a GUID or a plain domain, shown back the same way.
                let shown = t.to_string();
                prop_assert!(
                    shown
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
                    "{shown:?}"
                );
                prop_assert_eq!(shown.parse::<Tenant>().unwrap(), t);
            }
            Err(e) => {
                prop_assert!(e.is_invalid_input());
                prop_assert!(
                    rejected_before_sending(&inputs).is_ok(),
                    "{:?}",
                    install(&inputs)
                );
            }
        }
        Ok(())
    });
}

/// Characters a name must not hold, so that it reads in the portal as what it is: control
/// characters, and invisible formatting (soft hyphen, zero-width characters, bidirectional
/// embeddings, overrides and isolates, the Arabic letter mark, line and paragraph separators,
/// word joiners, the byte-order mark).
fn shown_wrongly(c: char) -> bool {
    c.is_control()
        || matches!(
            c as u32,
            0xAD | 0x061C
                | 0x200B..=0x200F
                | 0x2028..=0x2029
                | 0x202A..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x2069
                | 0xFEFF
        )
}

#[test]
fn any_display_name_is_accepted_only_if_graph_would_take_it() {
    check("display names", nasty_string(), |name| {
        let valid = !name.trim().is_empty()
            && name.chars().count() <= 256
            && !name.chars().any(shown_wrongly)
            && name.chars().any(|c| c.is_ascii_alphanumeric());
        let r = AppRegistration::new(name.clone(), PermissionProfile::MigrationSource);
        prop_assert_eq!(r.is_ok(), valid, "{:?}", r.as_ref().err());
        if let Ok(reg) = r {
            let u = reg.unique_name().as_str();
            prop_assert!(!u.is_empty() && u.len() <= 256);
            prop_assert!(
                u.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
        } else {
            let inputs = Inputs {
                display_name: name,
                ..Inputs::default()
            };
            prop_assert!(rejected_before_sending(&inputs).is_ok());
        }
        Ok(())
    });
}

#[test]
fn any_unique_name_is_accepted_only_if_graph_would_take_it() {
    check("unique names", nasty_string(), |name| {
        let valid = !name.trim().is_empty()
            && name.chars().count() <= 256
            && !name.chars().any(shown_wrongly)
            && name == name.trim();
        let r = UniqueName::new(name.clone());
        prop_assert_eq!(r.is_ok(), valid, "{:?}", r.as_ref().err());
        match r {
            Ok(u) => prop_assert_eq!(u.odata_literal(), format!("'{}'", name.replace('\'', "''"))),
            Err(e) => {
                prop_assert!(e.is_invalid_input());
                prop_assert!(e.to_string().chars().count() < 1_000, "a long message");
            }
        }
        Ok(())
    });
}

#[test]
fn any_profile_name_is_one_of_the_four_or_rejected() {
    check("profile names", nasty_string(), |name| {
        let norm: String = name
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let known = PermissionProfile::NAMES
            .iter()
            .any(|n| n.replace('-', "").to_lowercase() == norm);
        match name.parse::<PermissionProfile>() {
            Ok(p) => prop_assert!(known, "{name:?} parsed as {p}"),
            Err(e) => {
                prop_assert!(!known);
                prop_assert!(e.is_invalid_input());
            }
        }
        Ok(())
    });
}

#[test]
fn unique_names_with_quotes_and_separators_round_trip_through_the_fake_tenant() {
    // Printable names with OData and URL metacharacters: the app is created under exactly that
    // name, and a second run finds it instead of creating another.
    let strategy = "[a-z0-9'\"&#%/?+=(),$: \\-]{0,30}".prop_map(|s| format!("u{s}z"));
    let runner_cases = 32;
    let ran = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: runner_cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |name| {
        ran.fetch_add(1, Ordering::Relaxed);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let fake = entra_appreg_fake::FakeGraph::start().await;
            let (graph, _) = common::fake_graph(&fake);
            let reg = AppRegistration::new("Contoso Backup", PermissionProfile::MigrationSource)
                .unwrap()
                .with_unique_name(UniqueName::new(name.clone()).unwrap());
            let first = reg
                .apply(&graph)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = reg
                .apply(&graph)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let snap = fake.snapshot();
            prop_assert_eq!(snap.applications.len(), 1);
            prop_assert_eq!(
                snap.applications[0].unique_name.as_deref(),
                Some(name.as_str())
            );
            prop_assert!(first.created && !again.created);
            prop_assert_eq!(first.client_id, again.client_id);
            prop_assert!(again.changes.is_empty(), "{:?}", again.changes);
            Ok::<(), TestCaseError>(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let ran = ran.load(Ordering::Relaxed);
    eprintln!("property unique names through the fake: {ran} cases");
    assert!(ran >= runner_cases as usize);
}

/// A JWT-shaped token with these claims (unsigned: the crate only reads claims).
fn jwt(claims: Value) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.c2ln",
        e.encode(br#"{"alg":"none"}"#),
        e.encode(claims.to_string())
    )
}

#[test]
fn token_lifetimes_at_the_edges_of_time_are_accepted_without_panicking() {
    let huge = [u64::MAX, i64::MAX as u64, 1 << 62, 253_402_300_800];
    let mut probes = 0;
    // `expires_in` from the token endpoint.
    for expires_in in huge.iter().copied().chain([0, 1, 3599]) {
        let body =
            json!({"access_token": "a.b.c", "expires_in": expires_in, "token_type": "Bearer"});
        let (graph, _, _) = graph_answering(Canned::new(200, body.to_string().into_bytes()));
        let credential = ClientSecretCredential::new(
            "5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse().unwrap(),
            ClientSecret::new("s3cret-value"),
        );
        let token = block_on(graph.token_from(&credential)).unwrap();
        assert_eq!(token.expose_secret(), "a.b.c");
        probes += 1;
    }
    // The `exp` claim of a token without `expires_in`, from the endpoint or from the caller.
    for exp in huge.iter().copied().chain([0, 1]) {
        let token = jwt(json!({"exp": exp, "tid": common::TENANT}));
        let body = json!({"access_token": token, "token_type": "Bearer"});
        let (graph, _, _) = graph_answering(Canned::new(200, body.to_string().into_bytes()));
        let fetched = block_on(graph.token_from(&DeviceCodeCredential::new(|_| {})));
        // The device-code reply is this same body: no device code, a typed error.
        typed_and_bounded(&fetched.unwrap_err(), &["decode"]).unwrap();
        let credential = ClientSecretCredential::new(
            "5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse().unwrap(),
            ClientSecret::new("s3cret-value"),
        );
        block_on(graph.token_from(&credential)).unwrap();
        let t = entra_appreg::AccessToken::new(token.clone());
        let _ = (t.is_fresh(), t.expires_at(), t.claims());
        let _ = StaticToken::new(token);
        probes += 1;
    }
    eprintln!("token lifetime edges: {probes} probes");
    assert_eq!(probes, 7 + 6);
}

// ----- certificates --------------------------------------------------------------------------

/// One real certificate with its key, made once.
fn real() -> &'static Certificate {
    static REAL: std::sync::OnceLock<Certificate> = std::sync::OnceLock::new();
    REAL.get_or_init(|| Certificate::generate("Contoso Backup", 365).expect("a certificate"))
}

fn real_pem() -> String {
    real().to_pem() + real().private_key_pem().unwrap().expose_secret()
}

fn pfx_password() -> SecretString {
    SecretString::from("correct horse".to_owned())
}

/// The real certificate as a PFX, in both encryptions.
fn real_pfx() -> &'static [(PfxEncryption, Vec<u8>); 2] {
    static PFX: std::sync::OnceLock<[(PfxEncryption, Vec<u8>); 2]> = std::sync::OnceLock::new();
    PFX.get_or_init(|| {
        [PfxEncryption::Aes256, PfxEncryption::LegacyTripleDes]
            .map(|e| (e, real().to_pfx(&pfx_password(), e).expect("a PFX")))
    })
}

fn cert_fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/certs/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A message signed with the certificate's private key verifies with the certificate's public
/// key: an imported key is the certificate's, whole.
fn signs_verifiably(c: &Certificate) -> bool {
    let Some(key) = c.private_key_pem() else {
        return false;
    };
    let key = pem::parse(key.expose_secret()).unwrap().into_contents();
    let Ok(pair) = aws_lc_rs::rsa::KeyPair::from_pkcs8(&key) else {
        return false;
    };
    let message = b"a client assertion";
    let mut signature = vec![0u8; pair.public_modulus_len()];
    if pair
        .sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut signature,
        )
        .is_err()
    {
        return false;
    }
    let (_, parsed) = x509_parser::parse_x509_certificate(c.der()).unwrap();
    let public = &parsed.public_key().subject_public_key.data;
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public.as_ref(),
    )
    .verify(message, &signature)
    .is_ok()
}

/// An import's outcome: a certificate (with a whole key when it has one) or a typed, bounded
/// error.
fn imported(r: Result<Certificate, Error>) -> Result<Option<Certificate>, TestCaseError> {
    match r {
        Ok(c) => {
            prop_assert!(c.key_bits() >= 2048, "{c:?}");
            prop_assert!(
                !c.has_private_key() || signs_verifiably(&c),
                "a key that does not sign for its certificate: {c:?}"
            );
            Ok(Some(c))
        }
        Err(e) => {
            typed_and_bounded(&e, &["invalid input"])?;
            Ok(None)
        }
    }
}

/// PEM blocks of any label and contents, among any text.
fn pem_like() -> BoxedStrategy<String> {
    let block = (
        prop::sample::select(vec![
            "CERTIFICATE",
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "PUBLIC KEY",
            "X509 CRL",
        ]),
        vec(any::<u8>(), 0..1_500),
    )
        .prop_map(|(label, bytes)| pem::encode(&pem::Pem::new(label, bytes)));
    prop_oneof![
        2 => vec(block, 1..4).prop_map(|b| b.concat()),
        1 => "\\PC{0,400}",
        1 => ".{0,400}",
        1 => ("[ -~]{0,20}", "[A-Z ]{0,12}", "[A-Za-z0-9+/=\\n]{0,600}").prop_map(|(a, l, b)| {
            format!("{a}-----BEGIN {l}-----\n{b}\n-----END {l}-----\n")
        }),
    ]
    .boxed()
}

#[test]
fn any_pem_text_gives_a_certificate_or_a_typed_error() {
    // Tags the parser quotes back, with a terminal escape and a line break in them.
    for text in [
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END \u{1b}[31mCERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE,----\r\n-----\n",
    ] {
        let e = Certificate::from_pem(text).unwrap_err();
        typed_and_bounded(&e, &["invalid input"]).unwrap();
    }
    check("certificate PEM text", pem_like(), |text| {
        imported(Certificate::from_pem(&text)).map(|_| ())
    });
}

#[test]
fn valid_pem_truncated_at_every_length_gives_a_typed_error_or_the_certificate() {
    let text = real_pem();
    let mut keyed = 0;
    for n in 0..=text.len() {
        let Some(c) = imported(Certificate::from_pem(&text[..n]))
            .unwrap_or_else(|e| panic!("truncated at {n}: {e}"))
        else {
            continue;
        };
        assert_eq!(c.thumbprint(), real().thumbprint(), "truncated at {n}");
        if c.has_private_key() {
            // Only the whole text, or the text without some of its last line end, has the key.
            let kept = &text[..n];
            assert!(
                kept.trim_end().ends_with("-----END PRIVATE KEY-----"),
                "a key from {kept:?}"
            );
            keyed += 1;
        }
    }
    assert!(keyed >= 1, "the whole text lost its key");
    eprintln!("truncated PEM: {} lengths", text.len() + 1);
}

/// `bytes` with the byte at `at` XORed with `mask` (never 0).
fn flipped(bytes: &[u8], at: prop::sample::Index, mask: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let i = at.index(b.len());
    b[i] ^= mask;
    b
}

#[test]
fn valid_pem_with_a_flipped_byte_gives_a_typed_error_or_a_whole_certificate() {
    let text = real_pem().into_bytes();
    check(
        "certificate PEM with a flipped byte",
        (any::<prop::sample::Index>(), 1u8..=255),
        |(at, mask)| {
            let text = String::from_utf8_lossy(&flipped(&text, at, mask)).into_owned();
            imported(Certificate::from_pem(&text)).map(|_| ())
        },
    );
    // The same in the DER of the certificate or of the key, PEM-encoded again.
    let cert = real().der().to_vec();
    let key = pem::parse(real().private_key_pem().unwrap().expose_secret())
        .unwrap()
        .into_contents();
    check(
        "certificate and key DER with a flipped byte",
        (any::<bool>(), any::<prop::sample::Index>(), 1u8..=255),
        |(in_key, at, mask)| {
            let (c, k) = if in_key {
                (cert.clone(), flipped(&key, at, mask))
            } else {
                (flipped(&cert, at, mask), key.clone())
            };
            let text = pem::encode(&pem::Pem::new("CERTIFICATE", c))
                + &pem::encode(&pem::Pem::new("PRIVATE KEY", k));
            imported(Certificate::from_pem(&text)).map(|_| ())
        },
    );
}

#[test]
fn any_der_bytes_give_a_certificate_or_a_typed_error() {
    let der = real().der().to_vec();
    let strategy = prop_oneof![
        vec(any::<u8>(), 0..2_000),
        (any::<prop::sample::Index>(), 1u8..=255)
            .prop_map(move |(at, mask)| flipped(&der, at, mask)),
    ];
    check("certificate DER bytes", strategy, |bytes| {
        if let Some(c) = imported(Certificate::from_der(&bytes))? {
            prop_assert!(!c.has_private_key());
        }
        Ok(())
    });
}

#[test]
fn a_real_der_truncated_at_every_length_is_refused() {
    let der = real().der();
    for n in 0..der.len() {
        let r = Certificate::from_der(&der[..n]);
        let e = r
            .map(|c| c.thumbprint().clone())
            .expect_err(&format!("truncated at {n} accepted"));
        typed_and_bounded(&e, &["invalid input"]).unwrap();
    }
    assert_eq!(
        Certificate::from_der(der).unwrap().thumbprint(),
        real().thumbprint()
    );
    eprintln!("truncated DER: {} lengths", der.len() + 1);
}

#[test]
fn a_real_der_with_bytes_after_it_is_refused_or_read_as_itself() {
    // The thumbprint and the uploaded key are the certificate's own, never the trailing bytes'.
    for tail in [&b"\0"[..], b"\n", b"\r\n", b"junk", &[0x30, 0x00]] {
        let mut bytes = real().der().to_vec();
        bytes.extend_from_slice(tail);
        if let Ok(c) = Certificate::from_der(&bytes) {
            assert_eq!(c.thumbprint(), real().thumbprint(), "tail {tail:?}");
            assert_eq!(c.der(), real().der(), "tail {tail:?}");
        }
    }
}

#[test]
fn any_pfx_bytes_give_a_certificate_or_a_typed_error() {
    let pfx = real_pfx()[0].1.clone();
    let strategy = prop_oneof![
        3 => vec(any::<u8>(), 0..3_000),
        1 => (any::<prop::sample::Index>(), 1u8..=255).prop_map(move |(at, mask)| flipped(&pfx, at, mask)),
    ];
    check_cases("PFX bytes", 128, strategy, |bytes| {
        imported(Certificate::from_pfx(&bytes, &pfx_password())).map(|_| ())
    });
}

#[test]
fn a_real_pfx_truncated_or_opened_with_a_wrong_password_is_refused() {
    let mut lengths = 0;
    for (encryption, pfx) in real_pfx() {
        for n in 0..pfx.len() {
            let e = Certificate::from_pfx(&pfx[..n], &pfx_password())
                .map(|c| c.thumbprint().clone())
                .expect_err(&format!("{encryption:?} truncated at {n} accepted"));
            typed_and_bounded(&e, &["invalid input"]).unwrap();
            lengths += 1;
        }
        for wrong in [
            "",
            "correct horse ",
            "Correct horse",
            "correct\0horse",
            "ćorrect horse",
        ] {
            let e = Certificate::from_pfx(pfx, &SecretString::from(wrong.to_owned()))
                .map(|c| c.thumbprint().clone())
                .expect_err(&format!("{encryption:?} opened with {wrong:?}"));
            typed_and_bounded(&e, &["invalid input"]).unwrap();
        }
        let back = Certificate::from_pfx(pfx, &pfx_password()).unwrap();
        assert_eq!(back.thumbprint(), real().thumbprint());
    }
    eprintln!("truncated PFX: {lengths} lengths");
}

#[test]
fn any_file_gives_a_certificate_or_a_typed_error() {
    let dir = std::env::temp_dir().join(format!("appreg-hostile-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("input");
    let pem = real_pem().into_bytes();
    let pfx = real_pfx()[1].1.clone();
    let strategy = prop_oneof![
        vec(any::<u8>(), 0..2_000),
        vec(any::<u8>(), 0..200).prop_map(|b| [&b"-----BEGIN CERTIFICATE-----\n"[..], &b].concat()),
        vec(any::<u8>(), 0..200).prop_map(|b| [&b"\xff\xfe-----BEGIN"[..], &b].concat()),
        (0..pem.len()).prop_map(move |n| pem[..n].to_vec()),
        (0..pfx.len()).prop_map(move |n| pfx[..n].to_vec()),
    ];
    check_cases("certificate files", 128, strategy, |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        imported(Certificate::from_file(&path, None))?;
        imported(Certificate::from_file(&path, Some(&pfx_password())))?;
        Ok(())
    });
    // Nothing there, a folder, an empty file.
    std::fs::write(&path, b"").unwrap();
    for p in [dir.join("missing.pem"), dir.clone(), path.clone()] {
        let e = Certificate::from_file(&p, None).unwrap_err();
        typed_and_bounded(&e, &["invalid input", "file"]).unwrap();
    }
    // The real files read back.
    std::fs::write(&path, real_pem()).unwrap();
    assert!(
        Certificate::from_file(&path, None)
            .unwrap()
            .has_private_key()
    );
    std::fs::write(&path, &real_pfx()[0].1).unwrap();
    assert!(
        Certificate::from_file(&path, Some(&pfx_password()))
            .unwrap()
            .has_private_key()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A client whose transport counts every request (Graph and sign-in) and answers none.
fn counting_graph() -> (Graph, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let count = sent.clone();
    let transport = move |_req: http::Request<Vec<u8>>| {
        count.fetch_add(1, Ordering::Relaxed);
        async move {
            Ok::<_, TransportError>(
                http::Response::builder()
                    .status(599)
                    .body(Vec::new())
                    .unwrap(),
            )
        }
    };
    let graph = Graph::builder()
        .tenant(common::TENANT)
        .graph_root("http://127.0.0.1:9")
        .login_root("http://127.0.0.1:9")
        .token_provider(StaticToken::new("t.t.t"))
        .transport(transport)
        .sleeper(RecordingSleeper::default())
        .build()
        .unwrap();
    (graph, sent)
}

/// A certificate made with rcgen, valid from `from` to `to` days from now, with its key.
fn certificate_valid(from: i64, to: i64) -> Certificate {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() + time::Duration::days(from);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(to);
    let cert = params.self_signed(&key).unwrap();
    Certificate::from_pem(&(cert.pem() + &key.serialize_pem())).unwrap()
}

#[test]
fn unusable_credentials_are_rejected_before_any_request() {
    let (graph, sent) = counting_graph();
    let secret = |days| NewCredential::Secret(SecretOptions::valid_for_days(days));
    let certificate = |c: Certificate| NewCredential::Certificate(Box::new(c));
    let cases: Vec<(&str, PermissionProfile, NewCredential)> = vec![
        (
            "a secret of 0 days",
            PermissionProfile::BackupExchange,
            secret(0),
        ),
        (
            "a secret of 3651 days",
            PermissionProfile::MigrationSource,
            secret(3_651),
        ),
        (
            "a secret of 10^6 days",
            PermissionProfile::BackupExchange,
            secret(1_000_000),
        ),
        (
            "a secret of u32::MAX days",
            PermissionProfile::BackupExchange,
            secret(u32::MAX),
        ),
        (
            "a secret for Backup-SharePoint",
            PermissionProfile::BackupSharePoint,
            secret(365),
        ),
        (
            "a secret with a newline in its description",
            PermissionProfile::BackupExchange,
            NewCredential::Secret(SecretOptions::default().with_description("a\nb")),
        ),
        (
            "an expired certificate",
            PermissionProfile::BackupExchange,
            certificate(certificate_valid(-30, -1)),
        ),
        (
            "a certificate valid from next week",
            PermissionProfile::BackupSharePoint,
            certificate(certificate_valid(7, 30)),
        ),
        (
            "a certificate without its key",
            PermissionProfile::BackupSharePoint,
            certificate(Certificate::from_der(real().der()).unwrap()),
        ),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (what, profile, credential) in cases {
        let reg = AppRegistration::new("Contoso Backup", profile)
            .unwrap()
            .with_credential(credential);
        for (call, r) in [
            ("plan", block_on(reg.plan(&graph)).map(|_| ())),
            ("apply", block_on(reg.apply(&graph)).map(|_| ())),
        ] {
            checked += 1;
            let n = sent.load(Ordering::Relaxed);
            match r {
                Err(e) if e.is_invalid_input() && n == 0 => {}
                Err(e) => failures.push(format!("{what} ({call}): {n} requests, then {e}")),
                Ok(()) => failures.push(format!("{what} ({call}): accepted, {n} requests")),
            }
        }
    }
    // A certificate of 0 days, or too long, is refused at generation; a 1024-bit one at import.
    for days in [0, 3_651, u32::MAX] {
        checked += 1;
        match Certificate::generate("Contoso Backup", days) {
            Err(e) if e.is_invalid_input() => {}
            other => failures.push(format!("a certificate of {days} days: {other:?}")),
        }
    }
    let weak_cert = cert_fixture("rsa1024.pem");
    let weak_der = pem::parse(&weak_cert).unwrap().into_contents();
    for (what, r) in [
        (
            "PEM with its key",
            Certificate::from_pem(&(weak_cert.clone() + &cert_fixture("rsa1024.key.pem"))),
        ),
        ("PEM alone", Certificate::from_pem(&weak_cert)),
        ("DER", Certificate::from_der(&weak_der)),
    ] {
        checked += 1;
        match r {
            Err(e) if e.is_invalid_input() && e.to_string().contains("1024 bits") => {}
            other => failures.push(format!("a 1024-bit certificate ({what}): {other:?}")),
        }
    }
    // The control: a usable certificate reaches the transport.
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(certificate(real().clone()));
    assert!(block_on(reg.plan(&graph)).is_err());
    assert!(sent.load(Ordering::Relaxed) > 0, "the control sent nothing");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("unusable credentials rejected before any request: {checked} checks");
}
