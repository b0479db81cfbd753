//! The tenant's state: directory objects as Graph-shaped JSON, knobs, tokens, the request log.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{CallerRole, FaultRule, RecordedRequest, TenantSnapshot};
use entra_appreg::graph::models::{AppRoleAssignment, Application, ServicePrincipal};
use entra_appreg::ids::TenantId;

/// A JSON object as stored.
pub(crate) type Obj = Map<String, Value>;

/// The knobs of [`super::FakeGraph`].
#[derive(Debug, Clone)]
pub(crate) struct Knobs {
    pub latency: Duration,
    pub replication_lag: u32,
    pub replication_delay: Duration,
    pub grant_lag_answer: super::GrantLagAnswer,
    pub sign_in_lag: u32,
    pub sign_in_delay: Duration,
    pub throttle_every: Option<u32>,
    pub retry_after: u32,
    pub unavailable_every: Option<u32>,
    /// Every `n`th Graph request (items counted) meets this fault.
    pub fault_every: Option<(u32, super::Fault)>,
    pub caller_role: CallerRole,
    pub password_lifetime: Option<time::Duration>,
    pub device_polls: u32,
    pub decline: bool,
    /// Conditional Access blocks the device code flow at token issuance (AADSTS53003).
    pub block_device_code: bool,
    /// The admin cancels the browser sign-in (`access_denied`, `cancel`).
    pub cancel_browser: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            replication_lag: 0,
            replication_delay: Duration::ZERO,
            grant_lag_answer: super::GrantLagAnswer::Alternate,
            sign_in_lag: 0,
            sign_in_delay: Duration::ZERO,
            throttle_every: None,
            retry_after: 2,
            unavailable_every: None,
            fault_every: None,
            caller_role: CallerRole::GlobalAdministrator,
            password_lifetime: None,
            device_polls: 1,
            decline: false,
            block_device_code: false,
            cancel_browser: false,
        }
    }
}

/// A directory object with its remaining replication lag.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub json: Obj,
    pub lag: Lag,
}

/// How long an object stays invisible: to a number of requests that reference it, and until a
/// moment in (real) time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Lag {
    pub requests: u32,
    pub until: Option<std::time::Instant>,
}

impl Lag {
    /// Visible at once.
    pub const NONE: Lag = Lag {
        requests: 0,
        until: None,
    };

    /// Whether a request that references the object still misses it; uses up one request.
    pub fn tick(&mut self) -> bool {
        let timed = self.until.is_some_and(|t| std::time::Instant::now() < t);
        if self.requests > 0 {
            self.requests -= 1;
            return true;
        }
        timed
    }

    /// Whether the object is still invisible, without using anything up.
    pub fn pending(&self) -> bool {
        self.requests > 0 || self.until.is_some_and(|t| std::time::Instant::now() < t)
    }
}

/// A client secret issued by `addPassword`.
#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub app_object_id: String,
    pub key_id: String,
    pub text: String,
    pub lag: u32,
}

/// Who an access token was issued to.
#[derive(Debug, Clone)]
pub(crate) enum Subject {
    /// The signed-in administrator (delegated), with the `scp` claim it got.
    Admin { scopes: Vec<String> },
    /// An application (client credentials), with the `roles` claim it got.
    App { roles: Vec<String> },
}

/// An access token the fake issued.
#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub subject: Subject,
    pub graph_audience: bool,
    pub exp: i64,
}

/// A pending device-code sign-in.
#[derive(Debug, Clone)]
pub(crate) struct DeviceCode {
    pub code: String,
    /// The `scope` of the device code request: what the token will carry.
    pub scope: String,
    pub polls: u32,
    pub expires: i64,
}

/// An authorization code the authorize endpoint issued (redeemed ones are kept, so that a
/// second redemption can be told from an unknown code).
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub code: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    /// `code_challenge` and its method (`S256` or `plain`), when the request had one.
    pub challenge: Option<(String, String)>,
    /// When it was issued (Unix seconds).
    pub created: i64,
    pub redeemed: bool,
}

/// How an object is named in a path or a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Id(String),
    AppId(String),
    UniqueName(String),
}

impl Key {
    /// The key as Graph quotes it in a not-found message.
    pub fn display(&self) -> String {
        match self {
            Key::Id(v) | Key::AppId(v) | Key::UniqueName(v) => v.clone(),
        }
    }

