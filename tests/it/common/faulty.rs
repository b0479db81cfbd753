//! Transports that misbehave on purpose: connection resets before or after the server acted,
//! replication-lag replies, a run killed after its k-th request, and two runs whose requests are
//! interleaved in a chosen order.
//!
//! Only Graph requests (paths under `/v1.0`) are counted; sign-in requests pass untouched.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use entra_appreg::transport::{GraphTransport, TransportError, TransportErrorKind};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Whether a request goes to Graph (as opposed to the login endpoints).
pub fn is_graph(request: &http::Request<Vec<u8>>) -> bool {
    request.uri().path().starts_with("/v1.0")
}

fn is_batch(request: &http::Request<Vec<u8>>) -> bool {
    request.uri().path() == "/v1.0/$batch"
}

/// Picks one item of a `$batch` by its method and URL (relative to `/v1.0`, query included).
#[derive(Clone)]
pub struct ItemMatch(Arc<ItemPredicate>);

type ItemPredicate = dyn Fn(&str, &str) -> bool + Send + Sync;

impl ItemMatch {
    pub fn new(f: impl Fn(&str, &str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for ItemMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemMatch")
    }
}

/// A fault the wire itself causes at one Graph request.
#[derive(Clone, Debug)]
pub enum WireFault {
    /// The connection is reset before the request reaches the server: nothing is sent.
    ResetBeforeSend,
    /// The server receives and acts on the request, then the connection is reset: the reply is
    /// lost and the client sees a transport error that says the request may have been sent.
    ResetAfterServerActed,
    /// Entra's `400 "…does not reference a valid application object"`, answered without
    /// sending. With `item` set and the request a `$batch`, only the first item it matches gets
    /// it; the other items are sent.
    LagBadRequest {
        /// The batch item to hit.
        item: Option<ItemMatch>,
    },
}

/// The body of Entra's replication-lag `400`.
pub fn lag_bad_request_body() -> Value {
    json!({"error": {
        "code": "Request_BadRequest",
        "message": "The appId '00000000-0000-0000-0000-000000000000' of the service principal does not reference a valid application object.",
        "innerError": {"date": "2025-02-13T10:17:06", "request-id": "4b1c6d4e-0000-4000-8000-00000000lag0",
                       "client-request-id": "4b1c6d4e-0000-4000-8000-00000000lag1"}
    }})
}

fn http_reply(status: u16, body: &Value) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .expect("a valid response")
}

/// Wraps a transport and injects one [`WireFault`] at the `nth` Graph request (1-based).
pub struct FaultyTransport {
    inner: Arc<dyn GraphTransport>,
    nth: u64,
    fault: WireFault,
    count: AtomicU64,
    fired: AtomicBool,
}

impl FaultyTransport {
    pub fn new(inner: Arc<dyn GraphTransport>, nth: u64, fault: WireFault) -> Self {
        Self {
            inner,
            nth,
            fault,
            count: AtomicU64::new(0),
            fired: AtomicBool::new(false),
        }
    }

    /// Whether the fault was injected.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    async fn lag_in_batch(
        &self,
        request: http::Request<Vec<u8>>,
        item: &ItemMatch,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (parts, body) = request.into_parts();
        let mut envelope: Value = serde_json::from_slice(&body).expect("a JSON batch envelope");
        let items = envelope["requests"].as_array_mut().expect("batch requests");
        let Some(pos) = items.iter().position(|i| {
            (item.0)(
                i["method"].as_str().unwrap_or_default(),
                i["url"].as_str().unwrap_or_default(),
            )
        }) else {
            // Nothing to hit: send as is.
            return self
                .inner
                .send(http::Request::from_parts(parts, body))
                .await;
        };
        self.fired.store(true, Ordering::SeqCst);
        let hit = items.remove(pos);
        let mut failed = vec![json!({"id": hit["id"], "status": 400,
            "headers": {"Content-Type": "application/json"}, "body": lag_bad_request_body()})];
        // Items that depend on the hit one (directly or not) are not run: 424, as Graph answers.
        let id_of = |v: &Value| v["id"].as_str().unwrap_or_default().to_lowercase();
        let mut not_run = vec![id_of(&hit)];
        while let Some(at) = items.iter().position(|i| {
            i["dependsOn"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| not_run.contains(&d.as_str().unwrap_or_default().to_lowercase()))
        }) {
            let dependent = items.remove(at);
            not_run.push(id_of(&dependent));
            failed.push(json!({"id": dependent["id"], "status": 424,
                "body": {"error": {"code": "Request_FailedDependency",
                    "message": "The request was not processed because a request it depends on failed."}}}));
        }
        if items.is_empty() {
            return Ok(http_reply(200, &json!({ "responses": failed })));
        }
        let rest = serde_json::to_vec(&envelope).expect("JSON");
        let reply = self
            .inner
            .send(http::Request::from_parts(parts, rest))
            .await?;
        if reply.status() != 200 {
            return Ok(reply);
        }
        let (parts, body) = reply.into_parts();
        let mut replies: Value = serde_json::from_slice(&body).expect("a JSON batch reply");
        replies["responses"]
            .as_array_mut()
            .expect("responses")
            .extend(failed);
        Ok(http::Response::from_parts(
            parts,
            serde_json::to_vec(&replies).expect("JSON"),
        ))
    }
}

