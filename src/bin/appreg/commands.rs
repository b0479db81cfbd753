//! The five commands, each a short sequence of library calls.
//!
//! Every command checks all its input before it signs in, so a bad input exits 2 with nothing
//! sent. `register` and `rotate` write the new certificate's files after the sign-in and before
//! the first Graph write, so the private key exists on disk before the certificate is
//! registered anywhere.

use std::io::{BufRead, IsTerminal, Write};

use entra_appreg::credentials::{
    Certificate, CertificateFiles, CertificateOutput, CredentialKind, CredentialProvisioner,
    DEFAULT_CERTIFICATE_DAYS, DEFAULT_SECRET_DAYS, FileJournal, NewCredential, PfxEncryption,
    SecretOptions,
};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::{
    AppCredential, AppRegistration, Change, ConsentStatus, ReadyOptions, Warning,
};
use entra_appreg::{Graph, TenantId, UniqueName};

use crate::args::{
    AppArgs, AuditArgs, ChangeArgs, Command, ConnectArgs, CredentialArgs, CredentialChoice,
    PlanArgs, RegisterArgs, RemoveArgs, RotateArgs, SignInCheckArgs,
};
use crate::connect;
use crate::failure::Failure;
use crate::output::{self, Outcome};
use crate::ui::Ui;

/// Runs a command.
pub async fn run(command: Command, ui: &Ui) -> Result<Outcome, Failure> {
    match command {
        Command::Register(a) => register(a, ui).await,
        Command::Plan(a) => plan(a, ui).await,
        Command::Audit(a) => audit(a, ui).await,
        Command::Rotate(a) => rotate(a, ui).await,
        Command::Remove(a) => remove(a, ui).await,
    }
}

/// The connection options of a command (for `--json`).
pub fn connect_args(command: &Command) -> &ConnectArgs {
    match command {
        Command::Register(a) => &a.change.connect,
        Command::Plan(a) => &a.change.connect,
        Command::Audit(a) => &a.connect,
        Command::Rotate(a) => &a.connect,
        Command::Remove(a) => &a.connect,
    }
}

