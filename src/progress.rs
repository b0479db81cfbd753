//! Progress events, for an installer's UI.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// A step of the registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// Reading the app, its service principal, grants and the resource service principals.
    ReadTenant,
    /// Creating or updating the application (and its declared permissions).
    WriteApplication,
    /// Creating the app's service principal (and any missing resource service principal).
    CreateServicePrincipals,
    /// Granting admin consent to the app roles.
    GrantConsent,
    /// Attaching a credential.
    AddCredential,
    /// Removing credentials that this run created but could not hand over.
    Cleanup,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::ReadTenant => "reading the tenant",
            Step::WriteApplication => "writing the app registration",
            Step::CreateServicePrincipals => "creating the service principal",
            Step::GrantConsent => "granting admin consent",
            Step::AddCredential => "adding the credential",
            Step::Cleanup => "cleaning up",
        })
    }
}

/// Something an installer may want to show while the registration runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A step started.
    StepStarted {
        /// Which.
        step: Step,
    },
    /// A step finished.
    StepFinished {
        /// Which.
        step: Step,
    },
    /// Entra has not replicated an object this run created; the step is retried after a wait.
    WaitingForReplication {
        /// What is awaited ("the service principal", …).
        what: String,
        /// Retry number, from 1.
        attempt: u32,
        /// The wait before the next try.
        #[serde(with = "duration_secs")]
        retry_in: Duration,
        /// How long this object has been awaited so far.
        #[serde(with = "duration_secs")]
        waited: Duration,
    },
    /// Signing in as the new app: the resource refused the new credential, or its token lacks
    /// roles granted seconds ago; it is tried again after a short wait.
    WaitingForSignIn {
        /// The resource ("Office 365 Exchange Online", …).
        resource: String,
        /// Sign-ins so far.
        attempt: u32,
        /// Time since the first sign-in to this resource.
        #[serde(with = "duration_secs")]
        waited: Duration,
        /// What is awaited.
        reason: String,
    },
    /// A reply was lost, or Graph failed in a way that may hide a write that happened: the run
    /// reads the tenant again after a wait and continues from what it finds.
    Recovering {
        /// Recovery number, from 1.
        attempt: u32,
        /// The wait before the tenant is read again.
        #[serde(with = "duration_secs")]
        retry_in: Duration,
        /// What went wrong, in a few words.
        reason: String,
    },
}

impl fmt::Display for ProgressEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgressEvent::StepStarted { step } => write!(f, "{step}…"),
            ProgressEvent::StepFinished { step } => write!(f, "{step}: done"),
            ProgressEvent::WaitingForReplication {
                what,
                attempt,
                retry_in,
                waited,
            } => write!(
                f,
                "waiting for Entra to replicate {what} (try {attempt}, next in {:.1} s, waited {:.1} s so far)",
                retry_in.as_secs_f64(),
                waited.as_secs_f64()
            ),
            ProgressEvent::WaitingForSignIn {
                resource,
                attempt,
                waited,
                reason,
            } => write!(
                f,
                "{reason} ({resource}, sign-in {attempt})… {:.0} s",
                waited.as_secs_f64()
            ),
            ProgressEvent::Recovering {
                attempt,
                retry_in,
                reason,
            } => write!(
                f,
                "{reason}; reading the tenant again in {:.1} s to continue from what is there (recovery {attempt})",
                retry_in.as_secs_f64()
            ),
        }
    }
}

mod duration_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

type Callback = dyn Fn(&ProgressEvent) + Send + Sync;

/// Where progress events go: a callback, plus tracing.
#[derive(Clone, Default)]
pub(crate) struct ProgressSink(Option<Arc<Callback>>);

impl ProgressSink {
    pub(crate) fn new(f: Arc<Callback>) -> Self {
        Self(Some(f))
    }

    pub(crate) fn emit(&self, event: ProgressEvent) {
        tracing::info!(%event, "progress");
        if let Some(f) = &self.0 {
            f(&event);
        }
    }

    pub(crate) fn started(&self, step: Step) {
        self.emit(ProgressEvent::StepStarted { step });
    }

    pub(crate) fn finished(&self, step: Step) {
        self.emit(ProgressEvent::StepFinished { step });
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressSink(callback)"
        } else {
            "ProgressSink(none)"
        })
    }
}