#[async_trait]
impl GraphTransport for FaultyTransport {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if !is_graph(&request) {
            return self.inner.send(request).await;
        }
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if n != self.nth {
            return self.inner.send(request).await;
        }
        match &self.fault {
            WireFault::ResetBeforeSend => {
                self.fired.store(true, Ordering::SeqCst);
                Err(TransportError::not_sent(
                    TransportErrorKind::Io,
                    "connection reset by peer before the request was written",
                ))
            }
            WireFault::ResetAfterServerActed => {
                let reply = self.inner.send(request).await;
                self.fired.store(true, Ordering::SeqCst);
                drop(reply);
                Err(TransportError::maybe_sent(
                    TransportErrorKind::Io,
                    "connection reset by peer while reading the reply",
                ))
            }
            WireFault::LagBadRequest { item: Some(item) } if is_batch(&request) => {
                self.lag_in_batch(request, item).await
            }
            WireFault::LagBadRequest { .. } => {
                self.fired.store(true, Ordering::SeqCst);
                Ok(http_reply(400, &lag_bad_request_body()))
            }
        }
    }
}

/// Wraps a transport and injects a connection reset at the `nth` sign-in request (1-based;
/// Graph requests are not counted): [`WireFault::ResetBeforeSend`] or
/// [`WireFault::ResetAfterServerActed`].
pub struct LoginFault {
    inner: Arc<dyn GraphTransport>,
    nth: u64,
    fault: WireFault,
    count: AtomicU64,
    fired: AtomicBool,
}

impl LoginFault {
    pub fn new(inner: Arc<dyn GraphTransport>, nth: u64, fault: WireFault) -> Self {
        Self {
            inner,
            nth,
            fault,
            count: AtomicU64::new(0),
            fired: AtomicBool::new(false),
        }
    }

    /// Whether the fault was injected.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl GraphTransport for LoginFault {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if is_graph(&request) || self.count.fetch_add(1, Ordering::SeqCst) + 1 != self.nth {
            return self.inner.send(request).await;
        }
        self.fired.store(true, Ordering::SeqCst);
        match self.fault {
            WireFault::ResetAfterServerActed => {
                drop(self.inner.send(request).await);
                Err(TransportError::maybe_sent(
                    TransportErrorKind::Io,
                    "connection reset by peer while reading the reply",
                ))
            }
            _ => Err(TransportError::not_sent(
                TransportErrorKind::Io,
                "connection reset by peer before the request was written",
            )),
        }
    }
}

/// Calls a hook just before the `nth` Graph request (1-based) is sent: to inject a fault whose
/// target only exists once the run has created it, say.
pub struct Hook {
    inner: Arc<dyn GraphTransport>,
    nth: u64,
    hook: Box<dyn Fn() + Send + Sync>,
    count: AtomicU64,
}

impl Hook {
    pub fn new(
        inner: Arc<dyn GraphTransport>,
        nth: u64,
        hook: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            nth,
            hook: Box::new(hook),
            count: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl GraphTransport for Hook {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if is_graph(&request) && self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.nth {
            (self.hook)();
        }
        self.inner.send(request).await
    }
}

/// Lets `allowed` Graph requests through, then never answers the next one (it is not sent),
/// and signals [`KillSwitch::killed`]: the run stops there, as a killed installer would.
pub struct KillSwitch {
    inner: Arc<dyn GraphTransport>,
    allowed: u64,
    count: AtomicU64,
    killed: Arc<Notify>,
    /// The next request is sent and Graph acts on it, but the run dies before its reply.
    after_sending: bool,
}

impl KillSwitch {
    pub fn new(inner: Arc<dyn GraphTransport>, allowed: u64) -> (Self, Arc<Notify>) {
        let killed = Arc::new(Notify::new());
        (
            Self {
                inner,
                allowed,
                count: AtomicU64::new(0),
                killed: killed.clone(),
                after_sending: false,
            },
            killed,
        )
    }

