//! JSON batching: up to 20 independent requests in one `POST /$batch` round trip.
//!
//! [`Graph::batch`] splits larger lists into envelopes of 20, sends independent envelopes
//! concurrently, correlates replies by id (Graph answers in any order), and re-sends the items
//! Graph throttled (429, or 500, 502, 503 and 504) after their `Retry-After`, together with the items that
//! failed with 424 only because a throttled item they depend on failed.
//!
//! A [non-idempotent](GraphRequest::non_idempotent) item is re-sent only after a 429; an
//! envelope that holds one is sent again only when it certainly was not carried out (see
//! [`Graph::send`]). Otherwise the outcome is [`Error::MayHaveTakenEffect`]: from
//! [`Graph::batch`] for the envelope, from [`BatchItemResponse::error`] for an item.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::request::{HeaderLookup, decode_json, graph_error};
use super::{Graph, GraphRequest};
use crate::error::{Error, Result};
use crate::retry::{self, Pause, Retry, RetryAction, Schedule, Tally};

/// The replies so far, and the items still to send.
type Progress<'i> = (HashMap<String, BatchItemResponse>, Vec<&'i BatchItem>);

/// Why a round of a batch calls for another.
enum Round {
    /// An envelope failed: the batch fails.
    Failed(Error),
    /// Graph throttled items: `items` are sent again after the wait `action` sizes.
    Throttled { items: usize, action: RetryAction },
}

/// Graph's limit of requests in one `$batch`.
pub const MAX_BATCH: usize = 20;

/// One request in a batch.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BatchItem {
    /// The id that correlates the reply (unique in the batch).
    pub id: String,
    /// The request.
    pub request: GraphRequest,
    /// Ids of items that must succeed first.
    pub depends_on: Vec<String>,
}

impl BatchItem {
    /// An item with no dependencies.
    pub fn new(id: impl Into<String>, request: GraphRequest) -> Self {
        Self {
            id: id.into(),
            request,
            depends_on: Vec::new(),
        }
    }

    /// Runs only after `id` succeeded (Graph answers 424 otherwise).
    pub fn depends_on(mut self, id: impl Into<String>) -> Self {
        self.depends_on.push(id.into());
        self
    }
}

/// The reply to one batch item.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct BatchItemResponse {
    /// The item's id.
    pub id: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Its JSON body, if any.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// `METHOD /path` of the request, for messages.
    #[serde(skip)]
    request: String,
    /// How many times the item was sent.
    #[serde(skip)]
    attempts: u32,
    /// The item's request must not be sent twice.
    #[serde(skip)]
    non_idempotent: bool,
}

impl BatchItemResponse {
    /// Whether the item succeeded (2xx).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Decodes the body of a successful item, or returns its error. A
    /// [non-idempotent](GraphRequest::non_idempotent) item that succeeded but whose body cannot
    /// be read took effect all the same: that is an [`Error::MayHaveTakenEffect`].
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check) for a failed item; [`Error::Decode`] when a successful item's body
    /// is not the expected JSON ([`Error::MayHaveTakenEffect`] for a non-idempotent item).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        self.check()?;
        let body = self
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        // The re-encoded body can hold a new secret: wiped once decoded.
        let body = zeroize::Zeroizing::new(body);
        decode_json(
            &body,
            &self.request,
            Some(self.status),
            self.headers.lookup("content-type"),
            self.headers.lookup("request-id"),
        )
        .map_err(|e| {
            if self.non_idempotent {
                Error::may_have_taken_effect_of(self.request.clone(), e)
            } else {
                e
            }
        })
    }

    /// `Ok(())` for a 2xx item, else its [`Error::Graph`].
    ///
    /// # Errors
    ///
    /// [`Error::Graph`] for an item that did not succeed, with its status, code and request-id; for
    /// a [non-idempotent](GraphRequest::non_idempotent) item that failed with a 5xx,
    /// [`Error::MayHaveTakenEffect`] around it.
    pub fn check(&self) -> Result<()> {
        if self.is_success() {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// The item's failure as an [`Error`] (meaningful when it did not succeed). For a
    /// [non-idempotent](GraphRequest::non_idempotent) item that failed with a 5xx (which was not
    /// re-sent), an [`Error::MayHaveTakenEffect`].
    pub fn error(&self) -> Error {
        let body = self
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let error = Error::graph(graph_error(
            &self.request,
            self.status,
            &self.headers,
            &body,
            self.attempts,
        ));
        if self.non_idempotent && self.status >= 500 {
            Error::may_have_taken_effect_of(self.request.clone(), error)
        } else {
            error
        }
    }

    /// How many times the item was sent (0 for an item failed locally with 424 because an item
    /// it depends on failed in an earlier envelope).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether Graph is to be asked again ([`retry::throttled`], or a
    /// [`retry::transient_fault`] of an idempotent item), and after what.
    fn resend_action(&self) -> RetryAction {
        if self.is_success() {
            return RetryAction::No;
        }
        let transient = retry::transient_fault(!self.non_idempotent);
        RetryAction::first_of(&self.error(), &[&retry::throttled, &transient])
    }

    /// Graph's error code for a failed item.
    pub fn error_code(&self) -> Option<&str> {
        self.body.as_ref()?.get("error")?.get("code")?.as_str()
    }
}

impl fmt::Debug for BatchItemResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchItemResponse")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("request", &self.request)
            .field("error_code", &self.error_code())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    id: &'a str,
    method: &'a str,
    url: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a serde_json::Value>,
    #[serde(rename = "dependsOn", skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<&'a str>,
}

