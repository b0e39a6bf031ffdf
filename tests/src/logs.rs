//! Tails of log files for failure messages.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The last `lines` lines of a file that pass `keep`, read from at most the last 256 KiB.
pub fn tail(path: &Path, lines: usize, keep: impl Fn(&str) -> bool) -> String {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) => return format!("[cannot open {}: {error}]", path.display()),
    };
    let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let window = 256 * 1024;
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(window)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = strip_ansi(&String::from_utf8_lossy(&bytes));
    let kept: Vec<&str> = text.lines().filter(|line| keep(line)).collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

/// Removes ANSI escape sequences (colored tracing output) so tails stay readable.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in '@'..='~'.
            for next in chars.by_ref() {
                if ('@'..='~').contains(&next) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A titled block with the tail of a log, or a note that the file is empty.
pub fn section(title: &str, path: &Path, lines: usize, keep: impl Fn(&str) -> bool) -> String {
    let body = tail(path, lines, keep);
    let body = if body.trim().is_empty() {
        "[empty]".to_string()
    } else {
        body
    };
    format!(
        "---- {title}: {} (last {lines} lines) ----\n{body}\n",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_color_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[2mtime\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x"),
            "time  WARN x"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn keeps_the_last_matching_lines() {
        let dir = std::env::temp_dir().join(format!("ovt-logs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.log");
        std::fs::write(&path, "a\nnoise\nb\nc\nnoise\n").unwrap();
        assert_eq!(tail(&path, 2, |line| line != "noise"), "b\nc");
        assert!(tail(&dir.join("missing"), 2, |_| true).contains("cannot open"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
