//! The fake Graph, driven directly over HTTP: each test pins one behaviour of Graph or Entra
//! that the fake models.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entra_appreg::{ClientId, ObjectId};
use entra_appreg_fake::{CallerRole, FakeGraph, Fault, FaultRule, RequestKind};
use serde_json::{Value, json};
use sha1::Digest as _;

const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const EXCHANGE: &str = "00000002-0000-0ff1-ce00-000000000000";
const SHAREPOINT: &str = "00000003-0000-0ff1-ce00-000000000000";
const USER_READ_ALL: &str = "df021288-bdef-4463-88db-98f22de89214";
const FULL_ACCESS_AS_APP: &str = "dc890d15-9560-4a4c-9b7f-a736ec74ec40";
const SITES_FULL_CONTROL: &str = "678536fe-1083-478a-9c59-b99265e6b0d3";

/// One reply: status, headers (lower-case names), JSON body (None when empty).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> &Value {
        self.body.as_ref().expect("a JSON body")
    }

    fn code(&self) -> &str {
        self.json()["error"]["code"].as_str().unwrap_or("")
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(fake: &FakeGraph) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: fake.uri(),
            token: Some(fake.admin_token()),
        }
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            rb = rb.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb.send().await.expect("the fake answers");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let bytes = resp.bytes().await.unwrap();
        let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).expect("JSON reply"));
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut h = headers.to_vec();
        if body.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        self.raw(
            method,
            path,
            body.map(|b| serde_json::to_vec(&b).unwrap()),
            &h,
        )
        .await
    }

    async fn form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.raw(
            "POST",
            path,
            Some(body.into_bytes()),
            &[("Content-Type", "application/x-www-form-urlencoded")],
        )
        .await
    }
}

/// Creates an app with POST and returns (object id, appId).
async fn create_app(c: &Client, name: &str) -> (String, String) {
    let a = c
        .call(
            "POST",
            "/v1.0/applications",
            Some(json!({"displayName": name, "signInAudience": "AzureADMyOrg"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    (
        a.json()["id"].as_str().unwrap().to_owned(),
        a.json()["appId"].as_str().unwrap().to_owned(),
    )
}

/// Creates the app's service principal and returns its id.
async fn create_sp(c: &Client, app_id: &str) -> String {
    let a = c
        .call(
            "POST",
            "/v1.0/servicePrincipals",
            Some(json!({"appId": app_id})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.json()["id"].as_str().unwrap().to_owned()
}

/// The id of a first-party resource's service principal.
async fn resource_sp(c: &Client, app_id: &str) -> String {
    let a = c
        .call(
            "GET",
            &format!("/v1.0/servicePrincipals(appId='{app_id}')?$select=id"),
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    a.json()["id"].as_str().unwrap().to_owned()
}

async fn grant(c: &Client, principal: &str, resource: &str, role: &str) -> Answer {
    c.call(
        "POST",
        &format!("/v1.0/servicePrincipals/{resource}/appRoleAssignedTo"),
        Some(json!({"principalId": principal, "resourceId": resource, "appRoleId": role})),
    )
    .await
}

fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn upsert_answers_201_with_body_then_204_with_empty_body() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let path = "/v1.0/applications(uniqueName='it''s-backup')";
    let prefer = [("Prefer", "create-if-missing")];
    let body = json!({"displayName": "Backup", "signInAudience": "AzureADMyOrg"});

    let created = c
        .call_with("PATCH", path, Some(body.clone()), &prefer)
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["uniqueName"], "it's-backup");
    assert_eq!(created.json()["displayName"], "Backup");
    assert!(created.json()["appId"].is_string());

    let renamed = json!({"displayName": "Backup 2"});
    let updated = c.call_with("PATCH", path, Some(renamed), &prefer).await;
    assert_eq!(updated.status, 204);
    assert!(updated.body.is_none());
    let apps = fake.snapshot().applications;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].display_name.as_deref(), Some("Backup 2"));

    // Without the header a missing app is 404; creating needs displayName; uniqueName is immutable.
    let missing = c
        .call(
            "PATCH",
            "/v1.0/applications(uniqueName='nope')",
            Some(json!({"notes": "x"})),
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "Request_ResourceNotFound")
    );
    let nameless = c
        .call_with(
            "PATCH",
            "/v1.0/applications(uniqueName='other')",
            Some(json!({})),
            &prefer,
        )
        .await;
    assert_eq!(nameless.status, 400);
    let id = created.json()["id"].as_str().unwrap();
    let immutable = c
        .call(
            "PATCH",
            &format!("/v1.0/applications/{id}"),
            Some(json!({"uniqueName": "x"})),
        )
        .await;
    assert_eq!(immutable.status, 400);
    // The alternate-key read is case-insensitive, and 404 when there is no such app.
    let found = c
        .call(
            "GET",
            "/v1.0/applications(uniqueName='IT''S-BACKUP')?$select=id,uniqueName",
            None,
        )
        .await;
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["id"], id);
    let none = c
        .call("GET", "/v1.0/applications(uniqueName='nobody')", None)
        .await;
    assert_eq!(
        (none.status, none.code()),
        (404, "Request_ResourceNotFound")
    );
    // `uniqueName` has no `$filter` note on the application resource: Graph refuses it.
    let filtered = c
        .call(
            "GET",
            "/v1.0/applications?$filter=uniqueName%20eq%20'IT''S-BACKUP'",
            None,
        )
        .await;
    assert_eq!(
        (filtered.status, filtered.code()),
        (400, "Request_UnsupportedQuery")
    );
}

#[tokio::test]
async fn unique_name_can_be_set_by_id_only_while_null() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (id, _) = create_app(&c, "Named later").await;
    let path = format!("/v1.0/applications/{id}");
    let set = c
        .call("PATCH", &path, Some(json!({"uniqueName": "named-later"})))
        .await;
    assert_eq!(set.status, 204);
    let read = c
        .call("GET", "/v1.0/applications(uniqueName='named-later')", None)
        .await;
    assert_eq!(read.json()["id"], id.as_str());
    let again = c
        .call("PATCH", &path, Some(json!({"uniqueName": "renamed"})))
        .await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn filters_accept_only_documented_properties_and_operators() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let app_id = "00000003-0000-0000-c000-000000000000";
    for (query, status) in [
        (
            format!("/v1.0/applications?$filter=appId eq '{app_id}'"),
            200,
        ),
        (
            format!("/v1.0/applications?$filter=appId in ('{app_id}')"),
            400,
        ),
        (
            format!("/v1.0/servicePrincipals?$filter=appId in ('{app_id}')"),
            200,
        ),
        ("/v1.0/applications?$filter=displayName eq 'x'".into(), 200),
        (
            "/v1.0/applications?$filter=signInAudience in ('AzureADMyOrg')".into(),
            400,
        ),
        ("/v1.0/applications?$filter=notes eq 'x'".into(), 400),
    ] {
        let r = c.call("GET", &query, None).await;
        assert_eq!(r.status, status, "{query}");
        if status == 400 {
            assert_eq!(r.code(), "Request_UnsupportedQuery", "{query}");
        }
    }
}

#[tokio::test]
async fn patch_replaces_collections_whole() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (id, _) = create_app(&c, "Whole").await;
    let rra = |roles: &[&str]| {
        json!({"requiredResourceAccess": [{"resourceAppId": GRAPH,
            "resourceAccess": roles.iter().map(|r| json!({"id": r, "type": "Role"})).collect::<Vec<_>>()}]})
    };
    let path = format!("/v1.0/applications/{id}");
    let a = c
        .call(
            "PATCH",
            &path,
            Some(rra(&[
                USER_READ_ALL,
                "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
            ])),
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        c.call("PATCH", &path, Some(rra(&[USER_READ_ALL])))
            .await
            .status,
        204
    );
    let got = c.call("GET", &path, None).await;
    let access = &got.json()["requiredResourceAccess"][0]["resourceAccess"];
    assert_eq!(access.as_array().unwrap().len(), 1);
    assert_eq!(access[0]["id"], USER_READ_ALL);
}

