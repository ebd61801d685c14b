//! Response: measured, targeted, reversible actions when incidents match (DESIGN §8,
//! docs/response.md).
//!
//! The framework is provider-neutral — policy and guard rails ([`policy`]), the journal
//! and the operator channel ([`journal`]), the decision engine ([`engine`]), audit
//! documents ([`audit`]) and the stage's loop and shared attributes ([`stage`]) — and
//! each provider is one file implementing [`provider::Actions`] ([`aws`], [`azure`], [`graph`],
//! [`m365_mail`], [`okta`], [`google_workspace`], [`salesforce`], [`box_content`], [`dropbox`]). It
//! lives in the connectors crate because responders call provider APIs with the same
//! clients the sources use (the AWS client, the SaaS client through `saas`), and core
//! knows no provider.

pub mod audit;
pub mod aws;
pub mod azure;
pub mod box_content;
pub mod dropbox;
pub mod engine;
pub mod google_workspace;
pub mod graph;
pub mod journal;
pub mod m365_mail;
pub mod okta;
pub mod policy;
pub mod provider;
mod saas;
pub mod salesforce;
pub mod stage;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire;
