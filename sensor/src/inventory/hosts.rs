//! Hosts in URLs: loopback, and the allowlist of model endpoints.

use std::net::IpAddr;

/// The providers' own API hosts; overrides to these are not findings.
pub const DEFAULT_ALLOWED: &[&str] = &[
    "api.anthropic.com",
    "api.openai.com",
    "generativelanguage.googleapis.com",
    "aiplatform.googleapis.com",
    "dashscope.aliyuncs.com",
    "dashscope-intl.aliyuncs.com",
    "openrouter.ai",
    "api.mistral.ai",
    "api.deepseek.com",
    "api.groq.com",
    "api.x.ai",
    "bedrock-runtime.amazonaws.com",
];

pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of a URL (`scheme://[user@]host[:port]/…`), lower case.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = match host_port.strip_prefix('[') {
        Some(inner) => inner.split(']').next().unwrap_or(inner),
        None => host_port.split(':').next().unwrap_or(host_port),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Whether `host` is loopback, a default provider host, or in `extra` (exact, or a `.suffix`
/// entry matching subdomains; a regional `*.amazonaws.com` Bedrock host counts).
pub fn allowed(host: &str, extra: &[String]) -> bool {
    is_loopback(host)
        || DEFAULT_ALLOWED.contains(&host)
        || (host.starts_with("bedrock-runtime.") && host.ends_with(".amazonaws.com"))
        || extra.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            match entry.strip_prefix('.') {
                Some(suffix) => host.ends_with(&format!(".{suffix}")) || host == suffix,
                None => host == entry,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            url_host("https://user@Gateway.Corp:8443/v1").as_deref(),
            Some("gateway.corp")
        );
        assert_eq!(url_host("http://[::1]:11434").as_deref(), Some("::1"));
        assert!(is_loopback("127.0.0.2") && is_loopback("::1") && is_loopback("localhost"));
        assert!(!is_loopback("10.0.0.1"));
        assert!(allowed("api.openai.com", &[]));
        assert!(!allowed("llm.attacker.example", &[]));
        assert!(allowed("llm.corp.example", &[".corp.example".into()]));
    }
}
