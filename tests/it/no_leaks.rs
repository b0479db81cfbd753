//! No leaks: the flows run with a tracing subscriber at TRACE that captures everything, and a
//! transport that records every secret crossing the wire — access tokens, device codes, client
//! secrets (sent and issued). None of them may appear in the logs, in the `Debug` or `Display`
//! of the public values the flows return, or in any error.

use std::fmt::Debug;
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::common;
use crate::common::requests;
use async_trait::async_trait;
use entra_appreg::auth::{
    AssertionAlgorithm, ClientCertificateCredential, ClientSecret, ClientSecretCredential,
    DeviceCodeCredential, StaticToken,
};
use entra_appreg::credentials::{
    Certificate, CertificateOutput, ConnectionDetails, CredentialProvisioner, IssuedCredential,
    NewCredential, NewSecret, SecretOptions,
};
use entra_appreg::graph::{BatchItem, GraphRequest};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::AppRegistration;
use entra_appreg::retry::RecordingSleeper;
use entra_appreg::transport::{GraphTransport, ReqwestTransport, TransportError};
use entra_appreg::{Error, Graph};
use entra_appreg_fake::{CallerRole, FakeGraph, Fault, FaultRule};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// Everything a TRACE subscriber wrote, every event and span, while the capture was on.
///
/// The subscriber is this thread's default, not the process's: every integration test runs in
/// this process, and a global one would capture (and slow down) all of them. It sees the whole
/// flow all the same: `#[tokio::test]` runs a test on a current-thread runtime, on the test's
/// own thread, and the crate spawns no thread or task of its own.
struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    _on: tracing::subscriber::DefaultGuard,
}

impl Capture {
    fn start() -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        let _on = tracing::subscriber::set_default(subscriber);
        Capture { buf, _on }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }
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

/// The secrets that crossed the wire, by kind.
#[derive(Default, Debug)]
struct Secrets {
    access_tokens: Vec<String>,
    device_codes: Vec<String>,
    client_secrets: Vec<String>,
    client_assertions: Vec<String>,
    private_keys: Vec<String>,
}

impl Secrets {
    fn all(&self) -> Vec<(&'static str, &String)> {
        self.access_tokens
            .iter()
            .map(|s| ("access token", s))
            .chain(self.device_codes.iter().map(|s| ("device code", s)))
            .chain(self.client_secrets.iter().map(|s| ("client secret", s)))
            .chain(
                self.client_assertions
                    .iter()
                    .map(|s| ("client assertion", s)),
            )
            .chain(self.private_keys.iter().map(|s| ("private key", s)))
            .collect()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    AccessToken,
    DeviceCode,
    ClientSecret,
    ClientAssertion,
    PrivateKey,
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
            Kind::ClientAssertion => &mut seen.client_assertions,
            Kind::PrivateKey => &mut seen.private_keys,
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
                "client_assertion" => self.keep(Kind::ClientAssertion, &v),
                _ => {}
            }
        }
        let response = self.inner.send(request).await?;
        if let Ok(body) = serde_json::from_slice::<Value>(response.body()) {
            self.keep_from(&body);
        }
        Ok(response)
    }
}

