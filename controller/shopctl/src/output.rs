//! Printing results: text for people, JSON for scripts, always on stdout.

use crate::cli::Format;

/// Prints `value` as JSON, or `text` for people.
pub fn print(format: Format, text: &str, value: &serde_json::Value) {
    match format {
        Format::Text => print!("{text}"),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).expect("a JSON value prints")
        ),
    }
}
