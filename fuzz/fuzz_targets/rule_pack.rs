//! Rule packs: any text parses to a pack or to problems with positions, and a pack that parses
//! compiles or is refused with problems; never a panic.
#![no_main]

use agent_sensor::rules::{compile::compile, pack::parse_pack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let (pack, _problems) = parse_pack("fuzz.yaml", text);
    if let Some(pack) = pack {
        let _ = compile(&[pack]);
    }
});