impl Spy {
    /// Keeps the secrets of a reply, at any depth (a `$batch` reply nests its items' bodies).
    fn keep_from(&self, body: &Value) {
        match body {
            Value::Object(map) => {
                for (field, v) in map {
                    let kind = match field.as_str() {
                        "access_token" => Some(Kind::AccessToken),
                        "device_code" => Some(Kind::DeviceCode),
                        "secretText" => Some(Kind::ClientSecret),
                        _ => None,
                    };
                    match (kind, v.as_str()) {
                        (Some(kind), Some(text)) => self.keep(kind, text),
                        _ => self.keep_from(v),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.keep_from(v)),
            _ => {}
        }
    }
}

/// Every place a secret shows up in `texts` (what was shown and where), and the probe count.
fn leaks(secrets: &Secrets, texts: &[(String, String)]) -> (Vec<String>, usize) {
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
    (leaks, probes)
}

/// Fails with every place a secret shows up in `texts`; returns the probe count.
fn assert_no_secret(secrets: &Secrets, texts: &[(String, String)]) -> usize {
    let (leaks, probes) = leaks(secrets, texts);
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
    let capture = Capture::start();
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

    texts.push(("the TRACE logs".into(), capture.text()));
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
    let logs = capture.text();
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
    let capture = Capture::start();
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
    texts.push(("the TRACE logs".into(), capture.text()));
    let secrets = Secrets {
        access_tokens: tokens.to_vec(),
        client_secrets: vec![client_secret.to_owned()],
        ..Secrets::default()
    };
    let probes = assert_no_secret(&secrets, &texts);
    eprintln!("echo leak probes: {probes}");
}

/// What would show a private key: its PEM, its base64 body on one line, the last line of that
/// body (private material only), and the key's last 64 bytes as hex and as a `Debug` list.
fn key_probes(certificate: &Certificate) -> Vec<String> {
    let pem = certificate.private_key_pem().expect("a private key");
    let pem = pem.expose_secret().to_owned();
    let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let body = lines.concat();
    let last_full = lines
        .iter()
        .rev()
        .find(|l| l.len() == 64)
        .expect("a full line")
        .to_string();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .unwrap();
    let tail = &der[der.len() - 64..];
    let hex: String = tail.iter().map(|b| format!("{b:02x}")).collect();
    let list = tail
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    vec![pem, body, last_full, hex, list]
}

fn keep_key(spy: &Spy, certificate: &Certificate) {
    for probe in key_probes(certificate) {
        spy.keep(Kind::PrivateKey, &probe);
    }
}

/// `Debug` of a value and its JSON, labelled.
fn shown_and_json<T: Debug + serde::Serialize>(label: &str, value: &T) -> Vec<(String, String)> {
    vec![
        shown(label, value),
        (
            format!("JSON of {label}"),
            serde_json::to_string(value).unwrap(),
        ),
    ]
}

fn connection_texts(label: &str, details: &ConnectionDetails) -> Vec<(String, String)> {
    vec![
        (format!("Display of {label}"), details.to_string()),
        shown(label, details),
        (
            format!("to_json(false) of {label}"),
            details.to_json(false).to_string(),
        ),
        (
            format!("JSON of {label}"),
            serde_json::to_string(details).unwrap(),
        ),
    ]
}

fn secret_of(credential: Option<&IssuedCredential>) -> &NewSecret {
    match credential {
        Some(IssuedCredential::Secret(s)) => s,
        other => panic!("not a secret: {other:?}"),
    }
}

#[tokio::test]
async fn credentials_sign_in_rotation_and_a_returned_secret_leak_nothing() {
    let capture = Capture::start();
    let fake = FakeGraph::start().await;
    let spy = Spy::new();
    let admin = graph_with(&fake, &spy, StaticToken::new(fake.admin_token()));
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut issued_secrets: Vec<String> = Vec::new();

    // A registration with a new secret.
    let with_secret = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .on_progress(|e| tracing::info!(event = %e, "progress seen by the installer"));
    texts.push(shown("the registration with a secret", &with_secret));
    let secret_app = with_secret.apply(&admin).await.unwrap();
    let secret = secret_of(secret_app.credential.as_ref()).clone();
    issued_secrets.push(secret.secret.expose_secret().to_owned());
    texts.extend(shown_and_json("the app with a secret", &secret_app));
    texts.extend(shown_and_json("the issued secret", &secret));
    texts.extend(shown_and_json(
        "the issued credential",
        secret_app.credential.as_ref().unwrap(),
    ));
    let details = ConnectionDetails::new(
        secret_app.tenant_id,
        secret_app.client_id,
        secret_app.credential.clone(),
        None,
    );
    texts.extend(connection_texts(
        "the secret's connection details",
        &details,
    ));
    // The probe can see it: asked for, the secret is there.
    assert_eq!(
        details.to_json(true)["credential"]["secret"],
        secret.secret.expose_secret()
    );

    // A registration with a certificate, whose files are written first.
    let certificate = Certificate::generate("Contoso Archive", 365).unwrap();
    keep_key(&spy, &certificate);
    let dir = std::env::temp_dir().join(format!("appreg-leaks-{}", uuid::Uuid::new_v4()));
    let mut out = CertificateOutput::new(&dir, "contoso-archive");
    out.pfx_password = Some(SecretString::from("pfx password".to_owned()));
    let files = certificate.write_files(&out).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let with_cert = AppRegistration::new("Contoso Archive", PermissionProfile::BackupSharePoint)
        .unwrap()
        .with_credential(NewCredential::Certificate(Box::new(certificate.clone())))
        .on_progress(|e| tracing::info!(event = %e, "progress seen by the installer"));
    texts.push(shown("the registration with a certificate", &with_cert));
    let plan = with_cert.plan(&admin).await.unwrap();
    texts.push(("Display of the plan".into(), plan.to_string()));
    texts.extend(shown_and_json("the plan", &plan));
    let cert_app = with_cert.apply(&admin).await.unwrap();
    texts.push(shown("the certificate", &certificate));
    texts.extend(shown_and_json("the app with a certificate", &cert_app));
    texts.extend(shown_and_json(
        "the issued certificate",
        cert_app.credential.as_ref().unwrap(),
    ));
    let details = ConnectionDetails::new(
        cert_app.tenant_id,
        cert_app.client_id,
        cert_app.credential.clone(),
        Some(files),
    );
    texts.extend(connection_texts(
        "the certificate's connection details",
        &details,
    ));
    texts.push((
        "to_json(true) of the certificate's connection details".into(),
        details.to_json(true).to_string(),
    ));

    // The new apps sign in: with the certificate (RS256, PS256) and with the secret.
    for alg in [AssertionAlgorithm::Rs256, AssertionAlgorithm::Ps256] {
        let credential = ClientCertificateCredential::new(cert_app.client_id, certificate.clone())
            .unwrap()
            .with_algorithm(alg);
        let assertion = credential.assertion(&fake.token_endpoint()).unwrap();
        spy.keep(Kind::ClientAssertion, assertion.expose_secret());
        texts.push(shown(&format!("the {alg:?} assertion"), &assertion));
        let token = admin.token_from(&credential).await.unwrap();
        texts.push(shown(&format!("the {alg:?} token"), &token));
        texts.push(shown(&format!("the {alg:?} credential"), &credential));
        let as_app = graph_with(
            &fake,
            &spy,
            ClientCertificateCredential::new(cert_app.client_id, certificate.clone())
                .unwrap()
                .with_algorithm(alg),
        );
        let check = cert_app
            .wait_until_ready(
                &as_app,
                &entra_appreg::registration::ReadyOptions::default(),
            )
            .await
            .unwrap();
        assert!(check.ready, "{check}");
        texts.push(shown(&format!("the {alg:?} sign-in check"), &check));
        let token = as_app.access_token().await.unwrap();
        texts.push(shown(&format!("the {alg:?} app's token"), &token));
        texts.push(shown(&format!("the {alg:?} app's client"), &as_app));
    }
    let by_secret = ClientSecretCredential::new(secret_app.client_id, secret.secret.clone());
    let token = admin.token_from(&by_secret).await.unwrap();
    texts.push(shown("the secret's credential", &by_secret));
    texts.push(shown("the secret's token", &token));
    let as_app = graph_with(
        &fake,
        &spy,
        ClientSecretCredential::new(secret_app.client_id, secret.secret.clone()),
    );
    as_app.access_token().await.unwrap();
    texts.push(shown("the secret app's client", &as_app));

    // Refused sign-ins: a certificate that is not registered, a secret that is not the app's.
    let stranger = Certificate::generate("Contoso Stranger", 30).unwrap();
    keep_key(&spy, &stranger);
    let refused = ClientCertificateCredential::new(cert_app.client_id, stranger).unwrap();
    let e = admin.token_from(&refused).await.unwrap_err();
    assert_eq!(e.aadsts_code(), Some(700_027), "{e}");
    texts.extend(error_texts("an unregistered certificate's error", &e));
    let wrong = ClientSecretCredential::new(
        secret_app.client_id,
        ClientSecret::new(format!("{}x", secret.secret.expose_secret())),
    );
    let e = admin.token_from(&wrong).await.unwrap_err();
    texts.extend(error_texts("a wrong secret's error", &e));

    // Rotation: a secret for a secret, a certificate for a certificate; then the listing.
    let provisioner = CredentialProvisioner::new(&admin, secret_app.application_object_id);
    let rotation = provisioner
        .rotate(NewCredential::Secret(SecretOptions::default()))
        .await
        .unwrap();
    issued_secrets.push(
        secret_of(Some(&rotation.issued))
            .secret
            .expose_secret()
            .to_owned(),
    );
    assert_eq!(rotation.removed.len(), 1);
    texts.extend(shown_and_json("the secret's rotation", &rotation));
    let next = Certificate::generate("Contoso Archive", 365).unwrap();
    keep_key(&spy, &next);
    let cert_rotation = CredentialProvisioner::new(&admin, cert_app.application_object_id)
        .rotate(NewCredential::Certificate(Box::new(next)))
        .await
        .unwrap();
    texts.extend(shown_and_json("the certificate's rotation", &cert_rotation));
    for app in [&secret_app, &cert_app] {
        for info in CredentialProvisioner::new(&admin, app.application_object_id)
            .list()
            .await
            .unwrap()
        {
            texts.push(("Display of a listed credential".into(), info.to_string()));
            texts.extend(shown_and_json("a listed credential", &info));
        }
    }

    // A failed run that hands its secret back: grants and the clean-up both fail.
    let failing = FakeGraph::start().await;
    for fragment in ["appRoleAssignedTo", "removePassword"] {
        failing.inject_fault(
            FaultRule::new(Fault::Status {
                status: 500,
                retry_after: None,
            })
            .path_contains(fragment)
            .times(u32::MAX),
        );
    }
    let failing_admin = graph_with(&failing, &spy, StaticToken::new(failing.admin_token()));
    let e = AppRegistration::new("Contoso Migration", PermissionProfile::MigrationSource)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&failing_admin)
        .await
        .unwrap_err();
    let Error::CredentialNotRemoved {
        credential,
        cleanup,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    let handed_back = secret_of(Some(credential));
    issued_secrets.push(handed_back.secret.expose_secret().to_owned());
    texts.extend(error_texts("the run that handed a secret back", &e));
    texts.extend(error_texts("its clean-up's error", cleanup));
    texts.extend(shown_and_json(
        "the secret handed back",
        credential.as_ref(),
    ));
    let failed_app = failing.snapshot().applications[0].id.unwrap();
    assert_eq!(
        failing.secret_texts(failed_app),
        vec![handed_back.secret.expose_secret().to_owned()]
    );

    // Every secret text the tenants hold and every one the flows returned is probed.
    issued_secrets.extend(fake.secret_texts(secret_app.application_object_id));
    issued_secrets.extend(failing.secret_texts(failed_app));
    for s in &issued_secrets {
        spy.keep(Kind::ClientSecret, s);
    }
    texts.push(shown("the fake's request log", &fake.requests()));
    texts.push(shown("the failing fake's request log", &failing.requests()));
    texts.push(("the TRACE logs".into(), capture.text()));

    let secrets = spy.seen.lock().unwrap();
    // The probes cover every kind: the admin's token and the apps' (RS256, PS256, secret), the
    // three secrets issued and the wrong one sent, the assertions made and sent, three keys.
    assert!(secrets.access_tokens.len() >= 4, "{secrets:?}");
    assert!(secrets.client_secrets.len() >= 4);
    assert!(secrets.client_assertions.len() >= 4);
    assert_eq!(
        secrets.private_keys.len(),
        3 * key_probes(&certificate).len()
    );
    let logs = capture.text();
    for expected in ["graph.request", "sign-in request", "addPassword"] {
        assert!(logs.contains(expected), "the capture missed {expected:?}");
    }
    // The check itself finds a leak of each kind.
    let planted: Vec<(String, String)> = [
        &secrets.access_tokens[0],
        &secrets.client_secrets[0],
        &secrets.client_assertions[0],
        &secrets.private_keys[1],
    ]
    .iter()
    .enumerate()
    .map(|(i, s)| (format!("planted text {i}"), format!("x{s}x")))
    .collect();
    let found = leaks(&secrets, &planted).0;
    for (label, _) in &planted {
        assert!(
            found.iter().any(|l| l.ends_with(label.as_str())),
            "{found:?}"
        );
    }
    let probes = assert_no_secret(&secrets, &texts);
    eprintln!(
        "credential leak probes: {} secrets ({} access tokens, {} client secrets, {} client assertions, {} private-key forms) × {} texts = {probes}, {} bytes of TRACE logs",
        secrets.all().len(),
        secrets.access_tokens.len(),
        secrets.client_secrets.len(),
        secrets.client_assertions.len(),
        secrets.private_keys.len(),
        texts.len(),
        logs.len()
    );
}

/// Restores the process's umask when dropped.
#[cfg(unix)]
struct Umask(libc::mode_t);

#[cfg(unix)]
impl Drop for Umask {
    fn drop(&mut self) {
        // SAFETY: umask only swaps the process's file-creation mask.
        unsafe { libc::umask(self.0) };
    }
}

/// Set in the child process that [`key_files_are_owner_only_even_under_umask_000`] runs in.
#[cfg(unix)]
const UMASK_CHILD: &str = "ENTRA_APPREG_TEST_UMASK_CHILD";

#[cfg(unix)]
#[test]
fn key_files_are_owner_only_even_under_umask_000() {
    // The umask belongs to the whole process, and every integration test shares this one:
    // while the mask is 000, the files other tests create (and the children they start) would
    // be created under it too. So the check runs in a child process of this test program that
    // runs this test alone.
    if std::env::var_os(UMASK_CHILD).is_none() {
        let name = "no_leaks::key_files_are_owner_only_even_under_umask_000";
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(UMASK_CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&child.stdout);
        let stderr = String::from_utf8_lossy(&child.stderr);
        assert!(
            child.status.success() && stdout.contains("1 passed"),
            "the child process failed or ran no test:\n{stdout}\n{stderr}"
        );
        eprint!("{stderr}");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("appreg-umask-{}", uuid::Uuid::new_v4()));
    let certificate = Certificate::generate("Contoso Backup", 365).unwrap();
    let mut out = CertificateOutput::new(&dir, "contoso");
    out.pfx_password = Some(SecretString::from("pw".to_owned()));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut checked = 0;
    {
        // SAFETY: umask only swaps the process's file-creation mask; the guard restores it.
        let _restore = Umask(unsafe { libc::umask(0) });
        for overwrite in [false, true] {
            out.overwrite = overwrite;
            let files = certificate.write_files(&out).unwrap();
            for key_file in [&files.private_key_pem, &files.pfx] {
                let path = key_file.as_ref().unwrap();
                assert_eq!(
                    mode(path),
                    0o600,
                    "{} (overwrite {overwrite})",
                    path.display()
                );
                checked += 1;
            }
            // The public files follow the umask: the mask really was 000.
            let cer = files.certificate_cer.as_ref().unwrap();
            assert_eq!(mode(cer), 0o644, "{}", cer.display());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("owner-only key files under umask 000: {checked}");
}
