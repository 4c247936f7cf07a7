//! One agent profile's baseline: what its sessions did while it learned, within fixed caps.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{
    areas::{AreaContext, area},
    keyset::KeySet,
    rates::Rates,
};
use crate::{
    config::baseline::CapsConfig,
    event::{
        Action, Destination, Detail, Event,
        annotations::{BaselineFacts, BaselineStatus, CountryCode, Scope},
        open_flags,
    },
    geo,
};

/// The learned baseline of one agent profile (the unit that is stored, shown, exported).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub name: String,
    pub status: BaselineStatus,
    /// First and last event seen (seconds since the Unix epoch).
    pub first_seen: i64,
    pub last_seen: i64,
    /// When it started enforcing.
    pub enforcing_since: Option<i64>,
    /// Sessions that ended while the profile learned from them.
    pub sessions_learned: u64,
    /// Sessions that ended (learning or not) and sessions seen at all.
    pub sessions_ended: u64,
    pub sessions_seen: u64,
    /// Events learned from.
    pub events_learned: u64,
    /// `process.executable` of execs.
    pub executables: KeySet,
    /// `parent executable -> executable` of execs.
    pub exec_pairs: KeySet,
    /// Areas read (opens without write access).
    pub read_areas: KeySet,
    /// Areas written (opens with write access, O_CREAT or O_TRUNC; unlinks; rmdirs).
    pub write_areas: KeySet,
    /// Connect destinations: `address:port`, public addresses by prefix (IPv4 /24, IPv6 /48).
    pub destinations: KeySet,
    /// Countries of connect destinations.
    pub countries: KeySet,
    /// Per-minute rates of each action.
    pub rates: Rates,
}

/// What one event contributes to a baseline, computed once per event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    pub executable: Option<String>,
    pub exec_pair: Option<String>,
    /// The area, and whether the access writes.
    pub area: Option<(String, bool)>,
    pub destination: Option<String>,
    pub country: Option<CountryCode>,
}

/// How observations are made.
#[derive(Clone, Debug)]
pub struct ObserveOptions {
    pub area_depth: usize,
    pub ignore_scopes: Vec<Scope>,
}

impl Observation {
    pub fn of(event: &Event, options: &ObserveOptions) -> Self {
        let mut observation = Observation::default();
        match &event.detail {
            Detail::Exec { .. } => {
                let executable = &*event.process.executable;
                if !executable.is_empty() {
                    observation.exec_pair = event
                        .parent
                        .as_ref()
                        .and_then(|parent| parent.executable.as_deref())
                        .filter(|parent| !parent.is_empty())
                        .map(|parent| format!("{parent} -> {executable}"));
                    observation.executable = Some(executable.to_string());
                }
            }
            Detail::File(file) => {
                let write = match event.action {
                    Action::Open => open_flags::is_write(file.flags),
                    _ => true,
                };
                let directory = event.action == Action::Open && file.flags & libc::O_DIRECTORY as u32 != 0;
                let context = AreaContext {
                    home: event.user_home.as_deref(),
                    workspace: event
                        .session
                        .as_ref()
                        .and_then(|session| session.working_directory.as_deref())
                        .and_then(|dir| crate::process::workspace::of(dir, event.user_home.as_deref())),
                    depth: options.area_depth,
                };
                observation.area = Some((area(&file.path, directory, &context), write));
            }
            Detail::Connect {
                destination: Destination::Inet(address),
                ..
            } => {
                let ip = geo::canonical(address.ip());
                let info = event.annotations.destination.as_ref();
                let scope = info.and_then(|info| info.scope).unwrap_or_else(|| geo::scope_of(ip));
                if !options.ignore_scopes.contains(&scope) {
                    observation.destination = Some(destination_key(ip, address.port(), scope));
                    observation.country = info.and_then(|info| info.country);
                }
            }
            _ => {}
        }
        observation
    }
}

/// `address:port`; public addresses by their prefix (`203.0.113.0/24:443`,
/// `2606:4700::/48:443`), so that one service's many addresses count once.
pub fn destination_key(ip: IpAddr, port: u16, scope: Scope) -> String {
    match (ip, scope) {
        (IpAddr::V4(v4), Scope::Public) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24:{port}")
        }
        (IpAddr::V6(v6), Scope::Public) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{prefix}/48:{port}")
        }
        (IpAddr::V4(v4), _) => format!("{v4}:{port}"),
        (IpAddr::V6(v6), _) => format!("[{v6}]:{port}"),
    }
}

impl Profile {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Self::default()
        }
    }

    /// Adds what `observation` saw at `at` (seconds).
    pub fn learn(&mut self, observation: &Observation, at: i64, caps: &CapsConfig) {
        self.events_learned = self.events_learned.saturating_add(1);
        if let Some(executable) = &observation.executable {
            self.executables.observe(executable, at, caps.executables);
        }
        if let Some(pair) = &observation.exec_pair {
            self.exec_pairs.observe(pair, at, caps.exec_pairs);
        }
        match &observation.area {
            Some((area, true)) => self.write_areas.observe(area, at, caps.file_areas),
            Some((area, false)) => self.read_areas.observe(area, at, caps.file_areas),
            None => {}
        }
        if let Some(destination) = &observation.destination {
            self.destinations.observe(destination, at, caps.destinations);
        }
        if let Some(country) = &observation.country {
            self.countries.observe(country.as_str(), at, caps.countries);
        }
    }

    /// The facts of `observation` against this baseline (the `new_*` ones only when enforcing;
    /// the caller moves the area in).
    pub fn facts(&self, observation: &Observation) -> BaselineFacts {
        let mut facts = BaselineFacts {
            status: self.status,
            ..BaselineFacts::default()
        };
        if self.status != BaselineStatus::Enforcing {
            return facts;
        }
        facts.new_executable = observation
            .executable
            .as_ref()
            .map(|executable| !self.executables.contains(executable));
        facts.new_exec_pair = observation
            .exec_pair
            .as_ref()
            .map(|pair| !self.exec_pairs.contains(pair));
        facts.new_file_area = observation.area.as_ref().map(|(area, write)| {
            let known = if *write { &self.write_areas } else { &self.read_areas };
            !known.contains(area)
        });
        facts.new_destination = observation
            .destination
            .as_ref()
            .map(|destination| !self.destinations.contains(destination));
        facts.new_country = match (&observation.destination, observation.country) {
            (Some(_), Some(country)) => Some(!self.countries.contains(country.as_str())),
            _ => None,
        };
        facts
    }

    /// Brings a profile read from a file within `caps` and replaces impossible values.
    pub fn sanitize(&mut self, caps: &CapsConfig) {
        self.executables.trim(caps.executables);
        self.exec_pairs.trim(caps.exec_pairs);
        self.read_areas.trim(caps.file_areas);
        self.write_areas.trim(caps.file_areas);
        self.destinations.trim(caps.destinations);
        self.countries.trim(caps.countries);
        self.rates.sanitize();
    }

    /// Entries held, over every set.
    pub fn entries(&self) -> usize {
        self.sets().iter().map(|(_, set)| set.len()).sum()
    }

    /// The sets by name, for display.
    pub fn sets(&self) -> [(&'static str, &KeySet); 6] {
        [
            ("executables", &self.executables),
            ("exec_pairs", &self.exec_pairs),
            ("read_areas", &self.read_areas),
            ("write_areas", &self.write_areas),
            ("destinations", &self.destinations),
            ("countries", &self.countries),
        ]
    }
}
