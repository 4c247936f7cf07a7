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
