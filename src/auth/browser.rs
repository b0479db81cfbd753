//! Interactive browser sign-in: the authorization code flow with PKCE on a loopback redirect,
//! as Azure CLI, Microsoft Graph PowerShell and MSAL sign an admin in on a desktop.
//!
//! Sources: Microsoft identity platform, "OAuth 2.0 authorization code flow"
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow>), "Redirect
//! URI (reply URL) best practices and limitations"
//! (<https://learn.microsoft.com/entra/identity-platform/reply-url>), RFC 7636 (PKCE) and
//! RFC 8252 (OAuth for native apps: loopback redirects).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

use super::oauth::{TokenReply, post_form_ok};
use super::{AccessToken, TokenCache, TokenContext, TokenProvider};
use crate::cloud::{Cloud, Endpoints};
use crate::error::{AuthError, Error, Result};
use crate::ids::{ClientId, Tenant};

type OpenFn = dyn Fn(&str) -> std::io::Result<()> + Send + Sync;
type ShowFn = dyn Fn(&str) + Send + Sync;

/// The largest request the redirect listener reads: the answer is a short form.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// How long one connection to the listener may take to send its request.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections read at once; more are closed unanswered.
const MAX_CONNECTIONS: usize = 16;

/// Signs an admin in with the browser: authorization code with PKCE on a loopback redirect.
///
/// - A listener is bound to `127.0.0.1` on a free port; the redirect URI is
///   `http://localhost:<port>`, which Entra accepts on any port for a client that registered
///   `http://localhost` (the Microsoft Graph Command Line Tools client does).
/// - The sign-in page is opened by a hook, [`with_browser`](Self::with_browser): by default
///   [`open_browser`], which honours `$BROWSER` and otherwise opens the system's default
///   browser. An installer with its own web view replaces it.
/// - The answer must come back by `form_post` with the `state` this sign-in made; a code that
///   arrives in a URL (`GET`) is refused, as MSAL does. An answer with another state (or none)
///   is ignored, as MSAL ignores it, so that no other process or web page can end the sign-in;
///   so are requests with another `Host` than the redirect's (DNS rebinding), to another path
///   (a favicon) or without an answer. Connections are read side by side, so an idle one holds
///   nothing up. The listener closes after the first answer.
/// - The code is redeemed through the client's own transport with the PKCE verifier (32
///   random bytes, `S256`), so errors carry the AADSTS code and correlation id as every other
///   sign-in does, and no token or code is ever logged or shown.
/// - The page the browser ends on is short and HTML-escaped, never shows the code, and tells
///   the admin to return to the installer, or what went wrong.
/// - The sign-in gives up after [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) (5 minutes) unless
///   told otherwise; dropping the future cancels it and closes the listener.
///
/// It asks for the same delegated permissions and uses the same public client as
/// [`DeviceCodeCredential`](super::DeviceCodeCredential), with the same rule for the China
/// cloud: a client of the tenant's own, registered with `http://localhost` as a "Mobile and
/// desktop applications" redirect URI, must be named there.
///
/// ```no_run
/// use entra_appreg::auth::InteractiveBrowserCredential;
/// let credential = InteractiveBrowserCredential::new()
///     .with_login_hint("admin@contoso.onmicrosoft.com")
///     .on_sign_in_url(|url| eprintln!("If no browser opens, go to: {url}"));
/// # let _ = credential;
/// ```
pub struct InteractiveBrowserCredential {
    client_id: Option<ClientId>,
    scopes: Option<Vec<String>>,
    login_hint: Option<String>,
    timeout: Duration,
    open: Arc<OpenFn>,
    show: Option<Arc<ShowFn>>,
    cache: TokenCache,
}

impl Default for InteractiveBrowserCredential {
    fn default() -> Self {
        Self::new()
    }
}

impl InteractiveBrowserCredential {
    /// How long the admin has to finish signing in, by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

    /// A credential that opens the system's browser ([`open_browser`]).
    pub fn new() -> Self {
        Self {
            client_id: None,
            scopes: None,
            login_hint: None,
            timeout: Self::DEFAULT_TIMEOUT,
            open: Arc::new(open_browser),
            show: None,
            cache: TokenCache::default(),
        }
    }

    /// Opens the sign-in page with this hook instead (an installer's own web view, a test's
    /// scripted browser). An error from the hook ends the sign-in with
    /// [`Error::Auth`](crate::Error::Auth) `browser_not_opened`.
    pub fn with_browser(
        mut self,
        open: impl Fn(&str) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.open = Arc::new(open);
        self
    }

