//! Human-readable numbers, rates and durations for narrow table columns.

/// A count with a K/M/G suffix once it no longer fits in 5 digits (`12345`, `123.4K`).
pub fn count(value: u64) -> String {
    if value < 100_000 {
        return value.to_string();
    }
    scaled(value as f64, &["", "K", "M", "G", "T", "P"], 1000.0)
}

/// Bytes with binary-free decimal suffixes (`512B`, `1.5KB`, `3.2MB`).
pub fn bytes(value: u64) -> String {
    if value < 1000 {
        return format!("{value}B");
    }
    scaled(value as f64, &["B", "KB", "MB", "GB", "TB", "PB"], 1000.0)
}

/// A per-second rate (`0`, `0.5`, `12`, `1.2K`).
pub fn rate(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        return "0".to_string();
    }
    if value < 10.0 {
        let text = format!("{value:.1}");
        return text.strip_suffix(".0").map(str::to_string).unwrap_or(text);
    }
    if value < 1000.0 {
        return format!("{value:.0}");
    }
    scaled(value, &["", "K", "M", "G", "T", "P"], 1000.0)
}

/// A bit rate from bytes per second (`0`, `800b`, `1.2Kb`, `3.4Mb`).
pub fn bit_rate(bytes_per_second: f64) -> String {
    let bits = bytes_per_second * 8.0;
    if !bits.is_finite() || bits <= 0.0 {
        return "0".to_string();
    }
    if bits < 1000.0 {
        return format!("{bits:.0}b");
    }
    scaled(bits, &["b", "Kb", "Mb", "Gb", "Tb", "Pb"], 1000.0)
}

fn scaled(mut value: f64, units: &[&str], step: f64) -> String {
    let mut unit = 0;
    while value >= step && unit + 1 < units.len() {
        value /= step;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1}{}", units[unit])
    } else {
        format!("{value:.0}{}", units[unit])
    }
}

/// A duration in seconds as its two largest units (`45s`, `3m05s`, `2h10m`, `4d03h`).
pub fn age(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// At most `width` characters of `text`, starting at character `skip`; a cut-off end is
/// marked with `…`.
pub fn clip(text: &str, skip: usize, width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let mut chars = text.chars().skip(skip);
    let mut out: String = chars.by_ref().take(width).collect();
    if chars.next().is_some() {
        out.pop();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(count(0), "0");
        assert_eq!(count(99_999), "99999");
        assert_eq!(count(123_456), "123K");
        assert_eq!(count(1_500_000), "1.5M");
        assert_eq!(bytes(999), "999B");
        assert_eq!(bytes(1500), "1.5KB");
        assert_eq!(bytes(25_000_000), "25MB");
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(0.5), "0.5");
        assert_eq!(rate(2.0), "2");
        assert_eq!(rate(123.4), "123");
        assert_eq!(rate(1234.0), "1.2K");
        assert_eq!(bit_rate(100.0), "800b");
        assert_eq!(bit_rate(1_000_000.0), "8.0Mb");
    }

    #[test]
    fn ages_and_clipping() {
        assert_eq!(age(45), "45s");
        assert_eq!(age(185), "3m05s");
        assert_eq!(age(7800), "2h10m");
        assert_eq!(age(4 * 86_400 + 3 * 3600), "4d03h");
        assert_eq!(clip("abcdef", 0, 10), "abcdef");
        assert_eq!(clip("abcdef", 0, 4), "abc…");
        assert_eq!(clip("abcdef", 2, 4), "cdef");
        assert_eq!(clip("abcdef", 1, 3), "bc…");
        assert_eq!(clip("abc", 0, 0), "");
    }
}
