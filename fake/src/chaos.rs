//! Faults at random, from a seed: a network and a service that stumble often, in no pattern.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::Fault;
use super::state::State;
use entra_appreg::transport::{GraphTransport, TransportError, TransportErrorKind};

/// Faults at random, from a seed (see [`FakeGraph::set_random_faults`](super::FakeGraph::set_random_faults)).
///
/// Each Graph request — a top-level request, a `$batch` envelope, and each item inside a
/// `$batch` — meets a fault with the given probability, the fault drawn evenly from `faults`.
/// The same seed gives the same draws for the same sequence of requests; the fake's `$batch`
/// shuffle is seeded from it too. (A client whose own waits are random may send a different
/// sequence; the draws then differ from there on.)
///
/// A [`Fault::ReplicationLag`] is drawn only for a request that names an object by id and does
/// not delete it (Graph answers a lagging read or write of an object with 404; a 404 to a
/// `DELETE` means the object is gone, which a client may rightly believe); elsewhere a 503 is
/// given instead. Sign-in requests are never faulted.
///
/// ```
/// use entra_appreg_fake::RandomFaults;
/// let chaos = RandomFaults::new(7, 0.3);
/// assert_eq!(chaos.per_item, 0.3);
/// assert_eq!(chaos.faults.len(), RandomFaults::transient().len());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RandomFaults {
    /// The seed of the draws.
    pub seed: u64,
    /// The probability that a top-level request (a `$batch` envelope included) meets a fault.
    pub per_request: f64,
    /// The probability that one item inside a `$batch` meets a fault.
    pub per_item: f64,
    /// The faults drawn from, each as likely as the others.
    pub faults: Vec<Fault>,
    /// The probability that a request sent through
    /// [`FakeGraph::flaky_transport`](super::FakeGraph::flaky_transport) loses its connection:
    /// half of the time before the request reaches the fake, half of the time after the fake
    /// acted on it and before the reply arrives.
    pub resets: f64,
}

impl RandomFaults {
    /// Faults with probability `probability` per request and per `$batch` item, drawn from
    /// [`RandomFaults::transient`].
    pub fn new(seed: u64, probability: f64) -> Self {
        Self {
            seed,
            per_request: probability,
            per_item: probability,
            faults: Self::transient(),
            resets: probability / 4.0,
        }
    }

    /// Another probability for the items of a `$batch`.
    pub fn per_item(mut self, probability: f64) -> Self {
        self.per_item = probability;
        self
    }

    /// Another probability of a lost connection (see [`RandomFaults::resets`]).
    pub fn resets(mut self, probability: f64) -> Self {
        self.resets = probability;
        self
    }

    /// Another set of faults to draw from.
    pub fn faults(mut self, faults: Vec<Fault>) -> Self {
        self.faults = faults;
        self
    }

    /// The transient faults Graph gives and a client must absorb: 429 with `Retry-After: 5`,
    /// 503, a write carried out and then answered 500 or 503 (a lost reply), and a replica that
    /// has not seen an object yet (404).
    pub fn transient() -> Vec<Fault> {
        vec![
            Fault::Status {
                status: 429,
                retry_after: Some(5),
            },
            Fault::Status {
                status: 503,
                retry_after: None,
            },
            Fault::ActThenFail { status: 500 },
            Fault::ActThenFail { status: 503 },
            Fault::ReplicationLag,
        ]
    }
}

/// The random faults of a running fake, with the state of their generator.
#[derive(Debug, Clone)]
pub(crate) struct Chaos {
    pub faults: RandomFaults,
    rng: u64,
    /// Faults given so far.
    pub fired: u64,
}

impl Chaos {
    pub fn new(faults: RandomFaults) -> Self {
        Self {
            rng: faults.seed,
            faults,
            fired: 0,
        }
    }

    /// splitmix64: a small, fast, well-mixed generator.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        // 53 random bits: exact in an f64.
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next() >> 11) as f64;
        x / (1u64 << 53) as f64
    }
}

/// The random fault a request meets, if any. `item`: a request inside a `$batch`.
pub(crate) fn draw(
    state: &mut State,
    req: &super::dispatch::GraphReq,
    item: bool,
) -> Option<Fault> {
    let chaos = state.chaos.as_mut()?;
    let p = if item {
        chaos.faults.per_item
    } else {
        chaos.faults.per_request
    };
    if chaos.faults.faults.is_empty() || chaos.unit() >= p {
        return None;
    }
    let n = chaos.faults.faults.len() as u64;
    let pick = usize::try_from(chaos.next() % n).unwrap_or(0);
    chaos.fired += 1;
    let fault = chaos.faults.faults[pick].clone();
    // An object by id: `/applications/{id}`, or a key segment such as `(appId='{id}')`.
    let names_object = req.segments.iter().any(|s| {
        super::state::is_guid(s)
            || super::odata::parse_segment(s)
                .ok()
                .and_then(|(_, key)| key)
                .is_some_and(|(_, value)| super::state::is_guid(&value))
    });
    Some(match fault {
        Fault::ReplicationLag if !names_object || req.method.eq_ignore_ascii_case("DELETE") => {
            Fault::Status {
                status: 503,
                retry_after: None,
            }
        }
        other => other,
    })
}

/// Where a lost connection drops a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reset {
    /// Before the request reached the server.
    BeforeSending,
    /// After the server acted, before the reply arrived.
    AfterActing,
}

fn draw_reset(state: &Mutex<State>) -> Option<Reset> {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let chaos = state.chaos.as_mut()?;
    if chaos.unit() >= chaos.faults.resets {
        return None;
    }
    chaos.fired += 1;
    Some(if chaos.next() % 2 == 0 {
        Reset::BeforeSending
    } else {
        Reset::AfterActing
    })
}

/// A transport that loses connections to Graph as the fake's random faults say.
pub(crate) struct FlakyTransport {
    pub inner: Arc<dyn GraphTransport>,
    pub state: Arc<Mutex<State>>,
}

#[async_trait]
impl GraphTransport for FlakyTransport {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        // Sign-in requests are never faulted.
        let sign_in = request.uri().path().contains("/oauth2/");
        match (!sign_in).then(|| draw_reset(&self.state)).flatten() {
            None => self.inner.send(request).await,
            Some(Reset::BeforeSending) => Err(TransportError::not_sent(
                TransportErrorKind::Io,
                "connection reset before the request was written (a random fault of the fake)",
            )),
            Some(Reset::AfterActing) => {
                drop(self.inner.send(request).await);
                Err(TransportError::maybe_sent(
                    TransportErrorKind::Io,
                    "connection reset while reading the reply (a random fault of the fake)",
                ))
            }
        }
    }
}