#[tokio::test]
async fn key_is_null_in_every_read_except_select_key_credentials_on_one_object() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (id, app_id) = create_app(&c, "Keys").await;
    let der = STANDARD.encode(b"0\x82 pretend DER certificate");
    let key = json!({"type": "AsymmetricX509Cert", "usage": "Verify", "key": der,
                     "displayName": "CN=Keys"});
    let path = format!("/v1.0/applications/{id}");
    assert_eq!(
        c.call("PATCH", &path, Some(json!({"keyCredentials": [key]})))
            .await
            .status,
        204
    );
    let plain = c.call("GET", &path, None).await;
    assert!(plain.json()["keyCredentials"][0]["key"].is_null());
    let key_id = plain.json()["keyCredentials"][0]["keyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = c
        .call("GET", "/v1.0/applications?$select=id,keyCredentials", None)
        .await;
    assert!(list.json()["value"][0]["keyCredentials"][0]["key"].is_null());
    let selected = c
        .call("GET", &format!("{path}?$select=keyCredentials"), None)
        .await;
    assert_eq!(selected.json()["keyCredentials"][0]["key"], der.as_str());
    assert!(selected.json().get("displayName").is_none());
    // `key` is documented only for a read by object id.
    let by_app_id = c
        .call(
            "GET",
            &format!("/v1.0/applications(appId='{app_id}')?$select=keyCredentials"),
            None,
        )
        .await;
    assert!(by_app_id.json()["keyCredentials"][0]["key"].is_null());
    // Sending the list back keeps the keyId; a wrong type/usage pair is refused.
    let again = json!({"keyCredentials": [{"keyId": key_id, "type": "AsymmetricX509Cert",
        "usage": "Verify", "key": der}]});
    assert_eq!(c.call("PATCH", &path, Some(again)).await.status, 204);
    assert_eq!(
        fake.snapshot().applications[0]
            .key_credentials
            .as_ref()
            .unwrap()[0]
            .key_id
            .unwrap()
            .to_string(),
        key_id
    );
    let wrong =
        json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Sign", "key": der}]});
    let a = c.call("PATCH", &path, Some(wrong)).await;
    assert_eq!(a.status, 400);
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"usage\"")
    );
    let no_base64 = json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "%%%"}]});
    assert_eq!(c.call("PATCH", &path, Some(no_base64)).await.status, 400);
}

#[tokio::test]
async fn password_credentials_cannot_be_set_by_patch_or_post() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (id, _) = create_app(&c, "Pw").await;
    let pw = json!([{"displayName": "s", "secretText": "hunter2"}]);
    let a = c
        .call(
            "PATCH",
            &format!("/v1.0/applications/{id}"),
            Some(json!({"passwordCredentials": pw})),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "Request_BadRequest"));
    assert_eq!(
        a.json()["error"]["message"],
        "New password credentials must be generated using service actions."
    );
    let b = c
        .call(
            "POST",
            "/v1.0/applications",
            Some(json!({"displayName": "x", "passwordCredentials": pw})),
        )
        .await;
    assert_eq!(b.status, 400);
    let unknown = c
        .call(
            "POST",
            "/v1.0/applications",
            Some(json!({"displayName": "x", "foo": 1})),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Property 'foo' does not exist")
    );
}

#[tokio::test]
async fn second_service_principal_is_409() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (_, app_id) = create_app(&c, "Sp").await;
    create_sp(&c, &app_id).await;
    let again = c
        .call(
            "POST",
            "/v1.0/servicePrincipals",
            Some(json!({"appId": app_id})),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "Request_MultipleObjectsWithSameKeyValue")
    );
    // The idempotent form answers 204 for an existing one.
    let upsert = c
        .call_with(
            "PATCH",
            &format!("/v1.0/servicePrincipals(appId='{app_id}')"),
            Some(json!({})),
            &[("Prefer", "create-if-missing")],
        )
        .await;
    assert_eq!(upsert.status, 204);
}

