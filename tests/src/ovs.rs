//! Reading `ovs-vsctl --format=json` output (RFC 7047 value notation) into plain Rust values.

use std::collections::BTreeMap;

use serde_json::Value;

/// One row per record, column name -> value, from `ovs-vsctl --format=json list ...`.
pub fn parse_list_json(text: &str) -> Result<Vec<BTreeMap<String, Value>>, String> {
    let json: Value = serde_json::from_str(text)
        .map_err(|error| format!("bad ovs-vsctl JSON: {error}: {text}"))?;
    let headings: Vec<String> = json["headings"]
        .as_array()
        .ok_or_else(|| format!("no headings in {text}"))?
        .iter()
        .map(|heading| heading.as_str().unwrap_or_default().to_string())
        .collect();
    let rows = json["data"]
        .as_array()
        .ok_or_else(|| format!("no data in {text}"))?;
    Ok(rows
        .iter()
        .map(|row| {
            headings
                .iter()
                .cloned()
                .zip(row.as_array().cloned().unwrap_or_default())
                .collect()
        })
        .collect())
}

/// An OVSDB map (`["map", [[k, v], ...]]`) as strings; anything else gives an empty map.
pub fn string_map(value: &Value) -> BTreeMap<String, String> {
    match value.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(pairs)]) if tag == "map" => pairs
            .iter()
            .filter_map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([key, value]) => Some((atom_text(key), atom_text(value))),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The atoms of an OVSDB value (a bare atom or `["set", [...]]`) as text.
pub fn atoms(value: &Value) -> Vec<String> {
    match value.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(items)]) if tag == "set" => items.iter().map(atom_text).collect(),
        _ => vec![atom_text(value)],
    }
}

/// An atom as text: strings unquoted, numbers and booleans printed, uuids as the bare uuid.
pub fn atom_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items)
            if items.len() == 2 && (items[0] == "uuid" || items[0] == "named-uuid") =>
        {
            atom_text(&items[1])
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_external_ids_and_sets() {
        let text = r#"{"data":[[["map",[["docker-network-id","abc"],["docker-owned","true"]]],["set",[]],100,"br-1"]],"headings":["external_ids","trunks","tag","name"]}"#;
        let rows = parse_list_json(text).unwrap();
        assert_eq!(rows.len(), 1);
        let ids = string_map(&rows[0]["external_ids"]);
        assert_eq!(ids["docker-network-id"], "abc");
        assert_eq!(ids["docker-owned"], "true");
        assert!(atoms(&rows[0]["trunks"]).is_empty());
        assert_eq!(atoms(&rows[0]["tag"]), vec!["100"]);
        assert_eq!(atom_text(&rows[0]["name"]), "br-1");
    }

    #[test]
    fn rejects_non_json() {
        assert!(parse_list_json("ovs-vsctl: no row").is_err());
    }
}
