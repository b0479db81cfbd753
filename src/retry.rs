//! Retry policy, the injectable sleeper that every wait goes through, and the one retry loop.
//!
//! The crate never calls a timer directly: throttling back-off, device-code polling and
//! replication waits all go through a [`Sleeper`]. Production code uses [`TokioSleeper`]; tests
//! use [`RecordingSleeper`], which returns at once and remembers what it was asked to wait, so a
//! test of a two-minute back-off runs in microseconds and can still check the durations.
//!
//! Every retry and every poll in the crate is one loop, `Retry::run`, in the shape of
//! smithy-rs's retry classifiers: a try fails, a *classifier* (a function from the failure to a
//! `RetryAction`: no, back off, poll, after `Retry-After`) says what the failure means, and a
//! `Schedule` (from the caller's [`RetryPolicy`], or a replication timeout) says how long to
//! wait and when to stop. Each behaviour of Graph or Entra that the crate reacts to is one named
//! classifier with its source: throttling and transient faults here, replication lag in
//! the registration, sign-in replication codes beside it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A boxed future returned by a [`Sleeper`].
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Waits for a duration.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Returns a future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// A sleeper shared between clients (a [`RecordingSleeper`] a test reads back, say).
impl<T: Sleeper + ?Sized> Sleeper for Arc<T> {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        (**self).sleep(duration)
    }
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Returns at once and records every requested duration. For tests.
///
/// ```
/// use entra_appreg::retry::{RecordingSleeper, Sleeper};
/// # futures::executor::block_on(async {
/// let sleeper = RecordingSleeper::default();
/// sleeper.sleep(std::time::Duration::from_secs(120)).await;
/// assert_eq!(sleeper.total(), std::time::Duration::from_secs(120));
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingSleeper {
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingSleeper {
    /// Every duration requested so far, in order.
    pub fn durations(&self) -> Vec<Duration> {
        self.slept.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The sum of all requested durations.
    pub fn total(&self) -> Duration {
        self.durations().iter().sum()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        if let Ok(mut v) = self.slept.lock() {
            v.push(duration);
        }
        Box::pin(async {})
    }
}

/// How the Graph client retries throttling and transient failures.
///
/// Retried: 429 (after `Retry-After`, or back-off without it), 500, 502, 503 and 504 (back-off,
/// or `Retry-After` when given), and connection failures that happened before the request was
/// sent. Nothing else is retried at this layer: a 403 or a 400 is an answer, not a hiccup. A
/// [non-idempotent](crate::graph::GraphRequest::non_idempotent) request (`addPassword`) is not
/// retried after a 5xx either: Graph may have carried it out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: u32,
    /// The first back-off delay.
    pub base_delay: Duration,
    /// The longest back-off delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The same policy with at most `attempts` attempts in all (1 disables retries).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The same policy with these back-off bounds.
    pub fn with_backoff(mut self, base_delay: Duration, max_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self.max_delay = max_delay;
        self
    }

    /// The same policy honouring a `Retry-After` of at most `max` (a longer one is cut).
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The back-off before retry number `retry` (1-based): capped exponential, with jitter in
    /// the upper half of the interval so waits never collapse to zero.
    pub fn backoff(&self, retry: u32) -> Duration {
        capped_backoff(self.base_delay, self.max_delay, retry)
    }

    /// The wait for a reply's `Retry-After`, bounded by [`RetryPolicy::max_retry_after`].
    pub fn retry_after(&self, retry_after: Duration) -> Duration {
        retry_after.min(self.max_retry_after)
    }
}

/// What a classifier makes of a failed attempt (the shape of smithy-rs's `RetryAction`): give
/// up, or try again after a wait that the [`Schedule`] sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAction {
    /// The failure is the answer: no other try.
    No,
    /// A transient fault: try again after the schedule's back-off.
    Backoff,
    /// Not there yet (replication lag, a pending sign-in): try again at the schedule's poll
    /// interval.
    Poll,
    /// The server named the wait (`Retry-After`): try again after it, bounded by the schedule.
    After(Duration),
}

impl RetryAction {
    /// Whether the action is another try.
    pub(crate) fn retries(self) -> bool {
        self != RetryAction::No
    }

