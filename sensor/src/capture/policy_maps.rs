//! The handles on the kernel's enforcement policy maps, taken when the programs load and handed to
//! the enforcer (`enforce::policy_maps` writes the policy image into them).

use aya::maps::{Array, HashMap, MapData, lpm_trie::LpmTrie};
use sensor_common::policy::{
    CIDR_KEY_BYTES, DirPatterns, Escalation, IdentityKey, PolicyConfig, PolicyRule, Protection, Workspace,
};

/// The policy maps of the loaded kernel programs.
pub struct PolicyMaps {
    pub config: Array<MapData, PolicyConfig>,
    pub rules: Array<MapData, PolicyRule>,
    pub files: HashMap<MapData, u64, u64>,
    pub dirs: HashMap<MapData, u64, DirPatterns>,
    pub programs: HashMap<MapData, u64, u64>,
    pub cidrs: LpmTrie<MapData, [u8; CIDR_KEY_BYTES], u32>,
    pub workspaces: HashMap<MapData, u64, Workspace>,
    pub killed: HashMap<MapData, u64, u64>,
    pub protected: HashMap<MapData, IdentityKey, Protection>,
    pub escalation: HashMap<MapData, u64, Escalation>,
    pub script_hosts: HashMap<MapData, u64, u32>,
}
