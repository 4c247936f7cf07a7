//! `dns:` — where the system's DNS resolvers are read from, for `dns-unexpected-resolver`: the
//! rule packs' `system_resolvers` list gets these addresses appended when the sensor starts and on
//! every reload (docs/configuration.md).

use std::{net::IpAddr, path::PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use super::network::Cidr;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// resolv.conf files whose `nameserver` lines are the system's resolvers (missing files are
    /// skipped).
    pub resolv_conf: Vec<PathBuf>,
    /// More resolvers (addresses or networks).
    pub resolvers: Vec<Cidr>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            resolv_conf: vec![
                PathBuf::from("/etc/resolv.conf"),
                PathBuf::from("/run/systemd/resolve/resolv.conf"),
            ],
            resolvers: Vec::new(),
        }
    }
}

impl DnsConfig {
    /// The resolvers of the resolv.conf files and of `resolvers`. Files that exist but name no
    /// resolver mean the local host (127.0.0.1 and ::1), as for the C library.
    pub fn system_resolvers(&self) -> Vec<IpNet> {
        let mut found = Vec::new();
        let mut read_any = false;
        for path in &self.resolv_conf {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            read_any = true;
            found.extend(nameservers(&text));
        }
        if found.is_empty() && (read_any || self.resolv_conf.is_empty()) {
            found.extend(["127.0.0.1", "::1"].iter().filter_map(|ip| ip.parse::<IpAddr>().ok()));
        }
        let mut nets: Vec<IpNet> = found.into_iter().map(IpNet::from).collect();
        nets.extend(self.resolvers.iter().map(|cidr| cidr.0));
        nets.sort();
        nets.dedup();
        nets
    }
}

/// The addresses of `nameserver` lines (a zone index such as `%eth0` is dropped).
fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            let address = words.next()?;
            address.split('%').next()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_come_from_resolv_conf_files_and_the_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stub = dir.path().join("resolv.conf");
        std::fs::write(&stub, "# generated\nnameserver 127.0.0.53\noptions edns0\nsearch lan\n").expect("write");
        let uplink = dir.path().join("uplink.conf");
        std::fs::write(
            &uplink,
            "nameserver 192.168.1.1\nnameserver fe80::1%eth0\nnameserver bogus\n",
        )
        .expect("write");
        let config = DnsConfig {
            resolv_conf: vec![stub.clone(), uplink, dir.path().join("missing.conf")],
            resolvers: vec![Cidr::parse("10.0.0.53").expect("cidr")],
        };
        let nets: Vec<String> = config.system_resolvers().iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.53/32", "127.0.0.53/32", "192.168.1.1/32", "fe80::1/128"]);
        // No nameserver line: the local host.
        std::fs::write(&stub, "search lan\n").expect("write");
        let config = DnsConfig {
            resolv_conf: vec![stub],
            resolvers: Vec::new(),
        };
        let nets: Vec<String> = config.system_resolvers().iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["127.0.0.1/32", "::1/128"]);
    }
}
