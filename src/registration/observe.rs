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
use crate::graph::{BatchItem, BatchItemResponse, Graph, requests};

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
    /// The tenant's SharePoint host, read with the rest when the profile grants on SharePoint
    /// (`None` when it could not be read: readiness reads it again, and says why it cannot).
    pub sharepoint_host: Option<String>,
}

fn keys_of(r: &BatchItemResponse) -> Result<Option<Vec<KeyCredential>>> {
    Ok(object_or_none::<Application>(r)?.map(|a| a.key_credentials.unwrap_or_default()))
}

/// An object read by its key: a 404 means there is none (or none visible yet).
fn object_or_none<T: serde::de::DeserializeOwned>(r: &BatchItemResponse) -> Result<Option<T>> {
    if r.status == 404 {
        return Ok(None);
    }
    r.json().map(Some)
}

/// A collection reply; a 404 (the object the path names does not exist) reads as empty.
fn collection_or_empty<T: serde::de::DeserializeOwned>(r: &BatchItemResponse) -> Result<Vec<T>> {
    if r.status == 404 {
        return Ok(Vec::new());
    }
    Ok(r.json::<Collection<T>>()?.value)
}

/// Reads the app by its unique name (alternate key): `None` on 404.
pub(crate) async fn application_by_unique_name(
    graph: &Graph,
    name: &crate::ids::UniqueName,
    keys: bool,
) -> Result<Option<Application>> {
    match graph
        .send_json::<Application>(&requests::application_by_unique_name(name, keys))
        .await
    {
        Ok(app) => Ok(Some(app)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The items of the reads: each id says what it reads, and is read back from the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// The app, by unique name or by client id.
    App,
    /// The app's grants (`appRoleAssignments` of its service principal).
    Grants,
    /// The resource service principals (and the app's own, with the client id known).
    ServicePrincipals,
    /// The app's own service principal.
    ServicePrincipal,
    /// The app's key credentials with their `key`.
    Keys,
    /// The organization's domains, for the SharePoint host.
    Organization,
}

impl Read {
    const ALL: [Read; 6] = [
        Read::App,
        Read::Grants,
        Read::ServicePrincipals,
        Read::ServicePrincipal,
        Read::Keys,
        Read::Organization,
    ];

    fn id(self) -> &'static str {
        match self {
            Read::App => "app",
            Read::Grants => "grants",
            Read::ServicePrincipals => "sps",
            Read::ServicePrincipal => "sp",
            Read::Keys => "keys",
            Read::Organization => "org",
        }
    }

    fn of(reply: &BatchItemResponse) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.id() == reply.id)
    }

    fn item(self, request: crate::graph::GraphRequest) -> BatchItem {
        BatchItem::new(self.id(), request)
    }
}

/// Reads what exists: the app and the resource service principals in one `$batch`, then the
/// app's service principal, grants and (for a certificate) keys.
///
/// With `vary` (a recovery pass), the first `$batch` reads the organization half of the time even
/// when the profile does not need it: the same round trip, one request more or less, so that the
/// pass's length varies and a fault that comes at a fixed period of requests cannot land on the
/// same write (`addPassword`) in every pass.
pub(crate) async fn observe(graph: &Graph, spec: &AppRegistration, vary: bool) -> Result<Observed> {
    let need_keys = matches!(spec.credential, Some(NewCredential::Certificate(_)));
    let pad = vary && crate::retry::unit_random() < 0.5;
    let (mut obs, mut grants_read) = first_read(graph, spec, need_keys, pad).await?;
    // The client id from an earlier run names an app that is gone: fall back to the unique name.
    if spec.client_id.is_some() && obs.app.is_none() {
        obs.app = application_by_unique_name(graph, &spec.unique_name, need_keys).await?;
        obs.client_sp = None;
        obs.grants.clear();
        obs.keys = None;
        grants_read = false;
    }
    if !grants_read {
        read_dependents(graph, &mut obs, need_keys).await?;
    }
    // `key` is documented only for a read by object id: with the client id known, the keys take
    // one more round trip, after the app's object id is known.
    if let Some(object_id) = obs.app.as_ref().and_then(|a| a.id).filter(|_| need_keys)
        && obs.keys.is_none()
    {
        obs.keys = match graph
            .send_json::<Application>(&requests::application_key_credentials(object_id))
            .await
        {
            Ok(app) => Some(app.key_credentials.unwrap_or_default()),
            Err(e) if e.status() == Some(404) => None,
            Err(e) => return Err(e),
        };
    }
    if obs.client_sp.is_none() {
        obs.grants.clear();
    }
    Ok(obs)
}