    /// The first action of `classifiers` that is not [`RetryAction::No`].
    pub(crate) fn first_of<E>(error: &E, classifiers: &[&dyn Fn(&E) -> RetryAction]) -> Self {
        classifiers
            .iter()
            .map(|c| c(error))
            .find(|a| a.retries())
            .unwrap_or(RetryAction::No)
    }

    /// `After` the server's `Retry-After` when it gave one, else `otherwise`.
    pub(crate) fn after_or(retry_after: Option<Duration>, otherwise: Self) -> Self {
        retry_after.map_or(otherwise, RetryAction::After)
    }
}

/// How long the waits between tries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Capped exponential back-off with jitter ([`RetryPolicy::backoff`]).
    Exponential {
        /// The first wait.
        base: Duration,
        /// The longest wait.
        max: Duration,
    },
    /// A random wait between half and one and a half times `around`: a retry loop whose every
    /// try sends the same requests cannot fall into step with a fault that comes at a fixed
    /// period.
    Jittered {
        /// The mean wait.
        around: Duration,
    },
    /// A fixed interval, slower once the wait has lasted `slow_after`.
    Interval {
        /// The interval while the wait is young.
        fast: Duration,
        /// The interval after `slow_after`.
        slow: Duration,
        /// When polling slows down.
        slow_after: Duration,
    },
}

impl Pace {
    /// A fixed interval.
    pub(crate) const fn every(interval: Duration) -> Self {
        Pace::Interval {
            fast: interval,
            slow: interval,
            slow_after: Duration::MAX,
        }
    }

    /// The wait before retry number `retry` (1-based), `waited` into the wait.
    fn wait(self, retry: u32, waited: Duration) -> Duration {
        match self {
            Pace::Exponential { base, max } => capped_backoff(base, max, retry),
            Pace::Jittered { around } => around.mul_f64(0.5 + unit_random()),
            Pace::Interval {
                fast,
                slow,
                slow_after,
            } => {
                if waited < slow_after {
                    fast
                } else {
                    slow
                }
            }
        }
    }
}

/// The budget and pace of one retry loop: how many tries, how long in all, how long each wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Tries in all, the first included.
    pub max_attempts: u32,
    /// The longest total wait; `None`: bounded by `max_attempts` only.
    pub max_wait: Option<Duration>,
    /// Whether the last wait is cut to what is left of `max_wait` (a poll that must end on
    /// time), or served whole (a device-code poll, whose interval the server sets).
    pub cut_last_wait: bool,
    /// The wait after [`RetryAction::Backoff`].
    pub backoff: Pace,
    /// The wait after [`RetryAction::Poll`], and the least wait after
    /// [`RetryAction::After`] when `after_at_least_poll` is set.
    pub poll: Pace,
    /// Whether a `Retry-After` shorter than the poll interval is stretched to it (a poll never
    /// goes faster than its interval).
    pub after_at_least_poll: bool,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Schedule {
    /// The caller's policy: `max_attempts` tries, back-off between them, `Retry-After` honoured
    /// up to `max_retry_after`.
    pub(crate) fn policy(policy: &RetryPolicy) -> Self {
        let pace = Pace::Exponential {
            base: policy.base_delay,
            max: policy.max_delay,
        };
        Self {
            max_attempts: policy.max_attempts,
            max_wait: None,
            cut_last_wait: true,
            backoff: pace,
            poll: pace,
            after_at_least_poll: false,
            max_retry_after: policy.max_retry_after,
        }
    }

    /// Polls at `pace` until `timeout` is used up; a `Retry-After` longer than the interval is
    /// honoured.
    pub(crate) fn poll(timeout: Duration, pace: Pace) -> Self {
        Self {
            max_attempts: u32::MAX,
            max_wait: Some(timeout),
            cut_last_wait: true,
            backoff: pace,
            poll: pace,
            after_at_least_poll: true,
            max_retry_after: Duration::MAX,
        }
    }

    /// Polls a device-code sign-in: at the interval the login endpoint sets (it grows after a
    /// `slow_down`), each wait served whole, until the code expires.
    pub(crate) fn device_code(expires_in: Duration, interval: Duration) -> Self {
        Self {
            cut_last_wait: false,
            ..Self::poll(expires_in, Pace::every(interval))
        }
    }

    /// At most `max_attempts` tries in all.
    pub(crate) fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The next wait after `action`, or `None` when the action or the budget says stop.
    fn next_pause(&self, tally: &Tally, action: RetryAction) -> Option<Pause> {
        let wait = self.next_wait(tally, action)?;
        Some(Pause {
            number: tally.waits + 1,
            wait,
            waited: tally.waited,
        })
    }

    fn next_wait(&self, tally: &Tally, action: RetryAction) -> Option<Duration> {
        let retry = tally.attempts.max(1);
        let wait = match action {
            RetryAction::No => return None,
            _ if tally.attempts >= self.max_attempts => return None,
            RetryAction::Backoff => self.backoff.wait(retry, tally.waited),
            RetryAction::Poll => self.poll.wait(retry, tally.waited),
            RetryAction::After(after) => {
                let after = after.min(self.max_retry_after);
                if self.after_at_least_poll {
                    after.max(self.poll.wait(retry, tally.waited))
                } else {
                    after
                }
            }
        };
        let Some(limit) = self.max_wait else {
            return Some(wait);
        };
        let left = limit.saturating_sub(tally.waited);
        let wait = if self.cut_last_wait {
            wait.min(left)
        } else {
            wait
        };
        (!left.is_zero() && !wait.is_zero()).then_some(wait)
    }
}

