//! Reading the tenant: what exists before anything is written.
//!
//! One `$batch` reads the app (by uniqueName, or by client id when the caller has it) together
//! with the resource service principals. When the app exists and its client id was not known, a
//! second `$batch` reads its service principal and grants. So a tenant that already matches
//! costs two round trips, or one with a known client id.

use crate::credentials::NewCredential;
use crate::error::Result;
use crate::graph::models::{
    AppRoleAssignment, Application, Collection, KeyCredential, ServicePrincipal,
};
use crate::graph::{BatchItem, BatchItemResponse, Graph, GraphRequest, requests};
use crate::ids::ClientId;

use super::AppRegistration;

/// What the reads found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    pub app: Option<Application>,
    pub resources: Vec<ServicePrincipal>,
    pub client_sp: Option<ServicePrincipal>,
    pub grants: Vec<AppRoleAssignment>,
    /// The app's key credentials with their `key` (read only when a certificate is to be added:
    /// the PATCH must send every existing key back).
    pub keys: Option<Vec<KeyCredential>>,
}

fn keys_of(r: &BatchItemResponse) -> Result<Option<Vec<KeyCredential>>> {
    if r.status == 404 {
        return Ok(None);
    }
    Ok(Some(
        r.json::<Application>()?.key_credentials.unwrap_or_default(),
    ))
}

fn grants_of_app(app_id: ClientId) -> GraphRequest {
    GraphRequest::get(format!(
        "/servicePrincipals(appId='{app_id}')/appRoleAssignments"
    ))
}

fn client_sp_by_app_id(app_id: ClientId) -> GraphRequest {
    GraphRequest::get("/servicePrincipals")
        .query("$filter", &format!("appId eq '{app_id}'"))
        .query("$select", "id,appId,displayName")
}

/// A collection reply; a 404 (the object the path names does not exist) reads as empty.
fn collection_or_empty<T: serde::de::DeserializeOwned>(r: &BatchItemResponse) -> Result<Vec<T>> {
    if r.status == 404 {
        return Ok(Vec::new());
    }
    Ok(r.json::<Collection<T>>()?.value)
}

pub(crate) async fn observe(graph: &Graph, spec: &AppRegistration) -> Result<Observed> {
    let need_keys = matches!(spec.credential, Some(NewCredential::Certificate(_)));
    let resource_ids = spec.profile.resource_app_ids();
    let mut sp_ids = resource_ids.clone();
    let mut items = Vec::with_capacity(3);
    match spec.client_id {
        Some(client_id) => {
            sp_ids.push(client_id);
            items.push(BatchItem::new(
                "app",
                requests::find_application_by_app_id(client_id),
            ));
            items.push(BatchItem::new("grants", grants_of_app(client_id)));
            if need_keys {
                items.push(BatchItem::new(
                    "keys",
                    GraphRequest::get(format!("/applications(appId='{client_id}')"))
                        .query("$select", "id,keyCredentials"),
                ));
            }
        }
        None => items.push(BatchItem::new(
            "app",
            requests::find_application_by_unique_name(&spec.unique_name),
        )),
    }
    items.push(BatchItem::new(
        "sps",
        requests::service_principals_by_app_ids(&sp_ids),
    ));
    let replies = graph.batch(items).await?;
    let mut obs = Observed::default();
    let mut grants_read = false;
    for r in &replies {
        match r.id.as_str() {
            "app" => {
                obs.app = r
                    .json::<Collection<Application>>()?
                    .value
                    .into_iter()
                    .next()
            }
            "sps" => {
                for sp in r.json::<Collection<ServicePrincipal>>()?.value {
                    if spec.client_id.is_some() && sp.app_id == spec.client_id {
                        obs.client_sp = Some(sp);
                    } else if sp.app_id.is_some_and(|a| resource_ids.contains(&a)) {
                        obs.resources.push(sp);
                    }
                }
            }
            "grants" => {
                obs.grants = collection_or_empty(r)?;
                grants_read = true;
            }
            "keys" => obs.keys = keys_of(r)?,
            _ => {}
        }
    }
    // The client id from an earlier run names an app that is gone: fall back to the unique name.
    if spec.client_id.is_some() && obs.app.is_none() {
        let found: Collection<Application> = graph
            .send_json(&requests::find_application_by_unique_name(
                &spec.unique_name,
            ))
            .await?;
        obs.app = found.value.into_iter().next();
        obs.client_sp = None;
        obs.grants.clear();
        obs.keys = None;
        grants_read = false;
    }
    if let Some(app_id) = obs.app.as_ref().and_then(|a| a.app_id)
        && !grants_read
    {
        let mut items = vec![
            BatchItem::new("sp", client_sp_by_app_id(app_id)),
            BatchItem::new("grants", grants_of_app(app_id)),
        ];
        if let Some(object_id) = obs.app.as_ref().and_then(|a| a.id).filter(|_| need_keys) {
            items.push(BatchItem::new(
                "keys",
                requests::application_key_credentials(object_id),
            ));
        }
        let replies = graph.batch(items).await?;
        for r in &replies {
            match r.id.as_str() {
                "keys" => obs.keys = keys_of(r)?,
                "sp" => {
                    obs.client_sp = r
                        .json::<Collection<ServicePrincipal>>()?
                        .value
                        .into_iter()
                        .next()
                }
                "grants" => obs.grants = collection_or_empty(r)?,
                _ => {}
            }
        }
    }
    if obs.client_sp.is_none() {
        obs.grants.clear();
    }
    Ok(obs)
}
