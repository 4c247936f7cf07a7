use std::net::IpAddr;

use ipnet::IpNet;

use super::*;
use crate::{
    config::network::EgressConfig,
    geo::{EgressPolicy, Network, ranges},
    rules::kernel_form::Ops,
    yaml,
};

const OVERRIDES: &str = concat!(
    "- {cidr: 127.0.0.2, country: ZZ}\n",
    "- {cidr: 127.0.0.4, country: DE}\n",
    "- {cidr: 10.9.0.0/16, scope: public}\n",
    "- {cidr: 127.0.0.0/30, scope: private}\n",
);

fn setup(allow: &str) -> (EgressPlan, Network) {
    let egress: EgressConfig = yaml::parse(allow, "egress").expect("egress");
    let overrides: Vec<GeoOverride> = yaml::parse(OVERRIDES, "overrides").expect("overrides");
    let plan = EgressPlan::compile(&egress.allow, &overrides, &Countries::Builtin).expect("plan");
    let mut network = Network::new(Countries::Builtin, Some(EgressPolicy::new(&egress)));
    for entry in &overrides {
        network.add_override(entry.cidr.0, entry.country, entry.scope);
    }
    (plan, network)
}

/// Addresses around every boundary that matters: overrides, scopes, a few countries' ranges.
fn grid_addresses() -> Vec<IpAddr> {
    let mut points = Vec::new();
    for text in [
        "127.0.0.1",
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
        "127.0.0.5",
        "127.255.255.255",
        "10.9.0.0",
        "10.9.255.255",
        "10.8.255.255",
        "10.1.2.3",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "8.8.8.8",
        "1.1.1.1",
        "0.0.0.0",
        "224.0.0.251",
        "255.255.255.255",
        "203.0.113.5",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "2001:db8::1",
        "2606:4700::1",
        "2a00:1450::1",
        "::ffff:127.0.0.2",
        "::ffff:8.8.8.8",
    ] {
        points.push(ranges::point(text.parse().expect("ip")));
    }
    let de = CountryCode::parse("DE").expect("cc");
    let sets = country_sets(&Countries::Builtin, &[de]).expect("sets");
    for &(low, high) in sets[&de].ranges().iter().step_by(97).take(40) {
        points.extend([low, high, low + (high - low) / 2]);
    }
    let mut out = Vec::new();
    for point in points {
        for near in [point.wrapping_sub(1), point, point.wrapping_add(1)] {
            out.push(ranges::address(near));
        }
    }
    out
}

const PORTS: [u16; 14] = [0, 1, 22, 52, 53, 54, 443, 444, 7999, 8000, 8443, 8999, 9000, 65535];

const ALLOW: &str = concat!(
    "allow:\n",
    "  - scopes: [loopback, private]\n",
    "  - {ports: [53, 853], cidrs: [127.0.0.0/8]}\n",
    "  - {countries: [DE, ZZ], ports: [443, \"8000-8999\"]}\n",
    "  - {countries: [US], scopes: [public], ports: [443]}\n",
    "  - cidrs: [1.0.16.0/24, 2606:4700::/32]\n",
    "  - {ports: [22]}\n",
);

