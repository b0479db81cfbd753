//! The permission catalog: resource appIds and app role ids, keyed by (resource, role id).
//!
//! Role GUIDs are unique only inside one resource (SharePoint's `User.Read.All` has the same id
//! as Graph's; Exchange's `MailboxSettings.ReadWrite` is not Graph's), so nothing here is ever
//! looked up by role id or value alone. Every id is checked against the tenant's resource
//! service principal before it is granted.

use crate::ids::{AppRoleId, ClientId};

/// A resource (API) whose app roles the profiles use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Resource {
    /// The resource's appId.
    pub app_id: ClientId,
    /// Its display name in the tenant.
    pub name: &'static str,
    /// What the portal's "Request API permissions" pane calls it, and where it is listed.
    pub portal_hint: &'static str,
}

/// Microsoft Graph.
pub const MICROSOFT_GRAPH: Resource = Resource {
    app_id: ClientId::from_uuid(uuid::uuid!("00000003-0000-0000-c000-000000000000")),
    name: "Microsoft Graph",
    portal_hint: "Microsoft APIs > Microsoft Graph",
};

/// Office 365 Exchange Online.
pub const EXCHANGE_ONLINE: Resource = Resource {
    app_id: ClientId::from_uuid(uuid::uuid!("00000002-0000-0ff1-ce00-000000000000")),
    name: "Office 365 Exchange Online",
    portal_hint: "APIs my organization uses > Office 365 Exchange Online",
};

/// Office 365 SharePoint Online.
pub const SHAREPOINT_ONLINE: Resource = Resource {
    app_id: ClientId::from_uuid(uuid::uuid!("00000003-0000-0ff1-ce00-000000000000")),
    name: "Office 365 SharePoint Online",
    portal_hint: "Microsoft APIs > SharePoint",
};

/// The resources of the catalog.
pub const RESOURCES: [Resource; 3] = [MICROSOFT_GRAPH, EXCHANGE_ONLINE, SHAREPOINT_ONLINE];

/// One application permission of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CatalogRole {
    /// The resource that exposes it.
    pub resource: Resource,
    /// Its value (the permission name).
    pub value: &'static str,
    /// Its app role id within that resource.
    pub id: AppRoleId,
}

const fn role(resource: Resource, value: &'static str, id: uuid::Uuid) -> CatalogRole {
    CatalogRole {
        resource,
        value,
        id: AppRoleId::from_uuid(id),
    }
}

/// Every app role the crate knows by id (the Microsoft Graph ids as in its
/// [permissions reference](https://learn.microsoft.com/graph/permissions-reference)).
pub const CATALOG: [CatalogRole; 10] = [
    role(
        MICROSOFT_GRAPH,
        "Directory.Read.All",
        uuid::uuid!("7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
    ),
    role(
        MICROSOFT_GRAPH,
        "Group.Read.All",
        uuid::uuid!("5b567255-7703-4780-807c-7be8301ae99b"),
    ),
    role(
        MICROSOFT_GRAPH,
        "MailboxSettings.ReadWrite",
        uuid::uuid!("6931bccd-447a-43d1-b442-00a195474933"),
    ),
    role(
        MICROSOFT_GRAPH,
        "User.Read.All",
        uuid::uuid!("df021288-bdef-4463-88db-98f22de89214"),
    ),
    role(
        MICROSOFT_GRAPH,
        "Device.ReadWrite.All",
        uuid::uuid!("1138cb37-bd11-4084-a2b7-9f71582aeddb"),
    ),
    role(
        MICROSOFT_GRAPH,
        "Directory.ReadWrite.All",
        uuid::uuid!("19dbc75e-c2e2-444c-a770-ec69d8559fc7"),
    ),
    role(
        MICROSOFT_GRAPH,
        "User.ReadWrite.All",
        uuid::uuid!("741f803b-c850-494e-b5df-cde7c675a1ca"),
    ),
    role(
        EXCHANGE_ONLINE,
        "full_access_as_app",
        uuid::uuid!("dc890d15-9560-4a4c-9b7f-a736ec74ec40"),
    ),
    role(
        SHAREPOINT_ONLINE,
        "Sites.FullControl.All",
        uuid::uuid!("678536fe-1083-478a-9c59-b99265e6b0d3"),
    ),
    role(
        SHAREPOINT_ONLINE,
        "User.Read.All",
        uuid::uuid!("df021288-bdef-4463-88db-98f22de89214"),
    ),
];

/// The catalog entry for (resource, role id).
pub fn by_id(resource: ClientId, id: AppRoleId) -> Option<&'static CatalogRole> {
    CATALOG
        .iter()
        .find(|r| r.resource.app_id == resource && r.id == id)
}

/// The catalog entry for (resource, value); values compare case-sensitively, as Entra's do.
pub fn by_value(resource: ClientId, value: &str) -> Option<&'static CatalogRole> {
    CATALOG
        .iter()
        .find(|r| r.resource.app_id == resource && r.value == value)
}

/// The known resource with this appId.
pub fn resource(app_id: ClientId) -> Option<Resource> {
    RESOURCES.into_iter().find(|r| r.app_id == app_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_keyed_by_resource_and_id() {
        let mut keys: Vec<_> = CATALOG.iter().map(|r| (r.resource.app_id, r.id)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), CATALOG.len());
        // Same GUID, two resources.
        let graph = by_value(MICROSOFT_GRAPH.app_id, "User.Read.All").unwrap();
        let spo = by_value(SHAREPOINT_ONLINE.app_id, "User.Read.All").unwrap();
        assert_eq!(graph.id, spo.id);
        assert_ne!(graph.resource, spo.resource);
        // Exchange's own MailboxSettings.ReadWrite is not in the catalog: no lookup by name alone.
        assert!(by_value(EXCHANGE_ONLINE.app_id, "MailboxSettings.ReadWrite").is_none());
    }
}