    /// Shows the sign-in URL (on stderr, say) before the browser is opened, so that the admin
    /// can open it by hand if no browser appears.
    pub fn on_sign_in_url(mut self, show: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.show = Some(Arc::new(show));
        self
    }

    /// Uses another public client, which must have `http://localhost` as a public-client
    /// redirect URI. Required for [`Cloud::China`].
    pub fn with_client_id(mut self, client_id: ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// Pre-fills the account on the sign-in page (`login_hint`).
    pub fn with_login_hint(mut self, login_hint: impl Into<String>) -> Self {
        self.login_hint = Some(login_hint.into());
        self
    }

    /// Asks for these exact scopes (full URIs) instead of the default ones.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Gives up when the admin has not finished signing in after this long.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn client_id_for(&self, cloud: Cloud) -> Result<ClientId> {
        super::public_client_for(
            self.client_id,
            cloud,
            "browser sign-in client id",
            "browser sign-in",
        )
    }

    async fn sign_in(&self, ctx: &TokenContext<'_>) -> Result<AccessToken> {
        let client_id = self.client_id_for(ctx.endpoints.cloud())?.to_string();
        let scope = super::delegated_scope(self.scopes.as_deref(), ctx);
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            browser_error(
                "listener_failed",
                format!("no port on 127.0.0.1 could be opened for the sign-in's answer ({e})"),
            )
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| browser_error("listener_failed", e.to_string()))?
            .port();
        let redirect_uri = format!("http://localhost:{port}");
        let verifier = Zeroizing::new(random_token());
        let state = random_token();
        let url = authorize_url(&AuthorizeRequest {
            endpoints: ctx.endpoints,
            tenant: ctx.tenant,
            client_id: &client_id,
            redirect_uri: &redirect_uri,
            scope: &scope,
            state: &state,
            challenge: &challenge_of(&verifier),
            login_hint: self.login_hint.as_deref(),
        });
        if let Some(show) = &self.show {
            show(&url);
        }
        (self.open)(&url).map_err(|e| {
            browser_error(
                "browser_not_opened",
                format!(
                    "no browser could be opened for the sign-in ({}); open the sign-in URL by hand, or sign in with the device code flow instead (appreg: --auth device-code)",
                    crate::redact::short(&e.to_string())
                ),
            )
        })?;
        tracing::debug!(port, "waiting for the browser sign-in's answer");
        let listen = Listener {
            listener,
            port,
            state: &state,
            foreign: std::sync::atomic::AtomicUsize::new(0),
        };
        let (code, mut stream) = tokio::time::timeout(self.timeout, listen.answer())
            .await
            .map_err(|_| {
                let foreign = listen.foreign.load(std::sync::atomic::Ordering::Relaxed);
                let ignored = if foreign > 0 {
                    format!(
                        "; {foreign} answer(s) without this sign-in's state reached it and were ignored: something else on this machine, or a web page, answered in the browser's place"
                    )
                } else {
                    String::new()
                };
                browser_error(
                    "timed_out",
                    format!(
                        "the sign-in was not finished in the browser within {} s{ignored}; run again (if the browser showed AADSTS50011, the client lacks http://localhost as a redirect URI)",
                        self.timeout.as_secs()
                    ),
                )
            })??;
        drop(listen);
        let redeemed = post_form_ok::<TokenReply>(
            ctx,
            "token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
                ("code_verifier", &verifier),
                ("scope", &scope),
            ],
        )
        .await;
        let page = match &redeemed {
            Ok(_) => Page::SignedIn,
            Err(e) => Page::Failed(e.to_string()),
        };
        respond(&mut stream, &page).await;
        Ok(redeemed?.into_token())
    }
}

/// An [`Error::Auth`] of the browser flow itself (no reply from Entra).
fn browser_error(error: &str, description: impl Into<String>) -> Error {
    Error::auth(AuthError::new(error, description))
}

