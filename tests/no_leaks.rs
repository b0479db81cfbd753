//! No leaks: the flows run with a tracing subscriber at TRACE that captures everything, and a
//! transport that records every secret crossing the wire — access tokens, device codes, client
//! secrets (sent and issued). None of them may appear in the logs, in the `Debug` or `Display`
//! of the public values the flows return, or in any error.

mod common;

use std::fmt::Debug;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use entra_appreg::auth::{ClientSecret, ClientSecretCredential, DeviceCodeCredential, StaticToken};
use entra_appreg::fake::{CallerRole, FakeGraph};
use entra_appreg::graph::{BatchItem, GraphRequest, requests};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg::retry::RecordingSleeper;
use entra_appreg::transport::{GraphTransport, ReqwestTransport, TransportError};
use entra_appreg::{Error, Graph};
use serde_json::Value;

/// Everything every subscriber event and span wrote, from every test of this file.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

/// The secrets that crossed the wire, by kind.
#[derive(Default, Debug)]
struct Secrets {
    access_tokens: Vec<String>,
    device_codes: Vec<String>,
    client_secrets: Vec<String>,
}

impl Secrets {
    fn all(&self) -> Vec<(&'static str, &String)> {
        self.access_tokens
            .iter()
            .map(|s| ("access token", s))
            .chain(self.device_codes.iter().map(|s| ("device code", s)))
            .chain(self.client_secrets.iter().map(|s| ("client secret", s)))
            .collect()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    AccessToken,
    DeviceCode,
    ClientSecret,
}

/// Wraps the default transport and keeps every secret it carries: bearer tokens and form
/// secrets sent, tokens, device codes and secret texts received.
#[derive(Clone)]
struct Spy {
    inner: Arc<ReqwestTransport>,
    seen: Arc<Mutex<Secrets>>,
}

impl Spy {
    fn new() -> Self {
        Self {
            inner: Arc::new(ReqwestTransport::new().unwrap()),
            seen: Arc::default(),
        }
    }

    fn keep(&self, kind: Kind, value: &str) {
        let mut seen = self.seen.lock().unwrap();
        let list = match kind {
            Kind::AccessToken => &mut seen.access_tokens,
            Kind::DeviceCode => &mut seen.device_codes,
            Kind::ClientSecret => &mut seen.client_secrets,
        };
        if !value.is_empty() && !list.iter().any(|v| v == value) {
            list.push(value.to_owned());
        }
    }
}

#[async_trait]
impl GraphTransport for Spy {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if let Some(bearer) = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            self.keep(Kind::AccessToken, bearer);
        }
        for (k, v) in url::form_urlencoded::parse(request.body()) {
            match k.as_ref() {
                "client_secret" => self.keep(Kind::ClientSecret, &v),
                "device_code" => self.keep(Kind::DeviceCode, &v),
                _ => {}
            }
        }
        let response = self.inner.send(request).await?;
        if let Ok(body) = serde_json::from_slice::<Value>(response.body()) {
            for (field, kind) in [
                ("access_token", Kind::AccessToken),
                ("device_code", Kind::DeviceCode),
                ("secretText", Kind::ClientSecret),
            ] {
                if let Some(v) = body.get(field).and_then(Value::as_str) {
                    self.keep(kind, v);
                }
            }
        }
        Ok(response)
    }
}