#[tokio::test]
async fn service_principal_too_soon_after_its_app_is_400_until_replicated() {
    let fake = FakeGraph::builder().replication_lag(2).start().await;
    let c = Client::new(&fake);
    let (id, app_id) = create_app(&c, "Lagging").await;
    let filter = format!("/v1.0/applications?$filter=appId eq '{app_id}'");
    assert_eq!(
        c.call("GET", &filter, None).await.json()["value"],
        json!([])
    );
    let sp = json!({"appId": app_id});
    let early = c
        .call("POST", "/v1.0/servicePrincipals", Some(sp.clone()))
        .await;
    assert_eq!(early.status, 400);
    assert!(
        early.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not reference a valid application object")
    );
    let now = c.call("POST", "/v1.0/servicePrincipals", Some(sp)).await;
    assert_eq!(now.status, 201);
    // The new SP lags too: a grant naming it is refused until it replicated.
    // Both answers real Graph gives are modelled, in turn.
    let sp_id = now.json()["id"].as_str().unwrap().to_owned();
    let graph = resource_sp(&c, GRAPH).await;
    let first = grant(&c, &sp_id, &graph, USER_READ_ALL).await;
    assert_eq!(first.status, 400);
    assert_eq!(
        first.json()["error"]["message"],
        "Not a valid reference update."
    );
    assert_eq!(grant(&c, &sp_id, &graph, USER_READ_ALL).await.status, 404);
    assert_eq!(grant(&c, &sp_id, &graph, USER_READ_ALL).await.status, 201);
    assert_eq!(
        c.call("GET", &format!("/v1.0/applications/{id}"), None)
            .await
            .status,
        200
    );
    // Lowering the lag lets objects created earlier catch up.
    let (late, _) = create_app(&c, "Late").await;
    fake.set_replication_lag(0);
    assert_eq!(
        c.call("GET", &format!("/v1.0/applications/{late}"), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn duplicate_grant_is_400_and_unknown_role_is_400() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (_, app_id) = create_app(&c, "Grants").await;
    let sp = create_sp(&c, &app_id).await;
    let graph = resource_sp(&c, GRAPH).await;
    let first = grant(&c, &sp, &graph, USER_READ_ALL).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.json()["id"].as_str().unwrap().len(), 43);
    assert_eq!(first.json()["resourceDisplayName"], "Microsoft Graph");
    let dup = grant(&c, &sp, &graph, USER_READ_ALL).await;
    assert_eq!(dup.status, 400);
    assert_eq!(
        dup.json()["error"]["message"],
        "Permission being assigned already exists on the object."
    );
    // Exchange's MailboxSettings.ReadWrite id is not a Graph role.
    let wrong = grant(&c, &sp, &graph, "f9156939-25cd-4ba8-abfe-7fabcf003749").await;
    assert_eq!(wrong.status, 400);
    let held = c
        .call(
            "GET",
            &format!("/v1.0/servicePrincipals/{sp}/appRoleAssignments"),
            None,
        )
        .await;
    assert_eq!(held.json()["value"].as_array().unwrap().len(), 1);
    let exposed = c
        .call(
            "GET",
            &format!("/v1.0/servicePrincipals/{graph}/appRoleAssignedTo"),
            None,
        )
        .await;
    assert_eq!(exposed.json()["value"][0]["principalId"], sp.as_str());
}

#[tokio::test]
async fn application_administrators_get_403_on_graph_grants_only() {
    for (role, graph_status) in [
        (CallerRole::CloudApplicationAdministrator, 403),
        (CallerRole::ApplicationAdministrator, 403),
        (CallerRole::PrivilegedRoleAdministrator, 201),
        (CallerRole::GlobalAdministrator, 201),
    ] {
        let fake = FakeGraph::builder().caller_role(role).start().await;
        let c = Client::new(&fake);
        let wids = claims_of(c.token.as_deref().unwrap())["wids"].clone();
        assert_eq!(wids[0], role.template_id());
        let (_, app_id) = create_app(&c, "Roles").await;
        let sp = create_sp(&c, &app_id).await;
        let graph = grant(&c, &sp, &resource_sp(&c, GRAPH).await, USER_READ_ALL).await;
        assert_eq!(graph.status, graph_status, "{role:?}");
        if graph_status == 403 {
            assert_eq!(graph.code(), "Authorization_RequestDenied");
        }
        let exo = grant(
            &c,
            &sp,
            &resource_sp(&c, EXCHANGE).await,
            FULL_ACCESS_AS_APP,
        )
        .await;
        assert_eq!(exo.status, 201, "{role:?}");
        let spo = grant(
            &c,
            &sp,
            &resource_sp(&c, SHAREPOINT).await,
            SITES_FULL_CONTROL,
        )
        .await;
        assert_eq!(spo.status, 201, "{role:?}");
    }
}

#[tokio::test]
async fn batch_runs_dependencies_answers_424_and_shuffles_replies() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (_, app_id) = create_app(&c, "Batch").await;
    let sp = create_sp(&c, &app_id).await;
    let graph = resource_sp(&c, GRAPH).await;
    let item = |id: &str, role: &str, deps: &[&str]| {
        json!({"id": id, "method": "POST", "url": format!("/servicePrincipals/{graph}/appRoleAssignedTo"),
               "headers": {"Content-Type": "application/json"}, "dependsOn": deps,
               "body": {"principalId": sp, "resourceId": graph, "appRoleId": role}})
    };
    let body = json!({"requests": [
        item("1", USER_READ_ALL, &[]),
        item("2", "00000000-0000-0000-0000-000000000001", &[]),
        item("3", "7ab1d382-f21e-4acd-a863-ba3e13f7da61", &["2"]),
        {"id": "4", "method": "GET", "url": format!("servicePrincipals?$filter=appId in ('{GRAPH}','{EXCHANGE}')&$select=id,appId")},
    ]});
    fake.clear_requests();
    let a = c.call("POST", "/v1.0/$batch", Some(body)).await;
    assert_eq!(a.status, 200);
    let responses = a.json()["responses"].as_array().unwrap();
    let ids: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_ne!(ids, ["1", "2", "3", "4"], "replies come in another order");
    let status = |id: &str| {
        responses.iter().find(|r| r["id"] == id).unwrap()["status"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        [status("1"), status("2"), status("3"), status("4")],
        [201, 400, 424, 200]
    );
    let listed = &responses.iter().find(|r| r["id"] == "4").unwrap()["body"]["value"];
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let log = fake.requests();
    assert_eq!(log.iter().filter(|r| r.batch.is_none()).count(), 1);
    let envelope = log.iter().find(|r| r.batch.is_none()).unwrap();
    assert_eq!(envelope.path, "/v1.0/$batch");
    assert_eq!(
        log.iter().filter(|r| r.batch == Some(envelope.seq)).count(),
        4
    );

    // Per-item throttling: every 2nd Graph request (items counted one by one) gets 429.
    fake.set_throttle_every(Some(2), 7);
    let two = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/applications"},
        {"id": "b", "method": "GET", "url": "/servicePrincipals?$top=1"},
    ]});
    let t = c.call("POST", "/v1.0/$batch", Some(two)).await;
    assert_eq!(t.status, 200);
    let throttled: Vec<&Value> = t.json()["responses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == 429)
        .collect();
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0]["headers"]["Retry-After"], "7");
    assert_eq!(throttled[0]["body"]["error"]["code"], "TooManyRequests");

    // Envelope rules: more than 20 items, duplicate ids.
    fake.set_throttle_every(None, 0);
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/applications"}))
        .collect();
    assert_eq!(
        c.call("POST", "/v1.0/$batch", Some(json!({"requests": many})))
            .await
            .status,
        400
    );
    let dup = json!({"requests": [{"id": "x", "method": "GET", "url": "/applications"},
                                  {"id": "x", "method": "GET", "url": "/applications"}]});
    assert_eq!(c.call("POST", "/v1.0/$batch", Some(dup)).await.status, 400);
    // Ids are not case-sensitive: "X" and "x" are one id.
    let dup = json!({"requests": [{"id": "x", "method": "GET", "url": "/applications"},
                                  {"id": "X", "method": "GET", "url": "/applications"}]});
    assert_eq!(c.call("POST", "/v1.0/$batch", Some(dup)).await.status, 400);
}

#[tokio::test]
async fn batch_runs_independent_items_in_any_order_and_dependent_ones_in_theirs() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let get = |id: &str, n: usize, deps: &[&str]| json!({"id": id, "method": "GET", "url": format!("/applications?$top={n}"), "dependsOn": deps});
    let mut orders = std::collections::BTreeSet::new();
    for _ in 0..12 {
        fake.clear_requests();
        // "d" depends on "B" by another case of its id.
        let body = json!({"requests": [get("a", 1, &[]), get("b", 2, &[]), get("c", 3, &[]),
                                       get("d", 4, &["B"])]});
        let reply = c.call("POST", "/v1.0/$batch", Some(body)).await;
        assert_eq!(reply.status, 200);
        let mut items: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.batch.is_some())
            .collect();
        items.sort_by_key(|r| r.seq);
        let ran: String = items
            .iter()
            .map(|r| match r.query.as_str() {
                "$top=1" => 'a',
                "$top=2" => 'b',
                "$top=3" => 'c',
                _ => 'd',
            })
            .collect();
        assert!(ran.find('b') < ran.find('d'), "{ran}");
        orders.insert(ran);
    }
    assert!(
        orders.len() > 1,
        "independent items always ran in one order: {orders:?}"
    );
}

#[tokio::test]
async fn device_code_is_pending_then_yields_an_admin_token() {
    let fake = FakeGraph::builder()
        .device_code_polls_before_approval(2)
        .start()
        .await;
    let mut c = Client::new(&fake);
    c.token = None;
    let tenant = fake.tenant_domain();
    let dc = c
        .form(
            &format!("/{tenant}/oauth2/v2.0/devicecode"),
            &[
                ("client_id", "14d82eec-204b-4c2f-b7e8-296a70dab67e"),
                (
                    "scope",
                    "https://graph.microsoft.com/Application.ReadWrite.All",
                ),
            ],
        )
        .await;
    assert_eq!(dc.status, 200);
    assert_eq!(dc.json()["interval"], 5);
    let code = dc.json()["device_code"].as_str().unwrap().to_owned();
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", "14d82eec-204b-4c2f-b7e8-296a70dab67e"),
        ("device_code", code.as_str()),
    ];
    let token_path = format!("/{}/oauth2/v2.0/token", fake.tenant_id());
    for _ in 0..2 {
        let p = c.form(&token_path, &poll).await;
        assert_eq!(
            (p.status, p.json()["error"].as_str()),
            (400, Some("authorization_pending"))
        );
        assert!(
            p.json()["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS70016")
        );
        assert_eq!(p.json()["error_codes"], json!([70016]));
    }
    let ok = c.form(&token_path, &poll).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["token_type"], "Bearer");
    let token = ok.json()["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["tid"], fake.tenant_id().to_string());
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    // The token carries the permissions the sign-in asked for, and no others.
    assert_eq!(claims["scp"], "Application.ReadWrite.All");
    c.token = Some(token);
    assert_eq!(c.call("GET", "/v1.0/applications", None).await.status, 200);
    // The code is spent; a declined sign-in stops polling; an unknown tenant is AADSTS90002.
    let spent = c.form(&token_path, &poll).await;
    assert_eq!(spent.json()["error"], "expired_token");
    fake.decline_device_code(true);
    let dc = c
        .form(
            &token_path.replace("token", "devicecode"),
            &[("client_id", "x"), ("scope", "y")],
        )
        .await;
    let code = dc.json()["device_code"].as_str().unwrap().to_owned();
    let declined = c
        .form(
            &token_path,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", code.as_str()),
            ],
        )
        .await;
    assert_eq!(declined.json()["error"], "authorization_declined");
    let nowhere = c.form("/fabrikam.example/oauth2/v2.0/token", &poll).await;
    assert!(
        nowhere.json()["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS90002")
    );
    // Secrets never reach the log.
    let logged = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::Login)
        .collect::<Vec<_>>();
    assert!(logged.iter().all(|r| {
        r.body
            .as_ref()
            .is_none_or(|b| b.get("device_code").is_none_or(|d| d == "<redacted>"))
    }));
}

