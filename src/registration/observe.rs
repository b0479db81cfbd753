//! Reading the tenant: what exists before anything is written.
//!
//! One `$batch` reads the app (by uniqueName, or by client id when the caller has it) together
//! with the resource service principals. When the app exists and its client id was not known, a
//! second `$batch` reads its service principal and grants. So a tenant that already matches
//! costs two round trips, or one with a known client id.

use crate::error::Result;
use crate::graph::models::{AppRoleAssignment, Application, Collection, ServicePrincipal};
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
        grants_read = false;
    }
    if let Some(app_id) = obs.app.as_ref().and_then(|a| a.app_id)
        && !grants_read
    {
        let replies = graph
            .batch(vec![
                BatchItem::new("sp", client_sp_by_app_id(app_id)),
                BatchItem::new("grants", grants_of_app(app_id)),
            ])
            .await?;
        for r in &replies {
            match r.id.as_str() {
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