/// What one retry loop has spent: tries and waiting. A loop whose budget spans several runs of
/// the engine (a registration's recovery passes) keeps one tally across them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    /// Tries made.
    pub attempts: u32,
    /// Waits served.
    pub waits: u32,
    /// Time waited in all.
    pub waited: Duration,
}

/// One wait the engine is about to serve, for progress events and logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pause {
    /// The wait's number in its tally, from 1 (the retry number).
    pub number: u32,
    /// How long it lasts.
    pub wait: Duration,
    /// Time waited before it.
    pub waited: Duration,
}

/// The one retry loop of the crate: tries `op`, asks `classify` what a failure means, and waits
/// through the injected [`Sleeper`] as the [`Schedule`] says, until `op` succeeds, the
/// classifier says [`RetryAction::No`] or the budget is spent (then the last failure is
/// returned). `observe` sees each wait before it is served (logs, progress events).
pub(crate) struct Retry<'a> {
    /// The budget and pace.
    pub schedule: Schedule,
    /// Every wait goes through it.
    pub sleeper: &'a dyn Sleeper,
    /// The operation's deadline: no wait goes past it.
    pub deadline: Option<&'a dyn Deadline>,
}

/// The time budget of the operation a loop runs in.
pub(crate) trait Deadline: Send + Sync {
    /// What is left of it; `None` when there is none.
    fn time_left(&self) -> Option<Duration>;
}

impl<'a> Retry<'a> {
    /// A loop on `schedule`.
    pub(crate) fn new(schedule: Schedule, sleeper: &'a dyn Sleeper) -> Self {
        Self {
            schedule,
            sleeper,
            deadline: None,
        }
    }

