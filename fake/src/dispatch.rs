//! From an HTTP request to a reply: login vs Graph, authentication, faults, throttling,
//! routing and the request log.

use serde_json::{Map, Value};

use super::odata::{decode_query_component, parse_query, parse_segment, split_path};
use super::reply::Reply;
use super::state::{State, Subject, fmt_error_date, new_guid, now};
use super::{Fault, RecordedRequest, RequestKind};

/// A request body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Empty,
    Json(Value),
    Malformed(String),
}

/// A Graph request, top-level or a `$batch` item.
#[derive(Debug, Clone)]
pub(crate) struct GraphReq {
    pub method: String,
    /// Decoded path without query, e.g. `/v1.0/applications`.
    pub path: String,
    /// Decoded path segments after `/v1.0`.
    pub segments: Vec<String>,
    /// The first segment when it is not `v1.0`.
    pub bad_version: Option<String>,
    pub query: Vec<(String, String)>,
    pub query_text: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl GraphReq {
    /// Builds a request from a method, a raw (encoded) path and query, headers and body bytes.
    pub fn new(
        method: &str,
        raw_path: &str,
        raw_query: Option<&str>,
        headers: Vec<(String, String)>,
        body: Body,
    ) -> Self {
        let mut segments = split_path(raw_path);
        let bad_version = match segments.first() {
            Some(v) if v.eq_ignore_ascii_case("v1.0") => {
                segments.remove(0);
                None
            }
            Some(v) => Some(v.clone()),
            None => Some(String::new()),
        };
        Self {
            method: method.to_ascii_uppercase(),
            path: super::odata::percent_decode(raw_path),
            segments,
            bad_version,
            query: parse_query(raw_query),
            query_text: raw_query.map(decode_query_component).unwrap_or_default(),
            headers,
            body,
        }
    }

    /// A header value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the `Prefer` header holds this preference.
    pub fn prefers(&self, preference: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("prefer"))
            .flat_map(|(_, v)| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case(preference))
    }

    /// The body as a JSON object, or Graph's 400 for an unreadable payload.
    pub fn json_object(&self) -> Result<&Map<String, Value>, Reply> {
        match &self.body {
            Body::Json(Value::Object(m)) => Ok(m),
            _ => Err(Reply::unreadable_json()),
        }
    }

    /// The body as a JSON object; an empty body reads as `{}`.
    pub fn json_object_or_empty(&self) -> Result<Map<String, Value>, Reply> {
        match &self.body {
            Body::Empty => Ok(Map::new()),
            _ => self.json_object().cloned(),
        }
    }

    fn logged_body(&self) -> Option<Value> {
        match &self.body {
            Body::Empty => None,
            Body::Json(v) => Some(v.clone()),
            Body::Malformed(t) => Some(Value::String(t.clone())),
        }
    }
}

/// Who is calling Graph.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    Admin { scopes: Vec<String> },
    App { roles: Vec<String> },
}

impl Caller {
    /// Whether an app caller holds one of these Graph app roles (admins always pass).
    pub fn app_has_any(&self, roles: &[&str]) -> bool {
        match self {
            Caller::Admin { .. } => true,
            Caller::App { roles: held } => held.iter().any(|h| roles.contains(&h.as_str())),
        }
    }

    /// Whether the caller holds one of these delegated permissions (an admin) or app roles (an
    /// app), compared as Entra does, without regard to case.
    pub fn holds_any(&self, delegated: &[&str], application: &[&str]) -> bool {
        let (held, wanted) = match self {
            Caller::Admin { scopes } => (scopes, delegated),
            Caller::App { roles } => (roles, application),
        };
        held.iter()
            .any(|h| wanted.iter().any(|w| w.eq_ignore_ascii_case(h)))
    }
}

/// Entry point for every HTTP request the server receives.
pub(crate) fn handle(state: &mut State, request: &wiremock::Request) -> Reply {
    let raw_path = request.url.path();
    let parts: Vec<&str> = raw_path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() >= 2 && parts[1].eq_ignore_ascii_case("oauth2") {
        return super::login::handle(state, request, &parts);
    }
    graph_top_level(state, request)
}

pub(crate) fn http_headers(request: &wiremock::Request) -> Vec<(String, String)> {
    request
        .headers
        .iter()
        .filter(|(k, _)| !k.as_str().eq_ignore_ascii_case("authorization"))
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or("<non-ASCII>").to_owned(),
            )
        })
        .collect()
}

