//! List filters typed after `/`: words that must all match. A word is either a substring
//! (`web`, case-insensitive, matched against every column) or `field=value` (e.g.
//! `nw_src=10.20.0.2`), which matches rows whose field has exactly that value; an address
//! value also matches the same address with a prefix length (`10.20.0.2` matches
//! `10.20.0.2/24`), and a value ending in `*` matches as a prefix.

/// One word of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Text(String),
    Field { key: String, value: String },
}

/// A parsed filter; the empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
}

/// Rows that can be filtered: they show their columns as `(field, value)` pairs.
pub trait Filterable {
    /// Calls `visit` with each field name and value until it returns true; returns whether it
    /// did.
    fn any_field(&self, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool;
}

impl Filter {
    pub fn parse(text: &str) -> Filter {
        let terms = text
            .split_whitespace()
            .map(|word| match word.split_once('=') {
                Some((key, value))
                    if !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    Term::Field {
                        key: key.to_ascii_lowercase(),
                        value: value.to_string(),
                    }
                }
                _ => Term::Text(word.to_string()),
            })
            .collect();
        Filter { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    pub fn matches(&self, row: &dyn Filterable) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Text(text) => row.any_field(&mut |_, value| contains_ignore_case(value, text)),
            Term::Field { key, value: wanted } => row.any_field(&mut |field, value| {
                field.eq_ignore_ascii_case(key) && value_matches(value, wanted)
            }),
        })
    }
}

fn value_matches(value: &str, wanted: &str) -> bool {
    if let Some(prefix) = wanted.strip_suffix('*') {
        return value.len() >= prefix.len()
            && value.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes());
    }
    if value.eq_ignore_ascii_case(wanted) {
        return true;
    }
    // `10.20.0.2` matches `10.20.0.2/24`, but `10.20.0.2/24` only matches itself.
    !wanted.contains('/')
        && value
            .split_once('/')
            .is_some_and(|(address, _)| address.eq_ignore_ascii_case(wanted))
}

/// ASCII case-insensitive substring search without allocating.
pub fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    if needle.is_empty() {
        return true;
    }
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// Splits an ovs-ofctl style match (`dl_type=0x800,nw_src=10.0.0.1`) into its fields; a word
/// without `=` (e.g. `ip`) is returned with an empty value.
pub fn match_fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| part.split_once('=').unwrap_or((part, "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(Vec<(&'static str, &'static str)>);

    impl Filterable for Row {
        fn any_field(&self, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool {
            self.0.iter().any(|(k, v)| visit(k, v))
        }
    }

    fn flow() -> Row {
        Row(vec![
            ("table", "0"),
            ("nw_src", "10.20.0.2"),
            ("nw_dst", "10.20.0.0/24"),
            ("dl_src", "02:42:0A:14:00:02"),
            ("owner", "web-1"),
        ])
    }

    #[test]
    fn parses_words_and_fields() {
        let filter = Filter::parse("  web  nw_src=10.0.0.1 =x a=b=c ");
        assert_eq!(
            filter.terms(),
            [
                Term::Text("web".into()),
                Term::Field {
                    key: "nw_src".into(),
                    value: "10.0.0.1".into()
                },
                Term::Text("=x".into()),
                Term::Field {
                    key: "a".into(),
                    value: "b=c".into()
                },
            ]
        );
        assert!(Filter::parse("   ").is_empty());
    }

    #[test]
    fn substring_matches_any_column_case_insensitively() {
        assert!(Filter::parse("WEB").matches(&flow()));
        assert!(Filter::parse("0a:14").matches(&flow()));
        assert!(!Filter::parse("db").matches(&flow()));
        assert!(Filter::parse("").matches(&flow()));
        // All words must match.
        assert!(Filter::parse("web 10.20").matches(&flow()));
        assert!(!Filter::parse("web 10.30").matches(&flow()));
    }

    #[test]
    fn field_terms_match_exact_values() {
        assert!(Filter::parse("nw_src=10.20.0.2").matches(&flow()));
        assert!(Filter::parse("NW_SRC=10.20.0.2").matches(&flow()));
        assert!(!Filter::parse("nw_src=10.20.0.20").matches(&flow()));
        assert!(!Filter::parse("nw_src=10.20.0").matches(&flow()));
        assert!(!Filter::parse("nw_dst=10.20.0.2").matches(&flow()));
        // An address matches a prefixed value, but not the other way round.
        assert!(Filter::parse("nw_dst=10.20.0.0").matches(&flow()));
        assert!(Filter::parse("nw_dst=10.20.0.0/24").matches(&flow()));
        assert!(!Filter::parse("nw_src=10.20.0.2/32").matches(&flow()));
        assert!(Filter::parse("dl_src=02:42:0a:14:00:02").matches(&flow()));
        assert!(Filter::parse("owner=web*").matches(&flow()));
        assert!(!Filter::parse("owner=db*").matches(&flow()));
        assert!(!Filter::parse("missing=1").matches(&flow()));
    }

    #[test]
    fn splits_matches() {
        let fields: Vec<_> = match_fields("ip,nw_src=10.0.0.1,in_port=3").collect();
        assert_eq!(
            fields,
            [("ip", ""), ("nw_src", "10.0.0.1"), ("in_port", "3")]
        );
        assert_eq!(match_fields("").count(), 0);
        assert!(contains_ignore_case("Hello", "LL"));
        assert!(!contains_ignore_case("He", "hello"));
    }
}
