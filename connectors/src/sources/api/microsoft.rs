//! What the Microsoft sources and responders (`office365`, `graph`, `azure_activity`,
//! `respond azure`, `respond m365_mail`) share: an Entra ID app
//! registration (tenant, client id, client secret) exchanged for tokens at the
//! identity platform's v2 endpoint, and the national clouds' host names.

use super::base_url;
use super::oauth::ClientCredentials;
use crate::settings::choice;
use pipectl_core::component::BuildError;
use pipectl_core::config::Attrs;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use reqwest::Url;

/// A Microsoft cloud: the commercial one or a US government one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cloud {
    Commercial,
    Gcc,
    GccHigh,
    Dod,
}

impl Cloud {
    /// The identity platform (token endpoint) host.
    pub fn login(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://login.microsoftonline.com",
            Cloud::GccHigh | Cloud::Dod => "https://login.microsoftonline.us",
        }
    }

    /// The Office 365 Management Activity API host.
    pub fn manage(self) -> &'static str {
        match self {
            Cloud::Commercial => "https://manage.office.com",
            Cloud::Gcc => "https://manage-gcc.office.com",
            Cloud::GccHigh => "https://manage.office365.us",
            Cloud::Dod => "https://manage.protection.apps.mil",
        }
    }

    /// The Azure Resource Manager host (Azure Monitor, Compute, Network): Azure
    /// Government for the US government clouds, whose tenants live there.
    pub fn management(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://management.azure.com",
            Cloud::GccHigh | Cloud::Dod => "https://management.usgovcloudapi.net",
        }
    }

    /// The Microsoft Graph host.
    pub fn graph(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://graph.microsoft.com",
            Cloud::GccHigh => "https://graph.microsoft.us",
            Cloud::Dod => "https://dod-graph.microsoft.us",
        }
    }
}

pub(crate) const TENANT_ID_ATTR: AttrSpec = AttrSpec::required(
    "tenant_id",
    AttrType::String,
    "The Entra ID tenant: its GUID or a verified domain such as \"contoso.onmicrosoft.com\".",
);

pub(crate) const CLIENT_ID_ATTR: AttrSpec = AttrSpec::required(
    "client_id",
    AttrType::String,
    "The application (client) ID of the app registration.",
);

pub(crate) const CLIENT_SECRET_ATTR: AttrSpec = AttrSpec::required(
    "client_secret",
    AttrType::String,
    "A client secret of the app registration.",
)
.sensitive();

pub(crate) const CLOUD_ATTR: AttrSpec = AttrSpec::with_default(
    "cloud",
    AttrType::Enum(&["commercial", "gcc", "gcc_high", "dod"]),
    "\"commercial\"",
    "The Microsoft cloud: `commercial`, or the US government clouds `gcc`, `gcc_high` and `dod` (their own API and sign-in hosts).",
);

pub(crate) const LOGIN_URL_ATTR: AttrSpec = AttrSpec::optional(
    "login_url",
    AttrType::String,
    "Overrides the sign-in host the cloud implies (a proxy, or a local test server).",
);

pub(crate) const API_URL_ATTR: AttrSpec = AttrSpec::optional(
    "api_url",
    AttrType::String,
    "Overrides the API host the cloud implies (a proxy, or a local test server).",
);

/// An app registration and where to reach the API it reads.
#[derive(Debug, Clone)]
pub(crate) struct MicrosoftApp {
    pub tenant: String,
    pub api_url: Url,
    pub credentials: ClientCredentials,
}

impl MicrosoftApp {
    /// Reads the shared attributes; `api` names the API's host in a cloud, which is
    /// also the token's audience (`<host>/.default`) whatever `api_url` says.
    pub fn from_attrs(
        attrs: &Attrs<'_>,
        api: fn(Cloud) -> &'static str,
    ) -> Result<MicrosoftApp, BuildError> {
        let cloud = choice(
            attrs,
            "cloud",
            &[
                ("commercial", Cloud::Commercial),
                ("gcc", Cloud::Gcc),
                ("gcc_high", Cloud::GccHigh),
                ("dod", Cloud::Dod),
            ],
        )?;
        let tenant = attrs.string("tenant_id")?;
        let tenant_ok = !tenant.is_empty()
            && tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
        if !tenant_ok {
            return Err(attrs.error(format!(
                "attribute `tenant_id`: `{tenant}` is neither a GUID nor a domain"
            )));
        }
        let client_id = attrs.string("client_id")?;
        if client_id.is_empty() {
            return Err(attrs.error("attribute `client_id` is empty"));
        }
        let client_secret = attrs
            .opt_secret("client_secret")?
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| attrs.error("attribute `client_secret` is empty"))?;
        let url_or = |key: &str, default: &str| match attrs.raw(key) {
            Some(_) => base_url(attrs, key),
            None => Url::parse(default).map_err(|e| attrs.error(format!("{default}: {e}"))),
        };
        let login_url = url_or("login_url", cloud.login())?;
        let api_url = url_or("api_url", api(cloud))?;
        let token_url = super::join(&login_url, &format!("/{tenant}/oauth2/v2.0/token"));
        Ok(MicrosoftApp {
            credentials: ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope: format!("{}/.default", api(cloud)),
            },
            tenant,
            api_url,
        })
    }
}
