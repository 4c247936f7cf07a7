//! `destination.*`, `network.*`, `error.*` and `agent_sensor.destination`.

use super::*;

#[derive(Serialize)]
pub(super) struct DestinationFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) port: Option<u16>,
    pub(super) address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) geo: Option<GeoFields>,
}

#[derive(Serialize)]
pub(super) struct GeoFields {
    pub(super) country_iso_code: String,
}

impl DestinationFields {
    pub(super) fn of(destination: &Destination, info: Option<&DestinationInfo>) -> Self {
        match destination {
            Destination::Inet(address) => Self {
                ip: Some(address.ip().to_string()),
                port: Some(address.port()),
                address: address.ip().to_string(),
                geo: info.and_then(|info| info.country).map(|country| GeoFields {
                    country_iso_code: country.to_string(),
                }),
            },
            Destination::Unix(path) => Self {
                ip: None,
                port: None,
                address: path.clone(),
                geo: None,
            },
        }
    }
}

/// `agent_sensor.destination`.
#[derive(Serialize)]
pub(super) struct SensorDestination {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) scope: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) allowed: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct NetworkFields {
    pub(super) r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) transport: Option<&'static str>,
}

#[derive(Serialize)]
pub(super) struct ErrorFields {
    pub(super) code: &'static str,
}

/// `destination.*` and `network.*` into the line, as [`DestinationFields`] and
/// [`NetworkFields`] serialize them.
pub(super) fn write(
    line: &mut Line,
    destination: &Destination,
    info: Option<&DestinationInfo>,
    transport: Option<crate::event::Transport>,
) {
    let kind = match destination {
        Destination::Inet(address) => {
            let ip = crate::event::InlineText::format(format_args!("{}", address.ip()));
            line.field(br#","destination":{"ip":"#, ip.as_str());
            line.raw(br#","port":"#);
            line.int(address.port());
            line.field(br#","address":"#, ip.as_str());
            if let Some(country) = info.and_then(|info| info.country) {
                line.field(br#","geo":{"country_iso_code":"#, country.as_str());
                line.raw(b"}");
            }
            if address.is_ipv4() { "ipv4" } else { "ipv6" }
        }
        Destination::Unix(path) => {
            line.field(br#","destination":{"address":"#, path);
            "unix"
        }
    };
    line.raw(br#"},"network":{"type":"#);
    line.name(kind);
    if let Some(transport) = transport {
        line.raw(br#","transport":"#);
        line.name(transport.as_str());
    }
    line.raw(b"}");
}
