//! National clouds and the endpoints the crate talks to.
//!
//! A [`Cloud`] names Microsoft's Graph and login roots; [`Endpoints`] holds the roots actually
//! used, which can be overridden (a fake Graph in tests, a TLS-inspecting proxy) while the token
//! scope keeps naming the cloud's real Graph resource. Plain `http://` roots are accepted only for
//! loopback hosts.

use std::fmt;
use std::str::FromStr;

use url::Url;

use crate::error::Error;

/// A Microsoft cloud ([national cloud deployments](https://learn.microsoft.com/graph/deployments)).
/// Tokens never cross clouds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Cloud {
    /// The global cloud (also GCC).
    #[default]
    Global,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5 (DoD).
    UsGovDod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    /// All clouds.
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China];

    /// The Graph root, without the version segment.
    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The login (Entra ID token endpoint) root.
    pub fn login_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    /// The app-only Graph scope: `<graph root>/.default`.
    pub fn graph_scope(self) -> String {
        format!("{}/.default", self.graph_root())
    }

    /// The name used on command lines: `global`, `usgov`, `usgov-dod`, `china`.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "usgov",
            Cloud::UsGovDod => "usgov-dod",
            Cloud::China => "china",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cloud {
    type Err = Error;

    /// Parses `global`, `usgov`, `usgov-dod` or `china` (case-insensitive; `_` for `-` too).
    fn from_str(s: &str) -> Result<Self, Error> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Cloud::ALL
            .into_iter()
            .find(|c| c.name() == norm)
            .ok_or_else(|| {
                Error::invalid_input(
                    "cloud",
                    format!(
                        "{} is not a cloud; expected one of global, usgov, usgov-dod, china",
                        crate::ids::quote_for_error(s)
                    ),
                )
            })
    }
}

/// The roots the crate sends requests to.
///
/// ```
/// use entra_appreg::{Cloud, Endpoints};
/// let e = Endpoints::for_cloud(Cloud::UsGov);
/// assert_eq!(e.graph_root().as_str(), "https://graph.microsoft.us/");
/// assert_eq!(e.graph_scope(), "https://graph.microsoft.us/.default");
///
/// // A fake or proxy: plain http only on loopback.
/// let local = Endpoints::for_cloud(Cloud::Global)
///     .with_graph_root("http://127.0.0.1:8080")
///     .unwrap();
/// assert_eq!(local.graph_scope(), "https://graph.microsoft.com/.default");
/// assert!(Endpoints::for_cloud(Cloud::Global).with_login_root("http://example.com").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    cloud: Cloud,
    graph_root: Url,
    login_root: Url,
}

impl Endpoints {
    /// The real endpoints of a cloud.
    pub fn for_cloud(cloud: Cloud) -> Self {
        Self {
            cloud,
            graph_root: Url::parse(cloud.graph_root()).expect("static URL"),
            login_root: Url::parse(cloud.login_root()).expect("static URL"),
        }
    }

    /// Overrides the Graph root (no version segment: `/v1.0` is appended by the client).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the root is not a URL, or is plain `http://` to a host that is
    /// not loopback.
    pub fn with_graph_root(mut self, root: impl AsRef<str>) -> Result<Self, Error> {
        self.graph_root = parse_root("Graph URL", root.as_ref())?;
        Ok(self)
    }

    /// Overrides the login root.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the root is not a URL, or is plain `http://` to a host that is
    /// not loopback.
    pub fn with_login_root(mut self, root: impl AsRef<str>) -> Result<Self, Error> {
        self.login_root = parse_root("login URL", root.as_ref())?;
        Ok(self)
    }

    /// The cloud whose resource the tokens are for.
    pub fn cloud(&self) -> Cloud {
        self.cloud
    }

    /// The Graph root.
    pub fn graph_root(&self) -> &Url {
        &self.graph_root
    }

    /// The login root.
    pub fn login_root(&self) -> &Url {
        &self.login_root
    }

    /// The app-only Graph scope of the cloud (`https://graph.microsoft.com/.default`, …).
    pub fn graph_scope(&self) -> String {
        self.cloud.graph_scope()
    }

    /// The Graph resource URI of the cloud, used to build delegated scopes.
    pub fn graph_resource(&self) -> &'static str {
        self.cloud.graph_root()
    }

    /// `{login}/{tenant}/oauth2/v2.0/{leaf}`.
    pub fn oauth_url(&self, tenant: &str, leaf: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/{leaf}",
            self.login_root.as_str().trim_end_matches('/'),
            tenant
        )
    }

    /// `{graph}/v1.0{path}` (path starts with `/`).
    pub fn graph_url(&self, path_and_query: &str) -> String {
        format!(
            "{}/v1.0{}",
            self.graph_root.as_str().trim_end_matches('/'),
            path_and_query
        )
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::for_cloud(Cloud::Global)
    }
}

fn parse_root(what: &'static str, s: &str) -> Result<Url, Error> {
    let url = Url::parse(s.trim()).map_err(|e| {
        Error::invalid_input(
            what,
            format!("{} is not a URL: {e}", crate::ids::quote_for_error(s)),
        )
    })?;
    crate::transport::check_url_allowed(&url)
        .map_err(|e| Error::invalid_input(what, e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(Error::invalid_input(
            what,
            format!(
                "{} must be a plain root URL, without query or fragment",
                crate::ids::quote_for_error(s)
            ),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_has_the_documented_roots() {
        let table = [
            (
                Cloud::Global,
                "https://graph.microsoft.com",
                "https://login.microsoftonline.com",
            ),
            (
                Cloud::UsGov,
                "https://graph.microsoft.us",
                "https://login.microsoftonline.us",
            ),
            (
                Cloud::UsGovDod,
                "https://dod-graph.microsoft.us",
                "https://login.microsoftonline.us",
            ),
            (
                Cloud::China,
                "https://microsoftgraph.chinacloudapi.cn",
                "https://login.partner.microsoftonline.cn",
            ),
        ];
        for (cloud, graph, login) in table {
            assert_eq!(cloud.graph_root(), graph);
            assert_eq!(cloud.login_root(), login);
            assert_eq!(cloud.name().parse::<Cloud>().unwrap(), cloud);
        }
        assert!("azure".parse::<Cloud>().is_err());
        assert_eq!("USGOV_DOD".parse::<Cloud>().unwrap(), Cloud::UsGovDod);
    }

    #[test]
    fn urls_are_joined_without_double_slashes() {
        let e = Endpoints::for_cloud(Cloud::Global)
            .with_graph_root("http://127.0.0.1:9/")
            .unwrap();
        assert_eq!(
            e.graph_url("/applications"),
            "http://127.0.0.1:9/v1.0/applications"
        );
        assert_eq!(
            e.oauth_url("contoso.com", "token"),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
        );
    }
}