#[derive(Deserialize)]
struct WireReply {
    responses: Vec<BatchItemResponse>,
}

impl Graph {
    /// Sends the items in as few `$batch` round trips as Graph allows and returns one reply per
    /// item, in the order of `items`. Item failures are returned as replies, not as `Err`: the
    /// caller decides what each means. `Err` is for the envelope itself failing.
    ///
    /// When an envelope fails and a [non-idempotent](GraphRequest::non_idempotent) item may
    /// have been carried out (its envelope failed after reaching Graph, or it succeeded in
    /// another envelope whose reply cannot be returned with the error), the error is
    /// [`Error::MayHaveTakenEffect`] naming it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before sending for an empty or repeated item id, or an item that
    /// depends on one that is not earlier in the batch; [`Error::Graph`], [`Error::Auth`],
    /// [`Error::Transport`] or [`Error::Decode`] when an envelope fails;
    /// [`Error::MayHaveTakenEffect`] as described above. Failed items are not errors: read each
    /// one.
    pub async fn batch(&self, mut items: Vec<BatchItem>) -> Result<Vec<BatchItemResponse>> {
        validate(&items)?;
        canonical_dependencies(&mut items);
        let classify = |r: &Round| match r {
            Round::Failed(_) => RetryAction::No,
            Round::Throttled { action, .. } => *action,
        };
        let log = |r: &Round, pause: &Pause| {
            if let Round::Throttled { items, .. } = r {
                tracing::warn!(
                    items,
                    wait = ?pause.wait,
                    attempt = pause.number,
                    "batch items throttled; retrying them"
                );
            }
        };
        let start = (HashMap::new(), items.iter().collect());
        let (results, outcome) = Retry::new(Schedule::policy(self.retry_policy()), self.sleeper())
            .within(self)
            .run_with(
                &mut Tally::default(),
                start,
                classify,
                log,
                |state, attempt| self.round(&items, state, attempt),
            )
            .await;
        let results = results.0;
        if let Err(Round::Failed(error)) = outcome {
            return Err(unreturned(error, &results));
        }
        let replies: Result<Vec<BatchItemResponse>> = items
            .iter()
            .map(|i| {
                results.get(&i.id).cloned().ok_or_else(|| {
                    Error::decode(crate::error::DecodeError::new(
                        "the reply to POST /$batch",
                        format!("no reply for item {}", i.id),
                        b"",
                    ))
                })
            })
            .collect();
        replies.map_err(|e| unreturned(e, &results))
    }

