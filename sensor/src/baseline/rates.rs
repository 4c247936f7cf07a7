//! Per-minute rates of each event action: an exponentially weighted moving average of the count
//! per active minute and of its variance.

use serde::{Deserialize, Serialize};

use crate::event::{ACTION_COUNT, Action};

/// The learned rate of one action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Events per minute, on average.
    pub mean: f64,
    /// Their variance.
    pub variance: f64,
    /// Active minutes learned from.
    pub minutes: u64,
}

impl Rate {
    /// Adds one minute's count, with weight `smoothing` (0 < smoothing <= 1).
    pub fn update(&mut self, count: f64, smoothing: f64) {
        if self.minutes == 0 {
            self.mean = count;
            self.variance = 0.0;
        } else {
            let difference = count - self.mean;
            let step = smoothing * difference;
            self.mean += step;
            self.variance = (1.0 - smoothing) * (self.variance + difference * step);
        }
        self.minutes = self.minutes.saturating_add(1);
    }

    pub fn stddev(&self) -> f64 {
        self.variance.max(0.0).sqrt()
    }

    /// The spread spikes are measured in: the standard deviation, at least the square root of
    /// the mean (what a steady random rate varies by) and at least 1.
    pub fn spread(&self) -> f64 {
        self.stddev().max(self.mean.max(0.0).sqrt()).max(1.0)
    }

    /// The count a minute must exceed to spike.
    pub fn threshold(&self, sigma: f64, min_count: u64) -> f64 {
        (self.mean + sigma * self.spread()).max(min_count as f64)
    }

    /// Replaces values a damaged or hand-edited file may hold (NaN, infinities, negatives).
    pub fn sanitize(&mut self) {
        if !self.mean.is_finite() || self.mean < 0.0 || !self.variance.is_finite() || self.variance < 0.0 {
            *self = Rate::default();
        }
    }
}

/// The rates of every action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rates {
    pub exec: Rate,
    pub fork: Rate,
    pub exit: Rate,
    pub open: Rate,
    pub connect: Rate,
    pub unlink: Rate,
    pub rmdir: Rate,
    pub rename: Rate,
    pub link: Rate,
    pub symlink: Rate,
    pub truncate: Rate,
    /// Every other action (permission and owner changes, mounts, namespaces, listeners, …).
    pub other: Rate,
}

impl Rates {
    pub fn get(&self, action: Action) -> &Rate {
        match action {
            Action::Exec => &self.exec,
            Action::Fork => &self.fork,
            Action::Exit => &self.exit,
            Action::Open => &self.open,
            Action::Connect => &self.connect,
            Action::Unlink => &self.unlink,
            Action::Rmdir => &self.rmdir,
            Action::Rename => &self.rename,
            Action::Link => &self.link,
            Action::Symlink => &self.symlink,
            Action::Truncate => &self.truncate,
            _ => &self.other,
        }
    }

    pub fn get_mut(&mut self, action: Action) -> &mut Rate {
        match action {
            Action::Exec => &mut self.exec,
            Action::Fork => &mut self.fork,
            Action::Exit => &mut self.exit,
            Action::Open => &mut self.open,
            Action::Connect => &mut self.connect,
            Action::Unlink => &mut self.unlink,
            Action::Rmdir => &mut self.rmdir,
            Action::Rename => &mut self.rename,
            Action::Link => &mut self.link,
            Action::Symlink => &mut self.symlink,
            Action::Truncate => &mut self.truncate,
            _ => &mut self.other,
        }
    }

    /// Adds one active minute: `counts` by action (`Action as usize`).
    pub fn update(&mut self, counts: &[u32; ACTION_COUNT], smoothing: f64) {
        let mut other = 0;
        for action in Action::ALL {
            if std::ptr::eq(self.get(action), &self.other) {
                other += counts[action as usize];
            } else {
                self.get_mut(action).update(counts[action as usize] as f64, smoothing);
            }
        }
        self.other.update(other as f64, smoothing);
    }

    pub fn sanitize(&mut self) {
        for action in Action::ALL {
            self.get_mut(action).sanitize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_follows_and_spikes_stand_out() {
        let mut rate = Rate::default();
        for count in [10.0, 12.0, 8.0, 11.0, 9.0, 10.0, 10.0, 12.0, 9.0, 10.0] {
            rate.update(count, 0.1);
        }
        assert!((rate.mean - 10.0).abs() < 1.0, "{rate:?}");
        let threshold = rate.threshold(4.0, 20);
        assert!(threshold >= 20.0);
        assert!(threshold < 40.0, "{threshold}");
        let mut broken = Rate {
            mean: f64::NAN,
            variance: 1.0,
            minutes: 3,
        };
        broken.sanitize();
        assert_eq!(broken, Rate::default());
    }
}