#[tokio::test]
async fn client_credentials_accept_an_issued_secret_and_carry_granted_roles() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (id, app_id) = create_app(&c, "Secret").await;
    let sp = create_sp(&c, &app_id).await;
    assert_eq!(
        grant(&c, &sp, &resource_sp(&c, GRAPH).await, USER_READ_ALL)
            .await
            .status,
        201
    );
    assert_eq!(
        grant(
            &c,
            &sp,
            &resource_sp(&c, EXCHANGE).await,
            FULL_ACCESS_AS_APP
        )
        .await
        .status,
        201
    );
    let added = c
        .call(
            "POST",
            &format!("/v1.0/applications/{id}/addPassword"),
            Some(json!({"passwordCredential": {"displayName": "s"}})),
        )
        .await;
    assert_eq!(added.status, 200);
    let secret = added.json()["secretText"].as_str().unwrap().to_owned();
    assert_eq!(added.json()["hint"], &secret[..3]);
    assert_eq!(
        fake.secret_texts(id.parse::<ObjectId>().unwrap()),
        vec![secret.clone()]
    );
    let listed = c
        .call("GET", &format!("/v1.0/applications/{id}"), None)
        .await;
    assert!(listed.json()["passwordCredentials"][0]["secretText"].is_null());

    let token_path = format!("/{}/oauth2/v2.0/token", fake.tenant_id());
    let form = |secret: String, scope: &'static str| {
        let (c, path, app_id) = (&c, token_path.clone(), app_id.clone());
        async move {
            c.form(
                &path,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &app_id),
                    ("scope", scope),
                    ("client_secret", &secret),
                ],
            )
            .await
        }
    };
    let ok = form(secret.clone(), "https://graph.microsoft.com/.default").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let claims = claims_of(ok.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["roles"], json!(["User.Read.All"]));
    assert_eq!(claims["appid"], app_id.as_str());
    assert_eq!(claims["oid"], sp.as_str());
    let exo = form(secret.clone(), "https://outlook.office365.com/.default").await;
    assert_eq!(
        claims_of(exo.json()["access_token"].as_str().unwrap())["roles"],
        json!(["full_access_as_app"])
    );

    let wrong = form(
        "not-the-secret".into(),
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(wrong.json()["error_codes"], json!([7000215]));
    let pairs = [
        ("grant_type", "client_credentials"),
        ("client_id", "5f0f8757-988d-474c-9f85-74a6bc70dfd0"),
        ("scope", "https://graph.microsoft.com/.default"),
        ("client_secret", secret.as_str()),
    ];
    let unknown = c.form(&token_path, &pairs).await;
    assert_eq!(
        (unknown.status, unknown.json()["error_codes"].clone()),
        (400, json!([700016]))
    );
    let login = fake
        .requests()
        .into_iter()
        .find(|r| r.kind == RequestKind::Login)
        .unwrap();
    assert_eq!(login.body.unwrap()["client_secret"], "<redacted>");
}

#[tokio::test]
async fn certificates_add_key_and_client_assertions() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (id, app_id) = create_app(&c, "Cert").await;
    create_sp(&c, &app_id).await;
    let certificate = entra_appreg::credentials::Certificate::generate("Cert", 30).unwrap();
    let der = certificate.der().to_vec();
    let proof = format!(
        "{}.{}.sig",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(b"{}")
    );
    let new_key =
        json!({"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(&der)});
    let add_key = format!("/v1.0/applications/{id}/addKey");
    let first = c
        .call(
            "POST",
            &add_key,
            Some(json!({"keyCredential": new_key, "proof": proof})),
        )
        .await;
    assert_eq!(first.status, 400, "addKey cannot add the first certificate");
    let patch = json!({"keyCredentials": [new_key]});
    assert_eq!(
        c.call("PATCH", &format!("/v1.0/applications/{id}"), Some(patch))
            .await
            .status,
        204
    );
    let second =
        json!({"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(b"second")});
    let added = c
        .call(
            "POST",
            &add_key,
            Some(json!({"keyCredential": second, "proof": proof})),
        )
        .await;
    assert_eq!(added.status, 200);
    let added_id = added.json()["keyId"].as_str().unwrap().to_owned();
    let remove = json!({"keyId": added_id, "proof": proof});
    assert_eq!(
        c.call(
            "POST",
            &format!("/v1.0/applications/{id}/removeKey"),
            Some(remove)
        )
        .await
        .status,
        204
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let x5t = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der));
    let assertion = |x5t: &str, aud: &str| {
        let h = json!({"alg": "RS256", "typ": "JWT", "x5t": x5t});
        let c = json!({"aud": aud, "iss": app_id, "sub": app_id, "jti": "j", "nbf": now, "exp": now + 600});
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(c.to_string())
        )
    };
    let token = |a: String| {
        let c = &c;
        let app_id = app_id.clone();
        let path = format!("/{}/oauth2/v2.0/token", fake.tenant_id());
        async move {
            c.form(
                &path,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &app_id),
                    ("scope", "https://graph.microsoft.com/.default"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                ],
            )
            .await
        }
    };
    let signer =
        entra_appreg::auth::ClientCertificateCredential::new(app_id.parse().unwrap(), certificate)
            .unwrap();
    let signed = |aud: &str| {
        use secrecy::ExposeSecret;
        signer.assertion(aud).unwrap().expose_secret().to_owned()
    };
    let ok = token(signed(&fake.token_endpoint())).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let bad_thumb = token(assertion("AAAA", &fake.token_endpoint())).await;
    assert_eq!(bad_thumb.json()["error_codes"], json!([700027]));
    let bad_signature = token(assertion(&x5t, &fake.token_endpoint())).await;
    assert_eq!(bad_signature.status, 401);
    assert!(
        bad_signature.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("signature")
    );
    let bad_aud = token(signed(
        "https://login.microsoftonline.com/x/oauth2/v2.0/token",
    ))
    .await;
    assert_eq!(bad_aud.status, 401);
}

#[tokio::test]
async fn password_lifetime_policy_rejects_long_secrets() {
    let fake = FakeGraph::builder()
        .password_lifetime_limit(Some(time::Duration::days(180)))
        .start()
        .await;
    let c = Client::new(&fake);
    let (id, _) = create_app(&c, "Policy").await;
    let path = format!("/v1.0/applications/{id}/addPassword");
    let long = c
        .call(
            "POST",
            &path,
            Some(json!({"passwordCredential": {"displayName": "s"}})),
        )
        .await;
    assert_eq!(
        (long.status, long.code()),
        (400, "CredentialInvalidLifetimeAsPerAppPolicy")
    );
    assert!(
        long.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("180 days")
    );
    let end = time::OffsetDateTime::now_utc() + time::Duration::days(90);
    let end = end
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let short = c
        .call(
            "POST",
            &path,
            Some(json!({"passwordCredential": {"endDateTime": end}})),
        )
        .await;
    assert_eq!(short.status, 200);
    let key_id = short.json()["keyId"].as_str().unwrap().to_owned();
    let remove = format!("/v1.0/applications/{id}/removePassword");
    assert_eq!(
        c.call("POST", &remove, Some(json!({"keyId": key_id})))
            .await
            .status,
        204
    );
    assert_eq!(
        c.call("POST", &remove, Some(json!({"keyId": key_id})))
            .await
            .status,
        400
    );
    assert!(fake.secret_texts(id.parse().unwrap()).is_empty());
}

