//! The throttle gate: what one tenant's throttling means for starting the others.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{FleetEvent, Shared, TenantRef};
use crate::transport::{GraphTransport, TransportError};

/// How throttling seen in some tenants holds back the start of others. See the
/// [fleet docs](crate::fleet#throttling) for why the default is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThrottleGate {
    /// Never hold starts back; each tenant only honours its own `Retry-After`.
    Off,
    /// Start no new tenant while at least `tenants` tenants are waiting out a throttle.
    PauseStarts {
        /// How many tenants must be throttled at once to close the gate (at least 1).
        tenants: usize,
        /// The longest a single throttle reply keeps the gate closed, whatever its
        /// `Retry-After`.
        max_pause: Duration,
    },
}

impl ThrottleGate {
    /// How long a `429` without `Retry-After` counts as throttled.
    pub const PAUSE_WITHOUT_RETRY_AFTER: Duration = Duration::from_secs(1);
}

impl Default for ThrottleGate {
    /// Pause new starts while two or more tenants are throttled at once, for at most 60 s per
    /// throttle reply.
    fn default() -> Self {
        ThrottleGate::PauseStarts {
            tenants: 2,
            max_pause: Duration::from_secs(60),
        }
    }
}
/// When each throttled tenant may be called again.
pub(super) struct GateState {
    policy: ThrottleGate,
    /// (tenant index, throttled until), one entry per tenant.
    until: Mutex<Vec<(usize, Instant)>>,
}

impl GateState {
    pub(super) fn new(policy: ThrottleGate) -> Self {
        Self {
            policy,
            until: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, Instant)>> {
        self.until.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn throttled(&self, tenant: usize, retry_after: Duration) {
        let ThrottleGate::PauseStarts { max_pause, .. } = self.policy else {
            return;
        };
        let until = Instant::now() + retry_after.min(max_pause);
        let mut entries = self.lock();
        match entries.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, u)) => *u = (*u).max(until),
            None => entries.push((tenant, until)),
        }
    }

    /// When the gate is closed: how many tenants are throttled, and how long until fewer than
    /// the threshold are.
    pub(super) fn pause_needed(&self, now: Instant) -> Option<(usize, Duration)> {
        let ThrottleGate::PauseStarts { tenants, .. } = self.policy else {
            return None;
        };
        let mut entries = self.lock();
        entries.retain(|(_, u)| *u > now);
        if entries.len() < tenants {
            return None;
        }
        let mut until: Vec<Instant> = entries.iter().map(|(_, u)| *u).collect();
        until.sort_unstable_by(|a, b| b.cmp(a));
        Some((entries.len(), until[tenants - 1] - now))
    }

    pub(super) fn expire_until(&self, t: Instant) {
        self.lock().retain(|(_, u)| *u > t);
    }
}

/// The fleet's transport wrapper: passes requests through and tells the gate about throttling.
pub(super) struct ThrottleWatch {
    pub(super) inner: Arc<dyn GraphTransport>,
    pub(super) tenant: TenantRef,
    pub(super) shared: Arc<Shared>,
    /// Throttled replies seen so far.
    pub(super) throttled: AtomicU32,
}

#[async_trait]
impl GraphTransport for ThrottleWatch {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> std::result::Result<http::Response<Vec<u8>>, TransportError> {
        let is_batch = request.uri().path().ends_with("/$batch");
        let response = self.inner.send(request).await?;
        if let Some(retry_after) = throttle_signal(&response, is_batch) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            self.shared.gate.throttled(self.tenant.index, retry_after);
            self.shared.emit(&FleetEvent::Throttled {
                tenant: self.tenant.clone(),
                retry_after,
            });
        }
        Ok(response)
    }
}

