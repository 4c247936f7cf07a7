//! The configuration's egress allowlist (`egress.allow`) as kernel policy.
//!
//! Each entry's networks, countries and scopes become one address set (their intersection), with
//! `geo.overrides` applied first as userspace applies them (first match wins). The ports are split
//! into groups that the same entries cover; on each group the allowlist admits the union of those
//! entries' addresses. A kernel rule testing `agent_sensor.destination.allowed: false` then becomes
//! one slot per port group that does not admit every address: "on these ports, not to these
//! addresses" (and `allowed: true` the opposite).

use std::collections::{BTreeMap, HashMap};

use sensor_common::policy::MAX_PORT_RANGES;

use crate::{
    config::{
        Config,
        network::{EgressRule, GeoOverride},
    },
    event::annotations::{CountryCode, Scope},
    geo::{
        Countries,
        country_sets::{CountrySetsError, country_sets},
        ranges::AddressSet,
        scope::scope_set,
    },
    rules::kernel_form::{EgressTest, KernelForm},
};

/// Ports as sorted, disjoint, inclusive ranges.
pub type Ports = Vec<(u16, u16)>;

/// Ports the same allowlist entries cover, and the addresses the allowlist admits on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortGroup {
    pub ports: Ports,
    pub addresses: AddressSet,
}

/// The allowlist, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPlan {
    /// Together they cover every port once.
    pub groups: Vec<PortGroup>,
}

impl EgressPlan {
    /// The plan of the configuration's allowlist (`None` without one).
    pub fn from_config(config: &Config, countries: &Countries) -> Result<Option<Self>, CountrySetsError> {
        let Some(egress) = &config.egress else {
            return Ok(None);
        };
        Self::compile(&egress.allow, &config.geo.overrides, countries).map(Some)
    }