#[tokio::test]
async fn requests_without_a_token_of_the_fake_are_401_with_request_ids() {
    let fake = FakeGraph::start().await;
    let mut c = Client::new(&fake);
    c.token = None;
    let a = c
        .call_with(
            "GET",
            "/v1.0/applications",
            None,
            &[("client-request-id", "my-id-1")],
        )
        .await;
    assert_eq!((a.status, a.code()), (401, "InvalidAuthenticationToken"));
    assert_eq!(a.header("client-request-id"), Some("my-id-1"));
    let inner = &a.json()["error"]["innerError"];
    assert_eq!(inner["client-request-id"], "my-id-1");
    assert_eq!(inner["request-id"].as_str(), a.header("request-id"));
    assert!(inner["date"].is_string());
    c.token = Some("eyJhbGciOiJub25lIn0.e30.x".into());
    assert_eq!(c.call("GET", "/v1.0/applications", None).await.status, 401);
}

#[tokio::test]
async fn malformed_requests_get_graph_shaped_400s() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let bad_json = c
        .raw(
            "POST",
            "/v1.0/applications",
            Some(b"{not json".to_vec()),
            &[("Content-Type", "application/json")],
        )
        .await;
    assert_eq!((bad_json.status, bad_json.code()), (400, "BadRequest"));
    let cases = [
        ("GET", "/v1.0/applications/not-a-guid"),
        ("GET", "/v1.0/widgets"),
        ("GET", "/v1.0/applications(appId=unquoted)"),
        ("GET", "/v1.0/applications?$filter=appId%20eq"),
        ("GET", "/v1.0/applications?$filter=notes%20eq%20'x'"),
        ("GET", "/v1.0/applications?$select=nope"),
        ("POST", "/v1.0/servicePrincipals"),
        ("GET", "/v1.0/applications(uniqueName='%FF%FE')/nope"),
    ];
    for (method, path) in cases {
        let a = c.raw(method, path, Some(b"[1,".to_vec()), &[]).await;
        assert!(
            a.status == 400 || a.status == 404,
            "{method} {path}: {}",
            a.status
        );
        assert!(a.json()["error"]["code"].is_string(), "{method} {path}");
        assert!(a.json()["error"]["innerError"]["request-id"].is_string());
    }
    let batch_junk = c
        .call(
            "POST",
            "/v1.0/$batch",
            Some(
                json!({"requests": [{"id": "1", "method": "GET", "url": "/applications/zzz"}, 7]}),
            ),
        )
        .await;
    assert_eq!(batch_junk.status, 400);
    assert_eq!(
        c.call("GET", "/v1.0/applications", None).await.status,
        200,
        "still serving"
    );
}

#[tokio::test]
async fn request_log_counts_round_trips_and_keeps_bodies() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    create_app(&c, "Log").await;
    c.call(
        "GET",
        "/v1.0/applications(uniqueName='a%20b')?$select=id",
        None,
    )
    .await;
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].kind, RequestKind::Graph);
    assert_eq!((log[0].method.as_str(), log[0].status), ("POST", 201));
    assert_eq!(log[0].body.as_ref().unwrap()["displayName"], "Log");
    assert_eq!(log[1].path, "/v1.0/applications(uniqueName='a b')");
    assert_eq!(log[1].query, "$select=id");
    assert!(log.iter().all(|r| {
        r.headers
            .iter()
            .all(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
    }));
    assert!(log[0].seq < log[1].seq);
    fake.clear_requests();
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn injected_faults_fire_as_configured() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 503,
            retry_after: Some(3),
        })
        .nth_request(2),
    );
    assert_eq!(c.call("GET", "/v1.0/applications", None).await.status, 200);
    let second = c.call("GET", "/v1.0/applications", None).await;
    assert_eq!(
        (second.status, second.header("retry-after")),
        (503, Some("3"))
    );
    assert_eq!(c.call("GET", "/v1.0/applications", None).await.status, 200);

    // The write happens, but the client sees a 500.
    fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 500 })
            .method("POST")
            .path_contains("/applications"),
    );
    let lost = c
        .call(
            "POST",
            "/v1.0/applications",
            Some(json!({"displayName": "Lost"})),
        )
        .await;
    assert_eq!(lost.status, 500);
    assert_eq!(fake.snapshot().applications.len(), 1);

    let (id, _) = create_app(&c, "Visible").await;
    fake.inject_fault(FaultRule::new(Fault::ReplicationLag).method("GET").times(2));
    let path = format!("/v1.0/applications/{id}");
    assert_eq!(
        c.call("GET", &path, None).await.code(),
        "Request_ResourceNotFound"
    );
    assert_eq!(c.call("GET", &path, None).await.status, 404);
    assert_eq!(c.call("GET", &path, None).await.status, 200);
}

#[tokio::test]
async fn throttling_and_unavailability_count_graph_requests_only() {
    let fake = FakeGraph::builder()
        .throttle_every(Some(3), 5)
        .start()
        .await;
    let c = Client::new(&fake);
    let statuses: Vec<u16> = futures_statuses(&c, 6).await;
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    fake.set_throttle_every(None, 0);
    fake.set_unavailable_every(Some(2));
    assert_eq!(futures_statuses(&c, 2).await, [200, 503]);
    assert_eq!(fake.snapshot().applications.len(), 0);
}

async fn futures_statuses(c: &Client, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(c.call("GET", "/v1.0/applications", None).await.status);
    }
    out
}

#[tokio::test]
async fn deleting_an_app_removes_its_service_principal_and_grants() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (id, app_id) = create_app(&c, "Gone").await;
    let sp = create_sp(&c, &app_id).await;
    grant(
        &c,
        &sp,
        &resource_sp(&c, EXCHANGE).await,
        FULL_ACCESS_AS_APP,
    )
    .await;
    assert_eq!(
        c.call("DELETE", &format!("/v1.0/applications/{id}"), None)
            .await
            .status,
        204
    );
    let snap = fake.snapshot();
    assert!(snap.applications.is_empty());
    assert_eq!(snap.deleted_applications.len(), 1);
    assert!(snap.app_role_assignments.is_empty());
    assert!(
        snap.service_principals
            .iter()
            .all(|s| s.app_id.unwrap().to_string() != app_id)
    );
    let restored = c
        .call(
            "POST",
            &format!("/v1.0/directory/deletedItems/{id}/restore"),
            None,
        )
        .await;
    assert_eq!(restored.status, 200);
    assert_eq!(
        fake.snapshot()
            .service_principals
            .iter()
            .filter(|s| s.app_id.unwrap().to_string() == app_id)
            .count(),
        0
    );
}

