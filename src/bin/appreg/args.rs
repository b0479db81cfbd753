//! The command line: commands, options and environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use entra_appreg::Cloud;
use entra_appreg::profile::PermissionProfile;

/// The environment variable `--auth token` reads the access token from.
pub const TOKEN_ENV: &str = "ENTRA_APPREG_TOKEN";
/// The environment variable `--auth client-secret` reads the client secret from.
pub const CLIENT_SECRET_ENV: &str = "ENTRA_APPREG_CLIENT_SECRET";
/// The environment variable `--tenant` falls back to.
pub const TENANT_ENV: &str = "ENTRA_TENANT";

const AFTER_HELP: &str = "\
Exit codes:
  0  done
  2  bad usage or input: nothing was changed in the tenant
  3  partial: the app is registered, but some grants were refused (the message names the admin role that can grant them)
  4  registered, not yet usable: the product could not sign in with every granted role within --wait-timeout
  1  any other failure (the message carries Graph's request-id, or the AADSTS code and correlation id)

With --json, stdout holds exactly one JSON object: the result, or {\"error\": {...}, \"exit_code\": N}.
Everything for humans (sign-in prompt, progress, warnings) goes to stderr.";

/// Registers an application for a Microsoft 365 backup or migration product in a Microsoft
/// Entra ID tenant: permissions, admin consent, and a certificate or secret.
#[derive(Debug, Parser)]
#[command(name = "appreg", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register the app (or bring an existing one up to date), grant admin consent and attach a
    /// new certificate or secret.
    Register(RegisterArgs),
    /// Show what `register` would change. Reads only.
    Plan(PlanArgs),
    /// Compare an existing app with a profile: missing permissions and grants, extra
    /// permissions, credentials and their expiry. Reads only.
    Audit(AuditArgs),
    /// Attach a new certificate or secret, then remove the older ones this tool created.
    Rotate(RotateArgs),
    /// Delete the app (Entra keeps it in deleted items for 30 days).
    Remove(RemoveArgs),
}

/// How to sign in: an admin with the browser or a device code, an access token, or an app's
/// secret or certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    /// The browser where one can be shown (Windows, macOS, Linux with DISPLAY, WAYLAND_DISPLAY
    /// or BROWSER set), the device code otherwise.
    Auto,
    /// An admin signs in with the browser on this machine (authorization code with PKCE; the
    /// sign-in URL is also printed on stderr).
    Browser,
    /// An admin signs in on any browser with a short code (the prompt goes to stderr). Many
    /// tenants block this flow with Conditional Access.
    DeviceCode,
    /// An access token for Microsoft Graph from env ENTRA_APPREG_TOKEN.
    Token,
    /// An app's client secret: --client-id, and the secret from env ENTRA_APPREG_CLIENT_SECRET.
    ClientSecret,
    /// An app's certificate: --client-id and --certificate <PEM|PFX>.
    ClientCertificate,
}

/// The credential the product will sign in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialChoice {
    /// A new self-signed RSA-2048 certificate, written to --out before anything is registered.
    Certificate,
    /// A new client secret, printed once.
    Secret,
    /// No credential.
    None,
}

/// Which Windows certificate store `--cert-store` imports into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CertStoreChoice {
    /// The current user's personal store (Cert:\CurrentUser\My).
    CurrentUser,
    /// The machine's personal store (Cert:\LocalMachine\My), for services: run elevated.
    LocalMachine,
}

