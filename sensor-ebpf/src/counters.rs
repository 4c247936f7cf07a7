//! Per-CPU counters that userspace sums and reports (drops above all).

use sensor_common::maps::Counter;

use crate::maps::COUNTERS;

#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(value) = COUNTERS.get_ptr_mut(counter as u32) {
        unsafe { *value += 1 };
    }
}