/// Fails with every place a secret shows up in `texts` (what was shown and where).
fn assert_no_secret(secrets: &Secrets, texts: &[(String, String)]) -> usize {
    let mut leaks = Vec::new();
    let mut probes = 0;
    for (kind, secret) in secrets.all() {
        for (where_, text) in texts {
            probes += 1;
            if text.contains(secret.as_str()) {
                leaks.push(format!("a {kind} in {where_}"));
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    probes
}

/// `Debug` and `Display` (when there is one) of a value, labelled.
fn shown<T: Debug>(label: &str, value: &T) -> (String, String) {
    (format!("Debug of {label}"), format!("{value:?}"))
}

fn error_texts(label: &str, e: &Error) -> Vec<(String, String)> {
    let mut out = vec![
        (format!("Display of {label}"), e.to_string()),
        shown(label, e),
    ];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push((format!("source of {label}"), s.to_string()));
        source = s.source();
    }
    out
}

fn graph_with(
    fake: &FakeGraph,
    spy: &Spy,
    provider: impl entra_appreg::TokenProvider + 'static,
) -> Graph {
    Graph::builder()
        .tenant(fake.tenant_domain())
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(provider)
        .transport(spy.clone())
        .sleeper(RecordingSleeper::default())
        .build()
        .unwrap()
}

#[tokio::test]
async fn device_code_sign_in_registration_secrets_and_errors_leak_nothing() {
    logs();
    let fake = FakeGraph::builder()
        .device_code_polls_before_approval(2)
        .start()
        .await;
    let spy = Spy::new();
    let mut texts: Vec<(String, String)> = Vec::new();

    // An admin signs in with the device code and registers the app; plan, apply, re-apply.
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let seen = prompts.clone();
    let device = DeviceCodeCredential::new(move |p| seen.lock().unwrap().push(p.clone()));
    let graph = graph_with(&fake, &spy, device);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .on_progress(|e| tracing::info!(event = %e, "progress seen by the installer"));
    let plan = reg.plan(&graph).await.unwrap();
    let app = reg.apply(&graph).await.unwrap();
    let again = reg.apply(&graph).await.unwrap();
    let token = graph.access_token().await.unwrap();
    texts.push(shown("the plan", &plan));
    texts.push(("Display of the plan".into(), plan.to_string()));
    texts.push((
        "JSON of the plan".into(),
        serde_json::to_string(&plan).unwrap(),
    ));
    texts.push(shown("the registered app", &app));
    texts.push((
        "JSON of the registered app".into(),
        serde_json::to_string(&app).unwrap(),
    ));
    texts.push(shown("the re-run", &again));
    texts.push(shown("the client", &graph));
    texts.push(shown("the admin's token", &token));
    texts.push(shown("the token's claims", &token.claims()));
    texts.push(shown("the device-code prompts", &*prompts.lock().unwrap()));

    // A secret for the app: the reply holds its text.
    let add = requests::add_password(
        app.application_object_id,
        "installer",
        time::OffsetDateTime::now_utc() + time::Duration::days(30),
    )
    .unwrap();
    texts.push(shown("the addPassword request", &add));
    let reply = graph.send(&add).await.unwrap();
    texts.push(shown("the addPassword reply", &reply));
    let secret_text = reply.json::<Value>().unwrap()["secretText"]
        .as_str()
        .unwrap()
        .to_owned();
    let batched = graph
        .batch(vec![BatchItem::new(
            "pw",
            requests::add_password(
                app.application_object_id,
                "installer 2",
                time::OffsetDateTime::now_utc() + time::Duration::days(30),
            )
            .unwrap(),
        )])
        .await
        .unwrap();
    texts.push(shown("a batched addPassword reply", &batched));
    let second_secret = batched[0].json::<Value>().unwrap()["secretText"]
        .as_str()
        .unwrap()
        .to_owned();
    spy.keep(Kind::ClientSecret, &second_secret);

    // The app signs in with its secret, and with a wrong one.
    let as_app = ClientSecretCredential::new(app.client_id, ClientSecret::new(secret_text.clone()));
    let app_token = graph.token_from(&as_app).await.unwrap();
    texts.push(shown("the app's credential", &as_app));
    texts.push(shown("the app's token", &app_token));
    let wrong = ClientSecretCredential::new(
        app.client_id,
        ClientSecret::new("Qx8Q~not-the-secret-0123456789"),
    );
    let e = graph.token_from(&wrong).await.unwrap_err();
    texts.extend(error_texts("a wrong secret's error", &e));

    // Graph errors while holding tokens: 403 on Graph grants, 401 with a stranger's token.
    fake.set_caller_role(CallerRole::CloudApplicationAdministrator);
    let other = AppRegistration::new("Contoso Other", PermissionProfile::MigrationSource).unwrap();
    let partial = other.apply(&graph).await.unwrap();
    texts.push(shown("a partial consent", &partial.consent));
    let stranger = graph_with(&fake, &spy, StaticToken::new(fake.admin_token() + "x"));
    let e = stranger
        .send(&GraphRequest::get("/applications"))
        .await
        .unwrap_err();
    texts.extend(error_texts("a refused token's error", &e));
    let e = reg.apply(&stranger).await.unwrap_err();
    texts.extend(error_texts("a refused registration's error", &e));

    // A declined device-code sign-in.
    fake.decline_device_code(true);
    let declined = graph_with(&fake, &spy, DeviceCodeCredential::new(|_| {}));
    let e = declined.access_token().await.unwrap_err();
    texts.extend(error_texts("a declined sign-in's error", &e));

    // What the fake itself shows.
    texts.push(shown("the fake's request log", &fake.requests()));
    texts.push(shown("the fake's snapshot", &fake.snapshot()));
    texts.push(shown("the fake", &fake));

    texts.push(("the TRACE logs".into(), captured()));
    let secrets = spy.seen.lock().unwrap();
    // The probes cover every kind: the admin's device-code token, the app's token, the
    // stranger's, device codes of both sign-ins, both issued secrets and the two sent.
    assert!(
        secrets.access_tokens.len() >= 3,
        "{:?}",
        secrets.access_tokens.len()
    );
    assert!(secrets.device_codes.len() >= 2);
    assert!(secrets.client_secrets.len() >= 3);
    assert!(secrets.client_secrets.contains(&secret_text));
    let logs = captured();
    for expected in ["graph.request", "sign-in request", "appreg", "progress"] {
        assert!(logs.contains(expected), "the capture missed {expected:?}");
    }
    let probes = assert_no_secret(&secrets, &texts);
    eprintln!(
        "leak probes: {} secrets ({} access tokens, {} device codes, {} client secrets) × {} texts = {probes}, {} bytes of TRACE logs",
        secrets.all().len(),
        secrets.access_tokens.len(),
        secrets.device_codes.len(),
        secrets.client_secrets.len(),
        texts.len(),
        logs.len()
    );
}

/// A proxy that answers with an error page echoing the request it got, body first, then its
/// headers, as some misconfigured proxies do.
fn echoing_proxy(status: u16) -> impl GraphTransport {
    move |req: http::Request<Vec<u8>>| {
        let mut page = format!(
            "<html><body><h1>{status} Bad Gateway</h1><pre>{}\n",
            String::from_utf8_lossy(req.body())
        );
        for (k, v) in req.headers() {
            page.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("")));
        }
        page.push_str("</pre></body></html>");
        async move {
            Ok::<_, TransportError>(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "text/html")
                    .body(page.into_bytes())
                    .unwrap(),
            )
        }
    }
}