#[tokio::test]
async fn resource_service_principals_are_seeded_with_decoys_and_can_be_recreated() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let all = c.call("GET", &format!("/v1.0/servicePrincipals?$filter=appId in ('{GRAPH}','{EXCHANGE}','{SHAREPOINT}')&$select=id,appId,appRoles"), None).await;
    let value = all.json()["value"].as_array().unwrap();
    assert_eq!(value.len(), 3);
    let roles_of = |app: &str| {
        value.iter().find(|s| s["appId"] == app).unwrap()["appRoles"]
            .as_array()
            .unwrap()
            .clone()
    };
    let has = |app: &str, name: &str, id: &str| {
        roles_of(app)
            .iter()
            .any(|r| r["value"] == name && r["id"] == id)
    };
    for (name, id) in [
        ("Directory.Read.All", "7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
        ("Group.Read.All", "5b567255-7703-4780-807c-7be8301ae99b"),
        (
            "MailboxSettings.ReadWrite",
            "6931bccd-447a-43d1-b442-00a195474933",
        ),
        ("User.Read.All", USER_READ_ALL),
        (
            "Device.ReadWrite.All",
            "1138cb37-bd11-4084-a2b7-9f71582aeddb",
        ),
        (
            "Directory.ReadWrite.All",
            "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        ),
        ("User.ReadWrite.All", "741f803b-c850-494e-b5df-cde7c675a1ca"),
    ] {
        assert!(has(GRAPH, name, id), "{name}");
    }
    assert!(has(EXCHANGE, "full_access_as_app", FULL_ACCESS_AS_APP));
    assert!(has(
        EXCHANGE,
        "MailboxSettings.ReadWrite",
        "f9156939-25cd-4ba8-abfe-7fabcf003749"
    ));
    assert!(has(SHAREPOINT, "User.Read.All", USER_READ_ALL));
    let decoys = c
        .call(
            "GET",
            "/v1.0/servicePrincipals?$filter=displayName eq 'Windows Azure Active Directory'",
            None,
        )
        .await;
    assert_eq!(
        decoys.json()["value"][0]["appRoles"][0]["value"],
        "Directory.Read.All"
    );

    fake.remove_resource_service_principal(EXCHANGE.parse::<ClientId>().unwrap());
    let gone = c
        .call(
            "GET",
            &format!("/v1.0/servicePrincipals(appId='{EXCHANGE}')"),
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
    let recreated = c
        .call(
            "POST",
            "/v1.0/servicePrincipals",
            Some(json!({"appId": EXCHANGE})),
        )
        .await;
    assert_eq!(recreated.status, 201);
    assert_eq!(
        recreated.json()["displayName"],
        "Office 365 Exchange Online"
    );
    let stranger = c
        .call(
            "POST",
            "/v1.0/servicePrincipals",
            Some(json!({"appId": "11111111-2222-3333-4444-555555555555"})),
        )
        .await;
    assert_eq!(stranger.status, 400);
}

#[tokio::test]
async fn seeded_objects_are_visible_at_once_and_filters_select() {
    let fake = FakeGraph::builder().replication_lag(5).start().await;
    let c = Client::new(&fake);
    let app = fake.seed_application({
        let mut v = entra_appreg::graph::models::Application::default();
        v.display_name = Some("Existing".into());
        v.unique_name = Some("existing".into());
        v
    });
    let sp = fake.seed_service_principal_for(app.app_id.unwrap());
    let graph: ObjectId = resource_sp(&c, GRAPH).await.parse().unwrap();
    let a = fake.seed_app_role_assignment(sp.id.unwrap(), graph, USER_READ_ALL.parse().unwrap());
    assert_eq!(a.resource_display_name.as_deref(), Some("Microsoft Graph"));
    let got = c
        .call(
            "GET",
            "/v1.0/applications?$filter=displayName eq 'EXISTING'&$select=id,displayName",
            None,
        )
        .await;
    assert_eq!(
        got.json()["value"][0],
        json!({"id": app.id.unwrap().to_string(), "displayName": "Existing"})
    );
    assert!(
        got.json()["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#applications(id,displayName)")
    );
    let empty = c
        .call(
            "GET",
            "/v1.0/applications?$filter=displayName eq 'nobody'",
            None,
        )
        .await;
    assert_eq!(
        (empty.status, empty.json()["value"].clone()),
        (200, json!([]))
    );
}

#[tokio::test]
async fn a_new_secret_is_refused_at_the_token_endpoint_until_it_replicated() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let (id, app_id) = create_app(&c, "Fresh secret").await;
    create_sp(&c, &app_id).await;
    fake.set_replication_lag(1);
    let added = c
        .call(
            "POST",
            &format!("/v1.0/applications/{id}/addPassword"),
            Some(json!({})),
        )
        .await;
    assert_eq!(added.status, 200);
    let secret = added.json()["secretText"].as_str().unwrap().to_owned();
    let path = format!("/{}/oauth2/v2.0/token", fake.tenant_domain());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app_id.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("client_secret", secret.as_str()),
    ];
    let early = c.form(&path, &form).await;
    assert_eq!(
        (early.status, early.json()["error_codes"].clone()),
        (401, json!([7000215]))
    );
    let later = c.form(&path, &form).await;
    assert_eq!(later.status, 200);
    // An app token without Graph roles may not call Graph.
    let mut app = Client::new(&fake);
    app.token = Some(later.json()["access_token"].as_str().unwrap().to_owned());
    let denied = app.call("GET", "/v1.0/applications", None).await;
    assert_eq!(
        (denied.status, denied.code()),
        (403, "Authorization_RequestDenied")
    );
}

// ---- Interactive browser sign-in (authorization code flow with PKCE, loopback redirect) ----

const GRAPH_CLI: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
const ADMIN_SCOPES: &str = "https://graph.microsoft.com/Application.ReadWrite.All https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All";

/// What the browser gets from the authorize endpoint.
struct Page {
    status: u16,
    content_type: String,
    location: Option<String>,
    text: String,
}

impl Page {
    /// The hidden inputs of a `form_post` page, unescaped, in order.
    fn hidden_inputs(&self) -> Vec<(String, String)> {
        self.text
            .split("<input type=\"hidden\" name=\"")
            .skip(1)
            .map(|rest| {
                let (name, rest) = rest.split_once('"').unwrap();
                let value = rest.split_once("value=\"").unwrap().1;
                let value = value.split_once('"').unwrap().0;
                (unescape(name), unescape(value))
            })
            .collect()
    }