    fn matches(&self, obj: &Obj) -> bool {
        let field = |name: &str| obj.get(name).and_then(Value::as_str);
        match self {
            Key::Id(v) => field("id").is_some_and(|f| f.eq_ignore_ascii_case(v)),
            Key::AppId(v) => field("appId").is_some_and(|f| f.eq_ignore_ascii_case(v)),
            Key::UniqueName(v) => field("uniqueName").is_some_and(|f| eq_ci(f, v)),
        }
    }
}

/// The outcome of looking an object up as a request would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(usize),
    /// It exists, but this request does not see it yet (one unit of lag was used up).
    Lagging,
    Missing,
}

impl Lookup {
    pub fn found(self) -> Option<usize> {
        match self {
            Lookup::Found(i) => Some(i),
            _ => None,
        }
    }
}

/// The whole fake tenant.
pub(crate) struct State {
    pub base_uri: String,
    pub tenant_id: TenantId,
    pub tenant_domain: String,
    pub admin_oid: String,
    pub apps: Vec<Entry>,
    pub sps: Vec<Entry>,
    pub assignments: Vec<Obj>,
    pub deleted: Vec<Obj>,
    pub secrets: Vec<Secret>,
    pub device_codes: Vec<DeviceCode>,
    pub auth_codes: Vec<AuthCode>,
    pub tokens: HashMap<String, TokenRecord>,
    pub knobs: Knobs,
    pub faults: Vec<FaultRule>,
    pub log: Vec<RecordedRequest>,
    /// First-party service principals that can always be (re)created, as seeded.
    pub first_party: Vec<Obj>,
    /// The id of the tenant's app-management policy (named in lifetime errors).
    pub policy_id: String,
    next_seq: u64,
    /// Graph requests seen, batch items counted one by one (throttling).
    pub graph_count: u64,
    /// Top-level Graph HTTP requests seen (fault rules' `nth_request`).
    pub top_level_count: u64,
    /// `$batch` envelopes answered (for the shuffle).
    pub batch_count: u64,
    pub shuffle_seed: u64,
    /// Faults at random, when set.
    pub chaos: Option<super::chaos::Chaos>,
    /// Grants answered with lag so far (to alternate the two lag answers).
    pub grant_lag_count: u64,
    /// What the token endpoint does not see yet: `key:<keyId>`, `secret:<keyId>`,
    /// `grant:<assignment id>`.
    pub sign_in: HashMap<String, Lag>,
}

impl State {
    /// Sets (or clears) the random faults; their seed also seeds the `$batch` shuffle.
    pub fn set_chaos(&mut self, faults: Option<super::RandomFaults>) {
        if let Some(f) = &faults {
            self.shuffle_seed = f.seed;
        }
        self.chaos = faults.map(super::chaos::Chaos::new);
    }

    pub fn new(base_uri: String, tenant_id: TenantId, tenant_domain: String, knobs: Knobs) -> Self {
        let first_party = super::seed::first_party_service_principals();
        let mut state = Self {
            base_uri,
            tenant_id,
            tenant_domain,
            admin_oid: new_guid(),
            apps: Vec::new(),
            sps: Vec::new(),
            assignments: Vec::new(),
            deleted: Vec::new(),
            secrets: Vec::new(),
            device_codes: Vec::new(),
            auth_codes: Vec::new(),
            tokens: HashMap::new(),
            knobs,
            faults: Vec::new(),
            log: Vec::new(),
            first_party: first_party.clone(),
            policy_id: new_guid(),
            next_seq: 0,
            graph_count: 0,
            top_level_count: 0,
            batch_count: 0,
            shuffle_seed: u64::from(random_bytes(1)[0]),
            chaos: None,
            grant_lag_count: 0,
            sign_in: HashMap::new(),
        };
        for seed in first_party {
            let sp = state.sp_from_first_party(&seed, true);
            state.sps.push(Entry {
                json: sp,
                lag: Lag::NONE,
            });
        }
        state
    }