fn graph_top_level(state: &mut State, request: &wiremock::Request) -> Reply {
    let seq = state.next_seq();
    state.top_level_count += 1;
    let nth = state.top_level_count;
    let body = if request.body.is_empty() {
        Body::Empty
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(v) => Body::Json(v),
            Err(_) => Body::Malformed(String::from_utf8_lossy(&request.body).into_owned()),
        }
    };
    let req = GraphReq::new(
        request.method.as_str(),
        request.url.path(),
        request.url.query(),
        http_headers(request),
        body,
    );
    let bearer = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut reply = match authenticate(state, bearer.as_deref()) {
        Err(r) => r,
        Ok(caller) if is_batch(&req) => {
            match take_fault(state, &req, nth).or_else(|| super::chaos::draw(state, &req, false)) {
                Some(Fault::ActThenFail { status }) => {
                    let _ = super::batch::handle(state, &req, &caller, nth, seq);
                    Reply::for_status(status)
                }
                Some(fault) => fault_reply(&req, &fault),
                None => super::batch::handle(state, &req, &caller, nth, seq),
            }
        }
        Ok(caller) => process(state, &req, &caller, nth, false),
    };
    finish(state, &req, &mut reply, seq, None);
    reply
}

fn is_batch(req: &GraphReq) -> bool {
    req.bad_version.is_none() && req.segments.len() == 1 && req.segments[0] == "$batch"
}

