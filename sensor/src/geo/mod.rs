//! Where connections go: the scope of each destination address (loopback, private, link-local,
//! …, public), its country (built-in registry data or a MaxMind database; hand-written overrides
//! first), and whether the configured egress allowlist admits it. The enricher puts the result
//! on every IP connect event (docs/events.md).

pub mod countries;
pub mod country_sets;
pub mod egress;
pub mod ranges;
pub mod scope;

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

pub use countries::{Countries, CountriesError};
pub use egress::EgressPolicy;
pub use scope::{canonical, scope_of};

use crate::{
    config::Config,
    event::annotations::{CountryCode, DestinationInfo, Scope},
};

/// One `geo.overrides` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Override {
    net: IpNet,
    country: Option<CountryCode>,
    scope: Option<Scope>,
}

/// Describes destinations: scope, country, allowlist verdict.
#[derive(Debug)]
pub struct Network {
    overrides: Vec<Override>,
    countries: Countries,
    egress: Option<EgressPolicy>,
}

impl Network {
    /// From the `geo` and `egress` sections (opens the MaxMind database when one is configured).
    pub fn from_config(config: &Config) -> Result<Self, CountriesError> {
        let countries = match &config.geo.database {
            Some(path) => Countries::open(path)?,
            None => Countries::Builtin,
        };
        let mut network = Self::new(countries, config.egress.as_ref().map(EgressPolicy::new));
        for entry in &config.geo.overrides {
            network.add_override(entry.cidr.0, entry.country, entry.scope);
        }
        tracing::debug!(countries = %network.countries.describe(), overrides = network.overrides.len(), "destination geography");
        Ok(network)
    }

    pub fn new(countries: Countries, egress: Option<EgressPolicy>) -> Self {
        Self {
            overrides: Vec::new(),
            countries,
            egress,
        }
    }

    /// Labels the addresses of `net` by hand (checked before anything else, first match wins).
    /// A country without a scope makes them `public`.
    pub fn add_override(&mut self, net: IpNet, country: Option<CountryCode>, scope: Option<Scope>) {
        let scope = scope.or(country.map(|_| Scope::Public));
        self.overrides.push(Override { net, country, scope });
    }

    pub fn countries(&self) -> &Countries {
        &self.countries
    }

    /// Scope and country of `ip`: an override, else the address's own scope and, for public
    /// addresses, the database's country.
    pub fn locate(&self, ip: IpAddr) -> (Scope, Option<CountryCode>) {
        let ip = canonical(ip);
        if let Some(entry) = self.overrides.iter().find(|entry| entry.net.contains(&ip)) {
            return (entry.scope.unwrap_or_else(|| scope_of(ip)), entry.country);
        }
        let scope = scope_of(ip);
        let country = match scope {
            Scope::Public => self.countries.lookup(ip),
            _ => None,
        };
        (scope, country)
    }

    /// What the event says about an IP destination.
    pub fn describe(&self, address: SocketAddr) -> DestinationInfo {
        let ip = canonical(address.ip());
        let (scope, country) = self.locate(ip);
        DestinationInfo {
            scope: Some(scope),
            country,
            allowed: self
                .egress
                .as_ref()
                .map(|policy| policy.allows(ip, address.port(), scope, country)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::network::EgressConfig, yaml};

    fn network(egress: &str) -> Network {
        let egress: Option<EgressConfig> = (!egress.is_empty()).then(|| yaml::parse(egress, "egress").expect("egress"));
        let mut network = Network::new(Countries::Builtin, egress.as_ref().map(EgressPolicy::new));
        network.add_override("127.0.0.2/32".parse().expect("net"), CountryCode::parse("ZZ"), None);
        network
    }

    fn describe(network: &Network, address: &str) -> DestinationInfo {
        network.describe(address.parse().expect("socket address"))
    }

    #[test]
    fn public_addresses_get_countries_local_ones_scopes() {
        let network = network("");
        let google = describe(&network, "8.8.8.8:53");
        assert_eq!(google.scope, Some(Scope::Public));
        assert_eq!(google.country.map(|c| c.to_string()), Some("US".into()));
        assert_eq!(google.allowed, None, "no allowlist configured");
        let v6 = describe(&network, "[::ffff:1.0.16.1]:443");
        assert_eq!(v6.country.map(|c| c.to_string()), Some("JP".into()));
        let local = describe(&network, "127.0.0.1:3000");
        assert_eq!((local.scope, local.country), (Some(Scope::Loopback), None));
        let lan = describe(&network, "192.168.1.5:22");
        assert_eq!((lan.scope, lan.country), (Some(Scope::Private), None));
        // The test mapping: a loopback address that stands for a foreign country.
        let mapped = describe(&network, "127.0.0.2:4444");
        assert_eq!(mapped.scope, Some(Scope::Public));
        assert_eq!(mapped.country.map(|c| c.to_string()), Some("ZZ".into()));
    }

    #[test]
    fn the_allowlist_decides_allowed() {
        let network = network(
            "allow:\n  - scopes: [loopback, private]\n  - ports: [53]\n  - {countries: [US], ports: [443]}\n  - cidrs: [1.0.16.0/24]\n",
        );
        let allowed = |address| describe(&network, address).allowed;
        assert_eq!(allowed("127.0.0.1:9999"), Some(true));
        assert_eq!(allowed("10.0.0.1:5432"), Some(true));
        assert_eq!(allowed("1.1.1.1:53"), Some(true));
        assert_eq!(allowed("8.8.8.8:443"), Some(true));
        assert_eq!(allowed("8.8.8.8:4444"), Some(false));
        assert_eq!(allowed("1.0.16.9:4444"), Some(true));
        assert_eq!(
            allowed("127.0.0.2:443"),
            Some(false),
            "ZZ is not US, and not loopback any more"
        );
        assert_eq!(allowed("127.0.0.2:53"), Some(true));
    }
}