/// The wait a throttled reply asks for: `429`, or `503` with `Retry-After`; for a `$batch`,
/// the longest such wait among its items.
fn throttle_signal(response: &http::Response<Vec<u8>>, is_batch: bool) -> Option<Duration> {
    let retry_after = |value: Option<&str>| value.and_then(crate::retry::parse_retry_after);
    let header = retry_after(
        response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    );
    match response.status().as_u16() {
        429 => return Some(header.unwrap_or(ThrottleGate::PAUSE_WITHOUT_RETRY_AFTER)),
        503 => return header,
        200 if is_batch => {}
        _ => return None,
    }
    // Most batch replies hold no throttled item: skip the parse unless a 429 or 503 appears.
    let body = response.body();
    if !body.windows(3).any(|w| w == b"429" || w == b"503") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        responses: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        status: u16,
        #[serde(default)]
        headers: std::collections::HashMap<String, serde_json::Value>,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    envelope
        .responses
        .iter()
        .filter_map(|item| {
            let header = item
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                .and_then(|(_, v)| match v {
                    serde_json::Value::String(s) => crate::retry::parse_retry_after(s),
                    serde_json::Value::Number(n) => n.as_f64().map(Duration::from_secs_f64),
                    _ => None,
                });
            match item.status {
                429 => Some(header.unwrap_or(ThrottleGate::PAUSE_WITHOUT_RETRY_AFTER)),
                503 => header,
                _ => None,
            }
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, retry_after: Option<&str>, body: &str) -> http::Response<Vec<u8>> {
        let mut b = http::Response::builder().status(status);
        if let Some(r) = retry_after {
            b = b.header("Retry-After", r);
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn throttle_signal_reads_429_503_with_retry_after_and_batch_items() {
        let s = |r: &http::Response<Vec<u8>>, batch| throttle_signal(r, batch);
        assert_eq!(
            s(&reply(429, Some("7"), ""), false),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            s(&reply(429, None, ""), false),
            Some(ThrottleGate::PAUSE_WITHOUT_RETRY_AFTER)
        );
        assert_eq!(s(&reply(503, None, ""), false), None);
        assert_eq!(
            s(&reply(503, Some("3"), ""), false),
            Some(Duration::from_secs(3))
        );
        assert_eq!(s(&reply(404, Some("3"), ""), false), None);
        let batch = r#"{"responses":[{"id":"a","status":200,"body":{}},
            {"id":"b","status":429,"headers":{"Retry-After":"5"}},
            {"id":"c","status":429,"headers":{"retry-after":"9"}}]}"#;
        assert_eq!(
            s(&reply(200, None, batch), true),
            Some(Duration::from_secs(9))
        );
        assert_eq!(s(&reply(200, None, batch), false), None);
        let calm = r#"{"responses":[{"id":"a","status":201,"body":{"n":4290}}]}"#;
        assert_eq!(s(&reply(200, None, calm), true), None);
    }

    #[test]
    fn the_gate_closes_at_the_threshold_and_opens_when_enough_throttles_pass() {
        let gate = GateState::new(ThrottleGate::PauseStarts {
            tenants: 2,
            max_pause: Duration::from_secs(10),
        });
        let now = Instant::now();
        assert_eq!(gate.pause_needed(now), None);
        gate.throttled(0, Duration::from_secs(4));
        assert_eq!(gate.pause_needed(now), None, "one throttled tenant");
        gate.throttled(1, Duration::from_secs(60)); // capped at 10 s
        gate.throttled(0, Duration::from_secs(2)); // an earlier deadline never shortens one
        let (count, pause) = gate.pause_needed(now).unwrap();
        assert_eq!(count, 2);
        // Fewer than two are throttled once tenant 0's 4 s have passed.
        assert!(pause >= Duration::from_secs(4) && pause < Duration::from_millis(4500));
        gate.expire_until(now + pause);
        assert_eq!(gate.pause_needed(now + pause), None);

        let off = GateState::new(ThrottleGate::Off);
        off.throttled(0, Duration::from_secs(4));
        off.throttled(1, Duration::from_secs(4));
        assert_eq!(off.pause_needed(now), None);
    }
}
