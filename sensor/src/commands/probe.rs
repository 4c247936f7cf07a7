//! `agent-sensor probe`: what this machine lets the sensor do. Loads the kernel programs as `run`
//! would, tries every enforcement backend, and prints which one judges each operation and why
//! the stronger ones are unavailable.

use anyhow::{Context, Result};

use crate::{
    capture::{Capture, CaptureOptions, environment, preload::Preload},
    config::Config,
    enforce::Backends,
    process::cgroup::{SessionCgroup, find_cgroup2_mount},
};

pub fn run(config: Option<&std::path::Path>) -> Result<()> {
    let env = environment::check()?;
    let config = Config::load(config)?;
    let mut capture = Capture::load(
        &env,
        &CaptureOptions {
            ring_buffer_bytes: 4096 * 16,
            match_profiles: false,
            use_lsm: config.enforcement.lsm,
            ..CaptureOptions::default()
        },
        Preload::before_rules(),
    )?;
    // Try the network programs on a cgroup of our own, so probing changes nothing else.
    let hierarchy = find_cgroup2_mount();
    let cgroup = match &hierarchy {
        Ok(hierarchy) => SessionCgroup::create(hierarchy, &format!("probe-{}", std::process::id())).ok(),
        Err(_) => None,
    };
    let network = match (&cgroup, &hierarchy) {
        (Some(cgroup), _) => capture
            .attach_connect_programs(cgroup.path())
            .map_err(|error| error.to_string()),
        (None, Err(error)) => Err(error.to_string()),
        (None, Ok(_)) => Err("cannot create a cgroup to try the socket programs on".into()),
    };
    let backends = Backends::choose(&capture.enforcement, network.is_ok());
    println!("kernel: {}", environment::kernel_release());
    println!(
        "active LSMs: {}",
        std::fs::read_to_string("/sys/kernel/security/lsm")
            .map_or_else(|_| "unknown".into(), |lsm| lsm.trim().to_string())
    );
    println!(
        "tracepoints: {} attached{}",
        capture.attached.len(),
        if capture.missing.is_empty() {
            String::new()
        } else {
            format!(" ({} absent: {})", capture.missing.len(), capture.missing.join(", "))
        }
    );
    println!(
        "BPF LSM hooks attached: {}",
        join_or_none(&capture.enforcement.lsm_attached)
    );
    println!("enforcement backends:");
    print!("{backends}");
    drop(capture);
    if let Some(cgroup) = cgroup {
        cgroup.remove().context("removing the probe's cgroup")?;
    }
    Ok(())
}

fn join_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