/// 32 random bytes, base64url without padding (43 characters): a PKCE verifier (RFC 7636 §4.1
/// asks for 43 to 128 characters of high entropy) or a `state`.
fn random_token() -> String {
    let mut bytes = Zeroizing::new([0u8; 32]);
    if aws_lc_rs::rand::fill(bytes.as_mut()).is_err() {
        // The system's generator failed: two v4 UUIDs (from getrandom) hold as much.
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

/// The `S256` challenge of a verifier: BASE64URL(SHA-256(verifier)) (RFC 7636 §4.2).
fn challenge_of(verifier: &str) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

struct AuthorizeRequest<'a> {
    endpoints: &'a Endpoints,
    tenant: &'a Tenant,
    client_id: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
    state: &'a str,
    challenge: &'a str,
    login_hint: Option<&'a str>,
}

/// `GET {login}/{tenant}/oauth2/v2.0/authorize?…` as v2-oauth2-auth-code-flow.md documents it.
fn authorize_url(r: &AuthorizeRequest<'_>) -> String {
    let base = r
        .endpoints
        .oauth_url(&r.tenant.as_path_segment(), "authorize");
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", r.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", r.redirect_uri)
        .append_pair("response_mode", "form_post")
        .append_pair("scope", r.scope)
        .append_pair("state", r.state)
        .append_pair("code_challenge", r.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "select_account");
    if let Some(hint) = r.login_hint {
        query.append_pair("login_hint", hint);
    }
    if let Tenant::Domain(domain) = r.tenant {
        query.append_pair("domain_hint", domain);
    }
    format!("{base}?{}", query.finish())
}

/// The loopback listener of one sign-in.
struct Listener<'a> {
    listener: TcpListener,
    port: u16,
    state: &'a str,
    /// Answers that carried a code or an error but not this sign-in's state: ignored, and
    /// counted for the timeout's message.
    foreign: std::sync::atomic::AtomicUsize,
}

/// What one request to the listener was.
enum Arrival {
    /// Not for us (another path or host, garbage, no answer in it): ignored.
    Stray,
    /// An answer with another state (or none): not this sign-in's, so ignored, as MSAL ignores
    /// it. Ending the sign-in on it would let any local process or web page cancel it.
    Foreign,
    /// The code, by form post with the right state; the connection waits for the final page.
    Code(Zeroizing<String>),
    /// The sign-in ended without a code: the error to return, already answered.
    Ended(Error),
}

/// A connection's request as read, with the connection to answer on.
type Read = (Option<Request>, TcpStream);

/// Reads one request from a new connection, within [`CONNECTION_TIMEOUT`].
async fn read_within_timeout(mut stream: TcpStream) -> Read {
    let request = tokio::time::timeout(CONNECTION_TIMEOUT, read_request(&mut stream))
        .await
        .ok()
        .flatten();
    (request, stream)
}

impl Listener<'_> {
    /// Serves requests until the sign-in's answer arrives. Connections are read side by side
    /// (at most [`MAX_CONNECTIONS`] at once), so an idle one (a browser's preconnect, a local
    /// process holding a socket open) cannot hold the answer up.
    async fn answer(&self) -> Result<(Zeroizing<String>, TcpStream)> {
        use futures::StreamExt;
        use futures::future::{Either, select};
        let mut reading = futures::stream::FuturesUnordered::new();
        loop {
            let accepted = if reading.is_empty() {
                Either::Left(self.listener.accept().await)
            } else {
                match select(std::pin::pin!(self.listener.accept()), reading.next()).await {
                    Either::Left((accepted, _)) => Either::Left(accepted),
                    Either::Right((Some(read), _)) => Either::Right(read),
                    Either::Right((None, _)) => continue,
                }
            };
            let (request, mut stream) = match accepted {
                Either::Left(Ok((stream, _))) => {
                    // Beyond the cap a connection is closed unanswered.
                    if reading.len() < MAX_CONNECTIONS {
                        reading.push(read_within_timeout(stream));
                    }
                    continue;
                }
                Either::Left(Err(_)) => {
                    // Out of file handles, say: try again shortly rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Either::Right(read) => read,
            };
            let Some(request) = request else {
                respond(&mut stream, &Page::NotHere).await;
                continue;
            };
            match self.judge(&request) {
                (Arrival::Stray, page) => respond(&mut stream, &page).await,
                (Arrival::Foreign, page) => {
                    self.foreign
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(
                        "an answer without this sign-in's state reached the listener: ignored"
                    );
                    respond(&mut stream, &page).await;
                }
                (Arrival::Code(code), _) => return Ok((code, stream)),
                (Arrival::Ended(e), page) => {
                    respond(&mut stream, &page).await;
                    return Err(e);
                }
            }
        }
    }

    fn judge(&self, request: &Request) -> (Arrival, Page) {
        let host_ok = request.host.as_deref().is_some_and(|h| {
            h.eq_ignore_ascii_case(&format!("localhost:{}", self.port))
                || h == format!("127.0.0.1:{}", self.port)
        });
        if !host_ok || request.path != "/" {
            return (Arrival::Stray, Page::NotHere);
        }
        let params = &request.params;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let (code, error) = (get("code"), get("error"));
        if code.is_none() && error.is_none() {
            return (Arrival::Stray, Page::NotHere);
        }
        if get("state") != Some(self.state) {
            return (
                Arrival::Foreign,
                Page::Failed(
                    "this answer does not belong to the sign-in in progress, and was ignored"
                        .into(),
                ),
            );
        }
        if let Some(error) = error {
            let e = answer_error(error, get("error_description"), get("error_subcode"));
            let page = Page::Failed(e.to_string());
            return (Arrival::Ended(e), page);
        }
        if request.method != "POST" {
            let e = browser_error(
                "code_not_posted",
                "the sign-in's code arrived in a URL instead of by form post, and is refused (a code in a URL can leak through history and logs); run again",
            );
            return (
                Arrival::Ended(e),
                Page::Failed("the answer arrived in a URL and was refused".into()),
            );
        }
        let code = Zeroizing::new(code.unwrap_or_default().to_owned());
        (Arrival::Code(code), Page::SignedIn)
    }
}

