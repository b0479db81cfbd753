//! The first-party service principals every tenant starts with.

use serde_json::Value;

use super::state::Obj;

/// Microsoft's own tenant: the `appOwnerOrganizationId` of first-party applications.
pub(crate) const MICROSOFT_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// Microsoft Graph's appId.
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Office 365 Exchange Online's appId.
pub(crate) const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
/// Office 365 SharePoint Online's appId.
pub(crate) const SHAREPOINT_APP_ID: &str = "00000003-0000-0ff1-ce00-000000000000";

const DATA: [&str; 4] = [
    include_str!("data/serviceprincipal-graph.json"),
    include_str!("data/serviceprincipal-exchange.json"),
    include_str!("data/serviceprincipal-sharepoint.json"),
    include_str!("data/serviceprincipal-decoys.json"),
];

/// The seeded first-party service principals (`id`, `appId`, `displayName`, `appRoles`), as in
/// the data files.
pub(crate) fn first_party_service_principals() -> Vec<Obj> {
    DATA.iter()
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .filter_map(|doc| match doc.get("value") {
            Some(Value::Array(items)) => Some(items.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|v| match v {
            Value::Object(o) => Some(o),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_file_parses_and_the_resources_are_there() {
        let sps = first_party_service_principals();
        assert_eq!(sps.len(), 5);
        for app_id in [GRAPH_APP_ID, EXCHANGE_APP_ID, SHAREPOINT_APP_ID] {
            assert!(sps.iter().any(|s| s["appId"] == app_id), "{app_id}");
        }
    }
}
