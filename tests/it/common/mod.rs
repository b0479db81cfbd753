//! Shared helpers for the integration tests.

pub mod browser;
pub mod faulty;
pub mod requests;
pub mod schema;
pub mod tenant;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use entra_appreg::Graph;
use entra_appreg::auth::StaticToken;
use entra_appreg::retry::RecordingSleeper;
use entra_appreg::transport::{GraphTransport, TransportError};

/// One canned reply of a [`Scripted`] transport.
pub enum Reply {
    Http(u16, Vec<(&'static str, String)>, Vec<u8>),
    Fail(TransportError),
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply::Http(
            status,
            vec![("content-type", "application/json".into())],
            body.to_string().into_bytes(),
        )
    }

    pub fn raw(status: u16, content_type: &str, body: &[u8]) -> Self {
        Reply::Http(
            status,
            vec![("content-type", content_type.into())],
            body.to_vec(),
        )
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Reply::Http(_, h, _) = &mut self {
            h.push((name, value.into()));
        }
        self
    }
}

/// A request as the scripted transport saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Read by no test today; kept so that a failing assertion's `Debug` shows the whole request.
    #[allow(dead_code)]
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A transport that answers from a script and records what it was sent. Running out of script
/// is a test failure (a 599 reply that no code path retries).
#[derive(Clone, Default)]
pub struct Scripted {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    pub fn new(replies: Vec<Reply>) -> Self {
        Self {
            replies: Arc::new(Mutex::new(replies.into())),
            seen: Arc::default(),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl GraphTransport for Scripted {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (parts, body) = request.into_parts();
        self.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body,
        });
        let next = self.replies.lock().unwrap().pop_front();
        match next {
            Some(Reply::Http(status, headers, body)) => {
                let mut b = http::Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                Ok(b.body(body).unwrap())
            }
            Some(Reply::Fail(e)) => Err(e),
            None => Ok(http::Response::builder()
                .status(599)
                .body(b"script exhausted".to_vec())
                .unwrap()),
        }
    }
}

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// A Graph client over a scripted transport, with a recording sleeper.
pub fn scripted_graph(replies: Vec<Reply>) -> (Graph, Scripted, RecordingSleeper) {
    let transport = Scripted::new(replies);
    let sleeper = RecordingSleeper::default();
    let graph = Graph::builder()
        .tenant(TENANT)
        .graph_root("http://127.0.0.1:9")
        .login_root("http://127.0.0.1:9")
        .token_provider(StaticToken::new("test-token"))
        .transport(transport.clone())
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    (graph, transport, sleeper)
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A Graph client signed in to a fake tenant as its admin, with a recording sleeper.
pub fn fake_graph(fake: &entra_appreg_fake::FakeGraph) -> (Graph, RecordingSleeper) {
    let sleeper = RecordingSleeper::default();
    let graph = fake
        .graph_builder()
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    (graph, sleeper)
}

/// Top-level Graph requests (round trips) in the fake's log.
pub fn graph_round_trips(
    fake: &entra_appreg_fake::FakeGraph,
) -> Vec<entra_appreg_fake::RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.kind == entra_appreg_fake::RequestKind::Graph && r.batch.is_none())
        .collect()
}

/// Every Graph write (top level or inside a batch) in the fake's log.
pub fn graph_writes(
    fake: &entra_appreg_fake::FakeGraph,
) -> Vec<entra_appreg_fake::RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.kind == entra_appreg_fake::RequestKind::Graph)
        .filter(|r| r.method != "GET" && !r.path.ends_with("$batch"))
        .collect()
}
