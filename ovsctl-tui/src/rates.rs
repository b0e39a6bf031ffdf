//! Per-second rates from successive counter samples.

use std::time::Instant;

/// Rate of a counter that went from `previous` to `current` in `seconds`. A counter that went
/// backwards (reset, or a flow that was replaced) has no meaningful rate: 0.
pub fn per_second(previous: u64, current: u64, seconds: f64) -> f64 {
    if current < previous || seconds <= 0.0 || !seconds.is_finite() {
        return 0.0;
    }
    (current - previous) as f64 / seconds
}

/// Seconds from `earlier` to `later` (0 if `later` is not after `earlier`).
pub fn seconds_between(earlier: Instant, later: Instant) -> f64 {
    later
        .checked_duration_since(earlier)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The last samples of a value, for sparklines.
#[derive(Debug, Clone, Default)]
pub struct History {
    values: std::collections::VecDeque<u64>,
}

impl History {
    /// How many samples are kept.
    pub const CAPACITY: usize = 120;

    pub fn push(&mut self, value: u64) {
        if self.values.len() == Self::CAPACITY {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    /// The last `n` samples, oldest first.
    pub fn last(&self, n: usize) -> Vec<u64> {
        let skip = self.values.len().saturating_sub(n);
        self.values.iter().skip(skip).copied().collect()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_from_counters() {
        assert_eq!(per_second(100, 300, 2.0), 100.0);
        assert_eq!(per_second(100, 100, 1.0), 0.0);
        assert_eq!(per_second(300, 100, 1.0), 0.0, "counter reset");
        assert_eq!(per_second(0, 10, 0.0), 0.0, "no time passed");
        let now = Instant::now();
        let later = now + Duration::from_millis(1500);
        assert_eq!(seconds_between(now, later), 1.5);
        assert_eq!(seconds_between(later, now), 0.0);
    }

    #[test]
    fn history_keeps_the_newest() {
        let mut history = History::default();
        assert!(history.is_empty());
        for value in 0..200 {
            history.push(value);
        }
        assert_eq!(history.len(), History::CAPACITY);
        assert_eq!(history.last(3), [197, 198, 199]);
        assert_eq!(history.last(1000).first(), Some(&80));
    }
}
