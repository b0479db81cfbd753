//! Failures and their exit codes.
//!
//! | exit | when |
//! |---|---|
//! | 0 | done |
//! | 2 | bad usage or input: nothing was changed in the tenant |
//! | 3 | partial: registered, but some grants were refused (not a failure: see `Outcome`) |
//! | 1 | any other failure |

use entra_appreg::Error;
use entra_appreg::credentials::CertificateFiles;
use serde_json::{Value, json};

use crate::exit::{EXIT_FAILURE, EXIT_USAGE};

/// A failed command, with what support needs.
#[derive(Debug)]
pub struct Failure {
    /// A stable, machine-readable kind: `usage`, `cancelled`, `older_credentials_kept`,
    /// `other`, or the library's [`ErrorKind`](entra_appreg::ErrorKind) name: `invalid_input`,
    /// `not_registered`, `precondition`, `graph`, `auth`, `transport`, `decode`, `role_mismatch`,
    /// `credential_lifetime_policy`, `credential_not_removed`, `not_replicated`,
    /// `may_have_taken_effect`, `io`, `older_credentials_kept`, `other`.
    pub kind: &'static str,
    /// The message for humans (the library's, with its ids and advice).
    pub message: String,
    /// The process exit code.
    pub exit_code: u8,
    /// The ids and leftovers, boxed to keep results small.
    pub details: Box<Details>,
}

/// What a support engineer or an installer needs beyond the message.
#[derive(Debug, Default)]
pub struct Details {
    /// HTTP status of the failed reply.
    pub status: Option<u16>,
    /// Graph's error code.
    pub graph_code: Option<String>,
    /// Graph's request-id.
    pub request_id: Option<String>,
    /// The AADSTS code of a sign-in failure, as `AADSTSnnnn`.
    pub aadsts: Option<String>,
    /// The correlation id of a sign-in failure.
    pub correlation_id: Option<String>,
    /// A credential that is live in the tenant although the command failed.
    pub credential: Option<Value>,
    /// Certificate files written before the failure (the private key is kept).
    pub certificate_files: Option<CertificateFiles>,
}

impl Failure {
    fn new(kind: &'static str, exit_code: u8, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            exit_code,
            details: Box::default(),
        }
    }

    /// Bad usage (a missing option, an unset environment variable). Exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new("usage", EXIT_USAGE, message)
    }

    /// A failure outside the library (the async runtime would not start). Exit 1.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new("other", EXIT_FAILURE, message)
    }

    /// The app the command is about does not exist. Exit 2: nothing was changed.
    pub fn not_registered(unique_name: &str) -> Self {
        Self::new(
            "not_registered",
            EXIT_USAGE,
            format!(
                "no app registration with unique name {unique_name} exists in this tenant: register it first (or check --unique-name and --tenant)"
            ),
        )
    }

    /// `rotate` added the new credential but could not retire the older ones (or could not check
    /// the new one's sign-in). Exit 1, with the new credential handed over: it is live.
    pub fn older_credentials_kept(message: impl Into<String>, credential: Value) -> Self {
        let mut f = Self::new("older_credentials_kept", EXIT_FAILURE, message);
        f.details.credential = Some(credential);
        f
    }

    /// The user declined a confirmation. Exit 2: nothing was changed.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new("cancelled", EXIT_USAGE, message)
    }

    /// Notes the certificate files already written, so the key is never lost silently.
    pub fn with_files(mut self, files: CertificateFiles) -> Self {
        if let Some(key) = &files.private_key_pem {
            let dir = key
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            self.message.push_str(&format!(
                ". The new certificate's files (with its private key) are kept in {dir}"
            ));
        }
        self.details.certificate_files = Some(files);
        self
    }

    /// [`with_files`](Self::with_files), when files were written.
    pub fn with_written(self, files: Option<&CertificateFiles>) -> Self {
        match files {
            Some(files) => self.with_files(files.clone()),
            None => self,
        }
    }

    /// The error object printed in `--json` mode.
    pub fn to_json(&self) -> Value {
        let d = &self.details;
        let mut error = json!({
            "kind": self.kind,
            "message": self.message,
            "status": d.status,
            "graph_code": d.graph_code,
            "request_id": d.request_id,
            "aadsts": d.aadsts,
            "correlation_id": d.correlation_id,
        });
        if let Some(c) = &d.credential {
            error["credential"] = c.clone();
        }
        if let Some(f) = &d.certificate_files {
            error["certificate_files"] = json!(f);
        }
        json!({ "error": error, "exit_code": self.exit_code })
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        // Exit 2 promises that nothing changed in the tenant: only a kind that guarantees it.
        let exit_code = if e.kind().nothing_changed() {
            EXIT_USAGE
        } else {
            EXIT_FAILURE
        };
        let mut f = Failure::new(e.kind().as_str(), exit_code, e.report().to_string());
        // The ids of the failure that stopped the run, also behind a clean-up failure.
        let cause = match &e {
            Error::CredentialNotRemoved {
                source, credential, ..
            } => {
                f.details.credential = Some(crate::output::credential_json(credential, None));
                source.as_ref()
            }
            other => other,
        };
        f.details.status = cause.status();
        f.details.graph_code = cause.graph_code().map(str::to_owned);
        f.details.request_id = cause.request_id().map(str::to_owned);
        f.details.aadsts = cause.aadsts_code().map(|c| format!("AADSTS{c}"));
        f.details.correlation_id = cause.correlation_id().map(str::to_owned);
        f
    }
}
