//! Building the Graph client from the options, and signing in.

use entra_appreg::auth::{
    AccessToken, ClientCertificateCredential, ClientSecret, ClientSecretCredential,
    DeviceCodeCredential, InteractiveBrowserCredential, StaticToken, TokenContext, TokenProvider,
};
use entra_appreg::credentials::Certificate;
use entra_appreg::{ClientId, Cloud, Graph, TenantId};
use secrecy::SecretString;

use crate::args::{AuthMethod, CLIENT_SECRET_ENV, ConnectArgs, TOKEN_ENV};
use crate::failure::Failure;
use crate::ui::Ui;

/// A non-empty environment variable, or a usage error that names it and why it is needed.
fn required_env(var: &str, why: &str) -> Result<String, Failure> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(Failure::usage(format!(
            "the environment variable {var} is empty; it must hold {why}"
        ))),
        Err(_) => Err(Failure::usage(format!(
            "the environment variable {var} is not set; it must hold {why}"
        ))),
    }
}

/// The PFX password from the variable named by `--pfx-password-env`, if given.
pub fn pfx_password(connect: &ConnectArgs) -> Result<Option<SecretString>, Failure> {
    match &connect.pfx_password_env {
        None => Ok(None),
        Some(var) => {
            if var.is_empty() {
                return Err(Failure::usage(
                    "--pfx-password-env needs the name of an environment variable",
                ));
            }
            let value = required_env(var, "the PFX password (named by --pfx-password-env)")?;
            Ok(Some(SecretString::from(value)))
        }
    }
}

fn client_id(connect: &ConnectArgs, auth: &str) -> Result<ClientId, Failure> {
    let raw = connect
        .client_id
        .as_deref()
        .ok_or_else(|| Failure::usage(format!("--auth {auth} needs --client-id <GUID>")))?;
    Ok(raw.parse::<ClientId>()?)
}

/// What `--auth auto` means here: the device code in an SSH session (the browser would open
/// on the far machine, if anywhere); otherwise the browser where one can be shown (Windows and
/// macOS have a desktop; elsewhere a display or a `$BROWSER`), the device code elsewhere (a
/// container, a console), as Azure CLI decides. Where the browser then cannot be opened
/// (Server Core, a service), [`AutoCredential`] falls back to the device code. Any other
/// choice is kept.
pub fn effective_auth(auth: AuthMethod) -> AuthMethod {
    if auth != AuthMethod::Auto {
        return auth;
    }
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if set("SSH_CONNECTION") || set("SSH_TTY") {
        return AuthMethod::DeviceCode;
    }
    if cfg!(any(windows, target_os = "macos"))
        || set("DISPLAY")
        || set("WAYLAND_DISPLAY")
        || set("BROWSER")
    {
        AuthMethod::Browser
    } else {
        AuthMethod::DeviceCode
    }
}

/// Whether the sign-in involves an admin at a prompt (so it is worth saying when it is done).
pub fn is_interactive(auth: AuthMethod) -> bool {
    matches!(
        effective_auth(auth),
        AuthMethod::Browser | AuthMethod::DeviceCode
    )
}

/// China has no Microsoft Graph Command Line Tools app: an admin's sign-in there needs a
/// client of the tenant's own, named before anything is sent.
fn china_needs_client(connect: &ConnectArgs, flow: &str, what: &str) -> Result<(), Failure> {
    if connect.cloud == Cloud::China && connect.client_id.is_none() {
        return Err(Failure::usage(format!(
            "--auth {flow} with --cloud china needs --client-id <GUID>: the china (21Vianet) cloud has no Microsoft Graph Command Line Tools app, so name a public client registered in the tenant{what}"
        )));
    }
    Ok(())
}

fn browser_credential(
    connect: &ConnectArgs,
    ui: &Ui,
) -> Result<InteractiveBrowserCredential, Failure> {
    china_needs_client(
        connect,
        "browser",
        " with http://localhost as a redirect URI",
    )?;
    let ui = ui.clone();
    let mut credential = InteractiveBrowserCredential::new().on_sign_in_url(move |url| {
        ui.line(&format!(
            "Signing in with your browser. If no browser opens, open this address on this machine:\n  {url}"
        ));
        ui.wait("waiting for the sign-in in the browser".to_owned());
    });
    if let Some(hint) = &connect.login_hint {
        credential = credential.with_login_hint(hint.clone());
    }
    if connect.client_id.is_some() {
        credential = credential.with_client_id(client_id(connect, "browser")?);
    }
    Ok(credential)
}

fn device_code_credential(connect: &ConnectArgs, ui: &Ui) -> Result<DeviceCodeCredential, Failure> {
    china_needs_client(connect, "device-code", "")?;
    let ui = ui.clone();
    let mut credential = DeviceCodeCredential::new(move |prompt| ui.device_prompt(prompt));
    if connect.client_id.is_some() {
        credential = credential.with_client_id(client_id(connect, "device-code")?);
    }
    Ok(credential)
}

/// `--auth auto` where a browser should be there: the browser, and the device code when no
/// browser could be opened after all (Windows Server Core, a service account, a broken
/// `$BROWSER`). Any other failure of the browser sign-in is the answer.
struct AutoCredential {
    browser: InteractiveBrowserCredential,
    device_code: DeviceCodeCredential,
    fell_back: std::sync::atomic::AtomicBool,
    ui: Ui,
}