    /// The same loop, which stops rather than wait past `deadline`.
    pub(crate) fn within(mut self, deadline: &'a dyn Deadline) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The next pause, unless the schedule or the deadline says stop. A wait that would end
    /// past the deadline is cut to it when the schedule cuts its last wait (one more try at
    /// the deadline) and the server did not name the wait; otherwise there is no other try.
    fn next_pause(&self, tally: &Tally, action: RetryAction) -> Option<Pause> {
        let mut pause = self.schedule.next_pause(tally, action)?;
        let Some(left) = self.deadline.and_then(|d| d.time_left()) else {
            return Some(pause);
        };
        if left.is_zero() {
            return None;
        }
        if pause.wait > left {
            if !self.schedule.cut_last_wait || matches!(action, RetryAction::After(_)) {
                return None;
            }
            pause.wait = left;
        }
        Some(pause)
    }

    /// Runs `op` (given the try number, from 1) until it succeeds or must stop.
    pub(crate) async fn run<T, E, Fut>(
        &self,
        tally: &mut Tally,
        classify: impl Fn(&E) -> RetryAction,
        observe: impl FnMut(&E, &Pause),
        mut op: impl FnMut(u32) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let ((), outcome) = self
            .run_with(tally, (), classify, observe, |(), attempt| {
                let attempt = op(attempt);
                async move { ((), attempt.await) }
            })
            .await;
        outcome
    }

    /// Like [`run`](Self::run), for an `op` that carries `state` from one try to the next (the
    /// items still to send, what earlier tries produced): the state goes into each try and comes
    /// back out of it, whatever the outcome.
    pub(crate) async fn run_with<S, T, E, Fut>(
        &self,
        tally: &mut Tally,
        mut state: S,
        classify: impl Fn(&E) -> RetryAction,
        mut observe: impl FnMut(&E, &Pause),
        mut op: impl FnMut(S, u32) -> Fut,
    ) -> (S, Result<T, E>)
    where
        Fut: Future<Output = (S, Result<T, E>)>,
    {
        loop {
            tally.attempts += 1;
            let (next, outcome) = op(state, tally.attempts).await;
            state = next;
            let failure = match outcome {
                Ok(done) => return (state, Ok(done)),
                Err(failure) => failure,
            };
            let Some(pause) = self.next_pause(tally, classify(&failure)) else {
                return (state, Err(failure));
            };
            observe(&failure, &pause);
            self.serve(tally, pause).await;
        }
    }

    /// Serves the wait that `action` calls for, or returns `false` when there is none (the
    /// action is [`RetryAction::No`] or the budget is spent). For a loop that is more than a
    /// retry (a registration's passes, which wait on more than one budget), one step of
    /// [`run`](Self::run).
    pub(crate) async fn pause(
        &self,
        tally: &mut Tally,
        action: RetryAction,
        observe: impl FnOnce(&Pause),
    ) -> bool {
        let Some(pause) = self.next_pause(tally, action) else {
            return false;
        };
        observe(&pause);
        self.serve(tally, pause).await;
        true
    }

    async fn serve(&self, tally: &mut Tally, pause: Pause) {
        tally.waits += 1;
        self.sleeper.sleep(pause.wait).await;
        tally.waited += pause.wait;
    }
}

/// A transient fault: a connection that failed before the request was sent (it can be sent
/// again whatever it does), or a 500, 502, 503 or 504 of a request that is safe to send twice
/// (the statuses the Azure SDK guidelines retry:
/// <https://azure.github.io/azure-sdk/general_azurecore.html#general-retry>). Source:
/// Microsoft Graph's [error reference](https://learn.microsoft.com/graph/errors) (503: "You may
/// repeat the request after a delay, the length of which may be specified in a Retry-After
/// header"), its [throttling guidance](https://learn.microsoft.com/graph/throttling) (back off
/// when no `Retry-After` is given), and
/// the Azure SDK's retry policy (`sdk/core/typespec_client_core/src/http/policies/retry/`),
/// which retries them too.
/// A 5xx of a [non-idempotent](crate::graph::GraphRequest::non_idempotent) request is not
/// transient: Graph may have carried it out.
pub(crate) fn transient_fault(idempotent: bool) -> impl Fn(&crate::Error) -> RetryAction {
    move |e| match e {
        crate::Error::Transport(t) if !t.may_have_reached_server() => RetryAction::Backoff,
        crate::Error::Graph(g) if matches!(g.status, 500 | 502 | 503 | 504) && idempotent => {
            RetryAction::after_or(g.retry_after, RetryAction::Backoff)
        }
        _ => RetryAction::No,
    }
}

/// Throttling: a 429 is sent again after its `Retry-After` (or a back-off without one), whatever
/// the request does, because a throttled request is not carried out. Source: Microsoft Graph's
/// [throttling guidance](https://learn.microsoft.com/graph/throttling) ("wait the number of
/// seconds specified in the Retry-After header, then retry the request").
pub(crate) fn throttled(e: &crate::Error) -> RetryAction {
    match e {
        crate::Error::Graph(g) if g.status == 429 => {
            RetryAction::after_or(g.retry_after, RetryAction::Backoff)
        }
        _ => RetryAction::No,
    }
}

/// `min(max, base * 2^(n-1))`, scaled by a random factor in `[0.5, 1.0)`.
pub(crate) fn capped_backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(20));
    let capped = exp.min(max);
    let factor = 0.5 + 0.5 * unit_random();
    capped.mul_f64(factor)
}

