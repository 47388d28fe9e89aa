//! The only YAML parser and emitter of the product.
//!
//! Parsing goes through `serde-saphyr` (YAML 1.2, maintained, panic-free, with budgets against
//! alias bombs and oversized input) into `serde_json::Value`, so every other module works on JSON
//! values and typed structs. Emission is our own: a small block-style writer whose output depends
//! only on the value (keys in a fixed order whatever the map's internal order), which quotes every
//! string that any YAML 1.1 or 1.2 reader could take for something else (`yes`, `0123`, `1e3`,
//! `~`, ...). Golden tests pin the format.

use serde_json::{Map, Value};

/// Largest YAML text accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// A YAML text that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// Larger than [`MAX_INPUT_BYTES`].
    #[error("YAML text of {size} bytes is larger than the limit of {MAX_INPUT_BYTES} bytes")]
    TooLarge {
        /// Size of the text.
        size: usize,
    },
    /// Not valid YAML, or over a budget (aliases, depth, nodes).
    #[error("{0}")]
    Syntax(String),
}

fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_depth = 64;
    // Node and document counts are bounded by the byte limit already (each needs bytes); the
    // defaults would refuse one file holding 100,000 ShopSets.
    budget.max_documents = 1_000_000;
    budget.max_nodes = MAX_INPUT_BYTES;
    budget.max_events = 4 * MAX_INPUT_BYTES;
    budget.max_total_scalar_bytes = MAX_INPUT_BYTES;
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options.duplicate_keys = serde_saphyr::options::DuplicateKeyPolicy::Error;
    options
}

fn check_size(text: &str) -> Result<(), YamlError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(YamlError::TooLarge { size: text.len() });
    }
    Ok(())
}

/// Parses every document of a YAML stream. Empty documents are dropped.
///
/// # Errors
/// Invalid YAML, a text over [`MAX_INPUT_BYTES`], or a budget exceeded.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    check_size(text)?;
    let docs: Vec<Option<Value>> = serde_saphyr::from_multiple_with_options(text, options())
        .map_err(|e| YamlError::Syntax(e.to_string()))?;
    Ok(docs
        .into_iter()
        .flatten()
        .filter(|v| !v.is_null())
        .collect())
}

/// Parses a YAML text holding one document (an empty text is `null`).
///
/// # Errors
/// As [`parse_documents`], or more than one document.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut docs = parse_documents(text)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(YamlError::Syntax(format!(
            "expected one YAML document, found {n}"
        ))),
    }
}

/// Writes a value as one YAML document (ending with a newline).
#[must_use]
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            write_scalar(&mut out, other);
            out.push('\n');
        }
    }
    out
}

/// Keys that come first, in this order, in every mapping; the others follow sorted.
const FIRST_KEYS: [&str; 6] = [
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
];

fn ordered(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|(a, _), (b, _)| {
        let rank = |k: &str| {
            FIRST_KEYS
                .iter()
                .position(|f| *f == k)
                .unwrap_or(FIRST_KEYS.len())
        };
        rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
    });
    entries
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, first_inline: bool) {
    for (i, (key, value)) in ordered(map).into_iter().enumerate() {
        if !(first_inline && i == 0) {
            pad(out, indent);
        }
        write_string(out, key);
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, indent + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, indent);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar);
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                out.push(' ');
                write_map(out, inner, indent + 2, true);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, indent + 2);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar);
                out.push('\n');
            }
        }
    }
}

fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Words that YAML 1.1 readers (Kustomize's, Kubernetes') take for booleans or null.
const KEYWORDS: [&str; 10] = [
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
];

/// True when `s` can be written without quotes and reads back as the same string in YAML 1.1
/// and 1.2: a conservative subset (letters, digits, `_`, `.`, `/`, `-`, starting with a letter,
/// `_` or `/`), minus the keywords.
fn is_plain(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(first) = bytes.first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || *first == b'_' || *first == b'/')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-'))
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
}

fn write_string(out: &mut String, s: &str) {
    if is_plain(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_layout_is_stable() {
        let v = json!({
            "spec": {"list": [{"b": 1, "a": "x"}, "plain", [1, 2]], "empty": {}, "none": []},
            "kind": "K", "apiVersion": "v1", "metadata": {"name": "n1"}
        });
        let text = to_string(&v);
        assert_eq!(
            text,
            "apiVersion: v1\nkind: K\nmetadata:\n  name: n1\nspec:\n  empty: {}\n  list:\n  - a: x\n    b: 1\n  - plain\n  -\n    - 1\n    - 2\n  none: []\n"
        );
        assert_eq!(parse(&text).unwrap(), v);
    }

    #[test]
    fn ambiguous_strings_round_trip_quoted() {
        let tricky = [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "~",
            "null",
            "0123",
            "0x1F",
            "1e3",
            "1_000",
            ".inf",
            "2001-12-14",
            "12:30",
            "a: b",
            "a #b",
            "*x",
            "&x",
            "!x",
            "%x",
            "@x",
            "`x",
            "multi\nline",
            " lead",
            "trail ",
            "ünï",
            "",
            "\u{2028}",
            "tab\there",
            "\"q\"",
            "back\\slash",
            "-",
            "- x",
            "? x",
            "[x]",
            "{x}",
            "x,y",
            "'",
            "=",
        ];
        for s in tricky {
            let v = json!({"k": s, s: "key"});
            let text = to_string(&v);
            assert_eq!(parse(&text).unwrap(), v, "{s:?} -> {text}");
            if s != "multi\nline" {
                assert!(
                    !text.contains(&format!("k: {s}\n")) || is_plain(s),
                    "{s:?} unquoted"
                );
            }
        }
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&text).is_err());
    }

    #[test]
    fn one_file_may_hold_a_hundred_thousand_small_documents() {
        let text = "a: {b: 1, c: [x, y]}\n---\n".repeat(100_001);
        assert_eq!(parse_documents(&text).unwrap().len(), 100_001);
    }

    #[test]
    fn oversized_text_is_refused() {
        let text = "a".repeat(MAX_INPUT_BYTES + 1);
        assert!(matches!(parse(&text), Err(YamlError::TooLarge { .. })));
    }
}