/// Where the tenant is and how to sign in to it.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The tenant: its GUID or a domain such as contoso.onmicrosoft.com.
    #[arg(long, env = TENANT_ENV, value_name = "GUID|DOMAIN")]
    pub tenant: Option<String>,

    /// The Microsoft cloud.
    #[arg(long, default_value = "global", value_parser = parse_cloud, value_name = "global|usgov|usgov-dod|china")]
    pub cloud: Cloud,

    /// Override the Microsoft Graph root (a proxy or a fake; plain http only for loopback).
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,

    /// Override the login root (a proxy or a fake; plain http only for loopback).
    #[arg(long, value_name = "URL")]
    pub login_url: Option<String>,

    /// How to sign in.
    #[arg(long, value_enum, default_value_t = AuthMethod::Auto)]
    pub auth: AuthMethod,

    /// The admin account to pre-fill on the browser's sign-in page (browser sign-in).
    #[arg(long, value_name = "UPN")]
    pub login_hint: Option<String>,

    /// The client id of the app that signs in: the app itself (client-secret and
    /// client-certificate), or the public client the admin signs in through (browser and
    /// device-code; default Microsoft Graph Command Line Tools, which the china cloud does not
    /// have, so required there; for the browser it must list http://localhost as a public-client
    /// redirect URI).
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,

    /// The certificate that signs in (client-certificate): a PEM with its private key, or a PFX
    /// (its password from --pfx-password-env).
    #[arg(long, value_name = "PEM|PFX")]
    pub certificate: Option<PathBuf>,

    /// The private key of --certificate, when the PEM certificate and key are separate files.
    #[arg(long, value_name = "KEY_PEM", requires = "certificate")]
    pub certificate_key: Option<PathBuf>,

    /// The environment variable holding the PFX password: for the PFX written beside a new
    /// certificate, and for reading a PFX given with --certificate.
    #[arg(long, value_name = "VAR")]
    pub pfx_password_env: Option<String>,

    /// Print the result as one JSON object on stdout (everything else goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Which app: its profile and names.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// The permission profile.
    #[arg(long, value_parser = parse_profile, value_name = "backup-exchange|backup-sharepoint|migration-source|migration-target", conflicts_with = "profile_file")]
    pub profile: Option<PermissionProfile>,

    /// The product's own permissions, from a JSON profile file: {"name": …, "permissions":
    /// [{"resource": "Microsoft Graph", "value": "Mail.Read"}, …], "credentials": [...]}. Each
    /// value is looked up in the tenant before anything is written.
    #[arg(long, value_name = "FILE")]
    pub profile_file: Option<std::path::PathBuf>,

    /// Adds a permission to the profile, as RESOURCE:VALUE ("Microsoft Graph:Mail.Read", or the
    /// resource's appId before the colon); repeatable. The value is looked up in the tenant.
    #[arg(long, value_name = "RESOURCE:VALUE")]
    pub add_permission: Vec<String>,

    /// Takes a permission off the existing app, as RESOURCE:VALUE: out of its declared
    /// permissions, and its grant deleted; repeatable. Never implied; a no-op, with a note, when
    /// the app has nothing to revoke.
    #[arg(long, value_name = "RESOURCE:VALUE")]
    pub revoke: Vec<String>,

    /// How long one run may spend on Entra's replication lag and on recovering from failures
    /// that keep coming (lost replies, 5xx), in seconds (default 120).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub replication_timeout: Option<u64>,

    /// Also the permissions to create users and mailboxes (migration-target only).
    #[arg(long)]
    pub create_mailboxes: bool,

    /// The app's display name.
    #[arg(long, value_name = "DISPLAY NAME")]
    pub name: Option<String>,

    /// The app's unique name, the key that makes re-runs find the same app (default: derived
    /// from --name, e.g. "Contoso Backup" gives contoso-backup).
    #[arg(long, value_name = "NAME")]
    pub unique_name: Option<String>,
}

