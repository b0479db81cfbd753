//! Everything for humans on stderr: the sign-in prompt, progress, waits and warnings.
//!
//! When stderr is a terminal, a wait shows as one spinner line with the time waited so far;
//! otherwise every wait is one plain line, so logs of an unattended installer stay readable.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use entra_appreg::auth::DeviceCodePrompt;
use entra_appreg::redact::for_terminal;
use entra_appreg::registration::ProgressEvent;

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);

/// The stderr reporter. Cheap to clone; every clone draws on the same line.
#[derive(Clone)]
pub struct Ui {
    inner: Arc<Inner>,
}

struct Inner {
    terminal: bool,
    state: Mutex<State>,
    stop: AtomicBool,
    spinner: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    /// What is being waited for, and since when.
    waiting: Option<(String, Instant)>,
    /// Whether a spinner line is on screen (it must be cleared before any other output).
    drawn: bool,
    frame: usize,
}

impl Ui {
    /// A reporter that animates only when stderr is a terminal.
    pub fn new() -> Self {
        let terminal =
            std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        Self {
            inner: Arc::new(Inner {
                terminal,
                state: Mutex::new(State::default()),
                stop: AtomicBool::new(false),
                spinner: Mutex::new(None),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints a line, above the spinner when there is one. Like everything this tool prints
    /// for humans, it passes through [`for_terminal`]: names and messages from the network
    /// cannot drive the terminal.
    pub fn line(&self, text: &str) {
        let text = for_terminal(text);
        let mut state = self.state();
        let mut err = std::io::stderr().lock();
        if state.drawn {
            let _ = write!(err, "\r\x1b[K");
            state.drawn = false;
        }
        let _ = writeln!(err, "{text}");
        let _ = err.flush();
    }

    /// Starts (or changes) a wait: a spinner on a terminal, one plain line otherwise.
    pub fn wait(&self, what: impl Into<String>) {
        let what = what.into();
        if !self.inner.terminal {
            self.line(&format!("{what}…"));
            self.state().waiting = Some((what, Instant::now()));
            return;
        }
        {
            let mut state = self.state();
            let since = match &state.waiting {
                Some((same, since)) if *same == what => *since,
                _ => Instant::now(),
            };
            state.waiting = Some((what, since));
        }
        self.ensure_spinner();
    }

    /// Ends the current wait.
    pub fn done_waiting(&self) {
        let mut state = self.state();
        state.waiting = None;
        if state.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            state.drawn = false;
        }
    }

    /// Shows a registration progress event.
    pub fn progress(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::StepStarted { step } => self.wait(step.to_string()),
            ProgressEvent::StepFinished { .. } => self.done_waiting(),
            ProgressEvent::WaitingForReplication { .. } => {
                // The event says what is awaited, for how long so far and until the next try.
                if self.inner.terminal {
                    self.wait(event.to_string());
                } else {
                    self.line(&event.to_string());
                }
            }
            other => self.line(&other.to_string()),
        }
    }

    /// Shows the device-code prompt, then waits for the admin.
    pub fn device_prompt(&self, prompt: &DeviceCodePrompt) {
        self.done_waiting();
        self.line(&prompt.message);
        self.wait(format!(
            "waiting for the sign-in with code {} (expires in {} min)",
            prompt.user_code,
            prompt.expires_in.as_secs().div_ceil(60)
        ));
    }

    /// Clears the spinner for good.
    pub fn finish(&self) {
        self.inner.stop.store(true, Ordering::Release);
        let handle = self
            .inner
            .spinner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        self.done_waiting();
    }

    fn ensure_spinner(&self) {
        let mut slot = self.inner.spinner.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() || self.inner.stop.load(Ordering::Acquire) {
            return;
        }
        let ui = self.clone();
        *slot = Some(std::thread::spawn(move || {
            while !ui.inner.stop.load(Ordering::Acquire) {
                ui.draw();
                std::thread::sleep(TICK);
            }
        }));
    }

    fn draw(&self) {
        let mut state = self.state();
        let Some((what, since)) = state.waiting.clone() else {
            return;
        };
        state.frame = (state.frame + 1) % FRAMES.len();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[K{} {} ({}s)",
            FRAMES[state.frame],
            for_terminal(&what),
            since.elapsed().as_secs()
        );
        let _ = err.flush();
        state.drawn = true;
    }
}