/// The error the authorize endpoint sent back (`error`, `error_description`, `error_subcode`).
fn answer_error(error: &str, description: Option<&str>, subcode: Option<&str>) -> Error {
    let mut e = AuthError::new(
        crate::redact::bounded(error, 80),
        description
            .map(|d| crate::redact::message(d.lines().next().unwrap_or_default(), 400))
            .unwrap_or_default(),
    );
    e.aadsts = description.and_then(super::oauth::aadsts_in);
    if error == "access_denied" && subcode == Some("cancel") {
        e.error = "cancelled".to_owned();
        e.description = Some("the sign-in was cancelled in the browser".to_owned());
    }
    Error::auth(e)
}

/// A request to the listener, as far as it matters.
struct Request {
    method: String,
    path: String,
    host: Option<String>,
    /// The query's parameters for GET, the form's for POST.
    params: Vec<(String, String)>,
}

impl Drop for Request {
    fn drop(&mut self) {
        // The parameters may hold the code.
        for (_, v) in &mut self.params {
            zeroize::Zeroize::zeroize(v);
        }
    }
}

/// Reads one HTTP/1.1 request of at most [`MAX_REQUEST_BYTES`]: `None` for anything else.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Zeroizing::new(Vec::with_capacity(4096));
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buffer, b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > MAX_REQUEST_BYTES {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = Head::parse(std::str::from_utf8(&buffer[..head_end]).ok()?)?;
    let Head {
        method,
        target,
        host,
        length,
        form,
    } = head;
    if length > MAX_REQUEST_BYTES {
        return None;
    }
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let parse = |bytes: &[u8]| -> Vec<(String, String)> {
        url::form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    };
    let params = match method.as_str() {
        "POST" if form => parse(&buffer[body_start..body_start + length]),
        "POST" => Vec::new(),
        _ => parse(query.as_bytes()),
    };
    Some(Request {
        path: path.to_owned(),
        method,
        host,
        params,
    })
}

/// The request line and the headers that matter.
struct Head {
    method: String,
    target: String,
    host: Option<String>,
    length: usize,
    form: bool,
}

