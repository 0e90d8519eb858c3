//! [`IpDelegation`]: an IP range a superadmin delegated to a domain (SPEC.md §1). A domain
//! admin may create `ip` accounts only inside its domains' delegations; the provider
//! decides which addresses a customer controls, never the customer.

use serde::{Deserialize, Serialize};

/// One range delegated to one domain. Delegations never overlap each other (in any
/// domain): an address is delegated to one customer at most.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IpDelegation {
    pub id: i64,
    pub domain: String,
    /// Canonical CIDR ([`parse_network`](super::parse_network)): `192.0.2.0/24`.
    pub range: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at_ms: i64,
}