#[tokio::test]
async fn a_proxy_that_echoes_the_request_into_its_error_page_leaks_no_secret() {
    logs();
    let tokens = [
        // A JWT, as Entra issues them, and an opaque token, as a caller may hold.
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA".to_owned(),
        "opaque-token-7f3a9c2e41d84b6a9e0f5c1d2b3a4c5d".to_owned(),
    ];
    let client_secret = "Qx8Q~echoed-secret-abcdefghijklmnop";
    let mut texts = Vec::new();
    for token in &tokens {
        for status in [200u16, 400, 502] {
            let graph = Graph::builder()
                .tenant(common::TENANT)
                .graph_root("http://127.0.0.1:9")
                .login_root("http://127.0.0.1:9")
                .token_provider(StaticToken::new(token.clone()))
                .transport(echoing_proxy(status))
                .sleeper(RecordingSleeper::default())
                .build()
                .unwrap();
            let e = graph
                .send_json::<Value>(&GraphRequest::get("/applications"))
                .await
                .unwrap_err();
            texts.extend(error_texts(
                &format!("an echoed Graph request ({status})"),
                &e,
            ));
            let e = graph
                .batch(vec![BatchItem::new(
                    "a",
                    GraphRequest::get("/applications"),
                )])
                .await
                .unwrap_err();
            texts.extend(error_texts(&format!("an echoed $batch ({status})"), &e));
            let credential = ClientSecretCredential::new(
                "5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse().unwrap(),
                ClientSecret::new(client_secret),
            );
            let e = graph.token_from(&credential).await.unwrap_err();
            texts.extend(error_texts(
                &format!("an echoed token request ({status})"),
                &e,
            ));
        }
    }
    // The echoes reached the errors, redacted.
    for echoed in [
        "authorization: Bearer <redacted>",
        "client_secret=<redacted>",
    ] {
        assert!(
            texts.iter().any(|(_, t)| t.contains(echoed)),
            "no error shows {echoed:?}"
        );
    }
    texts.push(("the TRACE logs".into(), captured()));
    let secrets = Secrets {
        access_tokens: tokens.to_vec(),
        device_codes: Vec::new(),
        client_secrets: vec![client_secret.to_owned()],
    };
    let probes = assert_no_secret(&secrets, &texts);
    eprintln!("echo leak probes: {probes}");
}
