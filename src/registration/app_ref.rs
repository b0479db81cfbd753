//! An existing app registration, named by its unique name or its client id: what finding,
//! rotating and removing need, without a display name or a permission profile.

use std::fmt;

use super::ExistingApp;
use crate::error::{Error, Result};
use crate::graph::models::{Application, Collection, ServicePrincipal};
use crate::graph::requests;
use crate::graph::{BatchItem, Graph};
use crate::ids::{ClientId, UniqueName};

/// Which app registration: by its unique name, by its client id, or by both (then the client
/// id finds it, and a different unique name on the app found is an error).
///
/// ```
/// use entra_appreg::registration::AppRef;
/// use entra_appreg::{ClientId, UniqueName};
/// let by_name = AppRef::from(UniqueName::new("contoso-backup")?);
/// let by_id = AppRef::from("743d1e4d-c84e-42a0-ae27-39754f7a9144".parse::<ClientId>()?);
/// assert_eq!(by_name.to_string(), "with unique name contoso-backup");
/// assert_eq!(by_id.to_string(), "with client id 743d1e4d-c84e-42a0-ae27-39754f7a9144");
/// # Ok::<(), entra_appreg::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRef {
    unique_name: Option<UniqueName>,
    client_id: Option<ClientId>,
}

impl AppRef {
    /// The app with this unique name.
    pub fn unique_name(name: UniqueName) -> Self {
        Self {
            unique_name: Some(name),
            client_id: None,
        }
    }

    /// The app with this client (application) id.
    pub fn client_id(id: ClientId) -> Self {
        Self {
            unique_name: None,
            client_id: Some(id),
        }
    }

    /// The same app, also known by its client id: found by the id, checked by the name.
    pub fn with_client_id(mut self, id: ClientId) -> Self {
        self.client_id = Some(id);
        self
    }

    /// Reads the app and its service principal. By client id both reads share one `$batch`:
    /// one round trip. By unique name the service principal is read once the app's client id
    /// is known: two. `None` when there is no such app.
    ///
    /// # Errors
    ///
    /// [`Error::Precondition`] when the app found by client id has another unique name;
    /// [`Error::Graph`], [`Error::Auth`], [`Error::Transport`] or [`Error::Decode`] when a read
    /// fails.
    pub async fn find(&self, graph: &Graph) -> Result<Option<ExistingApp>> {
        let (app, sp) = match (self.client_id, &self.unique_name) {
            (Some(id), _) => Self::by_client_id(graph, id).await?,
            (None, Some(name)) => match Self::by_unique_name(graph, name).await? {
                Some(app) => {
                    let sp = match app.app_id {
                        Some(client_id) => graph
                            .send_json::<Collection<ServicePrincipal>>(
                                &requests::service_principal_by_app_id(client_id),
                            )
                            .await?
                            .value
                            .into_iter()
                            .next(),
                        None => None,
                    };
                    (Some(app), sp)
                }
                None => (None, None),
            },
            (None, None) => (None, None),
        };
        let Some(app) = app else {
            return Ok(None);
        };
        let (Some(object_id), Some(client_id)) = (app.id, app.app_id) else {
            return Ok(None);
        };
        if let (Some(wanted), Some(found)) = (&self.unique_name, &app.unique_name)
            && wanted.as_str() != found
        {
            return Err(Error::precondition(
                "application",
                format!(
                    "the app with client id {client_id} has the unique name {found}, not {wanted}"
                ),
            ));
        }
        Ok(Some(ExistingApp {
            object_id,
            client_id,
            display_name: app.display_name,
            service_principal_id: sp.and_then(|sp| sp.id),
        }))
    }

    /// The app and its service principal by client id, in one `$batch`.
    async fn by_client_id(
        graph: &Graph,
        id: ClientId,
    ) -> Result<(Option<Application>, Option<ServicePrincipal>)> {
        let replies = graph
            .batch(vec![
                BatchItem::new("app", requests::find_application_by_app_id(id, false)),
                BatchItem::new("sp", requests::service_principal_by_app_id(id)),
            ])
            .await?;
        let mut app = None;
        let mut sp = None;
        for reply in &replies {
            match reply.id.as_str() {
                "app" => {
                    app = reply
                        .json::<Collection<Application>>()?
                        .value
                        .into_iter()
                        .next();
                }
                _ => {
                    sp = reply
                        .json::<Collection<ServicePrincipal>>()?
                        .value
                        .into_iter()
                        .next();
                }
            }
        }
        Ok((app, sp))
    }

    /// The app by its unique name (the alternate key): `None` on 404.
    async fn by_unique_name(graph: &Graph, name: &UniqueName) -> Result<Option<Application>> {
        match graph
            .send_json(&requests::application_by_unique_name(name, false))
            .await
        {
            Ok(app) => Ok(Some(app)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the app as [`find`](Self::find) does, or says it is not registered.
    ///
    /// # Errors
    ///
    /// [`Error::NotRegistered`] when there is no such app; otherwise as [`find`](Self::find).
    pub async fn require(&self, graph: &Graph) -> Result<ExistingApp> {
        self.find(graph).await?.ok_or_else(|| Error::NotRegistered {
            app: self.to_string(),
        })
    }

    /// Deletes the app (Entra keeps it in deleted items for 30 days; its service principal and
    /// grants go with it). Returns what was deleted, or `None` when there was nothing to delete.
    ///
    /// # Errors
    ///
    /// As [`find`](Self::find); [`Error::Graph`], [`Error::Auth`], [`Error::Transport`] or
    /// [`Error::Decode`] when the delete fails (a 404, the app already gone, is not an error).
    pub async fn remove(&self, graph: &Graph) -> Result<Option<ExistingApp>> {
        let Some(app) = self.find(graph).await? else {
            return Ok(None);
        };
        delete(graph, app).await.map(Some)
    }
}

/// Deletes `app`; a 404 (gone meanwhile: another run, or a lost reply) is not an error.
pub(super) async fn delete(graph: &Graph, app: ExistingApp) -> Result<ExistingApp> {
    match graph
        .send(&requests::delete_application(app.object_id))
        .await
    {
        Ok(_) => Ok(app),
        Err(e) if e.status() == Some(404) => Ok(app),
        Err(e) => Err(e),
    }
}

impl From<UniqueName> for AppRef {
    fn from(name: UniqueName) -> Self {
        Self::unique_name(name)
    }
}

impl From<ClientId> for AppRef {
    fn from(id: ClientId) -> Self {
        Self::client_id(id)
    }
}

impl fmt::Display for AppRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.unique_name, &self.client_id) {
            (Some(name), Some(id)) => write!(f, "with unique name {name} and client id {id}"),
            (Some(name), None) => write!(f, "with unique name {name}"),
            (None, Some(id)) => write!(f, "with client id {id}"),
            (None, None) => f.write_str("(unnamed)"),
        }
    }
}
