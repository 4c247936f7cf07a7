//! The egress allowlist of the configuration (`egress.allow`): a connection is allowed when it
//! matches any entry, and an entry matches when every key it gives matches.

use std::net::IpAddr;

use crate::{
    config::network::{EgressConfig, EgressRule},
    event::annotations::{CountryCode, Scope},
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    allow: Vec<EgressRule>,
}

impl EgressPolicy {
    pub fn new(config: &EgressConfig) -> Self {
        Self {
            allow: config.allow.clone(),
        }
    }

    /// Whether a connection to `ip`:`port` (of `scope`, in `country`) is allowed.
    pub fn allows(&self, ip: IpAddr, port: u16, scope: Scope, country: Option<CountryCode>) -> bool {
        self.allow.iter().any(|rule| {
            (rule.cidrs.is_empty() || rule.cidrs.iter().any(|net| net.0.contains(&ip)))
                && (rule.countries.is_empty() || country.is_some_and(|country| rule.countries.contains(&country)))
                && (rule.ports.is_empty() || rule.ports.iter().any(|range| range.contains(port)))
                && (rule.scopes.is_empty() || rule.scopes.contains(&scope))
        })
    }
}