fn profile(app: &AppArgs) -> Result<PermissionProfile, Failure> {
    let profile = match (&app.profile, &app.profile_file) {
        (_, Some(file)) => match entra_appreg::profile::CustomProfile::from_file(file) {
            Ok(custom) => PermissionProfile::Custom(custom),
            // A file that cannot be read is bad input too: nothing was sent.
            Err(entra_appreg::Error::Io { source, .. }) => {
                return Err(Failure::usage(format!(
                    "--profile-file {}: {source}",
                    file.display()
                )));
            }
            Err(e) => return Err(e.into()),
        },
        (Some(p), None) => p.clone(),
        (None, None) => {
            return Err(Failure::usage(format!(
                "--profile or --profile-file is required: a profile is one of {}",
                PermissionProfile::NAMES.join(", ").to_lowercase()
            )));
        }
    };
    let added = app
        .add_permission
        .iter()
        .map(|p| entra_appreg::profile::Permission::parse_resource_value(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(profile
        .with_mailbox_creation(app.create_mailboxes)?
        .with_added_permissions(added)?)
}

/// Which names a command needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Names {
    /// `--name` (the unique name defaults to one derived from it).
    DisplayName,
    /// `--name` or `--unique-name`: the app is only looked up.
    Either,
}

fn registration(
    app: &AppArgs,
    profile: PermissionProfile,
    names: Names,
) -> Result<AppRegistration, Failure> {
    let unique = app
        .unique_name
        .as_deref()
        .map(UniqueName::new)
        .transpose()?;
    let display = match (&app.name, &unique) {
        (Some(name), _) => name.clone(),
        (None, Some(u)) if names == Names::Either => u.as_str().to_owned(),
        _ if names == Names::Either => {
            return Err(Failure::usage(
                "--name <DISPLAY NAME> or --unique-name <NAME> is required",
            ));
        }
        _ => return Err(Failure::usage("--name <DISPLAY NAME> is required")),
    };
    let registration = match unique {
        Some(u) => AppRegistration::with_names(display, u, profile)?,
        None => AppRegistration::new(display, profile)?,
    };
    let revoked = app
        .revoke
        .iter()
        .map(|p| entra_appreg::profile::Permission::parse_resource_value(p))
        .collect::<Result<Vec<_>, _>>()?;
    let registration = registration.revoke_permissions(revoked);
    Ok(match app.replication_timeout {
        Some(secs) => registration.with_replication_timeout(std::time::Duration::from_secs(secs)),
        None => registration,
    })
}

/// File names for a certificate: the unique name made safe for a file name, short enough for
/// the date `rotate` adds and the temporary names of atomic writes, and never a Windows device
/// name (an app called "Aux" gets `aux-app.*`).
fn file_stem(unique_name: &UniqueName) -> String {
    let mut stem: String = UniqueName::derive_from_display_name(unique_name.as_str())
        .map(|u| u.as_str().to_owned())
        .unwrap_or_else(|_| "appreg".to_owned())
        .chars()
        .take(96)
        .collect();
    if !entra_appreg::credentials::is_safe_file_stem(&stem) {
        stem.push_str("-app");
    }
    stem
}

/// The new credential, checked, with where a certificate's files go.
enum Prepared {
    Certificate {
        certificate: Box<Certificate>,
        output: CertificateOutput,
        /// The files of an earlier run's certificate, reused instead of a new one.
        existing: Option<CertificateFiles>,
    },
    Secret(SecretOptions),
    None,
}

impl Prepared {
    fn new_credential(&self) -> Option<NewCredential> {
        match self {
            Prepared::Certificate { certificate, .. } => {
                Some(NewCredential::Certificate(certificate.clone()))
            }
            Prepared::Secret(options) => Some(NewCredential::Secret(options.clone())),
            Prepared::None => None,
        }
    }

    /// Writes a new certificate's files (refusing existing ones), or returns the files of the
    /// earlier run's certificate being reused. Nothing for a secret.
    fn write_files(&self) -> Result<Option<CertificateFiles>, Failure> {
        match self {
            Prepared::Certificate {
                existing: Some(files),
                ..
            } => Ok(Some(files.clone())),
            Prepared::Certificate {
                certificate,
                output,
                existing: None,
            } => Ok(Some(certificate.write_files(output)?)),
            _ => Ok(None),
        }
    }

    /// Checks, before signing in, that a new certificate's files can be written.
    fn check_available(&self) -> Result<(), Failure> {
        match self {
            Prepared::Certificate {
                output,
                existing: None,
                ..
            } => Ok(output.check_available()?),
            _ => Ok(()),
        }
    }
}

/// `--cert-store` needs Windows and a certificate: anything else is refused before signing in.
fn check_cert_store(args: &CredentialArgs) -> Result<(), Failure> {
    if args.cert_store.is_none() {
        return Ok(());
    }
    if !cfg!(windows) {
        return Err(Failure::usage(
            "--cert-store imports into the Windows certificate store, which this system does not have",
        ));
    }
    if args.credential != CredentialChoice::Certificate {
        return Err(Failure::usage(
            "--cert-store applies to a new certificate (--credential certificate)",
        ));
    }
    Ok(())
}

/// With `--cert-store`, imports the certificate with its private key into that Windows
/// certificate store, or finds it there from an earlier run, and says which.
#[cfg(windows)]
fn store_certificate(
    prepared: &Prepared,
    args: &CredentialArgs,
    ui: &Ui,
) -> Result<Option<output::StoreReport>, Failure> {
    let (Some(store), Prepared::Certificate { certificate, .. }) = (cert_store(args), prepared)
    else {
        return Ok(None);
    };
    let imported =
        store.import(certificate)? != entra_appreg::credentials::StoreImport::AlreadyPresent;
    let location = store.location();
    ui.line(&format!(
        "The certificate {} {} in the {location} certificate store.",
        certificate.thumbprint().as_str(),
        if imported {
            "was imported with its private key"
        } else {
            "was already"
        }
    ));
    Ok(Some(output::StoreReport {
        location: location.to_string(),
        thumbprint: certificate.thumbprint().clone(),
        imported,
        removed: Vec::new(),
    }))
}

/// The store `--cert-store` names, with `--exportable-key` applied.
#[cfg(windows)]
fn cert_store(args: &CredentialArgs) -> Option<entra_appreg::credentials::CertificateStore> {
    use crate::args::CertStoreChoice;
    use entra_appreg::credentials::{CertificateStore, StoreLocation};
    let location = match args.cert_store? {
        CertStoreChoice::CurrentUser => StoreLocation::CurrentUser,
        CertStoreChoice::LocalMachine => StoreLocation::LocalMachine,
    };
    Some(CertificateStore::new(location).exportable_key(args.exportable_key))
}

/// After a rotation retired older certificates, removes them from the store the new one went
/// into: Entra no longer accepts them. A certificate the store cannot give up is a warning,
/// not a failure: the rotation itself is done.
#[cfg(windows)]
fn unstore_retired(
    report: &mut output::StoreReport,
    retired: &[entra_appreg::credentials::CredentialInfo],
    args: &CredentialArgs,
    ui: &Ui,
) {
    let Some(store) = cert_store(args) else {
        return;
    };
    for thumbprint in retired.iter().filter_map(|c| c.thumbprint.as_ref()) {
        match store.remove(thumbprint) {
            Ok(true) => {
                ui.line(&format!(
                    "Removed the retired certificate {} from the {} certificate store.",
                    thumbprint.as_str(),
                    store.location()
                ));
                report.removed.push(thumbprint.clone());
            }
            Ok(false) => {}
            Err(e) => ui.line(&format!(
                "warning: the retired certificate {} stays in the {} certificate store: {e}",
                thumbprint.as_str(),
                store.location()
            )),
        }
    }
}

/// Off Windows `--cert-store` is refused before signing in, by [`check_cert_store`].
#[cfg(not(windows))]
fn store_certificate(
    _: &Prepared,
    _: &CredentialArgs,
    _: &Ui,
) -> Result<Option<output::StoreReport>, Failure> {
    Ok(None)
}

#[cfg(not(windows))]
fn unstore_retired(
    _: &mut output::StoreReport,
    _: &[entra_appreg::credentials::CredentialInfo],
    _: &CredentialArgs,
    _: &Ui,
) {
}

async fn prepare_credential(
    args: &CredentialArgs,
    connect: &ConnectArgs,
    profile: &PermissionProfile,
    display_name: &str,
    stem: String,
) -> Result<Prepared, Failure> {
    check_cert_store(args)?;
    let prepared = match args.credential {
        CredentialChoice::None | CredentialChoice::Secret if args.reuse_certificate.is_some() => {
            return Err(Failure::usage(
                "--reuse-certificate registers a certificate: it needs --credential certificate",
            ));
        }
        CredentialChoice::None => {
            if args.valid_days.is_some() {
                return Err(Failure::usage(
                    "--valid-days applies to a new certificate or secret, not to --credential none",
                ));
            }
            return Ok(Prepared::None);
        }
        CredentialChoice::Secret => {
            profile.check_credential(CredentialKind::Secret)?;
            Prepared::Secret(SecretOptions::valid_for_days(
                args.valid_days.unwrap_or(DEFAULT_SECRET_DAYS),
            ))
        }
        CredentialChoice::Certificate if args.reuse_certificate.is_some() => {
            profile.check_credential(CredentialKind::Certificate)?;
            let path = args
                .reuse_certificate
                .as_deref()
                .unwrap_or_else(|| unreachable!());
            let (certificate, files) = reused_certificate(path, connect)?;
            let dir = std::path::absolute(&args.out)
                .map_err(|e| Failure::usage(format!("--out {}: {e}", args.out.display())))?;
            Prepared::Certificate {
                certificate: Box::new(certificate),
                output: CertificateOutput::new(dir, stem),
                existing: Some(files),
            }
        }
        CredentialChoice::Certificate => {
            profile.check_credential(CredentialKind::Certificate)?;
            let dir = std::path::absolute(&args.out)
                .map_err(|e| Failure::usage(format!("--out {}: {e}", args.out.display())))?;
            let mut output = CertificateOutput::new(dir, stem);
            output.pfx_password = connect::pfx_password(connect)?;
            if args.legacy_pfx {
                output.pfx_encryption = PfxEncryption::LegacyTripleDes;
            }
            // A re-run after a failure finds the certificate it wrote before: it registers that
            // one (already registered: nothing to add) instead of stopping at the files.
            match output.load_existing()? {
                Some((certificate, files)) => Prepared::Certificate {
                    certificate: Box::new(certificate),
                    output,
                    existing: Some(files),
                },
                // RSA key generation takes a while: on the blocking pool, not the runtime thread.
                None => Prepared::Certificate {
                    certificate: Box::new(
                        Certificate::generate_async(
                            &Certificate::common_name_for(display_name),
                            args.valid_days.unwrap_or(DEFAULT_CERTIFICATE_DAYS),
                        )
                        .await?,
                    ),
                    output,
                    existing: None,
                },
            }
        }
    };
    if let Some(new) = prepared.new_credential() {
        new.check()?;
    }
    Ok(prepared)
}

/// The certificate `--reuse-certificate` names, with its private key: from the file itself (a
/// PEM with its key, or a PFX), or from the `<name>.key.pem` beside a PEM certificate, as this
/// tool writes them. The caller vouches for the file, so only its content is checked.
fn reused_certificate(
    path: &std::path::Path,
    connect: &ConnectArgs,
) -> Result<(Certificate, CertificateFiles), Failure> {
    let mut files = CertificateFiles::default();
    let unreadable = |e: entra_appreg::Error| match e {
        entra_appreg::Error::Io { .. } => Failure::usage(format!(
            "--reuse-certificate {}: {}",
            path.display(),
            e.report()
        )),
        e => Failure::from(e),
    };
    let mut certificate = Certificate::from_file(path, connect::pfx_password(connect)?.as_ref())
        .map_err(unreadable)?;
    let is_pfx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"));
    if is_pfx {
        files.pfx = Some(path.to_owned());
    } else {
        files.certificate_pem = Some(path.to_owned());
    }
    let beside = path
        .to_str()
        .and_then(|p| p.strip_suffix(".pem"))
        .map(|stem| std::path::PathBuf::from(format!("{stem}.key.pem")));
    if !certificate.has_private_key()
        && let Some(key) = beside.filter(|k| k.is_file())
    {
        certificate = Certificate::from_pem_files(path, &key).map_err(unreadable)?;
        files.private_key_pem = Some(key);
    } else if certificate.has_private_key() && !is_pfx {
        files.private_key_pem = Some(path.to_owned());
    }
    certificate.check_usable(true)?;
    Ok((certificate, files))
}

/// The secret journal of the output folder, read once before signing in: a journal that is
/// not trusted or not readable stops the command while nothing has happened yet, not after the
/// admin signed in.
fn journal_in(out: &std::path::Path) -> Result<std::sync::Arc<FileJournal>, Failure> {
    use entra_appreg::credentials::SecretJournal;
    let journal = FileJournal::in_folder(out);
    journal.unfinished()?;
    Ok(std::sync::Arc::new(journal))
}

async fn signed_in(connect: &ConnectArgs, ui: &Ui) -> Result<(Graph, TenantId), Failure> {
    let graph = connect::build_graph(connect, ui)?;
    let tenant_id = connect::sign_in(&graph, ui, connect::is_interactive(connect.auth)).await?;
    Ok((graph, tenant_id))
}

fn show_warnings(ui: &Ui, warnings: &[Warning]) {
    for w in warnings {
        ui.line(&format!("warning: {w}"));
    }
}

/// The registration `register` and `plan` work on, with its credential prepared and every
/// input checked: nothing has been sent yet.
async fn prepared_registration(
    change: &ChangeArgs,
    ui: &Ui,
) -> Result<(AppRegistration, Prepared), Failure> {
    let ChangeArgs {
        connect,
        app,
        credential,
        retire_previous,
    } = change;
    let retire_previous = *retire_previous;
    let profile = profile(app)?;
    let mut registration = registration(app, profile.clone(), Names::DisplayName)?;
    let prepared = prepare_credential(
        credential,
        connect,
        &profile,
        registration.display_name(),
        file_stem(registration.unique_name()),
    )
    .await?;
    if let Some(new) = prepared.new_credential() {
        registration = registration.with_credential(new);
    }
    let progress = ui.clone();
    // The journal of secrets this tool is about to create lives beside the other output: a run
    // killed before it handed a secret over leaves an intent the next run here finishes.
    let out = std::path::absolute(&credential.out)
        .map_err(|e| Failure::usage(format!("--out {}: {e}", credential.out.display())))?;
    let registration = registration
        .retire_previous_credentials(retire_previous)
        .with_journal(journal_in(&out)?)
        .on_progress(move |event| progress.progress(event));
    registration.validate()?;
    Ok((registration, prepared))
}

async fn register(a: RegisterArgs, ui: &Ui) -> Result<Outcome, Failure> {
    let (registration, prepared) = prepared_registration(&a.change, ui).await?;
    prepared.check_available()?;

    let (graph, _) = signed_in(&a.change.connect, ui).await?;
    let files = prepared.write_files()?;
    if let Some(f) = &files
        && let Some(dir) = f.private_key_pem.as_ref().and_then(|p| p.parent())
    {
        let what = match &prepared {
            Prepared::Certificate { .. } if a.change.credential.reuse_certificate.is_some() => {
                "Using the certificate given with --reuse-certificate, from"
            }
            Prepared::Certificate {
                existing: Some(_), ..
            } => "Using the certificate and private key this tool wrote earlier in",
            _ => "Wrote the new certificate and its private key to",
        };
        ui.line(&format!("{what} {}.", dir.display()));
    }
    let stored = store_certificate(&prepared, &a.change.credential, ui)
        .map_err(|f| f.with_written(files.as_ref()))?;
    let app = registration
        .apply(&graph)
        .await
        .map_err(|e| Failure::from(e).with_written(files.as_ref()))?;
    show_warnings(ui, &app.warnings);
    if let ConsentStatus::Partial(partial) = &app.consent {
        ui.line(&format!("partial: {}", partial.message));
    }
    let mut outcome = output::registered(&app, files.as_ref(), graph.request_count());
    output::add_store(&mut outcome, stored.as_ref());
    if !a.no_wait && app.app_credential().is_some() {
        let options = ready_options(a.wait_timeout, &a.sign_in_check, ui);
        ui.wait("checking that the product can sign in with the new credential".to_owned());
        let readiness = app.wait_until_ready(&graph, &options).await;
        ui.done_waiting();
        output::add_readiness(&mut outcome, &readiness?);
    }
    Ok(outcome)
}

/// How long and where the product's sign-in is checked, with the waits shown on stderr.
fn ready_options(timeout_seconds: u64, check: &SignInCheckArgs, ui: &Ui) -> ReadyOptions {
    let progress = ui.clone();
    let options = ReadyOptions::default()
        .with_timeout(std::time::Duration::from_secs(timeout_seconds))
        .on_progress(move |event| progress.progress(event));
    match &check.sharepoint_host {
        Some(host) => options.with_sharepoint_host(host.clone()),
        None => options,
    }
}

async fn plan(a: PlanArgs, ui: &Ui) -> Result<Outcome, Failure> {
    // A new certificate made here is for the plan only: it is never written or sent.
    let (registration, prepared) = prepared_registration(&a.change, ui).await?;
    let collision = prepared.check_available().err();

    let (graph, tenant_id) = signed_in(&a.change.connect, ui).await?;
    let mut plan = registration.plan(&graph).await?;
    for change in &mut plan.changes {
        if let Change::AddCredential { thumbprint, .. } = change {
            // register generates its own certificate: this one's thumbprint means nothing.
            *thumbprint = None;
        }
    }
    if a.change.connect.json {
        // The human summary lists the warnings itself.
        show_warnings(ui, &plan.warnings);
    }
    let mut outcome = output::plan(&plan, tenant_id, graph.request_count());
    if let Some(e) = collision {
        // The tool's own warning: register checks its files before the library runs.
        let message = format!("register would stop before signing in: {}", e.message);
        if a.change.connect.json {
            ui.line(&format!("warning: {message}"));
        }
        output::add_warning(&mut outcome, "output_files_exist", message);
    }
    Ok(outcome)
}

async fn audit(a: AuditArgs, ui: &Ui) -> Result<Outcome, Failure> {
    let profile = profile(&a.app)?;
    // Read before anything is sent: a bad file or variable is a usage error.
    let credential = product_credential(&a)?;
    let progress = ui.clone();
    // The journal of the output folder: the audit lists what the next run there would remove.
    let out = std::path::absolute(&a.out)
        .map_err(|e| Failure::usage(format!("--out {}: {e}", a.out.display())))?;
    let registration = registration(&a.app, profile, Names::DisplayName)?
        .with_journal(journal_in(&out)?)
        .on_progress(move |event| progress.progress(event));
    let (graph, tenant_id) = signed_in(&a.connect, ui).await?;
    let audit = registration
        .audit(&graph, a.expiry_warning_days)
        .await?
        .ok_or_else(|| Failure::not_registered(registration.unique_name().as_str()))?;
    show_warnings(ui, &audit.warnings);
    let readiness = match &credential {
        Some(credential) => {
            let options = ready_options(a.wait_timeout, &a.sign_in_check, ui);
            ui.wait("signing in as the app, as the product would".to_owned());
            let r = registration
                .check_sign_in(&graph, audit.application.client_id, credential, &options)
                .await;
            ui.done_waiting();
            Some(r?)
        }
        None => None,
    };
    let mut outcome = output::audit(
        &audit,
        tenant_id,
        registration.unique_name().as_str(),
        registration.profile().name(),
        graph.request_count(),
    );
    if let Some(readiness) = &readiness {
        output::add_readiness(&mut outcome, readiness);
        // `audit` reports; it does not fail on what it finds.
        outcome.exit_code = crate::exit::EXIT_OK;
    }
    Ok(outcome)
}

/// The product's credential `audit` signs in with, when one is given.
fn product_credential(a: &AuditArgs) -> Result<Option<AppCredential>, Failure> {
    if let Some(path) = &a.app_certificate {
        let certificate =
            Certificate::from_file(path, connect::pfx_password(&a.connect)?.as_ref())?;
        return Ok(Some(AppCredential::Certificate(Box::new(certificate))));
    }
    if let Some(var) = &a.app_client_secret_env {
        let secret = std::env::var(var).map_err(|_| {
            Failure::usage(format!(
                "--app-client-secret-env {var}: the variable is not set (or not UTF-8)"
            ))
        })?;
        return Ok(Some(AppCredential::Secret(
            entra_appreg::auth::ClientSecret::new(secret),
        )));
    }
    Ok(None)
}

async fn rotate(a: RotateArgs, ui: &Ui) -> Result<Outcome, Failure> {
    let profile = profile(&a.app)?;
    if a.credential.credential == CredentialChoice::None {
        return Err(Failure::usage(
            "rotate needs a new credential: --credential certificate or --credential secret",
        ));
    }
    let progress = ui.clone();
    let registration = registration(&a.app, profile.clone(), Names::Either)?
        .on_progress(move |event| progress.progress(event));
    let stem = format!(
        "{}-{}",
        file_stem(registration.unique_name()),
        time::OffsetDateTime::now_utc().date()
    );
    let prepared = prepare_credential(
        &a.credential,
        &a.connect,
        &profile,
        registration.display_name(),
        stem,
    )
    .await?;
    prepared.check_available()?;
    let Some(new) = prepared.new_credential() else {
        unreachable!("credential none was refused above");
    };
    let out = std::path::absolute(&a.credential.out)
        .map_err(|e| Failure::usage(format!("--out {}: {e}", a.credential.out.display())))?;
    let journal = journal_in(&out)?;

    let (graph, tenant_id) = signed_in(&a.connect, ui).await?;
    // Found by reads only: one round trip by client id, two by unique name.
    let app = registration
        .app_ref()
        .find(&graph)
        .await?
        .ok_or_else(|| Failure::not_registered(registration.unique_name().as_str()))?;
    let files = prepared.write_files()?;
    let mut stored = store_certificate(&prepared, &a.credential, ui)
        .map_err(|f| f.with_written(files.as_ref()))?;
    ui.wait(format!("adding the new {}", new.kind()));
    let options = ready_options(a.wait_timeout, &a.sign_in_check, ui);
    let rotation = CredentialProvisioner::new(&graph, app.object_id)
        .for_profile(profile)
        .with_journal(journal)
        .rotate_when_ready(new, app.client_id, &options, a.keep_previous)
        .await;
    ui.done_waiting();
    let rotation = rotation.map_err(|e| Failure::from(e).with_written(files.as_ref()))?;
    if let Some(kept) = &rotation.retirement_error {
        let credential = output::credential_json(&rotation.issued, files.as_ref());
        let failure = Failure::older_credentials_kept(
            format!("the new {} is in place, but {kept}", rotation.issued.kind()),
            credential,
        );
        return Err(failure.with_written(files.as_ref()));
    }
    if let Some(report) = &mut stored {
        unstore_retired(report, &rotation.removed, &a.credential, ui);
    }
    let mut outcome = output::rotated(
        &rotation,
        tenant_id,
        app.client_id,
        app.object_id,
        registration.unique_name().as_str(),
        files.as_ref(),
        graph.request_count(),
    );
    output::add_store(&mut outcome, stored.as_ref());
    Ok(outcome)
}

fn confirm(ui: &Ui, question: &str) -> Result<bool, Failure> {
    ui.done_waiting();
    let mut err = std::io::stderr().lock();
    let question = entra_appreg::redact::for_terminal(question);
    let _ = write!(err, "{question} Type yes to confirm: ");
    let _ = err.flush();
    drop(err);
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::usage(format!("cannot read the confirmation: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "yes" | "y"
    ))
}

async fn remove(a: RemoveArgs, ui: &Ui) -> Result<Outcome, Failure> {
    // The profile does not matter for a deletion: it is only checked (as a flag) when given,
    // and the app is found and deleted by name or client id alone, with reads only.
    let profile = match (&a.app.profile, &a.app.profile_file) {
        (None, None) => PermissionProfile::BackupExchange,
        _ => profile(&a.app)?,
    };
    let registration = registration(&a.app, profile, Names::Either)?;
    let app_ref = registration.app_ref();
    if !a.yes && !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "remove asks for confirmation on a terminal, and stdin is not one: pass --yes to delete without asking",
        ));
    }
    let (graph, tenant_id) = signed_in(&a.connect, ui).await?;
    let unique_name = registration.unique_name().as_str().to_owned();
    if !a.yes {
        let Some(app) = app_ref.find(&graph).await? else {
            return Ok(output::removed(
                None,
                tenant_id,
                &unique_name,
                graph.request_count(),
            ));
        };
        let question = format!(
            "Delete the app registration \"{}\" (client id {}, unique name {unique_name}) from tenant {tenant_id}?",
            entra_appreg::redact::for_terminal_line(app.display_name.as_deref().unwrap_or("")),
            app.client_id
        );
        if !confirm(ui, &question)? {
            return Err(Failure::cancelled("not confirmed: nothing was deleted"));
        }
    }
    let removed = app_ref.remove(&graph).await?;
    Ok(output::removed(
        removed.as_ref(),
        tenant_id,
        &unique_name,
        graph.request_count(),
    ))
}