impl Head {
    fn parse(head: &str) -> Option<Self> {
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, target, version) = (first.next()?, first.next()?, first.next()?);
        if !version.starts_with("HTTP/1.") || first.next().is_some() {
            return None;
        }
        let mut parsed = Head {
            method: method.to_owned(),
            target: target.to_owned(),
            host: None,
            length: 0,
            form: false,
        };
        for line in lines {
            let (name, value) = line.split_once(':')?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("host") {
                parsed.host = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("content-length") {
                parsed.length = value.parse().ok()?;
            } else if name.eq_ignore_ascii_case("content-type") {
                parsed.form = value
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded");
            }
        }
        Some(parsed)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The page the browser shows.
enum Page {
    SignedIn,
    Failed(String),
    NotHere,
}

/// Answers a request with a short HTML page and closes the connection. Best effort: a browser
/// that went away changes nothing.
async fn respond(stream: &mut TcpStream, page: &Page) {
    let (status, title, text) = match page {
        Page::SignedIn => (
            "200 OK",
            "Signed in",
            "You are signed in. Close this window and return to the installer.".to_owned(),
        ),
        Page::Failed(why) => (
            "200 OK",
            "Sign-in failed",
            format!("The sign-in failed: {why}. Return to the installer to see what to do next."),
        ),
        Page::NotHere => (
            "404 Not Found",
            "Not found",
            "This address only receives the answer of a sign-in.".to_owned(),
        ),
    };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body><h1>{}</h1><p>{}</p></body></html>\n",
        crate::redact::html_escape(title),
        crate::redact::html_escape(title),
        crate::redact::html_escape(&text)
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'\r\nReferrer-Policy: no-referrer\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Opens `url` in the browser: the command `$BROWSER` names, when it is set, otherwise the
/// system's default browser (through the `webbrowser` crate: on Windows the registered
/// handler for `http` is started with the URL as one argument, without a shell, so a `&` in
/// it stays in the URL).
///
/// `$BROWSER` is read as xdg-open and Python's `webbrowser` read it: a list of commands
/// separated by `:` (`;` on Windows), tried in turn; `%s` in a command stands for the URL,
/// else the URL is added as its last argument. Words may be quoted with `"` or `'`. The browser
/// is started with no standard input and its output discarded, and is not waited for.
///
/// # Errors
///
/// When no browser could be started.
pub fn open_browser(url: &str) -> std::io::Result<()> {
    match std::env::var("BROWSER") {
        Ok(list) if !list.trim().is_empty() => open_browser_with(&list, url),
        _ => webbrowser::open(url),
    }
}

/// Opens `url` with the first command of a `$BROWSER`-style list that can be started, as
/// [`open_browser`] does when `$BROWSER` is set: for a hook that names its browser without
/// setting the variable.
///
/// # Errors
///
/// When no command of the list could be started (the last failure).
pub fn open_browser_with(list: &str, url: &str) -> std::io::Result<()> {
    let separator = if cfg!(windows) { ';' } else { ':' };
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "$BROWSER names no command");
    for entry in list.split(separator).filter(|e| !e.trim().is_empty()) {
        match browser_command(entry, url).and_then(|mut c| c.spawn()) {
            Ok(mut child) => {
                // Reaped in the background: the sign-in does not wait for the browser.
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The command for one `$BROWSER` entry and a URL.
pub(crate) fn browser_command(entry: &str, url: &str) -> std::io::Result<std::process::Command> {
    let words = split_words(entry);
    let Some((program, args)) = words.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "an empty $BROWSER entry",
        ));
    };
    let mut command = std::process::Command::new(program);
    let mut placed = false;
    for arg in args {
        if arg.contains("%s") {
            command.arg(arg.replace("%s", url));
            placed = true;
        } else {
            command.arg(arg);
        }
    }
    if !placed {
        command.arg(url);
    }
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    Ok(command)
}

/// Splits a command line into words: spaces separate, `"…"` and `'…'` group (no escapes, so
/// Windows paths keep their backslashes).
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

impl fmt::Debug for InteractiveBrowserCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InteractiveBrowserCredential")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("login_hint", &self.login_hint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenProvider for InteractiveBrowserCredential {
    async fn token(&self, ctx: &TokenContext<'_>) -> Result<AccessToken> {
        self.cache.get_or_fetch(|| self.sign_in(ctx)).await
    }

    fn invalidate(&self) {
        self.cache.invalidate();
    }

    fn check_endpoints(&self, endpoints: &Endpoints) -> Result<()> {
        self.client_id_for(endpoints.cloud()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_is_43_url_safe_characters_and_the_challenge_is_its_s256() {
        let v = random_token();
        assert_eq!(v.len(), 43);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(v, random_token());
        // RFC 7636 appendix B.
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn browser_entries_are_split_into_words_and_the_url_stays_one_argument() {
        let url = "http://localhost:1/authorize?a=1&b=2 3";
        let c = browser_command(r#""C:\Program Files\Browser\b.exe" --new-window"#, url).unwrap();
        assert_eq!(c.get_program(), r"C:\Program Files\Browser\b.exe");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["--new-window", url]);
        let c = browser_command("sh -c 'open \"$1\"' sh %s", url).unwrap();
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["-c", "open \"$1\"", "sh", url]);
        assert!(browser_command("   ", url).is_err());
    }

    #[test]
    fn html_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            crate::redact::html_escape("<script>alert('x')</script>&\"\u{1b}[2J"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;[2J"
        );
    }
}