    fn input(&self, name: &str) -> Option<String> {
        self.hidden_inputs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The query pairs of the `Location` of a redirect.
    fn location_pairs(&self) -> Vec<(String, String)> {
        let url = url::Url::parse(self.location.as_deref().expect("a Location")).unwrap();
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn location_param(&self, name: &str) -> Option<String> {
        self.location_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// An error page: 400, HTML, no redirect, naming this AADSTS code.
    fn assert_error_page(&self, code: u32) {
        assert_eq!(self.status, 400, "{}", self.text);
        assert_eq!(self.content_type, "text/html; charset=utf-8");
        assert!(self.location.is_none(), "an error page, not a redirect");
        assert!(
            self.text.contains(&format!("AADSTS{code}:")),
            "{}",
            self.text
        );
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A browser that does not follow redirects.
async fn browse(fake: &FakeGraph, params: &[(&str, &str)]) -> Page {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let resp = http
        .get(format!(
            "{}/{}/oauth2/v2.0/authorize?{query}",
            fake.uri(),
            fake.tenant_id()
        ))
        .send()
        .await
        .expect("the fake answers");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let content_type = header("content-type").unwrap_or_default();
    let location = header("location");
    let status = resp.status().as_u16();
    Page {
        status,
        content_type,
        location,
        text: resp.text().await.unwrap(),
    }
}

/// A PKCE pair: (verifier, BASE64URL(SHA-256(verifier))).
fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Signs in through the browser (`form_post`, S256) and returns the code.
async fn code_for(
    fake: &FakeGraph,
    client_id: &str,
    redirect_uri: &str,
    challenge: &str,
) -> String {
    let page = browse(
        fake,
        &[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", ADMIN_SCOPES),
            ("state", "s1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("response_mode", "form_post"),
            ("prompt", "select_account"),
        ],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    page.input("code").expect("a code")
}

async fn redeem(c: &Client, fake: &FakeGraph, fields: &[(&str, &str)]) -> Answer {
    let mut form = vec![("grant_type", "authorization_code")];
    form.extend_from_slice(fields);
    c.form(&format!("/{}/oauth2/v2.0/token", fake.tenant_id()), &form)
        .await
}

fn aadsts(a: &Answer) -> (u16, String, Value) {
    (
        a.status,
        a.json()["error"].as_str().unwrap_or("").to_owned(),
        a.json()["error_codes"].clone(),
    )
}

#[tokio::test]
async fn browser_sign_in_form_post_page_carries_code_and_escaped_state() {
    let fake = FakeGraph::start().await;
    let (_, challenge) = pkce();
    let hostile = "\"><script>alert('x')</script>&";
    let page = browse(
        &fake,
        &[
            ("client_id", GRAPH_CLI),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:53124"),
            ("scope", ADMIN_SCOPES),
            ("state", hostile),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("response_mode", "form_post"),
            ("login_hint", "admin@contoso.onmicrosoft.com"),
            ("domain_hint", "contoso.onmicrosoft.com"),
        ],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(page.location.is_none());
    assert!(
        page.text
            .contains("<form method=\"POST\" action=\"http://localhost:53124\">"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("<script>document.forms[0].submit()</script>")
    );
    assert!(page.text.contains("<noscript>"));
    // The hostile state comes back intact, but only escaped in the markup.
    assert!(!page.text.contains("\"><script>alert"), "{}", page.text);
    assert!(
        page.text
            .contains("&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)")
    );
    let inputs = page.hidden_inputs();
    let names: Vec<&str> = inputs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["code", "state"]);
    assert_eq!(page.input("state").as_deref(), Some(hostile));
    let code = page.input("code").unwrap();
    assert!(code.len() >= 64, "a long random code");
    assert_ne!(
        code,
        code_for(&fake, GRAPH_CLI, "http://localhost:53124", &challenge).await
    );
    // The request is logged with its query; the code never is.
    let logged = fake.requests();
    let authorize = logged
        .iter()
        .find(|r| r.path.ends_with("/oauth2/v2.0/authorize"))
        .expect("the authorize request is logged");
    assert_eq!(
        (authorize.kind, authorize.method.as_str(), authorize.status),
        (RequestKind::Login, "GET", 200)
    );
    assert!(
        authorize
            .query
            .contains("redirect_uri=http://localhost:53124")
    );
    assert!(authorize.query.contains("code_challenge_method=S256"));
    assert!(!format!("{logged:?}").contains(&code));
}

#[tokio::test]
async fn browser_sign_in_query_mode_redirects_with_302() {
    let fake = FakeGraph::start().await;
    let (_, challenge) = pkce();
    for mode in [Some("query"), None] {
        let mut params = vec![
            ("client_id", GRAPH_CLI),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:40001"),
            ("scope", ADMIN_SCOPES),
            ("state", "a b&c=d"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(m) = mode {
            params.push(("response_mode", m));
        }
        let page = browse(&fake, &params).await;
        assert_eq!(page.status, 302, "{}", page.text);
        let location = page.location.clone().unwrap();
        // A redirect URI without a path gets a `/` (reply-url).
        assert!(
            location.starts_with("http://localhost:40001/?code="),
            "{location}"
        );
        assert!(location.contains("state=a+b%26c%3Dd"), "{location}");
        assert_eq!(page.location_param("state").as_deref(), Some("a b&c=d"));
        assert!(page.location_param("code").is_some_and(|c| c.len() >= 64));
    }
}

#[tokio::test]
async fn authorize_checks_the_redirect_uri_before_redirecting() {
    let fake = FakeGraph::start().await;
    let c = Client::new(&fake);
    let ask = |client_id: String, redirect_uri: String| {
        let fake = &fake;
        async move {
            browse(
                fake,
                &[
                    ("client_id", client_id.as_str()),
                    ("response_type", "code"),
                    ("redirect_uri", redirect_uri.as_str()),
                    ("scope", ADMIN_SCOPES),
                    ("state", "s"),
                ],
            )
            .await
        }
    };
    // The first-party client: http://localhost on any port, path empty or `/`.
    for uri in [
        "http://localhost:1",
        "http://localhost:65000/",
        "http://localhost",
    ] {
        assert_eq!(ask(GRAPH_CLI.into(), uri.into()).await.status, 302, "{uri}");
    }
    for uri in [
        "http://localhost:5000/other",
        "http://127.0.0.1:5000",
        "https://evil.example",
        "http://localhost:5000/?x=1",
    ] {
        ask(GRAPH_CLI.into(), uri.into())
            .await
            .assert_error_page(50011);
    }
    // An app of the tenant registered with http://localhost as a public client.
    let created = c
        .call(
            "POST",
            "/v1.0/applications",
            Some(json!({
                "displayName": "Admin sign-in",
                "signInAudience": "AzureADMyOrg",
                "publicClient": {"redirectUris": ["http://localhost", "http://127.0.0.1/cb"]},
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let app_id = created.json()["appId"].as_str().unwrap().to_owned();
    for uri in [
        "http://localhost:50000",
        "http://localhost:8400/",
        "http://127.0.0.1:5000/cb",
    ] {
        assert_eq!(ask(app_id.clone(), uri.into()).await.status, 302, "{uri}");
    }
    for uri in [
        "http://localhost/other",
        "http://localhost:50000/other",
        "https://evil.example",
        "http://127.0.0.1:5000/CB",
        "http://127.0.0.1:5000",
        "http://[::1]:5000",
        "not a uri",
    ] {
        ask(app_id.clone(), uri.into())
            .await
            .assert_error_page(50011);
    }
    // What is echoed on the error page is escaped.
    let hostile = ask(
        app_id.clone(),
        "https://evil.example/\"><script>x()</script>".into(),
    )
    .await;
    hostile.assert_error_page(50011);
    assert!(!hostile.text.contains("<script>"), "{}", hostile.text);
    // An unknown client, a missing parameter, an unknown tenant.
    ask(uuid::Uuid::new_v4().to_string(), "http://localhost".into())
        .await
        .assert_error_page(700016);
    browse(
        &fake,
        &[("client_id", GRAPH_CLI), ("response_type", "code")],
    )
    .await
    .assert_error_page(900144);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let nowhere = http
        .get(format!(
            "{}/fabrikam.example/oauth2/v2.0/authorize?client_id={GRAPH_CLI}&response_type=code&redirect_uri=http://localhost:5000&scope=x",
            fake.uri()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status().as_u16(), 400);
    assert!(nowhere.headers().get("location").is_none());
    assert!(nowhere.text().await.unwrap().contains("AADSTS90002:"));
    // Only GET reaches the authorize endpoint.
    let mut anonymous = Client::new(&fake);
    anonymous.token = None;
    let posted = anonymous
        .form(
            &format!("/{}/oauth2/v2.0/authorize", fake.tenant_id()),
            &[("client_id", GRAPH_CLI)],
        )
        .await;
    assert_eq!(
        aadsts(&posted),
        (400, "invalid_request".into(), json!([900561]))
    );
}

#[tokio::test]
async fn authorize_reports_request_errors_at_the_redirect_uri() {
    let fake = FakeGraph::start().await;
    let base = [
        ("client_id", GRAPH_CLI),
        ("redirect_uri", "http://localhost:7000"),
        ("scope", ADMIN_SCOPES),
        ("state", "st"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p = base.to_vec();
        p.extend_from_slice(extra);
        p
    };
    let token = browse(&fake, &with(&[("response_type", "token")])).await;
    assert_eq!(token.status, 302);
    assert_eq!(
        token.location_param("error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(token.location_param("state").as_deref(), Some("st"));
    assert!(token.location_param("code").is_none());
    let method = browse(
        &fake,
        &with(&[
            ("response_type", "code"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S512"),
            ("response_mode", "form_post"),
        ]),
    )
    .await;
    assert_eq!(method.status, 200);
    assert_eq!(method.input("error").as_deref(), Some("invalid_request"));
    assert!(
        method
            .input("error_description")
            .unwrap()
            .starts_with("AADSTS50149: ")
    );
    assert_eq!(method.input("state").as_deref(), Some("st"));
    assert!(method.input("code").is_none());
}

#[tokio::test]
async fn authorization_code_redemption_checks_pkce_and_spends_the_code() {
    let fake = FakeGraph::start().await;
    let mut c = Client::new(&fake);
    c.token = None;
    let redirect = "http://localhost:61000";
    let (verifier, challenge) = pkce();
    let code = code_for(&fake, GRAPH_CLI, redirect, &challenge).await;
    let first_code = code.clone();
    let fields = [
        ("client_id", GRAPH_CLI),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", verifier.as_str()),
        ("scope", ADMIN_SCOPES),
    ];
    let ok = redeem(&c, &fake, &fields).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.json()["token_type"], "Bearer");
    assert_eq!(ok.json()["scope"], ADMIN_SCOPES);
    let token = ok.json()["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["appid"], GRAPH_CLI);
    assert_eq!(claims["idtyp"], "user");
    c.token = Some(token);
    assert_eq!(c.call("GET", "/v1.0/applications", None).await.status, 200);
    c.token = None;
    // Once only.
    assert_eq!(
        aadsts(&redeem(&c, &fake, &fields).await),
        (400, "invalid_grant".into(), json!([54005]))
    );
    // An unknown code.
    let mut unknown = fields;
    unknown[1].1 = "not-a-code";
    assert_eq!(
        aadsts(&redeem(&c, &fake, &unknown).await),
        (400, "invalid_grant".into(), json!([70008]))
    );
    // A wrong or missing verifier.
    let code = code_for(&fake, GRAPH_CLI, redirect, &challenge).await;
    let (other_verifier, _) = pkce();
    for v in [other_verifier.as_str(), challenge.as_str(), ""] {
        let wrong = [
            ("client_id", GRAPH_CLI),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", v),
        ];
        let a = redeem(&c, &fake, &wrong).await;
        assert_eq!(aadsts(&a), (400, "invalid_grant".into(), json!([501481])));
        assert!(
            a.json()["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS501481: The Code_Verifier does not match")
        );
    }
    // Another redirect URI (even another port), another client.
    let code = code_for(&fake, GRAPH_CLI, redirect, &challenge).await;
    let moved = [
        ("client_id", GRAPH_CLI),
        ("code", code.as_str()),
        ("redirect_uri", "http://localhost:61001"),
        ("code_verifier", verifier.as_str()),
    ];
    assert_eq!(
        aadsts(&redeem(&c, &fake, &moved).await),
        (400, "invalid_grant".into(), json!([50011]))
    );
    let stranger = uuid::Uuid::new_v4().to_string();
    let mut other_client = moved;
    other_client[0].1 = stranger.as_str();
    other_client[2].1 = redirect;
    assert_eq!(
        aadsts(&redeem(&c, &fake, &other_client).await),
        (400, "invalid_grant".into(), json!([70008]))
    );
    // Missing parameters; a secret from a public client.
    let no_redirect = [("client_id", GRAPH_CLI), ("code", code.as_str())];
    let a = redeem(&c, &fake, &no_redirect).await;
    assert_eq!(aadsts(&a), (400, "invalid_request".into(), json!([900144])));
    assert!(
        a.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("'redirect_uri'")
    );
    let mut with_secret = moved.to_vec();
    with_secret[2].1 = redirect;
    with_secret.push(("client_secret", "s3cr3t"));
    assert_eq!(
        aadsts(&redeem(&c, &fake, &with_secret).await),
        (401, "invalid_client".into(), json!([700025]))
    );
    // `plain`: the verifier is the challenge; no scope echoes the authorize request's.
    let (plain_verifier, _) = pkce();
    let page = browse(
        &fake,
        &[
            ("client_id", GRAPH_CLI),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", ADMIN_SCOPES),
            ("code_challenge", plain_verifier.as_str()),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    let code = page.location_param("code").unwrap();
    let plain = redeem(
        &c,
        &fake,
        &[
            ("client_id", GRAPH_CLI),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", plain_verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(plain.status, 200, "{:?}", plain.body);
    assert_eq!(plain.json()["scope"], ADMIN_SCOPES);
    // Codes and verifiers never reach the log.
    let logged = format!("{:?}", fake.requests());
    assert!(!logged.contains(&first_code));
    assert!(!logged.contains(&code));
    assert!(!logged.contains(&verifier));
    assert!(fake.requests().iter().any(|r| {
        r.body.as_ref().is_some_and(|b| {
            b["grant_type"] == "authorization_code"
                && b["code"] == "<redacted>"
                && b["code_verifier"] == "<redacted>"
        })
    }));
}

#[tokio::test]
async fn cancelled_browser_sign_in_answers_access_denied_at_the_redirect_uri() {
    let fake = FakeGraph::builder()
        .browser_sign_in_cancelled(true)
        .start()
        .await;
    let (_, challenge) = pkce();
    let params = [
        ("client_id", GRAPH_CLI),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost:5555"),
        ("scope", ADMIN_SCOPES),
        ("state", "xyz"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("response_mode", "form_post"),
    ];
    let page = browse(&fake, &params).await;
    assert_eq!(page.status, 200);
    let names: Vec<String> = page.hidden_inputs().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        ["error", "error_description", "error_subcode", "state"]
    );
    assert_eq!(page.input("error").as_deref(), Some("access_denied"));
    assert_eq!(page.input("error_subcode").as_deref(), Some("cancel"));
    assert!(
        page.input("error_description")
            .unwrap()
            .starts_with("AADSTS65004: User declined to consent to access the app.")
    );
    assert_eq!(page.input("state").as_deref(), Some("xyz"));
    // A redirect URI it does not trust still gets the error page, not the cancel.
    let mut bad = params;
    bad[2].1 = "https://evil.example";
    browse(&fake, &bad).await.assert_error_page(50011);
    fake.cancel_browser_sign_in(false);
    let page = browse(&fake, &params).await;
    assert!(page.input("code").is_some());
    assert!(page.input("error").is_none());
    fake.cancel_browser_sign_in(true);
    assert_eq!(
        browse(&fake, &params).await.input("error").as_deref(),
        Some("access_denied")
    );
}

#[tokio::test]
async fn conditional_access_blocks_device_code_at_token_issuance() {
    let fake = FakeGraph::builder().block_device_code(true).start().await;
    let mut c = Client::new(&fake);
    c.token = None;
    let path = |leaf: &str| format!("/{}/oauth2/v2.0/{leaf}", fake.tenant_id());
    let start = || async {
        let dc = c
            .form(
                &path("devicecode"),
                &[("client_id", GRAPH_CLI), ("scope", ADMIN_SCOPES)],
            )
            .await;
        assert_eq!(dc.status, 200, "the code is still shown");
        dc.json()["device_code"].as_str().unwrap().to_owned()
    };
    let code = start().await;
    let poll = |code: String| {
        let c = &c;
        let path = path("token");
        async move {
            c.form(
                &path,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", GRAPH_CLI),
                    ("device_code", code.as_str()),
                ],
            )
            .await
        }
    };
    let pending = poll(code.clone()).await;
    assert_eq!(pending.json()["error"], "authorization_pending");
    let blocked = poll(code.clone()).await;
    assert_eq!(
        aadsts(&blocked),
        (400, "invalid_grant".into(), json!([53003]))
    );
    assert!(
        blocked.json()["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.")
    );
    assert_eq!(poll(code).await.json()["error"], "expired_token");
    // Lifted at run time: the next sign-in gets its token.
    fake.set_device_code_blocked(false);
    let code = start().await;
    assert_eq!(
        poll(code.clone()).await.json()["error"],
        "authorization_pending"
    );
    let ok = poll(code).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    fake.set_device_code_blocked(true);
    let code = start().await;
    poll(code.clone()).await;
    assert_eq!(poll(code).await.json()["error_codes"], json!([53003]));
}
