//! The admin's browser sign-in (authorization code with PKCE on a loopback redirect) against
//! the fake tenant's sign-in page: with a scripted browser, with hostile input at the
//! listener, and with a real headless Chromium (`.ci/run` installs it and runs that test).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use entra_appreg::auth::InteractiveBrowserCredential;
use entra_appreg::{Error, Graph};
use entra_appreg_fake::{FakeGraph, RecordedRequest, RequestKind};

use crate::common::browser::{self, Ended};

fn graph(fake: &FakeGraph, credential: InteractiveBrowserCredential) -> Graph {
    Graph::builder()
        .tenant(fake.tenant_domain())
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(credential)
        .build()
        .unwrap()
}

fn login_requests(fake: &FakeGraph) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::Login)
        .collect()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn auth_error(e: &Error) -> &entra_appreg::error::AuthError {
    match e {
        Error::Auth(a) => a,
        other => panic!("not a sign-in error: {other:?}"),
    }
}

/// The pages the scripted browser ended on, once it has read the last one: the sign-in may
/// return before the browser has read the page it was sent.
async fn ended_pages(pages: &Arc<Mutex<Vec<Ended>>>) -> Vec<Ended> {
    for _ in 0..100 {
        let now = pages.lock().unwrap().clone();
        if !now.is_empty() {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Vec::new()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_browser_signs_in_with_pkce_form_post_and_a_checked_state() {
    let fake = FakeGraph::start().await;
    let pages = Arc::new(Mutex::new(Vec::<Ended>::new()));
    let shown = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = shown.clone();
    let credential = InteractiveBrowserCredential::new()
        .with_login_hint("admin@contoso.onmicrosoft.com")
        .on_sign_in_url(move |url| seen.lock().unwrap().push(url.to_owned()))
        .with_browser(browser::hook(pages.clone()));
    let graph = graph(&fake, credential);
    let tenant = graph.tenant_id().await.unwrap();
    assert_eq!(tenant, fake.tenant_id());

    let logins = login_requests(&fake);
    let authorize = logins
        .iter()
        .find(|r| r.path.ends_with("/oauth2/v2.0/authorize"))
        .expect("the authorize page was loaded");
    assert_eq!(authorize.method, "GET");
    let q = |name: &str| query_param(&authorize.query, name);
    assert_eq!(q("response_type").as_deref(), Some("code"));
    assert_eq!(q("response_mode").as_deref(), Some("form_post"));
    assert_eq!(q("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(q("code_challenge").map(|c| c.len()), Some(43));
    assert_eq!(q("prompt").as_deref(), Some("select_account"));
    assert_eq!(
        q("login_hint").as_deref(),
        Some("admin@contoso.onmicrosoft.com")
    );
    assert_eq!(q("domain_hint"), Some(fake.tenant_domain()));
    assert_eq!(
        q("client_id").as_deref(),
        Some("14d82eec-204b-4c2f-b7e8-296a70dab67e")
    );
    assert!(q("state").is_some_and(|s| s.len() >= 43));
    let redirect = url::Url::parse(&q("redirect_uri").unwrap()).unwrap();
    assert_eq!(redirect.scheme(), "http");
    assert_eq!(redirect.host_str(), Some("localhost"));
    assert!(redirect.port().is_some());
    let scope = q("scope").unwrap();
    assert!(scope.contains("Application.ReadWrite.All"), "{scope}");
    assert!(scope.contains("AppRoleAssignment.ReadWrite.All"), "{scope}");

    let token = logins
        .iter()
        .find(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .expect("the code was redeemed");
    let form = token.body.as_ref().unwrap();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(
        form["redirect_uri"],
        redirect.as_str().trim_end_matches('/')
    );
    assert!(form.get("code_verifier").is_some());
    assert_eq!(token.status, 200, "the fake checked the PKCE verifier");

    let shown = shown.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains("/oauth2/v2.0/authorize?"));
    let pages = ended_pages(&pages).await;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].body.contains("You are signed in"),
        "{:?}",
        pages[0]
    );
    assert!(
        !pages[0].body.contains("code="),
        "the page never shows the code"
    );
    // The listener is closed after its answer.
    let port = redirect.port().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_cancelled_in_the_browser_ends_with_a_clear_error_and_no_graph_request() {
    let fake = FakeGraph::builder()
        .browser_sign_in_cancelled(true)
        .start()
        .await;
    let pages = Arc::new(Mutex::new(Vec::new()));
    let graph = graph(
        &fake,
        InteractiveBrowserCredential::new().with_browser(browser::hook(pages.clone())),
    );
    let e = graph.access_token().await.unwrap_err();
    let a = auth_error(&e);
    assert_eq!(a.error, "cancelled");
    assert!(e.to_string().contains("cancelled in the browser"), "{e}");
    let advice = e.advice().unwrap_or_default();
    assert!(advice.contains("run again"), "{advice}");
    assert!(
        fake.requests().iter().all(|r| r.kind == RequestKind::Login),
        "no Graph request"
    );
    assert!(
        login_requests(&fake)
            .iter()
            .all(|r| !r.path.ends_with("/token")),
        "nothing was redeemed"
    );
    let page = &ended_pages(&pages).await[0];
    assert!(page.body.contains("The sign-in failed"), "{page:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_sent_back_in_a_url_is_refused() {
    let fake = FakeGraph::start().await;
    let pages = Arc::new(Mutex::new(Vec::new()));
    let forward = browser::hook(pages.clone());
    // The answer comes back as a query (a redirect), not by form post.
    let hook =
        move |url: &str| forward(&url.replace("response_mode=form_post", "response_mode=query"));
    let graph = graph(
        &fake,
        InteractiveBrowserCredential::new().with_browser(hook),
    );
    let e = graph.access_token().await.unwrap_err();
    assert_eq!(auth_error(&e).error, "code_not_posted");
    assert!(
        login_requests(&fake)
            .iter()
            .all(|r| !r.path.ends_with("/token")),
        "the code is not redeemed"
    );
}

/// Sends raw bytes to the listener and returns what it answered (empty when it closed).
async fn raw(port: u16, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let _ = stream.write_all(request).await;
    let _ = stream.shutdown().await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A hook that only remembers the URL: the test plays the browser by hand.
fn remember(urls: Arc<Mutex<Vec<String>>>) -> impl Fn(&str) -> std::io::Result<()> + Send + Sync {
    move |url: &str| {
        urls.lock().unwrap().push(url.to_owned());
        Ok(())
    }
}

async fn wait_for_url(urls: &Arc<Mutex<Vec<String>>>) -> (u16, String) {
    for _ in 0..200 {
        if let Some(url) = urls.lock().unwrap().first() {
            let q = url.split_once('?').unwrap().1;
            let redirect = url::Url::parse(&query_param(q, "redirect_uri").unwrap()).unwrap();
            return (redirect.port().unwrap(), query_param(q, "state").unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sign-in URL was never handed to the browser");
}

/// A sign-in in progress whose browser the test plays by hand: the task, the listener's port,
/// the sign-in's state, and the URL the browser was given.
struct ByHand {
    signing_in: tokio::task::JoinHandle<entra_appreg::Result<entra_appreg::auth::AccessToken>>,
    port: u16,
    state: String,
    url: String,
}

async fn sign_in_by_hand(fake: &FakeGraph, credential: InteractiveBrowserCredential) -> ByHand {
    let urls = Arc::new(Mutex::new(Vec::new()));
    let graph = graph(fake, credential.with_browser(remember(urls.clone())));
    let signing_in = tokio::spawn(async move { graph.access_token().await });
    let (port, state) = wait_for_url(&urls).await;
    let url = urls.lock().unwrap()[0].clone();
    ByHand {
        signing_in,
        port,
        state,
        url,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_at_the_listener_are_ignored_or_refused_and_answered_escaped() {
    let fake = FakeGraph::start().await;
    let ByHand {
        signing_in,
        port,
        state,
        ..
    } = sign_in_by_hand(&fake, InteractiveBrowserCredential::new()).await;
    let host = format!("localhost:{port}");

    // Garbage, a favicon, a request for another host (DNS rebinding), a request without an
    // answer in it: each is answered 404 or dropped, and the sign-in goes on.
    let garbage = raw(port, b"\x00\xff garbage \r\n\r\n").await;
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 404"),
        "{garbage}"
    );
    let favicon = raw(
        port,
        format!("GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(favicon.starts_with("HTTP/1.1 404"), "{favicon}");
    let body = format!("code=stolen&state={state}");
    let rebinding = post(port, &format!("evil.example:{port}"), &body).await;
    assert!(rebinding.starts_with("HTTP/1.1 404"), "{rebinding}");
    let huge = format!("POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 999999999\r\n\r\n");
    let huge = raw(port, huge.as_bytes()).await;
    assert!(
        huge.starts_with("HTTP/1.1 404") || huge.is_empty(),
        "{huge}"
    );
    let empty = post(port, &host, "nothing=here").await;
    assert!(empty.starts_with("HTTP/1.1 404"), "{empty}");
    let no_state = raw(
        port,
        format!("GET /?code=stolen HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(no_state.contains("was ignored"), "{no_state}");
    // An idle connection that never sends anything holds nothing up.
    let _idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    assert!(
        !signing_in.is_finished(),
        "stray requests do not end the sign-in"
    );

    // An error answer with HTML in its description, and this sign-in's state: the page escapes
    // it, and the sign-in ends with that error.
    let body = format!(
        "error=access_denied&error_description={}&state={state}",
        url::form_urlencoded::byte_serialize(
            b"AADSTS50105: <script>alert(1)</script> not assigned"
        )
        .collect::<String>()
    );
    let page = post(port, &host, &body).await;
    assert!(page.contains("&lt;script&gt;"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
    let e = signing_in.await.unwrap().unwrap_err();
    let a = auth_error(&e);
    assert_eq!(a.error, "access_denied");
    assert_eq!(a.aadsts, Some(50105));
    // The listener closed after that answer: a second request finds nobody.
    assert!(raw(port, b"GET / HTTP/1.1\r\n\r\n").await.is_empty());
    assert!(fake.requests().iter().all(|r| r.kind == RequestKind::Login));
}

/// A form post of `body` to the listener, as a browser (or an impostor) would send it.
async fn post(port: u16, host: &str, body: &str) -> String {
    raw(
        port,
        format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_with_another_state_is_ignored_and_the_real_one_still_signs_in() {
    let fake = FakeGraph::start().await;
    let ByHand {
        signing_in,
        port,
        url,
        ..
    } = sign_in_by_hand(&fake, InteractiveBrowserCredential::new()).await;
    let host = format!("127.0.0.1:{port}");
    // A forged code, and a forged error: neither carries this sign-in's state.
    let page = post(port, &host, "code=forged&state=not-this-sign-in").await;
    assert!(
        page.contains("does not belong to the sign-in in progress"),
        "{page}"
    );
    assert!(!page.contains("forged"), "the code is never echoed");
    let page = post(port, &host, "error=access_denied&error_subcode=cancel").await;
    assert!(page.contains("was ignored"), "{page}");
    assert!(
        !signing_in.is_finished(),
        "an impostor cannot end the sign-in"
    );
    assert!(
        login_requests(&fake)
            .iter()
            .all(|r| !r.path.ends_with("/token"))
    );
    // The admin's own answer still gets through.
    let ended = browser::sign_in(&url).await;
    assert!(ended.body.contains("You are signed in"), "{ended:?}");
    signing_in.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_only_impostors_answered_times_out_saying_so() {
    let fake = FakeGraph::start().await;
    let ByHand {
        signing_in, port, ..
    } = sign_in_by_hand(
        &fake,
        InteractiveBrowserCredential::new().with_timeout(Duration::from_secs(3)),
    )
    .await;
    post(
        port,
        &format!("localhost:{port}"),
        "code=forged&state=wrong",
    )
    .await;
    let e = signing_in.await.unwrap().unwrap_err();
    assert_eq!(auth_error(&e).error, "timed_out");
    assert!(
        e.to_string()
            .contains("1 answer(s) without this sign-in's state"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_nobody_finishes_times_out_and_a_browser_that_cannot_open_says_so() {
    let fake = FakeGraph::start().await;
    let graph = graph(
        &fake,
        InteractiveBrowserCredential::new()
            .with_browser(|_: &str| Ok(()))
            .with_timeout(Duration::from_millis(300)),
    );
    let e = graph.access_token().await.unwrap_err();
    assert_eq!(auth_error(&e).error, "timed_out");
    let advice = e.advice().unwrap_or_default();
    assert!(advice.contains("--auth device-code"), "{advice}");

    let graph = self::graph(
        &fake,
        InteractiveBrowserCredential::new()
            .with_browser(|_: &str| Err(std::io::Error::other("no display"))),
    );
    let e = graph.access_token().await.unwrap_err();
    assert_eq!(auth_error(&e).error, "browser_not_opened");
    assert!(e.to_string().contains("no display"), "{e}");
    assert!(e.to_string().contains("--auth device-code"), "{e}");
    assert!(fake.requests().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_client_needs_localhost_among_its_redirect_uris() {
    use entra_appreg::graph::models::{Application, PublicClientApplication};
    let fake = FakeGraph::start().await;
    let registered = |uris: Vec<&str>| {
        fake.seed_application({
            let mut app = Application::default();
            app.display_name = Some("Contoso Installer".into());
            let mut public = PublicClientApplication::default();
            public.redirect_uris = Some(uris.into_iter().map(String::from).collect());
            app.public_client = Some(public);
            app
        })
    };
    let good = registered(vec!["http://localhost"]);
    let pages = Arc::new(Mutex::new(Vec::new()));
    let graph = graph(
        &fake,
        InteractiveBrowserCredential::new()
            .with_client_id(good.app_id.unwrap())
            .with_browser(browser::hook(pages.clone())),
    );
    graph.access_token().await.unwrap();

    // Without it, Entra shows its error page in the browser and never answers the listener.
    let bad = registered(vec![
        "https://login.microsoftonline.com/common/oauth2/nativeclient",
    ]);
    let pages = Arc::new(Mutex::new(Vec::new()));
    let graph = self::graph(
        &fake,
        InteractiveBrowserCredential::new()
            .with_client_id(bad.app_id.unwrap())
            .with_timeout(Duration::from_secs(3))
            .with_browser(browser::hook(pages.clone())),
    );
    let e = graph.access_token().await.unwrap_err();
    assert_eq!(auth_error(&e).error, "timed_out");
    let page = &ended_pages(&pages).await[0];
    assert!(page.body.contains("AADSTS50011"), "{page:?}");
    assert_eq!(page.status, 400);
}

/// Not a test of its own: the program `$BROWSER` names in
/// `the_browser_command_gets_the_whole_url_as_one_argument`. It writes the URL it was given
/// to the file named before it, and does nothing when run any other way.
#[test]
#[ignore = "started by another test as the browser"]
fn browser_recorder() {
    let args: Vec<String> = std::env::args().collect();
    if let [.., record, url] = args.as_slice()
        && record.ends_with(".url-record")
    {
        std::fs::write(record, url).unwrap();
    }
}

#[test]
fn the_browser_command_gets_the_whole_url_as_one_argument() {
    let dir = std::env::temp_dir().join(format!("appreg-browser-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("seen.url-record");
    let exe = std::env::current_exe().unwrap();
    // The test program itself, told to run only `browser_recorder`; the record file and the
    // URL come last, as filters that match no test. (No `::` in it: `$BROWSER` splits on `:`.)
    let command = format!(
        "\"{}\" --ignored --quiet browser_recorder \"{}\" %s",
        exe.display(),
        record.display()
    );
    let url = "http://localhost:4242/oauth2/v2.0/authorize?client_id=a&redirect_uri=http%3A%2F%2Flocalhost%3A4242&state=x%20y&scope=a+b";
    let list = if cfg!(windows) {
        format!("no-such-browser-here.exe;{command}")
    } else {
        format!("/no/such/browser:{command}")
    };
    entra_appreg::auth::open_browser_with(&list, url).unwrap();
    let mut seen = None;
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(&record) {
            seen = Some(text);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen.as_deref(), Some(url), "the browser got the whole URL");
    assert!(entra_appreg::auth::open_browser_with("/no/such/browser", url).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

/// Not a test of its own: a scripted browser that `$BROWSER` starts as a program (so that the
/// `appreg` binary's own hook is what hands the URL over). It signs in on the URL it is given
/// and writes the page it ends on to the file named before it.
#[test]
#[ignore = "started by the appreg tests as the browser"]
fn scripted_browser_program() {
    let args: Vec<String> = std::env::args().collect();
    if let [.., record, url] = args.as_slice()
        && record.ends_with(".page-record")
    {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let ended = runtime.block_on(browser::sign_in(url));
        // Written whole, then renamed: the test never reads half a page.
        let partial = format!("{record}.partial");
        std::fs::write(&partial, ended.body).unwrap();
        std::fs::rename(&partial, record).unwrap();
    }
}

#[cfg(feature = "cli")]
mod cli {
    use super::*;
    use crate::cli::{Tenant, str_of};

    /// The page the scripted browser ended on. appreg may exit as soon as it has answered the
    /// browser, before the browser program has written what it saw: wait for it (30 s at most).
    fn ended_page(record: &std::path::Path) -> String {
        for _ in 0..300 {
            if let Ok(page) = std::fs::read_to_string(record) {
                return page;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the scripted browser never wrote {}", record.display());
    }

    /// `$BROWSER` for the scripted browser program: this test program, told to run only that.
    fn scripted_browser(record: &std::path::Path) -> String {
        format!(
            "\"{}\" --ignored --quiet scripted_browser_program \"{}\" %s",
            std::env::current_exe().unwrap().display(),
            record.display()
        )
    }

    fn register_args(t: &Tenant, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["register".to_owned()];
        args.extend(t.endpoints());
        args.extend(
            [
                "--profile",
                "backup-exchange",
                "--name",
                "Contoso Backup",
                "--no-wait",
                "--json",
            ]
            .map(String::from),
        );
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    }

    fn without_display() -> Vec<(&'static str, String)> {
        // The machine's own display and browser settings must not decide these tests.
        vec![
            ("DISPLAY", String::new()),
            ("WAYLAND_DISPLAY", String::new()),
        ]
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn with_browser_set_and_no_auth_option_the_browser_signs_in_and_the_app_is_registered() {
        let t = Tenant::start().await;
        let record = t.dir.join("ended.page-record");
        let mut env = without_display();
        env.push(("BROWSER", scripted_browser(&record)));
        let run = t.run_raw(register_args(&t, &[]), env).await;
        run.expect(0);
        assert_eq!(t.fake.snapshot().applications.len(), 1);
        let logins: Vec<_> = login_requests(&t.fake);
        assert!(
            logins.iter().any(|r| r.path.ends_with("/authorize")),
            "the browser flow was used: {logins:?}"
        );
        assert!(logins.iter().all(|r| !r.path.ends_with("/devicecode")));
        assert!(
            run.stderr.contains("/oauth2/v2.0/authorize?"),
            "the sign-in URL is on stderr: {}",
            run.stderr
        );
        assert!(run.stderr.contains("Signed in to tenant"), "{}", run.stderr);
        let page = ended_page(&record);
        assert!(page.contains("You are signed in"), "{page}");
        assert_eq!(
            str_of(&run.json(), "tenant_id"),
            t.fake.tenant_id().to_string()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_cancelled_browser_sign_in_exits_1_saying_so_with_no_graph_request() {
        let t = Tenant::with(
            FakeGraph::builder()
                .replication_lag(0)
                .browser_sign_in_cancelled(true)
                .start()
                .await,
        );
        let record = t.dir.join("ended.page-record");
        let mut env = without_display();
        env.push(("BROWSER", scripted_browser(&record)));
        let run = t
            .run_raw(register_args(&t, &["--auth", "browser"]), env)
            .await;
        run.expect(1);
        let message = str_of(&run.json()["error"], "message").to_owned();
        assert!(message.contains("cancelled in the browser"), "{message}");
        assert!(
            t.fake
                .requests()
                .iter()
                .all(|r| r.kind == RequestKind::Login)
        );
        assert!(ended_page(&record).contains("The sign-in failed"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn device_code_blocked_by_conditional_access_names_the_browser_and_sends_no_graph_request()
     {
        let t = Tenant::with(
            FakeGraph::builder()
                .replication_lag(0)
                .block_device_code(true)
                .device_code_polls_before_approval(0)
                .start()
                .await,
        );
        let run = t
            .run_raw(
                register_args(&t, &["--auth", "device-code"]),
                without_display(),
            )
            .await;
        run.expect(1);
        let v = run.json();
        let message = str_of(&v["error"], "message");
        assert!(
            message.contains("AADSTS53003") || v["error"]["aadsts"] == 53003,
            "{v}"
        );
        assert!(message.contains("--auth browser"), "{message}");
        assert!(
            t.fake
                .requests()
                .iter()
                .all(|r| r.kind == RequestKind::Login)
        );
    }

    /// Windows and macOS always have a desktop, so `auto` is the browser there; the rule for
    /// the other systems is what is tested here.
    #[cfg(not(any(windows, target_os = "macos")))]
    #[tokio::test(flavor = "multi_thread")]
    async fn auto_without_a_display_or_browser_falls_back_to_device_code_and_says_so() {
        let t = Tenant::with(
            FakeGraph::builder()
                .replication_lag(0)
                .device_code_polls_before_approval(0)
                .start()
                .await,
        );
        let mut env = without_display();
        env.push(("BROWSER", String::new()));
        let run = t.run_raw(register_args(&t, &[]), env).await;
        run.expect(0);
        assert!(
            run.stderr.contains("signing in with a device code"),
            "{}",
            run.stderr
        );
        assert!(
            login_requests(&t.fake)
                .iter()
                .any(|r| r.path.ends_with("/devicecode"))
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn auto_falls_back_to_device_code_when_no_browser_can_be_opened() {
        let t = Tenant::with(
            FakeGraph::builder()
                .replication_lag(0)
                .device_code_polls_before_approval(0)
                .start()
                .await,
        );
        let mut env = without_display();
        env.push(("BROWSER", "no-such-browser-anywhere".to_owned()));
        let run = t.run_raw(register_args(&t, &[]), env).await;
        run.expect(0);
        assert!(
            run.stderr.contains("No browser could be opened"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("devicelogin"), "{}", run.stderr);
        let logins = login_requests(&t.fake);
        assert!(logins.iter().any(|r| r.path.ends_with("/devicecode")));
        assert!(logins.iter().all(|r| !r.path.ends_with("/authorize")));
        // Asked for by name, the browser is not swapped for another flow.
        let mut env = without_display();
        env.push(("BROWSER", "no-such-browser-anywhere".to_owned()));
        let run = t
            .run_raw(register_args(&t, &["--auth", "browser"]), env)
            .await;
        run.expect(1);
        assert!(
            str_of(&run.json()["error"], "message").contains("no browser could be opened"),
            "{}",
            run.stdout
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn auto_in_an_ssh_session_signs_in_with_a_device_code() {
        let t = Tenant::with(
            FakeGraph::builder()
                .replication_lag(0)
                .device_code_polls_before_approval(0)
                .start()
                .await,
        );
        let mut env = without_display();
        env.push(("BROWSER", "no-such-browser-anywhere".to_owned()));
        env.push(("SSH_CONNECTION", "192.0.2.1 50000 192.0.2.2 22".to_owned()));
        let run = t.run_raw(register_args(&t, &[]), env).await;
        run.expect(0);
        assert!(run.stderr.contains("an SSH session"), "{}", run.stderr);
        assert!(
            login_requests(&t.fake)
                .iter()
                .all(|r| !r.path.ends_with("/authorize"))
        );
    }

    /// A real browser: Debian's headless Chromium, started through `$BROWSER`, runs the fake's
    /// sign-in page and its auto-submitting form. `.ci/run` installs Chromium and runs this.
    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "needs chromium: .ci/run installs it and runs this test"]
    async fn a_real_headless_chromium_signs_in_through_browser_and_ends_on_the_signed_in_page() {
        use std::os::unix::fs::PermissionsExt;
        let t = Tenant::start().await;
        let dom = t.dir.join("dom.html");
        let script = t.dir.join("browser.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexec chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
                 --user-data-dir='{}' --dump-dom --virtual-time-budget=15000 \"$1\" >'{}' 2>'{}'\n",
                t.dir.join("profile").display(),
                dom.display(),
                t.dir.join("chromium.log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut env = without_display();
        env.push(("BROWSER", script.display().to_string()));
        let run = t
            .run_raw(register_args(&t, &["--auth", "browser"]), env)
            .await;
        run.expect(0);
        assert_eq!(t.fake.snapshot().applications.len(), 1);
        let token = login_requests(&t.fake)
            .into_iter()
            .find(|r| r.path.ends_with("/token"))
            .expect("the code was redeemed");
        assert_eq!(token.status, 200);
        // Chromium exits once its time budget is spent; its DOM is written then.
        let mut page = String::new();
        for _ in 0..300 {
            page = std::fs::read_to_string(&dom).unwrap_or_default();
            if page.contains("</html>") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            page.contains("You are signed in"),
            "the page Chromium ended on: {page}\n{}",
            std::fs::read_to_string(t.dir.join("chromium.log")).unwrap_or_default()
        );
    }
}