/// The new credential.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// The credential the product signs in with.
    #[arg(long, value_enum, default_value_t = CredentialChoice::Certificate)]
    pub credential: CredentialChoice,

    /// Where the certificate files go (PEM certificate, PEM private key, CER, and a PFX with
    /// --pfx-password-env). Existing files are never overwritten.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,

    /// Lifetime of the new certificate (default 365 days; over 365 warns, as Microsoft allows
    /// at most one year for a certificate added this way) or secret (default 730 days).
    #[arg(long, value_name = "N")]
    pub valid_days: Option<u32>,

    /// Register this existing certificate instead of generating one: a PEM with its key (or
    /// beside its NAME.key.pem for NAME.pem), or a PFX with --pfx-password-env. No file is written. Files
    /// in --out are otherwise reused only when this tool wrote them there.
    #[arg(long, value_name = "FILE", conflicts_with = "valid_days")]
    pub reuse_certificate: Option<PathBuf>,

    /// Encrypt the PFX with 3DES instead of AES-256 (for Windows Server 2016 and older).
    #[arg(long, requires = "pfx_password_env")]
    pub legacy_pfx: bool,

    /// Windows only: also import the new certificate with its private key into this personal
    /// ("My") certificate store, where the product finds it by thumbprint. A re-run finds it
    /// there and adds nothing.
    #[arg(long, value_enum)]
    pub cert_store: Option<CertStoreChoice>,

    /// Let the private key imported with --cert-store be exported again (default: it cannot be).
    #[arg(long, requires = "cert_store")]
    pub exportable_key: bool,
}

/// Where the product's sign-in is checked (register, rotate, audit).
#[derive(Debug, Args)]
pub struct SignInCheckArgs {
    /// The SharePoint host to check sign-in against (default: from the tenant's initial
    /// *.onmicrosoft.com domain).
    #[arg(long, value_name = "HOST")]
    pub sharepoint_host: Option<String>,
}

/// What `register` and `plan` share: the app, its credential, and whether older ones go.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub credential: CredentialArgs,
    /// After the new credential is in place, remove the older ones this tool created (`plan`:
    /// show that removal).
    #[arg(long)]
    pub retire_previous: bool,
}

/// `register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Return once Graph accepted the writes, without waiting until the product can sign in
    /// with the new credential.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait, at most, until the product can sign in (exit 4 if it cannot by then).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub wait_timeout: u64,
    #[command(flatten)]
    pub sign_in_check: SignInCheckArgs,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub change: ChangeArgs,
}

/// `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub app: AppArgs,
    /// Warn about credentials that expire within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub expiry_warning_days: u32,
    /// The output folder of register and rotate: the audit lists the secrets that the next run
    /// there would remove, as its secret journal says.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// The product's certificate (PEM with its key, or PFX): sign in with it as the app and say
    /// whether the product can connect. (`--certificate` names the admin's own sign-in.)
    #[arg(long, value_name = "PEM|PFX", conflicts_with = "app_client_secret_env")]
    pub app_certificate: Option<PathBuf>,
    /// The environment variable holding the product's client secret: sign in with it as the app
    /// and say whether the product can connect.
    #[arg(long, value_name = "VAR")]
    pub app_client_secret_env: Option<String>,
    /// How long to keep trying the product's sign-in (0: once per resource).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait_timeout: u64,
    #[command(flatten)]
    pub sign_in_check: SignInCheckArgs,
}

/// `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub credential: CredentialArgs,
    /// Keep the older credentials this tool created, so that the product can switch first
    /// (remove them later with `register --retire-previous`).
    #[arg(long)]
    pub keep_previous: bool,
    /// How long to wait, at most, until the product can sign in with the new credential; the
    /// older ones are removed only once it can (exit 4, older ones kept, if it cannot by then).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub wait_timeout: u64,
    #[command(flatten)]
    pub sign_in_check: SignInCheckArgs,
}

/// `remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub app: AppArgs,
    /// Delete without asking.
    #[arg(long)]
    pub yes: bool,
}

fn parse_cloud(s: &str) -> Result<Cloud, String> {
    s.parse().map_err(|e: entra_appreg::Error| e.to_string())
}

fn parse_profile(s: &str) -> Result<PermissionProfile, String> {
    s.parse().map_err(|e: entra_appreg::Error| e.to_string())
}

/// Whether the raw arguments ask for JSON (for reporting a usage error as JSON).
pub fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}
