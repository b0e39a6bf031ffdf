//! Summaries of timing samples.

use std::time::Duration;

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`; `None` when
/// the process is gone or the file cannot be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses: state is the 3rd
    // field of the whole line, utime and stime the 14th and 15th.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / ticks as f64,
    ))
}

/// Milliseconds as a float.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Mean of the samples in milliseconds (0 when empty).
pub fn mean_ms(samples: &[Duration]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64
}

/// The nearest-rank `percentile` (0-100) of the samples in milliseconds (0 when empty).
pub fn percentile_ms(samples: &[Duration], percentile: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (percentile / 100.0 * sorted.len() as f64).ceil() as usize;
    ms(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The median in milliseconds (0 when empty).
pub fn median_ms(samples: &[Duration]) -> f64 {
    percentile_ms(samples, 50.0)
}

/// `numerator / denominator`, guarded against a zero denominator so results stay finite.
pub fn ratio(numerator: f64, denominator: f64) -> f64 {
    numerator / denominator.max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples = millis(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
        assert_eq!(percentile_ms(&samples, 50.0), 5.0);
        assert_eq!(percentile_ms(&samples, 99.0), 10.0);
        assert_eq!(percentile_ms(&samples, 0.0), 1.0);
        assert_eq!(median_ms(&millis(&[3, 1, 2])), 2.0);
    }

    #[test]
    fn empty_samples_give_zero() {
        assert_eq!(mean_ms(&[]), 0.0);
        assert_eq!(percentile_ms(&[], 99.0), 0.0);
    }

    #[test]
    fn mean_and_ratio() {
        assert_eq!(mean_ms(&millis(&[1, 2, 3])), 2.0);
        assert_eq!(ratio(10.0, 2.0), 5.0);
        assert!(ratio(1.0, 0.0).is_finite());
    }
}
