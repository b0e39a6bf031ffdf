//! Keeps `ovsctl-tui/README.md` true to the code: its key table is the help overlay's list
//! ([`KEYS`]), its screen captures are the 80x24 snapshots, and its JSON field tables list
//! exactly the fields `show --json` and `flows --json` print (with their JSON types).

use std::collections::BTreeMap;
use std::path::Path;

use ovsctl_tui::app::KEYS;
use ovsctl_tui::flows::FlowSample;
use ovsctl_tui::{fixtures, output};
use serde_json::Value;

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
fn section<'a>(readme: &'a str, name: &str) -> Vec<&'a str> {
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let start = readme
        .find(&begin)
        .unwrap_or_else(|| panic!("README has no {begin}"));
    let rest = &readme[start + begin.len()..];
    let stop = rest
        .find(&end)
        .unwrap_or_else(|| panic!("README has no {end}"));
    rest[..stop].lines().collect()
}

/// The cells of the table rows whose first cell is a code span.
fn table_rows(lines: &[&str]) -> Vec<Vec<String>> {
    lines
        .iter()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            line.trim()
                .trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

fn code(cell: &str) -> &str {
    cell.strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .unwrap_or_else(|| panic!("not a code span: {cell}"))
}

#[test]
fn key_table_is_the_help_list() {
    let readme = readme();
    let documented: Vec<(String, String)> = table_rows(&section(&readme, "keys"))
        .into_iter()
        .map(|cells| {
            assert_eq!(cells.len(), 2, "key table row {cells:?}");
            (code(&cells[0]).to_string(), cells[1].clone())
        })
        .collect();
    let code_keys: Vec<(String, String)> = KEYS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        documented, code_keys,
        "the README key table (between <!-- keys:begin/end -->) must list app::KEYS, in order"
    );
}

#[test]
fn captures_are_the_snapshots() {
    let readme = readme();
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut seen = 0;
    let mut rest = readme.as_str();
    while let Some(at) = rest.find("<!-- capture:") {
        rest = &rest[at + "<!-- capture:".len()..];
        let name = &rest[..rest.find(" -->").expect("capture marker ends with -->")];
        let block = rest
            .split_once("```\n")
            .expect("a ``` block follows the capture marker")
            .1;
        let block = &block[..block.find("\n```").expect("the capture block ends")];
        let path = snapshots.join(format!("snapshots__{name}.snap"));
        let snap = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("capture {name}: {}: {e}", path.display()));
        // An insta file: `---`, metadata, `---`, then the snapshot.
        let body = snap
            .splitn(3, "---\n")
            .nth(2)
            .unwrap_or_else(|| panic!("{}: no insta header", path.display()));
        let lines = |text: &str| -> Vec<String> {
            text.trim_end_matches('\n')
                .lines()
                .map(|l| l.trim_end().to_string())
                .collect()
        };
        assert_eq!(
            lines(block),
            lines(body),
            "README capture {name} differs from {}: copy the snapshot (without its header) into the README",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 6, "only {seen} captures found in the README");
}

/// Every field path in `value` with its JSON type: `networks[].endpoints[].ipv4` and so on.
/// `options` (free-form, from the driver's `docker-options`) is not descended into.
fn field_types(value: &Value, prefix: &str, out: &mut BTreeMap<String, Vec<&'static str>>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.entry(path.clone()).or_default().push(kind(v));
                if key != "options" {
                    field_types(v, &path, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if item.is_object() {
                    field_types(item, &format!("{prefix}[]"), out);
                }
            }
        }
        _ => {}
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_fields(section_name: &str, printed: &Value, prefix: &str) {
    let readme = readme();
    let documented: BTreeMap<String, String> = table_rows(&section(&readme, section_name))
        .into_iter()
        .map(|cells| {
            assert_eq!(cells.len(), 3, "{section_name} row {cells:?}");
            (code(&cells[0]).to_string(), cells[1].clone())
        })
        .collect();
    let mut actual = BTreeMap::new();
    field_types(printed, prefix, &mut actual);
    let actual: BTreeMap<String, Vec<&str>> = actual
        .into_iter()
        .map(|(path, kinds)| {
            (
                path.strip_prefix("[].").map(str::to_string).unwrap_or(path),
                kinds,
            )
        })
        .collect();
    let documented_names: Vec<&String> = documented.keys().collect();
    let actual_names: Vec<&String> = actual.keys().collect();
    assert_eq!(
        documented_names, actual_names,
        "the README's {section_name} table must list exactly the printed fields"
    );
    for (path, kinds) in &actual {
        let doc = &documented[path];
        for kind in kinds {
            assert!(
                doc.contains(kind),
                "{path}: README type {doc:?}, but the output has a {kind} value"
            );
        }
    }
}

#[test]
fn show_json_fields_are_documented() {
    let state = fixtures::state(0);
    check_fields("show-json", &output::show_json(&state.inventory), "");
}

/// The sample switch's flows per bridge, sorted as `flows` prints them.
fn sample_flows(state: &ovsctl_tui::state::State) -> Vec<(String, Vec<FlowSample>)> {
    state
        .flows
        .iter()
        .map(|(bridge, flows)| {
            let mut samples: Vec<_> = flows.rows.iter().map(|r| r.sample.clone()).collect();
            output::sorted(&mut samples);
            (bridge.clone(), samples)
        })
        .collect()
}

#[test]
fn flows_json_fields_are_documented() {
    let state = fixtures::state(0);
    let json = output::flows_json(&sample_flows(&state), &state.inventory.owner_names());
    assert!(json.as_array().is_some_and(|a| !a.is_empty()));
    check_fields("flows-json", &json, "");
}

/// The lines of the code block in section `name`.
fn code_block(readme: &str, name: &str) -> String {
    let lines = section(readme, name);
    let text = lines.join("\n");
    let block = text
        .split_once("```")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.rsplit_once("```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("no code block in {name}"));
    block.to_string()
}

#[test]
fn flows_examples_are_what_the_sample_switch_prints() {
    let readme = readme();
    let state = fixtures::state(0);
    let bridges = sample_flows(&state);
    let owners = state.inventory.owner_names();
    let db_bridge = format!("br-{}", &fixtures::DB_NETWORK[..12]);
    let db: Vec<_> = bridges
        .iter()
        .filter(|(bridge, _)| *bridge == db_bridge)
        .cloned()
        .collect();
    let text = format!(
        "$ ovsctl-tui flows db\n{}",
        output::flows_text(&db, &owners)
    );
    let documented = code_block(&readme, "flows-text");
    assert_eq!(
        documented.trim_end(),
        text.trim_end(),
        "the README's `flows db` example must be the sample switch's output"
    );

    let printed = output::flows_json(&bridges, &owners);
    let printed = printed.as_array().unwrap();
    let example: Value = serde_json::from_str(&code_block(&readme, "flows-json-example"))
        .expect("the README's flows --json example is JSON");
    let example = example.as_array().expect("an array");
    assert!(!example.is_empty());
    for flow in example {
        assert!(
            printed.contains(flow),
            "the README's flows --json example has a flow the sample switch does not print: \
             {flow:#}"
        );
    }
}