#[test]
fn the_compiled_plan_agrees_with_the_userspace_verdict() {
    let (plan, network) = setup(ALLOW);
    let mut checked = 0;
    for ip in grid_addresses() {
        for port in PORTS {
            let expected = network.describe(std::net::SocketAddr::new(ip, port)).allowed;
            assert_eq!(Some(plan.allows(ip, port)), expected, "{ip}:{port}");
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked}");
    // The groups cover every port once.
    let mut ports: Vec<(u16, u16)> = plan.groups.iter().flat_map(|g| g.ports.clone()).collect();
    ports.sort_unstable();
    assert_eq!(normalise(ports), [(0, u16::MAX)]);
}

fn connect_form(allowed: Option<bool>, configured: Option<bool>) -> KernelForm {
    let mut form = KernelForm::empty();
    form.ops = Ops(sensor_common::policy::PolicyOp::Connect.bit());
    form.egress = EgressTest { allowed, configured };
    form
}

#[test]
fn allowed_tests_become_slots_that_judge_as_the_allowlist() {
    let (plan, network) = setup(ALLOW);
    let denied = expand(&connect_form(Some(false), None), Some(&plan)).expect("slots");
    let admitted = expand(&connect_form(Some(true), None), Some(&plan)).expect("slots");
    assert!(!denied.is_empty() && denied.len() <= 8, "{}", denied.len());
    let denied: Vec<Judged> = denied.iter().map(Judged::new).collect();
    let admitted: Vec<Judged> = admitted.iter().map(Judged::new).collect();
    for ip in grid_addresses() {
        for port in PORTS {
            let allowed = network.describe(std::net::SocketAddr::new(ip, port)).allowed == Some(true);
            let fires = |slots: &[Judged]| slots.iter().any(|slot| slot.matches(ip, port));
            assert_eq!(fires(&denied), !allowed, "allowed: false at {ip}:{port}");
            assert_eq!(fires(&admitted), allowed, "allowed: true at {ip}:{port}");
        }
    }
    // A rule's own port test narrows the slots.
    let mut dns = connect_form(Some(false), None);
    dns.port_include = vec![(53, 53), (853, 853)];
    let slots = expand(&dns, Some(&plan)).expect("slots");
    let slots: Vec<Judged> = slots.iter().map(Judged::new).collect();
    for slot in &slots {
        assert!(!slot.matches("203.0.113.9".parse().expect("ip"), 80));
    }
    assert!(
        slots
            .iter()
            .any(|slot| slot.matches("8.8.8.8".parse().expect("ip"), 53))
    );
    assert!(
        !slots
            .iter()
            .any(|slot| slot.matches("127.0.0.9".parse().expect("ip"), 53))
    );
}

#[test]
fn configured_tests_select_the_alternative_that_applies() {
    let (plan, _) = setup(ALLOW);
    let without = connect_form(None, Some(false));
    assert_eq!(expand(&without, Some(&plan)).expect("slots").len(), 0);
    assert_eq!(expand(&without, None).expect("slots").len(), 1);
    assert_eq!(expand(&connect_form(Some(false), None), None).expect("slots").len(), 0);
    assert_eq!(
        expand(&connect_form(None, Some(true)), Some(&plan))
            .expect("slots")
            .len(),
        1
    );
}

#[test]
fn long_port_lists_use_the_shorter_encoding_and_split_past_sixteen_ranges() {
    let few: Ports = vec![(0, 21), (23, 65535)];
    assert_eq!(encode_ports(&few), [(Vec::new(), vec![(22, 22)])]);
    let many: Ports = (0..40u16).map(|i| (i * 100, i * 100 + 1)).collect();
    let encoded = encode_ports(&many);
    assert_eq!(encoded.len(), 3);
    assert!(
        encoded
            .iter()
            .all(|(include, exclude)| include.len() <= MAX_PORT_RANGES && exclude.is_empty())
    );
    assert_eq!(encode_ports(&[(0, u16::MAX)]), [(Vec::new(), Vec::new())]);
}

/// The networks the kernel holds for allowlists of some country sets (docs/enforcement.md); with
/// `AGENT_SENSOR_LPM_KEYS=DIR`, each set's LPM keys as `bpftool batch` map updates, to measure the
/// kernel memory they take. `cargo test -p agent-sensor --lib country_set_sizes -- --ignored --nocapture`
#[test]
#[ignore]
fn country_set_sizes() {
    const EU27: &str = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE";
    let keys_dir = std::env::var_os("AGENT_SENSOR_LPM_KEYS").map(std::path::PathBuf::from);
    for (name, countries) in [
        ("CH", "CH".to_string()),
        ("DE", "DE".to_string()),
        ("US", "US".to_string()),
        ("EU27", EU27.to_string()),
        ("US+EU27", format!("US {EU27}")),
    ] {
        let list: Vec<String> = countries.split(' ').map(str::to_string).collect();
        let allow = format!("allow:\n  - countries: [{}]\n", list.join(", "));
        let egress: EgressConfig = yaml::parse(&allow, "egress").expect("egress");
        let plan = EgressPlan::compile(&egress.allow, &[], &Countries::Builtin).expect("plan");
        let networks: Vec<IpNet> = plan.groups[0].addresses.networks();
        let v4 = networks.iter().filter(|net| matches!(net, IpNet::V4(_))).count();
        println!(
            "{name}: {} networks ({v4} IPv4, {} IPv6)",
            networks.len(),
            networks.len() - v4
        );
        if let Some(dir) = &keys_dir {
            let mut text = String::new();
            for net in &networks {
                let (bits, data) = crate::enforce::image::cidr_key(0, net);
                let mut key = bits.to_le_bytes().to_vec();
                key.extend_from_slice(&data);
                let hex: Vec<String> = key.iter().map(|byte| format!("{byte:02x}")).collect();
                text.push_str(&format!(
                    "map update pinned /sys/fs/bpf/lpm_measure key hex {} value hex 01 00 00 00\n",
                    hex.join(" ")
                ));
            }
            std::fs::write(dir.join(format!("{name}.batch")), text).expect("write keys");
        }
    }
}