/// A random number in `[0, 1)`, good enough for jitter.
pub(crate) fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses `Retry-After` as delta-seconds (what Graph sends). HTTP dates are not used by Graph.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_in_the_upper_half() {
        let p = RetryPolicy::default();
        for n in 1..30 {
            let d = p.backoff(n);
            let ceiling = p
                .base_delay
                .saturating_mul(1 << (n - 1).min(20))
                .min(p.max_delay);
            assert!(d <= ceiling, "{n}: {d:?} > {ceiling:?}");
            assert!(d >= ceiling / 2, "{n}: {d:?} < half of {ceiling:?}");
        }
        assert!(p.backoff(25) <= p.max_delay);
    }

    /// Runs the engine on `schedule` over scripted outcomes (`Err(action)` fails with a
    /// failure the classifier maps to `action`); returns the outcome, the tries and the waits.
    fn run(
        schedule: Schedule,
        script: Vec<Result<(), RetryAction>>,
    ) -> (Result<(), RetryAction>, u32, Vec<Duration>) {
        let sleeper = RecordingSleeper::default();
        let mut tally = Tally::default();
        let mut script = script.into_iter();
        let outcome = futures::executor::block_on(Retry::new(schedule, &sleeper).run(
            &mut tally,
            |a: &RetryAction| *a,
            |_, _| {},
            |_| std::future::ready(script.next().unwrap_or(Ok(()))),
        ));
        (outcome, tally.attempts, sleeper.durations())
    }

    #[test]
    fn the_engine_stops_at_a_no_and_when_the_tries_are_used_up() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let after = RetryAction::After(Duration::from_secs(7));
        let (outcome, tries, waits) = run(
            Schedule::policy(&policy),
            vec![Err(after), Err(RetryAction::No)],
        );
        assert_eq!((outcome, tries), (Err(RetryAction::No), 2));
        assert_eq!(waits, [Duration::from_secs(7)]);
        let (outcome, tries, waits) = run(Schedule::policy(&policy), vec![Err(after); 5]);
        assert_eq!((outcome, tries, waits.len()), (Err(after), 3, 2));
        // A Retry-After longer than the policy allows is cut to it.
        let long = RetryAction::After(Duration::from_secs(100_000));
        let (_, _, waits) = run(Schedule::policy(&policy), vec![Err(long), Ok(())]);
        assert_eq!(waits, [policy.max_retry_after]);
    }

    #[test]
    fn a_poll_waits_its_interval_honours_a_longer_retry_after_and_ends_on_time() {
        let pace = Pace::Interval {
            fast: Duration::from_secs(1),
            slow: Duration::from_secs(2),
            slow_after: Duration::from_secs(2),
        };
        let schedule = Schedule::poll(Duration::from_secs(6), pace);
        let script = vec![
            Err(RetryAction::Poll),
            Err(RetryAction::After(Duration::from_millis(10))),
            Err(RetryAction::Poll),
            Err(RetryAction::After(Duration::from_secs(5))),
            Err(RetryAction::Poll),
        ];
        let (outcome, tries, waits) = run(schedule, script);
        // 1 s, a short Retry-After stretched to the interval, then the slower interval, then
        // the last wait cut to what is left of the six seconds.
        let secs = |v: &[u64]| {
            v.iter()
                .map(|s| Duration::from_secs(*s))
                .collect::<Vec<_>>()
        };
        assert_eq!(waits, secs(&[1, 1, 2, 2]));
        assert_eq!((outcome, tries), (Err(RetryAction::Poll), 5));
    }

    #[test]
    fn a_device_code_poll_serves_its_last_wait_whole() {
        let schedule = Schedule::device_code(Duration::from_secs(10), Duration::from_secs(4));
        let after = RetryAction::After(Duration::from_secs(4));
        let (_, tries, waits) = run(schedule, vec![Err(after); 5]);
        assert_eq!(waits, [Duration::from_secs(4); 3]);
        assert_eq!(tries, 4);
    }

    #[test]
    fn retry_after_parses_seconds_and_rejects_junk() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        let p = RetryPolicy::default();
        assert_eq!(
            p.retry_after(Duration::from_secs(100_000)),
            p.max_retry_after
        );
    }
}
