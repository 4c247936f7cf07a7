//! What the sensor adds to an event after enrichment: where a connection goes (its scope, country
//! and whether the configured egress allowlist admits it; see `crate::geo`) and how the event
//! compares with its agent's baseline (see `crate::baseline`). Rules test these fields like any
//! other (docs/rules.md), and they appear in the event's JSON (docs/events.md).

use std::fmt;

/// Annotations of one event; empty when the sensor computed none (offline, or disabled).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotations {
    /// For IPv4/IPv6 connects.
    pub destination: Option<DestinationInfo>,
    /// When baselines are on.
    pub baseline: Option<Box<BaselineFacts>>,
    /// The process at the other end (`agent_sensor.peer.*`): see `peer`.
    pub peer: Option<super::peer::PeerInfo>,
}

/// Where an IP destination lies (`agent_sensor.destination.*`, `destination.geo.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationInfo {
    /// `agent_sensor.destination.scope`.
    pub scope: Option<Scope>,
    /// `destination.geo.country_iso_code`: for public addresses the database knows.
    pub country: Option<CountryCode>,
    /// `agent_sensor.destination.allowed`: only when the configuration has an `egress` allowlist.
    pub allowed: Option<bool>,
}

/// The kind of network an address belongs to. Only `public` addresses have a country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and IPv6 unique-local (fc00::/7).
    Private,
    /// 169.254/16 (also cloud metadata services), fe80::/10.
    LinkLocal,
    /// 100.64.0.0/10, carrier-grade NAT (Tailscale and many VPNs).
    Shared,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 0.0.0.0, :: (connecting there reaches the local host on Linux).
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// Other special-purpose ranges: documentation, benchmarking, 240/4, 0/8, discard, …
    Reserved,
    /// Everything else: the internet.
    Public,
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::Loopback,
        Scope::Private,
        Scope::LinkLocal,
        Scope::Shared,
        Scope::Multicast,
        Scope::Unspecified,
        Scope::Broadcast,
        Scope::Reserved,
        Scope::Public,
    ];
    pub const NAMES: [&'static str; 9] = [
        "loopback",
        "private",
        "link-local",
        "shared",
        "multicast",
        "unspecified",
        "broadcast",
        "reserved",
        "public",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ISO 3166-1 alpha-2 country code (two ASCII capital letters; `ZZ` and the other
/// user-assigned codes are accepted, for test mappings).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Two ASCII letters, either case (stored upper case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // Always two ASCII letters (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the agent's profile is still learning or judges events against what it learned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineStatus {
    #[default]
    Learning,
    Enforcing,
}

impl BaselineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Learning => "learning",
            Self::Enforcing => "enforcing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "learning" => Some(Self::Learning),
            "enforcing" => Some(Self::Enforcing),
            _ => None,
        }
    }
}

/// How an event compares with its agent's baseline (`agent_sensor.baseline.*`). The `new_*`
/// facts are set only while the profile is enforcing, and only for the actions they concern.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaselineFacts {
    pub status: BaselineStatus,
    /// exec: the profile never ran this executable (`process.executable`).
    pub new_executable: Option<bool>,
    /// exec: the profile never saw this parent executable start this executable.
    pub new_exec_pair: Option<bool>,
    /// open, unlink, rmdir: the generalised directory (`file_area`) is new for this kind of access.
    pub new_file_area: Option<bool>,
    /// open, unlink, rmdir: the directory the access is generalised to (learning too).
    pub file_area: Option<String>,
    /// connect (IPv4/IPv6): the address (or its prefix) and port are new.
    pub new_destination: Option<bool>,
    /// connect: the destination's country is new (only for destinations with a country).
    pub new_country: Option<bool>,
    /// Set on the copy of the event a baseline alert carries: why it was unusual.
    pub finding: Option<Finding>,
}

/// What made a baseline alert's event unusual, with the facts of the baseline it was judged by.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// `new-executable`, `new-exec-pair`, `new-file-area`, `new-destination`, `rate-spike`.
    pub kind: &'static str,
    /// The value the baseline did not know (an executable, `parent -> child`, an area, a
    /// destination key, or the action whose rate spiked).
    pub value: String,
    /// 0 to 100: how unusual (docs/baselines.md).
    pub score: u8,
    /// One sentence for the analyst.
    pub reason: String,
    /// Distinct values of this kind the profile knows.
    pub known: u64,
    /// Observations of this kind the profile learned from.
    pub observations: u64,
    /// Sessions the profile learned from.
    pub sessions: u64,
    /// A few known values close to this one (same directory, same country…), for context.
    pub similar: Vec<String>,
    /// For rate spikes.
    pub rate: Option<RateFinding>,
}

// `Finding` holds floats only in `RateFinding`, which are never NaN (counts and their moments).
impl Eq for Finding {}

/// The numbers behind a rate spike: this minute's count against the learned per-minute rate.
#[derive(Clone, Debug, PartialEq)]
pub struct RateFinding {
    pub action: &'static str,
    pub count: u64,
    pub mean: f64,
    pub stddev: f64,
    pub threshold: f64,
    /// Active minutes the rate was learned from.
    pub minutes: u64,
}