/// Finalises a Graph reply (ids, `innerError`) and logs the request.
pub(crate) fn finish(
    state: &mut State,
    req: &GraphReq,
    reply: &mut Reply,
    seq: u64,
    batch: Option<u64>,
) {
    let client_request_id = req
        .header("client-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_guid, str::to_owned);
    reply.finalize_graph(&new_guid(), &client_request_id, &fmt_error_date(now()));
    state.log.push(RecordedRequest {
        seq,
        kind: RequestKind::Graph,
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query_text.clone(),
        headers: req.headers.clone(),
        body: req.logged_body(),
        status: reply.status,
        batch,
    });
}

fn authenticate(state: &mut State, authorization: Option<&str>) -> Result<Caller, Reply> {
    let unauthorized = |m: &str| Reply::error(401, "InvalidAuthenticationToken", m);
    let Some(header) = authorization.filter(|h| !h.trim().is_empty()) else {
        return Err(unauthorized("Access token is empty."));
    };
    let token = match header.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err(unauthorized("Access token is empty.")),
    };
    if token.split('.').count() != 3 {
        return Err(unauthorized(
            "IDX14100: JWT is not well formed, there are no dots (.).",
        ));
    }
    let Some(record) = state.tokens.get(token) else {
        return Err(unauthorized("Access token validation failure."));
    };
    if record.exp <= now().unix_timestamp() {
        return Err(unauthorized(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    if !record.graph_audience {
        return Err(unauthorized(
            "Access token validation failure. Invalid audience.",
        ));
    }
    Ok(match &record.subject {
        Subject::Admin { scopes } => Caller::Admin {
            scopes: scopes.clone(),
        },
        Subject::App { roles } => Caller::App {
            roles: roles.clone(),
        },
    })
}

/// Runs one Graph request (top-level or batch item): throttling, faults, then the handler.
/// `item`: the request is an item of a `$batch`.
pub(crate) fn process(
    state: &mut State,
    req: &GraphReq,
    caller: &Caller,
    nth: u64,
    item: bool,
) -> Reply {
    state.graph_count += 1;
    let count = state.graph_count;
    let periodic = state
        .knobs
        .fault_every
        .clone()
        .filter(|(n, _)| *n > 0 && count.is_multiple_of(u64::from(*n)))
        .map(|(_, f)| f);
    let fault = take_fault(state, req, nth)
        .or(periodic)
        .or_else(|| super::chaos::draw(state, req, item));
    if let Some(fault) = fault {
        return match fault {
            Fault::ActThenFail { status } => {
                let _ = route(state, req, caller);
                Reply::for_status(status)
            }
            other => fault_reply(req, &other),
        };
    }
    if let Some(n) = state.knobs.throttle_every
        && n > 0
        && count.is_multiple_of(u64::from(n))
    {
        return Reply::for_status(429)
            .with_header("Retry-After", state.knobs.retry_after.to_string());
    }
    if let Some(n) = state.knobs.unavailable_every
        && n > 0
        && count.is_multiple_of(u64::from(n))
    {
        return Reply::for_status(503);
    }
    route(state, req, caller)
}

fn take_fault(state: &mut State, req: &GraphReq, nth: u64) -> Option<Fault> {
    let rule = state.faults.iter_mut().find(|r| {
        r.times > 0
            && r.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&req.method))
            && r.path_contains
                .as_deref()
                .is_none_or(|p| req.path.contains(p))
            && r.nth_request.is_none_or(|n| n == nth)
    })?;
    rule.times -= 1;
    Some(rule.fault.clone())
}

fn fault_reply(req: &GraphReq, fault: &Fault) -> Reply {
    match fault {
        Fault::Status {
            status,
            retry_after,
        } => {
            let r = Reply::for_status(*status);
            match retry_after {
                Some(s) => r.with_header("Retry-After", s.to_string()),
                None => r,
            }
        }
        Fault::ReplicationLag => {
            let key = req
                .segments
                .iter()
                .rev()
                .find_map(|s| {
                    let (_, key) = parse_segment(s).ok()?;
                    key.map(|(_, v)| v)
                        .or_else(|| super::state::is_guid(s).then(|| s.clone()))
                })
                .unwrap_or_default();
            Reply::not_found(&key)
        }
        Fault::ActThenFail { status } => Reply::for_status(*status),
        Fault::GraphError {
            status,
            code,
            message,
        } => Reply::error(*status, code, message.clone()),
    }
}

/// The entity-set router.
fn route(state: &mut State, req: &GraphReq, caller: &Caller) -> Reply {
    if let Some(v) = &req.bad_version {
        return segment_not_found(v);
    }
    let Some(first) = req.segments.first() else {
        return segment_not_found("");
    };
    let (name, key) = match parse_segment(first) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let is_organization = name.eq_ignore_ascii_case("organization");
    if let (Caller::App { .. }, false) = (caller, is_organization) {
        let write = req.method != "GET";
        let needed: &[&str] = if write {
            &["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"]
        } else {
            &[
                "Application.Read.All",
                "Application.ReadWrite.All",
                "Application.ReadWrite.OwnedBy",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ]
        };
        if !caller.app_has_any(needed) {
            return Reply::forbidden();
        }
    }
    let rest = &req.segments[1..];
    if name.eq_ignore_ascii_case("applications") {
        super::applications::route(state, req, key, rest)
    } else if name.eq_ignore_ascii_case("servicePrincipals") {
        super::service_principals::route(state, req, caller, key, rest)
    } else if is_organization && key.is_none() && rest.is_empty() {
        organization(state, req, caller)
    } else if name.eq_ignore_ascii_case("directory") && key.is_none() {
        super::applications::route_directory(state, req, rest)
    } else if name == "$batch" {
        Reply::bad_request("A $batch request cannot be nested inside a batch.")
    } else {
        segment_not_found(&name)
    }
}

/// Graph's answer to an unknown path segment.
pub(crate) fn segment_not_found(segment: &str) -> Reply {
    Reply::odata_bad_request(format!("Resource not found for the segment '{segment}'."))
}

/// Graph's answer to a method a path does not support.
pub(crate) fn method_not_allowed() -> Reply {
    Reply::error(
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}

/// The path key of an object: a GUID `id` segment or an alternate key.
pub(crate) fn object_key(
    key: Option<(String, String)>,
    rest: &[String],
    alternate: &[&str],
) -> Result<Option<(super::state::Key, usize)>, Reply> {
    use super::state::{Key, is_guid};
    match key {
        Some((prop, value)) => {
            let k = if prop.is_empty() || prop.eq_ignore_ascii_case("id") {
                Key::Id(value)
            } else if prop.eq_ignore_ascii_case("appId") && alternate.contains(&"appId") {
                Key::AppId(value)
            } else if prop.eq_ignore_ascii_case("uniqueName") && alternate.contains(&"uniqueName") {
                Key::UniqueName(value)
            } else {
                return Err(Reply::odata_bad_request(format!(
                    "The key property '{prop}' is not an alternate key of this entity set."
                )));
            };
            match &k {
                Key::Id(v) | Key::AppId(v) if !is_guid(v) => Err(Reply::invalid_id(v)),
                _ => Ok(Some((k, 0))),
            }
        }
        None => match rest.first() {
            None => Ok(None),
            Some(id) if is_guid(id) => Ok(Some((Key::Id(id.clone()), 1))),
            Some(id) => Err(Reply::invalid_id(id)),
        },
    }
}

/// `GET /organization`: the tenant, with its verified domains (the initial
/// `*.onmicrosoft.com` one marked `isInitial`), as [List organization] returns it.
///
/// [List organization]: https://learn.microsoft.com/graph/api/organization-list
/// `GET /organization`, for the permissions its page lists: delegated `User.Read`,
/// `Organization.Read.All`, `Directory.Read.All`, `Organization.ReadWrite.All` or
/// `Directory.ReadWrite.All`; application the same without `User.Read`
/// (<https://learn.microsoft.com/graph/api/organization-list>).
fn organization(state: &State, req: &GraphReq, caller: &Caller) -> Reply {
    if req.method != "GET" {
        return method_not_allowed();
    }
    const READ: [&str; 4] = [
        "Organization.Read.All",
        "Directory.Read.All",
        "Organization.ReadWrite.All",
        "Directory.ReadWrite.All",
    ];
    let delegated = [&["User.Read"][..], &READ[..]].concat();
    if !caller.holds_any(&delegated, &READ) {
        return Reply::forbidden();
    }
    let org = serde_json::json!({
        "id": state.tenant_id.to_string(),
        "displayName": "Contoso",
        "verifiedDomains": [{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": state.tenant_domain,
            "type": "Managed"
        }]
    });
    let org = match query_option_select(req) {
        Some(props) => Value::Object(
            props
                .iter()
                .map(|p| (p.clone(), org.get(p).cloned().unwrap_or(Value::Null)))
                .collect(),
        ),
        None => org,
    };
    Reply::json(
        200,
        serde_json::json!({
            "@odata.context": format!("{}/v1.0/$metadata#organization", state.base_uri),
            "value": [org],
        }),
    )
}

fn query_option_select(req: &GraphReq) -> Option<Vec<String>> {
    super::odata::query_option(&req.query, "select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    })
}
