//! Local model servers: TCP ports listening where Ollama, LM Studio, llama.cpp, vLLM and others
//! usually listen, read from /proc/net/tcp{,6}. Nothing is connected to.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    path::Path,
};

use super::model::ModelServer;

/// Usual ports of local model servers.
const PORTS: &[(u16, &str)] = &[
    (11434, "ollama"),
    (1234, "lm-studio"),
    (8080, "llama.cpp"),
    (8000, "vllm"),
    (4000, "litellm"),
    (5001, "koboldcpp"),
    (1337, "jan"),
    (4891, "gpt4all"),
    (7860, "text-generation-webui"),
    (18789, "openclaw-gateway"),
];

/// Listening sockets on model-server ports, from `<root>/proc/net/tcp` and `tcp6`.
pub fn scan(root: &Path) -> Vec<ModelServer> {
    let mut servers = Vec::new();
    for (file, v6) in [("proc/net/tcp", false), ("proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        for server in parse(&text, v6) {
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
    }
    servers
}

/// The listening entries of one /proc/net/tcp table.
pub fn parse(text: &str, v6: bool) -> Vec<ModelServer> {
    let mut servers = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st …; st 0A is LISTEN.
        if fields.len() < 4 || fields[3] != "0A" {
            continue;
        }
        let Some((address, port)) = fields[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port, 16) else {
            continue;
        };
        let Some((_, name)) = PORTS.iter().find(|(known, _)| *known == port) else {
            continue;
        };
        let Some((address, loopback)) = decode(address, v6) else {
            continue;
        };
        servers.push(ModelServer {
            server: name,
            address,
            port,
            loopback,
        });
    }
    servers
}

/// The kernel prints addresses as host-order 32-bit words in hex.
fn decode(hex: &str, v6: bool) -> Option<(String, bool)> {
    if !v6 {
        let word = u32::from_str_radix(hex, 16).ok()?;
        let ip = Ipv4Addr::from(word.swap_bytes());
        return Some((ip.to_string(), ip.is_loopback()));
    }
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for word in 0..4 {
        let value = u32::from_str_radix(&hex[word * 8..word * 8 + 8], 16).ok()?;
        bytes[word * 4..word * 4 + 4].copy_from_slice(&value.swap_bytes().to_be_bytes());
    }
    let ip = Ipv6Addr::from(bytes);
    let loopback = ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback());
    Some((ip.to_string(), loopback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listening_model_ports_only() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1\n\
   1: 00000000:04D2 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1\n\
   2: 0100007F:2CAA 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 3 1\n\
   3: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1\n";
        let servers = parse(tcp, false);
        assert_eq!(servers.len(), 2, "{servers:?}");
        assert_eq!(
            (servers[0].server, servers[0].port, servers[0].loopback),
            ("ollama", 11434, true)
        );
        assert_eq!(servers[0].address, "127.0.0.1");
        assert_eq!((servers[1].server, servers[1].loopback), ("lm-studio", false));
        let tcp6 =
            "sl local rem st\n 0: 00000000000000000000000001000000:2CAA 00000000000000000000000000000000:0000 0A 0\n";
        let servers = parse(tcp6, true);
        assert_eq!((servers[0].address.as_str(), servers[0].loopback), ("::1", true));
    }
}
