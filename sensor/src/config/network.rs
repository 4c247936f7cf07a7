//! Configuration of where connections go: the country database and test mappings (`geo`), and
//! the egress allowlist `unexpected-egress` uses (`egress`). See docs/configuration.md.

use std::{fmt, net::IpAddr, path::PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, de};

use crate::event::annotations::{CountryCode, Scope};

/// `geo:` — where countries come from.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct GeoConfig {
    /// A MaxMind-format database (GeoLite2-Country, GeoIP2-City, …) used instead of the built-in
    /// registry data. Relative to the configuration file.
    pub database: Option<PathBuf>,
    /// Addresses to label by hand, checked before anything else (first match wins): internal
    /// ranges, or loopback addresses that stand for a foreign country in tests.
    pub overrides: Vec<GeoOverride>,
}

/// One `geo.overrides` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GeoOverride {
    pub cidr: Cidr,
    /// The country addresses in `cidr` are reported in.
    #[serde(default)]
    pub country: Option<CountryCode>,
    /// Their scope (default: `public` when a country is given, else the address's own scope).
    #[serde(default)]
    pub scope: Option<Scope>,
}

/// `egress:` — the allowlist behind `agent_sensor.destination.allowed`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// A connection is allowed when it matches any entry.
    pub allow: Vec<EgressRule>,
}

/// One allowlist entry: every key given must match (an entry with none is an error).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "EgressRuleFields")]
pub struct EgressRule {
    pub cidrs: Vec<Cidr>,
    pub countries: Vec<CountryCode>,
    pub ports: Vec<PortRange>,
    pub scopes: Vec<Scope>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EgressRuleFields {
    cidrs: Vec<Cidr>,
    countries: Vec<CountryCode>,
    ports: Vec<PortRange>,
    scopes: Vec<Scope>,
}

/// An `egress.allow` entry with none of its fields, which would allow everything.
#[derive(Debug, thiserror::Error)]
#[error(
    "an egress.allow entry needs at least one of cidrs, countries, ports, scopes \
                        (an empty one would allow everything)"
)]
pub struct EmptyEgressRule;

impl TryFrom<EgressRuleFields> for EgressRule {
    type Error = EmptyEgressRule;

    fn try_from(fields: EgressRuleFields) -> Result<Self, EmptyEgressRule> {
        let rule = EgressRule {
            cidrs: fields.cidrs,
            countries: fields.countries,
            ports: fields.ports,
            scopes: fields.scopes,
        };
        if rule.cidrs.is_empty() && rule.countries.is_empty() && rule.ports.is_empty() && rule.scopes.is_empty() {
            return Err(EmptyEgressRule);
        }
        Ok(rule)
    }
}

/// A network (`10.0.0.0/8`, `2001:db8::/32`) or a single address (`127.0.0.2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr(pub IpNet);

impl Cidr {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        text.parse::<IpNet>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
            .map(|net| Cidr(net.trunc()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A port (`443`) or an inclusive range (`"8000-8999"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (low, high) = match text.split_once('-') {
            Some((low, high)) => (low.trim().parse().ok()?, high.trim().parse().ok()?),
            None => {
                let port = text.trim().parse().ok()?;
                (port, port)
            }
        };
        (low <= high).then_some(Self { low, high })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Cidr::parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "`{text}` is not a network or an address (e.g. 10.0.0.0/8, 2001:db8::/32, 127.0.0.2)"
            ))
        })
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CountryCode::parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "`{text}` is not an ISO 3166-1 alpha-2 country code (two letters, e.g. DE, US, ZZ)"
            ))
        })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = PortRange;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port (0-65535) or a range such as \"8000-8999\"")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<PortRange, E> {
                let port = u16::try_from(value).map_err(|_| E::custom(format!("{value} is not a port (0-65535)")))?;
                Ok(PortRange { low: port, high: port })
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<PortRange, E> {
                let value = u64::try_from(value).map_err(|_| E::custom(format!("{value} is not a port (0-65535)")))?;
                self.visit_u64(value)
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<PortRange, E> {
                PortRange::parse(text).ok_or_else(|| {
                    E::custom(format!(
                        "`{text}` is not a port or a range of ports (e.g. 443, \"8000-8999\")"
                    ))
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(default)]
        geo: GeoConfig,
        egress: Option<EgressConfig>,
    }

    #[test]
    fn reads_geo_and_egress() {
        let doc: Doc = yaml::parse(
            "geo:\n  overrides:\n    - {cidr: 127.0.0.2, country: zz}\n    - {cidr: 10.1.0.0/16, scope: private, country: DE}\n\
             egress:\n  allow:\n    - scopes: [loopback, link-local]\n    - {countries: [DE], ports: [443, \"8000-8999\"]}\n",
            "c.yaml",
        )
        .expect("config");
        assert_eq!(doc.geo.overrides[0].cidr, Cidr::parse("127.0.0.2/32").expect("net"));
        assert_eq!(doc.geo.overrides[0].country.map(|c| c.to_string()), Some("ZZ".into()));
        assert_eq!(doc.geo.overrides[1].scope, Some(Scope::Private));
        let egress = doc.egress.expect("egress");
        assert_eq!(egress.allow[0].scopes, [Scope::Loopback, Scope::LinkLocal]);
        assert!(egress.allow[1].ports[1].contains(8080));
        assert!(!egress.allow[1].ports[0].contains(8080));
    }

    #[test]
    fn bad_values_name_the_line() {
        for (text, line, needle) in [
            ("egress:\n  allow:\n    - cidrs: [10.0.0.0/33]\n", 3, "not a network"),
            ("egress:\n  allow:\n    - ports: [70000]\n", 3, "not a port"),
            ("egress:\n  allow:\n    - countries: [Germany]\n", 3, "country code"),
            ("egress:\n  allow:\n    - scopes: [intranet]\n", 3, "intranet"),
            ("egress:\n  allow:\n    - hosts: [x]\n", 3, "hosts"),
            ("geo:\n  database: x.mmdb\n  overide: []\n", 3, "overide"),
            ("egress:\n  allow:\n    - {}\n", 3, "at least one"),
        ] {
            let error = yaml::parse::<Doc>(text, "c.yaml").expect_err(text);
            assert_eq!(error.position.map(|(l, _)| l), Some(line), "{text}: {error}");
            assert!(error.message.contains(needle), "{text}: {error}");
        }
    }
}