    /// Sends the pending items once and records the replies (sent `attempt` times). Fails with
    /// [`Round::Throttled`] when Graph throttled items; the items to send again (they and the
    /// 424s that depended on them) are then the pending ones.
    async fn round<'i>(
        &self,
        items: &'i [BatchItem],
        (mut results, pending): Progress<'i>,
        attempt: u32,
    ) -> (Progress<'i>, std::result::Result<(), Round>) {
        let (replies, failed) = self.send_round(&pending, &results).await;
        for mut reply in replies {
            reply.attempts = attempt;
            results.insert(reply.id.clone(), reply);
        }
        if let Some(error) = failed {
            return ((results, pending), Err(Round::Failed(error)));
        }
        let actions: Vec<(&str, RetryAction)> = pending
            .iter()
            .filter_map(|i| results.get(&i.id))
            .map(|r| (r.id.as_str(), r.resend_action()))
            .filter(|(_, a)| a.retries())
            .collect();
        if actions.is_empty() {
            return ((results, pending), Ok(()));
        }
        // The longest `Retry-After` of the throttled items, or a back-off when none gave one.
        let action = actions
            .iter()
            .filter_map(|(_, a)| match a {
                RetryAction::After(d) => Some(*d),
                _ => None,
            })
            .max()
            .map_or(RetryAction::Backoff, RetryAction::After);
        let retry_ids = with_dependents(items, actions.iter().map(|(id, _)| *id).collect());
        let next: Vec<&BatchItem> = items
            .iter()
            .filter(|i| retry_ids.contains(i.id.as_str()))
            .collect();
        let throttled = Round::Throttled {
            items: next.len(),
            action,
        };
        ((results, next), Err(throttled))
    }

    /// Sends `pending` in envelopes of at most 20. Envelopes go concurrently unless an item
    /// depends on one in an earlier envelope; then they go in order and a failed dependency
    /// gives a local 424, as Graph would. Returns the replies of the envelopes answered, and
    /// the error of one that failed (see [`settle`]).
    async fn send_round(
        &self,
        pending: &[&BatchItem],
        done: &HashMap<String, BatchItemResponse>,
    ) -> (Vec<BatchItemResponse>, Option<Error>) {
        let chunks: Vec<&[&BatchItem]> = pending.chunks(MAX_BATCH).collect();
        let crosses = chunks.iter().any(|chunk| {
            chunk.iter().any(|i| {
                i.depends_on.iter().any(|d| {
                    pending.iter().any(|p| &p.id == d) && !chunk.iter().any(|c| &c.id == d)
                })
            })
        });
        if !crosses {
            // Every envelope is awaited, even after one failed: one dropped in flight would
            // leave what it did unknown, and its replies lost.
            let futures = chunks.iter().map(|chunk| self.send_envelope(chunk, done));
            return settle(futures::future::join_all(futures).await);
        }
        let mut seen: HashMap<String, BatchItemResponse> = done.clone();
        let mut outcomes = Vec::new();
        for chunk in chunks {
            let outcome = self.send_envelope(chunk, &seen).await;
            let failed = outcome.is_err();
            if let Ok(replies) = &outcome {
                for r in replies {
                    seen.insert(r.id.clone(), r.clone());
                }
            }
            outcomes.push(outcome);
            if failed {
                break;
            }
        }
        settle(outcomes)
    }

    /// One `POST /$batch`. Dependencies outside the envelope are resolved from `done`: a
    /// successful one is dropped from `dependsOn`, a failed one fails the item with 424 locally.
    /// An envelope holding a non-idempotent item is itself non-idempotent.
    async fn send_envelope(
        &self,
        chunk: &[&BatchItem],
        done: &HashMap<String, BatchItemResponse>,
    ) -> Result<Vec<BatchItemResponse>> {
        let envelope = Envelope::new(chunk, done);
        if envelope.wire.is_empty() {
            return Ok(envelope.local_failures);
        }
        // The envelope is as safe to send twice as its items.
        let mut request =
            GraphRequest::post("/$batch", &serde_json::json!({ "requests": envelope.wire }))?
                .idempotent();
        if !envelope.once_only.is_empty() {
            request = request.non_idempotent();
        }
        let reply: WireReply = match self.send(&request).await {
            Ok(r) => r
                .json()
                .map_err(|e| envelope.holding(request.describe(), e))?,
            Err(Error::MayHaveTakenEffect { request, source }) => {
                return Err(envelope.holding_always(request, *source));
            }
            Err(e) => return Err(e),
        };
        envelope.replies(chunk, reply, &request.describe())
    }
}