impl std::fmt::Debug for AutoCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoCredential")
            .field("browser", &self.browser)
            .field("device_code", &self.device_code)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl TokenProvider for AutoCredential {
    async fn token(&self, ctx: &TokenContext<'_>) -> entra_appreg::Result<AccessToken> {
        use std::sync::atomic::Ordering;
        if !self.fell_back.load(Ordering::Acquire) {
            match self.browser.token(ctx).await {
                Err(entra_appreg::Error::Auth(a))
                    if a.error == "browser_not_opened" || a.error == "listener_failed" =>
                {
                    self.ui.done_waiting();
                    self.ui.line(&format!(
                        "No browser could be opened ({}): signing in with a device code instead.",
                        a.description.as_deref().unwrap_or(&a.error)
                    ));
                    self.fell_back.store(true, Ordering::Release);
                }
                other => return other,
            }
        }
        self.device_code.token(ctx).await
    }

    fn invalidate(&self) {
        self.browser.invalidate();
        self.device_code.invalidate();
    }

    fn check_endpoints(
        &self,
        endpoints: &entra_appreg::cloud::Endpoints,
    ) -> entra_appreg::Result<()> {
        self.browser.check_endpoints(endpoints)?;
        self.device_code.check_endpoints(endpoints)
    }
}

/// Checks the sign-in options and builds the client. Nothing is sent.
/// Debug builds only: every wait returns at once (for the binary's own tests).
#[cfg(debug_assertions)]
const INSTANT_WAITS_ENV: &str = "APPREG_TEST_INSTANT_WAITS";

pub fn build_graph(connect: &ConnectArgs, ui: &Ui) -> Result<Graph, Failure> {
    let tenant = connect.tenant.as_deref().ok_or_else(|| {
        Failure::usage(
            "--tenant <GUID|DOMAIN> (or the environment variable ENTRA_TENANT) is required",
        )
    })?;
    let mut builder = Graph::builder().tenant(tenant).cloud(connect.cloud);
    // The tests of this binary run it against a fake tenant and wait in simulated time: in a
    // debug build only, this variable makes every wait (back-off, Retry-After, replication
    // and readiness polls) return at once, still counted against the budgets. A release build
    // ignores it: waiting is how a client honours Graph's Retry-After.
    #[cfg(debug_assertions)]
    if std::env::var_os(INSTANT_WAITS_ENV).is_some() {
        builder = builder.sleeper(entra_appreg::retry::RecordingSleeper::default());
    }
    if let Some(url) = &connect.graph_url {
        builder = builder.graph_root(url);
    }
    if let Some(url) = &connect.login_url {
        builder = builder.login_root(url);
    }
    builder = match (connect.auth, effective_auth(connect.auth)) {
        (AuthMethod::Auto, AuthMethod::Browser) => builder.token_provider(AutoCredential {
            browser: browser_credential(connect, ui)?,
            device_code: device_code_credential(connect, ui)?,
            fell_back: std::sync::atomic::AtomicBool::new(false),
            ui: ui.clone(),
        }),
        (_, AuthMethod::Browser) => builder.token_provider(browser_credential(connect, ui)?),
        (auth, AuthMethod::DeviceCode | AuthMethod::Auto) => {
            if auth == AuthMethod::Auto {
                ui.line(
                    "No browser can be shown here (an SSH session, or no DISPLAY, WAYLAND_DISPLAY or BROWSER): signing in with a device code. Use --auth browser to open one anyway.",
                );
            }
            builder.token_provider(device_code_credential(connect, ui)?)
        }
        (_, AuthMethod::Token) => builder.token_provider(StaticToken::new(required_env(
            TOKEN_ENV,
            "an access token for Microsoft Graph (--auth token)",
        )?)),
        (_, AuthMethod::ClientSecret) => {
            let id = client_id(connect, "client-secret")?;
            let secret = required_env(
                CLIENT_SECRET_ENV,
                "the client secret of --client-id (--auth client-secret)",
            )?;
            builder.token_provider(ClientSecretCredential::new(id, ClientSecret::new(secret)))
        }
        (_, AuthMethod::ClientCertificate) => {
            let id = client_id(connect, "client-certificate")?;
            let path = connect.certificate.as_deref().ok_or_else(|| {
                Failure::usage("--auth client-certificate needs --certificate <PEM|PFX>")
            })?;
            let certificate = match &connect.certificate_key {
                Some(key) => Certificate::from_pem_files(path, key)?,
                None => Certificate::from_file(path, pfx_password(connect)?.as_ref())?,
            };
            builder.token_provider(ClientCertificateCredential::new(id, certificate)?)
        }
    };
    Ok(builder.build()?)
}

/// Signs in now (the device-code prompt appears here), before anything is written, and
/// returns the tenant GUID. `prompted`: the sign-in was interactive, so say when it is done.
pub async fn sign_in(graph: &Graph, ui: &Ui, prompted: bool) -> Result<TenantId, Failure> {
    let signed_in = graph.access_token().await;
    ui.done_waiting();
    signed_in?;
    let tenant_id = graph.tenant_id().await?;
    if prompted {
        ui.line(&format!("Signed in to tenant {tenant_id}."));
    }
    Ok(tenant_id)
}
