//! `POST /v1.0/$batch`: JSON batching as <https://learn.microsoft.com/graph/json-batching>
//! describes it: items run in any order unless `dependsOn` orders them (the fake shuffles the
//! independent ones), a failed dependency gives `424`, replies come in any order, and ids are
//! not case-sensitive.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::dispatch::{Body, Caller, GraphReq, finish, method_not_allowed, process};
use super::reply::Reply;
use super::state::State;

/// Graph's limit on the requests in one batch.
const MAX_ITEMS: usize = 20;
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

struct Item {
    id: String,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn invalid(message: impl Into<String>) -> Reply {
    Reply::odata_bad_request(message)
}

fn parse_item(v: &Value, index: usize) -> Result<Item, Reply> {
    let o = v
        .as_object()
        .ok_or_else(|| invalid(format!("Batch request {index} is not a JSON object.")))?;
    let text = |name: &str| o.get(name).and_then(Value::as_str).map(str::to_owned);
    let id = text("id")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| invalid(format!("Batch request {index} has no id.")))?;
    let method = text("method")
        .map(|m| m.to_ascii_uppercase())
        .filter(|m| METHODS.contains(&m.as_str()))
        .ok_or_else(|| invalid(format!("Batch request '{id}' has an invalid method.")))?;
    let url = text("url")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid(format!("Batch request '{id}' has no url.")))?;
    let headers = match o.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(h)) => h
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(invalid(format!(
                    "Batch request '{id}' has a non-string header '{k}'."
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(invalid(format!(
                "Batch request '{id}' has invalid headers."
            )));
        }
    };
    let depends_on = match o.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(d)) => d
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid(format!("Batch request '{id}' has an invalid dependsOn.")))?,
        Some(_) => {
            return Err(invalid(format!(
                "Batch request '{id}' has an invalid dependsOn."
            )));
        }
    };
    Ok(Item {
        id,
        method,
        url,
        headers,
        body: o.get("body").cloned(),
        depends_on,
    })
}

/// Whether two batch ids are the same id: Graph does not compare them by case.
fn same_id(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Items in an order that respects `dependsOn` and is otherwise shuffled by `seed`, as Graph
/// runs independent requests in any order; `None` on a cycle.
fn order(items: &[Item], seed: u64) -> Option<Vec<usize>> {
    let mut done = vec![false; items.len()];
    let mut out = Vec::with_capacity(items.len());
    let mut rng = seed;
    while out.len() < items.len() {
        let ready: Vec<usize> = (0..items.len())
            .filter(|&i| {
                !done[i]
                    && items[i].depends_on.iter().all(|d| {
                        items
                            .iter()
                            .zip(&done)
                            .any(|(x, &ok)| ok && same_id(&x.id, d))
                    })
            })
            .collect();
        if ready.is_empty() {
            return None;
        }
        // A linear congruential step (Knuth's MMIX constants): enough to vary the order.
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let pick = usize::try_from(rng >> 33).unwrap_or(0) % ready.len();
        let next = ready[pick];
        done[next] = true;
        out.push(next);
    }
    Some(out)
}

/// Answers a `$batch` envelope. `nth` is the envelope's top-level request number.
pub(crate) fn handle(
    state: &mut State,
    req: &GraphReq,
    caller: &Caller,
    nth: u64,
    envelope_seq: u64,
) -> Reply {
    if req.method != "POST" {
        return method_not_allowed();
    }
    let requests = match req.json_object().map(|b| b.get("requests")) {
        Ok(Some(Value::Array(r))) => r,
        Ok(_) => return invalid("Invalid batch payload format: 'requests' must be an array."),
        Err(r) => return r,
    };
    if requests.is_empty() {
        return invalid("The batch request must contain at least one request.");
    }
    if requests.len() > MAX_ITEMS {
        return invalid(format!(
            "The batch request contains {} requests; the maximum is {MAX_ITEMS}.",
            requests.len()
        ));
    }
    let items = match requests
        .iter()
        .enumerate()
        .map(|(i, v)| parse_item(v, i))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(items) => items,
        Err(r) => return r,
    };
    for (i, item) in items.iter().enumerate() {
        if items[..i].iter().any(|x| same_id(&x.id, &item.id)) {
            return invalid(format!(
                "Batch request ids must be unique: '{}' appears twice.",
                item.id
            ));
        }
        if let Some(d) = item
            .depends_on
            .iter()
            .find(|d| !items.iter().any(|x| same_id(&x.id, d)))
        {
            return invalid(format!(
                "Batch request '{}' depends on unknown request '{d}'.",
                item.id
            ));
        }
    }
    let seed = state.shuffle_seed ^ state.batch_count.rotate_left(17);
    let Some(order) = order(&items, seed) else {
        return invalid("The dependsOn references of the batch form a cycle.");
    };
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut answers: Vec<(usize, Reply)> = Vec::with_capacity(items.len());
    for i in order {
        let item = &items[i];
        let (raw_path, raw_query) = match item.url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (item.url.as_str(), None),
        };
        let body = item.body.clone().map_or(Body::Empty, Body::Json);
        let item_req = GraphReq::new(
            &item.method,
            &format!("/v1.0/{}", raw_path.trim_start_matches('/')),
            raw_query,
            item.headers.clone(),
            body,
        );
        let seq = state.next_seq();
        let failed_dependency = item
            .depends_on
            .iter()
            .any(|d| statuses.get(&d.to_lowercase()).is_none_or(|s| *s >= 400));
        let has_content_type = item_req.header("content-type").is_some();
        let mut reply = if failed_dependency {
            Reply::error(
                424,
                "Request_FailedDependency",
                "The request was not processed because a request it depends on failed.",
            )
        } else if item.url.contains("://") {
            invalid("A batch request url must be relative to the version root, e.g. /applications.")
        } else if item.body.is_some() && !has_content_type {
            invalid(format!(
                "Write request id : {} does not contain Content-Type header or body.",
                item.id
            ))
        } else {
            process(state, &item_req, caller, nth, true)
        };
        finish(state, &item_req, &mut reply, seq, Some(envelope_seq));
        statuses.insert(item.id.to_lowercase(), reply.status);
        answers.push((i, reply));
    }
    answers.sort_by_key(|(i, _)| *i);
    state.batch_count += 1;
    if answers.len() >= 2 {
        let n = answers.len();
        let turn = 1 + usize::try_from(state.shuffle_seed.wrapping_add(state.batch_count))
            .unwrap_or(0)
            % (n - 1);
        answers.rotate_left(turn);
    }
    let responses: Vec<Value> = answers
        .into_iter()
        .map(|(i, reply)| item_response(&items[i].id, reply))
        .collect();
    Reply::json(200, json!({ "responses": responses }))
}

fn item_response(id: &str, reply: Reply) -> Value {
    let mut headers = Map::new();
    if reply.body.is_some() {
        headers.insert("Content-Type".into(), json!(reply.content_type));
    }
    headers.insert("Cache-Control".into(), json!("no-cache"));
    for (k, v) in reply.headers {
        headers.insert(k, Value::String(v));
    }
    let mut out = json!({ "id": id, "status": reply.status, "headers": headers });
    if let Some(body) = reply.body {
        out["body"] = body;
    }
    out
}