/// The first `$batch`: the app (by client id, with its grants, when the caller has the client
/// id; else by unique name) and the service principals. Says whether the grants were read.
async fn first_read(
    graph: &Graph,
    spec: &AppRegistration,
    keys: bool,
    pad: bool,
) -> Result<(Observed, bool)> {
    let mut resource_ids = spec.profile.resource_app_ids();
    // The resources of permissions to revoke are read too: their values are resolved there.
    for r in &spec.revoke {
        if !resource_ids.contains(&r.resource_app_id) {
            resource_ids.push(r.resource_app_id);
        }
    }
    let mut sp_ids = resource_ids.clone();
    let mut items = Vec::with_capacity(3);
    match spec.client_id {
        Some(client_id) => {
            sp_ids.push(client_id);
            items.push(Read::App.item(requests::find_application_by_app_id(client_id, keys)));
            items.push(Read::Grants.item(requests::app_role_assignments_by_app_id(client_id)));
        }
        None => items.push(Read::App.item(requests::application_by_unique_name(
            &spec.unique_name,
            keys,
        ))),
    }
    items.push(Read::ServicePrincipals.item(requests::service_principals_by_app_ids(&sp_ids)));
    // The SharePoint host rides along, so that readiness needs no round trip of its own.
    let sharepoint = resource_ids.contains(&crate::profile::catalog::SHAREPOINT_ONLINE.app_id);
    if sharepoint || pad {
        items.push(Read::Organization.item(requests::organization_domains()));
    }
    let replies = graph.batch(items).await?;
    let mut obs = Observed::default();
    let mut grants_read = false;
    for r in &replies {
        match Read::of(r) {
            Some(Read::App) if spec.client_id.is_some() => {
                obs.app = first_of(r)?;
            }
            Some(Read::App) => obs.app = object_or_none(r)?,
            Some(Read::ServicePrincipals) => {
                for sp in r.json::<Collection<ServicePrincipal>>()?.value {
                    if spec.client_id.is_some() && sp.app_id == spec.client_id {
                        obs.client_sp = Some(sp);
                    } else if sp.app_id.is_some_and(|a| resource_ids.contains(&a)) {
                        obs.resources.push(sp);
                    }
                }
            }
            Some(Read::Grants) => {
                obs.grants = collection_or_empty(r)?;
                grants_read = true;
            }
            Some(Read::Keys) => obs.keys = keys_of(r)?,
            // Not needed to register: a refusal (no User.Read, say) is left to readiness.
            Some(Read::Organization) => {
                obs.sharepoint_host = r.json().ok().and_then(|orgs| {
                    crate::readiness::sharepoint_host_of(&orgs, graph.endpoints().cloud())
                });
            }
            Some(Read::ServicePrincipal) | None => {}
        }
    }
    Ok((obs, grants_read))
}

/// The second `$batch`, once the app is found by its unique name: its service principal, its
/// grants and, for a certificate, its keys.
async fn read_dependents(graph: &Graph, obs: &mut Observed, need_keys: bool) -> Result<()> {
    let Some(app_id) = obs.app.as_ref().and_then(|a| a.app_id) else {
        return Ok(());
    };
    let mut items = vec![
        Read::ServicePrincipal.item(requests::service_principal_by_app_id(app_id)),
        Read::Grants.item(requests::app_role_assignments_by_app_id(app_id)),
    ];
    if let Some(object_id) = obs.app.as_ref().and_then(|a| a.id).filter(|_| need_keys) {
        items.push(Read::Keys.item(requests::application_key_credentials(object_id)));
    }
    for r in &graph.batch(items).await? {
        match Read::of(r) {
            Some(Read::Keys) => obs.keys = keys_of(r)?,
            Some(Read::ServicePrincipal) => obs.client_sp = first_of(r)?,
            Some(Read::Grants) => obs.grants = collection_or_empty(r)?,
            _ => {}
        }
    }
    Ok(())
}

/// The first object of a collection reply.
fn first_of<T: serde::de::DeserializeOwned>(r: &BatchItemResponse) -> Result<Option<T>> {
    Ok(r.json::<Collection<T>>()?.value.into_iter().next())
}