    pub fn compile(
        allow: &[EgressRule],
        overrides: &[GeoOverride],
        countries: &Countries,
    ) -> Result<Self, CountrySetsError> {
        let mut wanted: Vec<CountryCode> = allow.iter().flat_map(|rule| rule.countries.iter().copied()).collect();
        wanted.sort_by_key(|cc| cc.to_string());
        wanted.dedup();
        let nets = if wanted.is_empty() {
            HashMap::new()
        } else {
            country_sets(countries, &wanted)?
        };
        let sets: Vec<AddressSet> = allow
            .iter()
            .map(|rule| entry_addresses(rule, overrides, &nets))
            .collect();
        // Elementary port intervals, and the entries covering each.
        let mut cuts: Vec<u32> = vec![0, 65536];
        for rule in allow {
            for range in &rule.ports {
                cuts.push(range.low as u32);
                cuts.push(range.high as u32 + 1);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut by_entries: BTreeMap<Vec<usize>, Ports> = BTreeMap::new();
        for pair in cuts.windows(2) {
            let (low, high) = (pair[0] as u16, (pair[1] - 1) as u16);
            let covering: Vec<usize> = allow
                .iter()
                .enumerate()
                .filter(|(_, rule)| rule.ports.is_empty() || rule.ports.iter().any(|range| range.contains(low)))
                .map(|(index, _)| index)
                .collect();
            add_range(by_entries.entry(covering).or_default(), (low, high));
        }
        let groups = by_entries
            .into_iter()
            .map(|(entries, ports)| PortGroup {
                ports,
                addresses: entries
                    .iter()
                    .fold(AddressSet::empty(), |set, index| set.union(&sets[*index])),
            })
            .collect();
        Ok(Self { groups })
    }

    /// Whether the plan admits `ip`:`port` (what the kernel rules built from it decide).
    pub fn allows(&self, ip: std::net::IpAddr, port: u16) -> bool {
        self.groups.iter().any(|group| {
            group.ports.iter().any(|(low, high)| (*low..=*high).contains(&port)) && group.addresses.contains(ip)
        })
    }

    /// The networks the LPM trie holds for the plan's address sets (each set once).
    pub fn networks(&self) -> usize {
        let mut seen: Vec<&AddressSet> = Vec::new();
        let mut count = 0;
        for group in &self.groups {
            if !seen.contains(&&group.addresses) {
                seen.push(&group.addresses);
                count += group.addresses.networks().len();
            }
        }
        count
    }
}

fn add_range(ports: &mut Ports, (low, high): (u16, u16)) {
    match ports.last_mut() {
        Some(last) if last.1 as u32 + 1 == low as u32 => last.1 = high,
        _ => ports.push((low, high)),
    }
}

/// What one entry admits, overrides applied first (first match wins), as `geo::Network::locate`.
fn entry_addresses(
    rule: &EgressRule,
    overrides: &[GeoOverride],
    country_nets: &HashMap<CountryCode, AddressSet>,
) -> AddressSet {
    let cidrs = if rule.cidrs.is_empty() {
        AddressSet::everything()
    } else {
        AddressSet::nets(rule.cidrs.iter().map(|cidr| &cidr.0))
    };
    let scopes = if rule.scopes.is_empty() {
        AddressSet::everything()
    } else {
        rule.scopes
            .iter()
            .fold(AddressSet::empty(), |set, scope| set.union(&scope_set(*scope)))
    };
    // Only public addresses have a country.
    let countries = if rule.countries.is_empty() {
        AddressSet::everything()
    } else {
        rule.countries
            .iter()
            .filter_map(|cc| country_nets.get(cc))
            .fold(AddressSet::empty(), |set, nets| set.union(nets))
            .intersection(&scope_set(Scope::Public))
    };
    let natural = cidrs.intersection(&scopes).intersection(&countries);
    let mut covered = AddressSet::empty();
    let mut admitted = AddressSet::empty();
    for entry in overrides {
        let net = AddressSet::net(&entry.cidr.0);
        let region = net.minus(&covered);
        covered = covered.union(&net);
        let scope = entry.scope.or(entry.country.map(|_| Scope::Public));
        if !rule.countries.is_empty() && !entry.country.is_some_and(|cc| rule.countries.contains(&cc)) {
            continue;
        }
        let mut region = region.intersection(&cidrs);
        if !rule.scopes.is_empty() {
            match scope {
                Some(scope) if !rule.scopes.contains(&scope) => continue,
                Some(_) => {}
                // The addresses keep their own scope.
                None => region = region.intersection(&scopes),
            }
        }
        admitted = admitted.union(&region);
    }
    natural.minus(&covered).union(&admitted)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlotError {
    #[error("a threshold rule cannot test the egress allowlist when it takes several kernel slots")]
    Threshold,
}

/// The kernel forms `form` is judged as, given the allowlist (`None`: none configured): none
/// when its egress tests cannot hold, one per port group (or per 16 port ranges) otherwise.
/// Forms without egress tests are returned as they are.
pub fn expand(form: &KernelForm, plan: Option<&EgressPlan>) -> Result<Vec<KernelForm>, SlotError> {
    let EgressTest { allowed, configured } = form.egress;
    if allowed.is_none() && configured.is_none() {
        return Ok(vec![form.clone()]);
    }
    if configured.is_some_and(|configured| configured != plan.is_some()) || (allowed.is_some() && plan.is_none()) {
        return Ok(Vec::new());
    }
    let base = KernelForm {
        egress: EgressTest::default(),
        ..form.clone()
    };
    let (Some(allowed), Some(plan)) = (allowed, plan) else {
        return Ok(vec![base]);
    };
    let own_ports = port_set(&form.port_include, &form.port_exclude);
    let mut out = Vec::new();
    for group in &plan.groups {
        let ports = intersect_ports(&own_ports, &group.ports);
        if ports.is_empty() {
            continue;
        }
        let mut slot = base.clone();
        if allowed {
            if group.addresses.is_empty() {
                continue;
            }
            if !group.addresses.is_everything() {
                let own = if form.ip_include.is_empty() {
                    AddressSet::everything()
                } else {
                    AddressSet::nets(&form.ip_include)
                };
                let both = own.intersection(&group.addresses);
                if both.is_empty() {
                    continue;
                }
                slot.ip_include = both.networks();
            }
        } else {
            if group.addresses.is_everything() {
                continue;
            }
            slot.ip_exclude.extend(group.addresses.networks());
        }
        for (include, exclude) in encode_ports(&ports) {
            out.push(KernelForm {
                port_include: include,
                port_exclude: exclude,
                ..slot.clone()
            });
        }
    }
    if out.len() > 1 && form.threshold.is_some() {
        return Err(SlotError::Threshold);
    }
    Ok(out)
}

/// The ports of an include list (empty: all) without those of an exclude list.
fn port_set(include: &[(u16, u16)], exclude: &[(u16, u16)]) -> Ports {
    let mut ports: Ports = if include.is_empty() {
        vec![(0, u16::MAX)]
    } else {
        normalise(include.to_vec())
    };
    if !exclude.is_empty() {
        ports = intersect_ports(&ports, &complement(&normalise(exclude.to_vec())));
    }
    ports
}

fn normalise(mut ranges: Ports) -> Ports {
    ranges.sort_unstable();
    let mut out: Ports = Vec::new();
    for (low, high) in ranges {
        match out.last_mut() {
            Some(last) if low as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(high),
            _ => out.push((low, high)),
        }
    }
    out
}

fn complement(ranges: &[(u16, u16)]) -> Ports {
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(low, high) in ranges {
        if low as u32 > next {
            out.push((next as u16, low - 1));
        }
        next = high as u32 + 1;
    }
    if next <= u16::MAX as u32 {
        out.push((next as u16, u16::MAX));
    }
    out
}

fn intersect_ports(a: &[(u16, u16)], b: &[(u16, u16)]) -> Ports {
    let mut out = Vec::new();
    for &(a_low, a_high) in a {
        for &(b_low, b_high) in b {
            let (low, high) = (a_low.max(b_low), a_high.min(b_high));
            if low <= high {
                out.push((low, high));
            }
        }
    }
    normalise(out)
}

/// A port set as kernel tests: an include list or an exclude list, whichever is shorter; more
/// than [`MAX_PORT_RANGES`] ranges are split into several include lists (several slots).
fn encode_ports(ports: &[(u16, u16)]) -> Vec<(Ports, Ports)> {
    if ports == [(0, u16::MAX)] {
        return vec![(Vec::new(), Vec::new())];
    }
    let excluded = complement(ports);
    if excluded.len() < ports.len() && excluded.len() <= MAX_PORT_RANGES {
        return vec![(Vec::new(), excluded)];
    }
    ports
        .chunks(MAX_PORT_RANGES)
        .map(|chunk| (chunk.to_vec(), Vec::new()))
        .collect()
}

/// A kernel form's destination tests (egress tests compiled away), to judge as the kernel does.
pub struct Judged<'a> {
    form: &'a KernelForm,
    include: AddressSet,
    exclude: AddressSet,
}

impl<'a> Judged<'a> {
    pub fn new(form: &'a KernelForm) -> Self {
        Self {
            form,
            include: AddressSet::nets(&form.ip_include),
            exclude: AddressSet::nets(&form.ip_exclude),
        }
    }

    /// Whether the form matches a connection to `ip`:`port`.
    pub fn matches(&self, ip: std::net::IpAddr, port: u16) -> bool {
        let form = self.form;
        let in_ports = |ports: &[(u16, u16)]| ports.iter().any(|(low, high)| (*low..=*high).contains(&port));
        (form.ip_include.is_empty() || self.include.contains(ip))
            && !self.exclude.contains(ip)
            && (form.port_include.is_empty() || in_ports(&form.port_include))
            && !in_ports(&form.port_exclude)
    }
}

#[cfg(test)]
mod tests;
