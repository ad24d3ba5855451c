//! Renders spans as an indented tree for the terminal (`warden run
//! --trace`, `warden traces`).

use super::store::{StoredSpan, stored};
use opentelemetry_sdk::trace::SpanData;
use std::fmt::Write;

/// Renders recorded spans (see [`render_stored`]).
pub fn render_tree(spans: &[SpanData]) -> String {
    let stored: Vec<StoredSpan> = spans.iter().map(stored).collect();
    render_stored(&stored)
}

/// Renders `spans` as trees, roots first in start order, each line with the
/// span's duration and attributes and its events indented below it.
pub fn render_stored(spans: &[StoredSpan]) -> String {
    let mut sorted: Vec<&StoredSpan> = spans.iter().collect();
    sorted.sort_by_key(|s| s.start_us);
    let mut out = String::new();
    for span in &sorted {
        if !sorted.iter().any(|p| p.span_id == span.parent_id) {
            render(span, &sorted, "", &mut out);
        }
    }
    out
}

fn fields(map: &serde_json::Map<String, serde_json::Value>) -> String {
    map.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn render(span: &StoredSpan, all: &[&StoredSpan], indent: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "{indent}{} {:.3}ms {}",
        span.name,
        span.duration_us as f64 / 1000.0,
        fields(&span.attributes)
    );
    for (name, attrs) in &span.events {
        let _ = writeln!(out, "{indent}  · {name} {}", fields(attrs));
    }
    let child_indent = format!("{indent}  ");
    for child in all.iter().filter(|s| s.parent_id == span.span_id) {
        render(child, all, &child_indent, out);
    }
}
