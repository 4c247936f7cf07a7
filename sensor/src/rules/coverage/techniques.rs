//! Names of the MITRE ATT&CK (Enterprise, Linux) techniques the shipped packs name, for the
//! coverage map. An id missing here is shown without a name; a unit test keeps every id of the
//! default pack named.

/// `(id, name)`, sorted by id. Sub-techniques carry their own name (the parent's is implied by
/// the id).
const NAMES: &[(&str, &str)] = &[
    ("T1003.007", "OS Credential Dumping: Proc Filesystem"),
    ("T1003.008", "OS Credential Dumping: /etc/passwd and /etc/shadow"),
    ("T1027", "Obfuscated Files or Information"),
    ("T1041", "Exfiltration Over C2 Channel"),
    ("T1048", "Exfiltration Over Alternative Protocol"),
    ("T1048.003", "Exfiltration Over Unencrypted Non-C2 Protocol"),
    ("T1053.002", "Scheduled Task/Job: At"),
    ("T1053.003", "Scheduled Task/Job: Cron"),
    ("T1053.006", "Scheduled Task/Job: Systemd Timers"),
    ("T1055", "Process Injection"),
    ("T1055.008", "Process Injection: Ptrace System Calls"),
    ("T1055.009", "Process Injection: Proc Memory"),
    ("T1059", "Command and Scripting Interpreter"),
    ("T1059.004", "Command and Scripting Interpreter: Unix Shell"),
    ("T1059.006", "Command and Scripting Interpreter: Python"),
    ("T1070", "Indicator Removal"),
    ("T1070.002", "Indicator Removal: Clear Linux or Mac System Logs"),
    ("T1070.003", "Indicator Removal: Clear Command History"),
    ("T1070.004", "Indicator Removal: File Deletion"),
    ("T1071", "Application Layer Protocol"),
    ("T1071.004", "Application Layer Protocol: DNS"),
    ("T1082", "System Information Discovery"),
    ("T1083", "File and Directory Discovery"),
    ("T1095", "Non-Application Layer Protocol"),
    ("T1098.004", "Account Manipulation: SSH Authorized Keys"),
    ("T1105", "Ingress Tool Transfer"),
    ("T1106", "Native API"),
    ("T1119", "Automated Collection"),
    ("T1132.001", "Data Encoding: Standard Encoding"),
    ("T1136", "Create Account"),
    ("T1140", "Deobfuscate/Decode Files or Information"),
    ("T1204.002", "User Execution: Malicious File"),
    ("T1211", "Exploitation for Defense Evasion"),
    ("T1485", "Data Destruction"),
    ("T1486", "Data Encrypted for Impact"),
    ("T1489", "Service Stop"),
    ("T1539", "Steal Web Session Cookie"),
    ("T1543.002", "Create or Modify System Process: Systemd Service"),
    (
        "T1546.004",
        "Event Triggered Execution: Unix Shell Configuration Modification",
    ),
    ("T1547.013", "Boot or Logon Autostart Execution: XDG Autostart Entries"),
    ("T1548", "Abuse Elevation Control Mechanism"),
    ("T1548.001", "Abuse Elevation Control Mechanism: Setuid and Setgid"),
    ("T1548.003", "Abuse Elevation Control Mechanism: Sudo and Sudo Caching"),
    ("T1552", "Unsecured Credentials"),
    ("T1552.001", "Unsecured Credentials: Credentials In Files"),
    ("T1552.003", "Unsecured Credentials: Bash History"),
    ("T1552.004", "Unsecured Credentials: Private Keys"),
    ("T1555", "Credentials from Password Stores"),
    (
        "T1555.003",
        "Credentials from Password Stores: Credentials from Web Browsers",
    ),
    ("T1559", "Inter-Process Communication"),
    ("T1560.001", "Archive Collected Data: Archive via Utility"),
    ("T1561.001", "Disk Wipe: Disk Content Wipe"),
    ("T1562.001", "Impair Defenses: Disable or Modify Tools"),
    ("T1562.003", "Impair Defenses: Impair Command History Logging"),
    ("T1562.004", "Impair Defenses: Disable or Modify System Firewall"),
    ("T1562.006", "Impair Defenses: Indicator Blocking"),
    ("T1562.012", "Impair Defenses: Disable or Modify Linux Audit System"),
    ("T1564", "Hide Artifacts"),
    ("T1565.001", "Data Manipulation: Stored Data Manipulation"),
    ("T1567", "Exfiltration Over Web Service"),
    ("T1570", "Lateral Tool Transfer"),
    ("T1571", "Non-Standard Port"),
    ("T1574.006", "Hijack Execution Flow: Dynamic Linker Hijacking"),
    ("T1611", "Escape to Host"),
    ("T1620", "Reflective Code Loading"),
];

/// The name of technique `id` (as written in `mitre:`, any case).
pub fn name(id: &str) -> Option<&'static str> {
    let id = id.trim().to_ascii_uppercase();
    NAMES
        .binary_search_by(|(known, _)| known.cmp(&id.as_str()))
        .ok()
        .map(|index| NAMES[index].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_for_lookup() {
        assert!(
            NAMES.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "NAMES must stay sorted by id"
        );
        assert_eq!(name("t1485"), Some("Data Destruction"));
        assert_eq!(name("T9999"), None);
    }
}