    /// Whether a login path's `{tenant}` names this tenant (its GUID or its initial domain).
    pub fn is_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant_id.to_string())
            || tenant.eq_ignore_ascii_case(&self.tenant_domain)
    }

    /// The next request-log sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Looks an application up as a request would (using up lag).
    pub fn find_app(&mut self, key: &Key) -> Lookup {
        lookup(&mut self.apps, key)
    }

    /// Looks a service principal up as a request would (using up lag).
    pub fn find_sp(&mut self, key: &Key) -> Lookup {
        lookup(&mut self.sps, key)
    }

    /// The index of an application, whatever its lag.
    pub fn app_index(&self, key: &Key) -> Option<usize> {
        self.apps.iter().position(|e| key.matches(&e.json))
    }

    /// The index of a service principal, whatever its lag.
    pub fn sp_index(&self, key: &Key) -> Option<usize> {
        self.sps.iter().position(|e| key.matches(&e.json))
    }

    /// The first-party seed for an appId.
    pub fn first_party_seed(&self, app_id: &str) -> Option<&Obj> {
        self.first_party.iter().find(|s| {
            s.get("appId")
                .and_then(Value::as_str)
                .is_some_and(|a| a.eq_ignore_ascii_case(app_id))
        })
    }

    /// Deletes a service principal by appId, with every grant it holds or exposes.
    pub fn remove_sp_by_app_id(&mut self, app_id: &str) {
        if let Some(i) = self.sp_index(&Key::AppId(app_id.to_owned())) {
            let sp = self.sps.remove(i);
            let id = str_field(&sp.json, "id").to_owned();
            self.assignments
                .retain(|a| str_field(a, "principalId") != id && str_field(a, "resourceId") != id);
        }
    }

    /// The answer to a grant that names a service principal which has not replicated: 404, or
    /// 400 "Not a valid reference update." (both seen from real Graph; Terraform azuread's
    /// `internal/services/approleassignments/app_role_assignment_resource.go` retries both).
    pub fn grant_lag_reply(&mut self, key: &str) -> super::reply::Reply {
        use super::GrantLagAnswer;
        self.grant_lag_count += 1;
        let invalid_reference = match self.knobs.grant_lag_answer {
            GrantLagAnswer::NotFound => false,
            GrantLagAnswer::InvalidReferenceUpdate => true,
            GrantLagAnswer::Alternate => self.grant_lag_count % 2 == 1,
        };
        if invalid_reference {
            super::reply::Reply::bad_request("Not a valid reference update.")
        } else {
            super::reply::Reply::not_found(key)
        }
    }

    /// Makes a new credential or grant unseen by the token endpoint for the sign-in lag.
    pub fn note_for_sign_in(&mut self, what: String) {
        let lag = Lag {
            requests: self.knobs.sign_in_lag,
            until: (!self.knobs.sign_in_delay.is_zero())
                .then(|| std::time::Instant::now() + self.knobs.sign_in_delay),
        };
        if lag != Lag::NONE {
            self.sign_in.insert(what, lag);
        }
    }

    /// Whether the token endpoint still misses this credential or grant (uses up one request).
    pub fn sign_in_pending(&mut self, what: &str) -> bool {
        self.sign_in.get_mut(what).is_some_and(Lag::tick)
    }

    /// The lag (in requests) a newly created secret gets.
    pub fn new_lag(&self) -> u32 {
        self.knobs.replication_lag
    }

    /// The lag a newly created directory object gets.
    pub fn new_object_lag(&self) -> Lag {
        Lag {
            requests: self.knobs.replication_lag,
            until: (!self.knobs.replication_delay.is_zero())
                .then(|| std::time::Instant::now() + self.knobs.replication_delay),
        }
    }

    pub fn snapshot(&self) -> TenantSnapshot {
        fn typed<T: serde::de::DeserializeOwned>(o: &Obj) -> Option<T> {
            serde_json::from_value(Value::Object(o.clone())).ok()
        }
        TenantSnapshot {
            applications: self.apps.iter().filter_map(|e| typed(&e.json)).collect(),
            service_principals: self
                .sps
                .iter()
                .filter_map(|e| typed::<ServicePrincipal>(&e.json))
                .collect(),
            app_role_assignments: self
                .assignments
                .iter()
                .filter_map(typed::<AppRoleAssignment>)
                .collect(),
            deleted_applications: self
                .deleted
                .iter()
                .filter_map(typed::<Application>)
                .collect(),
        }
    }

    pub fn secret_texts(&self, app_object_id: &str) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|s| s.app_object_id.eq_ignore_ascii_case(app_object_id))
            .map(|s| s.text.clone())
            .collect()
    }

    pub fn seed_application(&mut self, app: Application) -> Application {
        let fields = match serde_json::to_value(&app) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let id = fields
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(new_guid, str::to_owned);
        let app_id = fields
            .get("appId")
            .and_then(Value::as_str)
            .map_or_else(new_guid, str::to_owned);
        let mut obj = self.application_template(&id, &app_id);
        for (k, v) in fields {
            obj.insert(k, v);
        }
        if let Some(Value::Array(keys)) = obj.get_mut("keyCredentials") {
            for k in keys.iter_mut().filter_map(Value::as_object_mut) {
                if k.get("keyId").is_none_or(Value::is_null) {
                    k.insert("keyId".into(), Value::String(new_guid()));
                }
            }
        }
        let typed = serde_json::from_value(Value::Object(obj.clone())).unwrap_or(app);
        self.apps.push(Entry {
            json: obj,
            lag: Lag::NONE,
        });
        typed
    }

    pub fn seed_sp(&mut self, app_id: &str) -> ServicePrincipal {
        let key = Key::AppId(app_id.to_owned());
        let i = match self.sp_index(&key) {
            Some(i) => i,
            None => {
                let sp = self.new_service_principal(app_id).unwrap_or_else(|| {
                    let mut o = self.sp_template(&new_guid(), app_id, app_id);
                    o.insert("appOwnerOrganizationId".into(), Value::Null);
                    o
                });
                self.sps.push(Entry {
                    json: sp,
                    lag: Lag::NONE,
                });
                self.sps.len() - 1
            }
        };
        serde_json::from_value(Value::Object(self.sps[i].json.clone())).unwrap_or_default()
    }

    pub fn seed_assignment(
        &mut self,
        principal: &str,
        resource: &str,
        role: &str,
    ) -> AppRoleAssignment {
        let obj = self.assignment_object(principal, resource, role);
        self.assignments.push(obj.clone());
        // Built from typed ids, so it always reads back as the model.
        serde_json::from_value(Value::Object(obj)).expect("a seeded assignment is a valid model")
    }
}

