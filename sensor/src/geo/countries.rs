//! Country lookup: the registry data built into the binary (the `iptocc` crate), or a
//! MaxMind-format database the user configures.

use std::{net::IpAddr, path::Path};

use crate::event::annotations::CountryCode;

#[derive(Debug, thiserror::Error)]
pub enum CountriesError {
    #[error("cannot open the country database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
}

/// Where countries come from.
pub enum Countries {
    /// Regional Internet Registry delegation data, embedded by `iptocc`.
    Builtin,
    /// A MaxMind DB file (GeoLite2/GeoIP2 Country or City, or any database with `country.iso_code`).
    MaxMind {
        reader: Box<maxminddb::Reader<Vec<u8>>>,
        path: String,
    },
}

impl std::fmt::Debug for Countries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Countries {
    /// Reads a MaxMind-format database into memory.
    pub fn open(path: &Path) -> Result<Self, CountriesError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|source| CountriesError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self::MaxMind {
            reader: Box::new(reader),
            path: path.display().to_string(),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Builtin => "built-in regional-registry data (iptocc)".to_string(),
            Self::MaxMind { path, reader } => {
                format!("MaxMind database {path} ({})", reader.metadata().database_type)
            }
        }
    }

    /// The country `ip` is registered in or located in, when the source knows.
    pub fn lookup(&self, ip: IpAddr) -> Option<CountryCode> {
        match self {
            Self::Builtin => iptocc::country_code(ip).and_then(CountryCode::parse),
            Self::MaxMind { reader, .. } => {
                let result = reader.lookup(ip).ok()?;
                let code = |path: &[maxminddb::PathElement<'_>]| result.decode_path::<String>(path).ok().flatten();
                code(&maxminddb::path!["country", "iso_code"])
                    .or_else(|| code(&maxminddb::path!["registered_country", "iso_code"]))
                    .and_then(|text| CountryCode::parse(&text))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(text: &str) -> Vec<u8> {
        let mut out = vec![0x40 | text.len() as u8];
        out.extend_from_slice(text.as_bytes());
        out
    }

    /// A minimal MaxMind DB (IPv4, 24-bit records) that maps `first_octet`.0.0.0/8 to
    /// `country` and knows nothing else.
    fn mmdb(first_octet: u8, country: &str) -> Vec<u8> {
        let node_count = 8u32;
        let mut tree = Vec::new();
        for depth in 0..8 {
            let bit = (first_octet >> (7 - depth)) & 1;
            let next = if depth == 7 { node_count + 16 } else { depth as u32 + 1 };
            let (left, right) = if bit == 0 {
                (next, node_count)
            } else {
                (node_count, next)
            };
            for record in [left, right] {
                tree.extend_from_slice(&record.to_be_bytes()[1..]);
            }
        }
        let mut data = vec![0xE1];
        data.extend(string("country"));
        data.push(0xE1);
        data.extend(string("iso_code"));
        data.extend(string(country));
        let mut metadata = vec![0xE9];
        for (key, value) in [
            ("binary_format_major_version", vec![0xA1, 2]),
            ("binary_format_minor_version", vec![0xA0]),
            ("build_epoch", vec![0x04, 0x02, 0x65, 0x53, 0xF1, 0x00]),
            ("database_type", string("Agent-Sensor-Test")),
            ("description", vec![0xE0]),
            ("ip_version", vec![0xA1, 4]),
            ("languages", vec![0x00, 0x04]),
            ("node_count", vec![0xC1, node_count as u8]),
            ("record_size", vec![0xA1, 24]),
        ] {
            metadata.extend(string(key));
            metadata.extend(value);
        }
        let mut file = tree;
        file.extend([0u8; 16]);
        file.extend(data);
        file.extend(b"\xAB\xCD\xEFMaxMind.com");
        file.extend(metadata);
        file
    }

    #[test]
    fn the_builtin_data_knows_public_addresses() {
        let countries = Countries::Builtin;
        assert_eq!(
            countries.lookup("8.8.8.8".parse().expect("ip")).map(|c| c.to_string()),
            Some("US".into())
        );
        assert_eq!(countries.lookup("10.0.0.1".parse().expect("ip")), None);
    }

    #[test]
    fn a_maxmind_database_replaces_the_builtin_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("test.mmdb");
        std::fs::write(&path, mmdb(8, "ZZ")).expect("write database");
        let countries = Countries::open(&path).expect("open database");
        assert!(
            countries.describe().contains("Agent-Sensor-Test"),
            "{}",
            countries.describe()
        );
        assert_eq!(
            countries.lookup("8.8.8.8".parse().expect("ip")).map(|c| c.to_string()),
            Some("ZZ".into())
        );
        assert_eq!(countries.lookup("9.9.9.9".parse().expect("ip")), None);
        // Broken or missing files are errors naming the file.
        std::fs::write(&path, b"not a database").expect("write");
        let error = Countries::open(&path).expect_err("broken").to_string();
        assert!(error.contains("test.mmdb"), "{error}");
        assert!(Countries::open(&dir.path().join("missing.mmdb")).is_err());
    }
}
