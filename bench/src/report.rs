//! One scenario's results: named numbers (printed as one JSON object per line, or as a
//! human-readable table), notes, and the targets with whether each was met.

use serde_json::{Map, Value as Json};

/// A result value: counts print as integers, times and ratios as decimals; a label (which
/// workload) as a string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Count(u64),
    Real(f64),
    Label(&'static str),
}

/// A performance target from the issue and whether this run met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub what: String,
    pub met: bool,
}

/// The results of one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub scenario: &'static str,
    pub values: Vec<(&'static str, Number)>,
    /// Why the scenario did not run, if it did not.
    pub skipped: Option<String>,
    /// Context for humans (how something was measured); not in the JSON.
    pub notes: Vec<String>,
    pub targets: Vec<Target>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Report {
        Report {
            scenario,
            values: Vec::new(),
            skipped: None,
            notes: Vec::new(),
            targets: Vec::new(),
        }
    }

    pub fn skipped(scenario: &'static str, reason: impl Into<String>) -> Report {
        Report {
            skipped: Some(reason.into()),
            ..Report::new(scenario)
        }
    }

    pub fn count(&mut self, key: &'static str, value: usize) -> &mut Self {
        self.values.push((key, Number::Count(value as u64)));
        self
    }

    pub fn real(&mut self, key: &'static str, value: f64) -> &mut Self {
        self.values.push((key, Number::Real(value)));
        self
    }

    pub fn label(&mut self, key: &'static str, value: &'static str) -> &mut Self {
        self.values.push((key, Number::Label(value)));
        self
    }

    pub fn note(&mut self, text: impl Into<String>) -> &mut Self {
        self.notes.push(text.into());
        self
    }

    pub fn target(&mut self, what: impl Into<String>, met: bool) -> &mut Self {
        self.targets.push(Target {
            what: what.into(),
            met,
        });
        self
    }

    /// The number under `key` (labels are not numbers).
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| match v {
                Number::Count(c) => Some(*c as f64),
                Number::Real(r) => Some(*r),
                Number::Label(_) => None,
            })
    }

    /// `{"scenario": NAME, KEY: NUMBER, ...}`, or `{"scenario", "skipped": true, "reason"}`.
    pub fn to_json(&self) -> Json {
        let mut object = Map::new();
        object.insert("scenario".into(), self.scenario.into());
        if let Some(reason) = &self.skipped {
            object.insert("skipped".into(), true.into());
            object.insert("reason".into(), reason.as_str().into());
            return Json::Object(object);
        }
        for (key, value) in &self.values {
            let json = match value {
                Number::Count(c) => Json::from(*c),
                // Four decimals are plenty for milliseconds and ratios.
                Number::Real(r) => Json::from((r * 10_000.0).round() / 10_000.0),
                Number::Label(text) => Json::from(*text),
            };
            object.insert((*key).into(), json);
        }
        Json::Object(object)
    }

    /// A small table for people.
    pub fn to_human(&self) -> String {
        let mut text = format!("== {}\n", self.scenario);
        if let Some(reason) = &self.skipped {
            text.push_str(&format!("  skipped: {reason}\n"));
            return text;
        }
        let width = self.values.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in &self.values {
            let shown = match value {
                Number::Count(c) => c.to_string(),
                Number::Real(r) if r.abs() >= 100.0 => format!("{r:.1}"),
                Number::Real(r) => format!("{r:.3}"),
                Number::Label(text) => text.to_string(),
            };
            text.push_str(&format!("  {key:<width$}  {shown:>12}\n"));
        }
        for note in &self.notes {
            text.push_str(&format!("  note: {note}\n"));
        }
        for target in &self.targets {
            let verdict = if target.met { "met   " } else { "MISSED" };
            text.push_str(&format!("  target {verdict} {}\n", target.what));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_scenario_and_numbers() {
        let mut report = Report::new("ovsdb");
        report
            .count("count", 10)
            .real("ours_ms_per_txn", 0.123_456_7)
            .note("not in json")
            .target("fast", true);
        let json = report.to_json();
        assert_eq!(json["scenario"], "ovsdb");
        assert_eq!(json["count"], 10);
        assert_eq!(json["ours_ms_per_txn"], 0.1235);
        assert_eq!(json.as_object().unwrap().len(), 3);
        assert_eq!(report.get("count"), Some(10.0));
    }

    #[test]
    fn skipped_reports_say_why() {
        let json = Report::skipped("tui", "no binary").to_json();
        assert_eq!(json["skipped"], true);
        assert_eq!(json["reason"], "no binary");
        assert!(Report::skipped("tui", "no binary")
            .to_human()
            .contains("skipped: no binary"));
    }

    #[test]
    fn human_table_marks_missed_targets() {
        let mut report = Report::new("restart");
        report.real("reconcile_ms", 1234.5).target("<= 1 s", false);
        let text = report.to_human();
        assert!(text.contains("reconcile_ms"));
        assert!(text.contains("1234.5"));
        assert!(text.contains("MISSED <= 1 s"));
    }
}