/// The entries a collection read returns: with a `$filter`, objects it matches (an object still
/// lagging is left out and uses up one unit of lag); without one, every visible object.
pub(crate) fn visible<'a>(
    entries: &'a mut [Entry],
    filter: Option<&super::odata::Filter>,
) -> Vec<&'a Obj> {
    entries
        .iter_mut()
        .filter_map(|e| {
            match filter {
                Some(f) if !f.matches(&e.json) => return None,
                Some(_) if e.lag.tick() => return None,
                None if e.lag.pending() => return None,
                _ => {}
            }
            let e: &'a Entry = e;
            Some(&e.json)
        })
        .collect()
}

fn lookup(entries: &mut [Entry], key: &Key) -> Lookup {
    match entries
        .iter_mut()
        .enumerate()
        .find(|(_, e)| key.matches(&e.json))
    {
        None => Lookup::Missing,
        Some((i, e)) => {
            if e.lag.tick() {
                Lookup::Lagging
            } else {
                Lookup::Found(i)
            }
        }
    }
}

/// A string field of an object, or `""`.
pub(crate) fn str_field<'a>(obj: &'a Obj, name: &str) -> &'a str {
    obj.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Case-insensitive comparison, as the directory compares strings.
pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// A random GUID, lower case.
pub(crate) fn new_guid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// `n` random bytes.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

/// A random string over `alphabet`.
pub(crate) fn random_string(n: usize, alphabet: &[u8]) -> String {
    random_bytes(n)
        .into_iter()
        .map(|b| char::from(alphabet[usize::from(b) % alphabet.len()]))
        .collect()
}

/// Whether `s` is a GUID in canonical (hyphenated) form.
pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// Now, in UTC.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A timestamp as Graph writes it: `2025-03-04T09:12:44Z`.
pub(crate) fn fmt_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The `date` of an error's `innerError`: `2025-02-13T10:17:06` (no offset).
pub(crate) fn fmt_error_date(t: OffsetDateTime) -> String {
    let mut s = fmt_datetime(t);
    s.pop();
    s
}

/// Parses a Graph `DateTimeOffset` (RFC 3339; a missing offset is read as UTC).
pub(crate) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .or_else(|| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339).ok())
}