/// One `$batch` envelope being built: the items on the wire, those failed locally (424), and the
/// requests that must not be sent twice.
struct Envelope<'a> {
    in_chunk: HashSet<&'a str>,
    local_failures: Vec<BatchItemResponse>,
    wire: Vec<WireRequest<'a>>,
    once_only: Vec<String>,
}

impl<'a> Envelope<'a> {
    fn new(chunk: &[&'a BatchItem], done: &HashMap<String, BatchItemResponse>) -> Self {
        let in_chunk: HashSet<&str> = chunk.iter().map(|i| i.id.as_str()).collect();
        let mut envelope = Envelope {
            in_chunk,
            local_failures: Vec::new(),
            wire: Vec::new(),
            once_only: Vec::new(),
        };
        for item in chunk {
            let failed_dep = item.depends_on.iter().find(|d| {
                !envelope.in_chunk.contains(d.as_str())
                    && done.get(*d).is_some_and(|r| !r.is_success())
            });
            if let Some(dep) = failed_dep {
                envelope.local_failures.push(failed_dependency(item, dep));
                continue;
            }
            if !item.request.is_idempotent() {
                envelope.once_only.push(item.request.describe());
            }
            let wire = envelope.wire_request(item);
            envelope.wire.push(wire);
        }
        envelope
    }

    /// The item as it goes on the wire; only dependencies inside the envelope are named.
    fn wire_request(&self, item: &'a BatchItem) -> WireRequest<'a> {
        let request = &item.request;
        WireRequest {
            id: &item.id,
            method: request.method.as_str(),
            url: &request.path,
            headers: request
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(
                    request
                        .body
                        .as_ref()
                        .map(|_| ("Content-Type", "application/json")),
                )
                .collect(),
            body: request.body.as_ref(),
            depends_on: item
                .depends_on
                .iter()
                .filter(|d| self.in_chunk.contains(d.as_str()))
                .map(String::as_str)
                .collect(),
        }
    }

    /// What a failure of an envelope holding a non-idempotent item is: it was carried out, or
    /// may have been, and its reply is not at hand.
    fn holding_always(&self, request: String, source: Error) -> Error {
        Error::may_have_taken_effect_of(
            format!("{request} holding {}", self.once_only.join(", ")),
            source,
        )
    }

    /// `source` as the envelope's error: [`holding_always`](Self::holding_always) when it holds
    /// a non-idempotent item.
    fn holding(&self, request: String, source: Error) -> Error {
        if self.once_only.is_empty() {
            source
        } else {
            self.holding_always(request, source)
        }
    }

    /// One reply per item of the chunk, in its order: the local failures, then Graph's replies
    /// by id.
    fn replies(
        self,
        chunk: &[&BatchItem],
        reply: WireReply,
        envelope: &str,
    ) -> Result<Vec<BatchItemResponse>> {
        // Graph does not compare ids by case (https://learn.microsoft.com/graph/json-batching):
        // a reply is matched without regard to it, and carries the id as the item spelled it.
        let mut by_id: HashMap<String, BatchItemResponse> = reply
            .responses
            .into_iter()
            .map(|r| (r.id.to_lowercase(), r))
            .collect();
        let mut out = Vec::with_capacity(chunk.len());
        out.extend(self.local_failures.iter().cloned());
        for item in chunk {
            if out.iter().any(|r| r.id == item.id) {
                continue;
            }
            let Some(mut reply) = by_id.remove(&item.id.to_lowercase()) else {
                let missing = Error::decode(crate::error::DecodeError::new(
                    "the reply to POST /$batch",
                    format!("Graph's reply has no response for item {}", item.id),
                    b"",
                ));
                return Err(self.holding(envelope.to_owned(), missing));
            };
            reply.id.clone_from(&item.id);
            reply.request = item.request.describe();
            reply.non_idempotent = !item.request.is_idempotent();
            out.push(reply);
        }
        Ok(out)
    }
}

/// The local 424 of an item whose dependency failed in an earlier envelope.
fn failed_dependency(item: &BatchItem, dep: &str) -> BatchItemResponse {
    BatchItemResponse {
        id: item.id.clone(),
        status: 424,
        headers: BTreeMap::new(),
        body: Some(serde_json::json!({"error": {"code": "FailedDependency",
            "message": format!("the item it depends on ({dep}) failed")}})),
        request: item.request.describe(),
        attempts: 0,
        non_idempotent: !item.request.is_idempotent(),
    }
}

/// The replies of the envelopes that were answered, and the error of one that failed: one that
/// may have taken effect before any other, as that is the one the caller must act on.
fn settle(
    outcomes: Vec<Result<Vec<BatchItemResponse>>>,
) -> (Vec<BatchItemResponse>, Option<Error>) {
    let mut replies = Vec::new();
    let mut failed: Option<Error> = None;
    for outcome in outcomes {
        match outcome {
            Ok(r) => replies.extend(r),
            Err(e) => {
                if failed
                    .as_ref()
                    .is_none_or(|f| !f.may_have_taken_effect() && e.may_have_taken_effect())
                {
                    failed = Some(e);
                }
            }
        }
    }
    (replies, failed)
}

/// The error the caller sees when the batch fails after some replies came in. When a
/// non-idempotent item was carried out (or may have been) and its reply would be lost with the
/// error, it is an [`Error::MayHaveTakenEffect`] naming that item.
fn unreturned(error: Error, results: &HashMap<String, BatchItemResponse>) -> Error {
    if error.may_have_taken_effect() {
        return error;
    }
    let mut acted: Vec<&str> = results
        .values()
        .filter(|r| r.non_idempotent && (r.is_success() || r.status >= 500))
        .map(|r| r.request.as_str())
        .collect();
    if acted.is_empty() {
        return error;
    }
    acted.sort_unstable();
    Error::may_have_taken_effect_of(
        format!(
            "{} (its reply is lost: another request of the same $batch failed)",
            acted.join(", ")
        ),
        error,
    )
}

/// The ids in `seed` plus every item that (transitively) depends on one of them.
fn with_dependents<'a>(items: &'a [BatchItem], seed: HashSet<&'a str>) -> HashSet<&'a str> {
    let mut set = seed;
    loop {
        let before = set.len();
        for item in items {
            if item.depends_on.iter().any(|d| set.contains(d.as_str())) {
                set.insert(item.id.as_str());
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// Each `dependsOn` spelled as the id of the item it names, which [`validate`] found without
/// regard to case.
fn canonical_dependencies(items: &mut [BatchItem]) {
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    for item in items.iter_mut() {
        for dep in &mut item.depends_on {
            if let Some(id) = ids
                .iter()
                .find(|id| id.to_lowercase() == dep.to_lowercase())
            {
                dep.clone_from(id);
            }
        }
    }
}

/// Ids must be unique and non-empty, compared as Graph compares them: not case-sensitive
/// (<https://learn.microsoft.com/graph/json-batching>).
fn validate(items: &[BatchItem]) -> Result<()> {
    let mut ids = HashSet::new();
    for item in items {
        if item.id.is_empty() || !ids.insert(item.id.to_lowercase()) {
            return Err(Error::invalid_input(
                "batch",
                format!(
                    "item ids must be unique and non-empty (repeated: {:?})",
                    item.id
                ),
            ));
        }
    }
    for (pos, item) in items.iter().enumerate() {
        for dep in &item.depends_on {
            let dep_pos = items
                .iter()
                .position(|i| i.id.to_lowercase() == dep.to_lowercase());
            if dep_pos.is_none_or(|p| p >= pos) {
                return Err(Error::invalid_input(
                    "batch",
                    format!(
                        "item {:?} depends on {dep:?}, which is not an earlier item of the batch",
                        item.id
                    ),
                ));
            }
        }
    }
    Ok(())
}