    /// Like [`KillSwitch::new`], but the request after the `allowed` ones reaches Graph (which
    /// carries it out) before the run dies, waiting for its reply.
    pub fn after_sending(inner: Arc<dyn GraphTransport>, allowed: u64) -> (Self, Arc<Notify>) {
        let (mut switch, killed) = Self::new(inner, allowed);
        switch.after_sending = true;
        (switch, killed)
    }
}

#[async_trait]
impl GraphTransport for KillSwitch {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if is_graph(&request) {
            let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
            if n > self.allowed {
                if self.after_sending && n == self.allowed + 1 {
                    let _ = self.inner.send(request).await;
                }
                self.killed.notify_one();
                return std::future::pending().await;
            }
        }
        self.inner.send(request).await
    }
}

/// Orders the Graph requests of several runs: each request waits for its run's turn in
/// `pattern` (run indexes); a run that is done, or the end of the pattern, frees the others.
pub struct Interleaver {
    state: Mutex<Turns>,
    changed: Notify,
}

struct Turns {
    pattern: Vec<usize>,
    pos: usize,
    done: Vec<bool>,
    log: Vec<usize>,
    /// Each request is answered before the next one is sent (see [`Interleaver::one_at_a_time`]).
    one_at_a_time: bool,
    /// A request of the pattern is in flight.
    busy: bool,
}

impl Interleaver {
    pub fn new(runs: usize, pattern: Vec<usize>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(Turns {
                pattern,
                pos: 0,
                done: vec![false; runs],
                log: Vec::new(),
                one_at_a_time: false,
                busy: false,
            }),
            changed: Notify::new(),
        })
    }

    /// The same, except that while the pattern lasts each request is answered before the next
    /// one is sent: the order the server sees is the pattern's, however busy the machine.
    pub fn one_at_a_time(runs: usize, pattern: Vec<usize>) -> Arc<Self> {
        let order = Self::new(runs, pattern);
        order.state.lock().unwrap().one_at_a_time = true;
        order
    }

    /// A request sent in its turn was answered.
    fn answered(&self) {
        self.state.lock().unwrap().busy = false;
        self.changed.notify_waiters();
    }

    /// A transport for run `run`.
    pub fn transport(self: &Arc<Self>, run: usize, inner: Arc<dyn GraphTransport>) -> Turnstile {
        Turnstile {
            order: self.clone(),
            run,
            inner,
        }
    }

    /// Marks a run finished (its future completed), so it no longer holds the others up.
    pub fn finish(&self, run: usize) {
        self.state.lock().unwrap().done[run] = true;
        self.changed.notify_waiters();
    }

    /// Which run sent each Graph request, in order.
    pub fn order(&self) -> Vec<usize> {
        self.state.lock().unwrap().log.clone()
    }

    /// Waits for `run`'s turn; `true` when the request holds the turn until it is answered.
    async fn wait_turn(&self, run: usize) -> bool {
        loop {
            let notified = self.changed.notified();
            {
                let mut s = self.state.lock().unwrap();
                // Skip turns of runs that are done.
                while s.pos < s.pattern.len() && s.done[s.pattern[s.pos]] {
                    s.pos += 1;
                }
                let in_pattern = s.pos < s.pattern.len();
                if !(s.one_at_a_time && s.busy) && (!in_pattern || s.pattern[s.pos] == run) {
                    s.pos += 1;
                    s.log.push(run);
                    let holds = s.one_at_a_time && in_pattern;
                    s.busy = holds;
                    drop(s);
                    self.changed.notify_waiters();
                    return holds;
                }
            }
            notified.await;
        }
    }
}

/// One run's transport of an [`Interleaver`].
pub struct Turnstile {
    order: Arc<Interleaver>,
    run: usize,
    inner: Arc<dyn GraphTransport>,
}

#[async_trait]
impl GraphTransport for Turnstile {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if is_graph(&request) && self.order.wait_turn(self.run).await {
            let reply = self.inner.send(request).await;
            self.order.answered();
            return reply;
        }
        self.inner.send(request).await
    }
}

/// Counts round trips over every request it carries, Graph and sign-in alike, on one timeline:
/// a request sent while another is in flight shares its round trip.
pub struct RoundTrips {
    inner: Arc<dyn GraphTransport>,
    in_flight: AtomicU64,
    round_trips: AtomicU64,
}

impl RoundTrips {
    pub fn new(inner: Arc<dyn GraphTransport>) -> Self {
        Self {
            inner,
            in_flight: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
        }
    }

    /// Round trips so far.
    pub fn count(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl GraphTransport for RoundTrips {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.round_trips.fetch_add(1, Ordering::SeqCst);
        }
        let reply = self.inner.send(request).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        reply
    }
}
