//! Renders recorded spans as an indented tree for the terminal.

use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::SpanData;
use std::fmt::Write;

/// Renders `spans` as trees, roots first in start order, each line with the
/// span's duration and attributes and its events indented below it.
pub fn render_tree(spans: &[SpanData]) -> String {
    let mut sorted: Vec<&SpanData> = spans.iter().collect();
    sorted.sort_by_key(|s| s.start_time);
    let ids: Vec<SpanId> = sorted.iter().map(|s| s.span_context.span_id()).collect();
    let mut out = String::new();
    for span in &sorted {
        if !ids.contains(&span.parent_span_id) {
            render(span, &sorted, "", &mut out);
        }
    }
    out
}

fn render(span: &SpanData, all: &[&SpanData], indent: &str, out: &mut String) {
    let duration = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let attrs: Vec<String> = span
        .attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    let _ = writeln!(
        out,
        "{indent}{} {:.3}ms {}",
        span.name,
        duration.as_secs_f64() * 1000.0,
        attrs.join(" ")
    );
    for event in span.events.iter() {
        let attrs: Vec<String> = event
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        let _ = writeln!(out, "{indent}  · {} {}", event.name, attrs.join(" "));
    }
    let id = span.span_context.span_id();
    let child_indent = format!("{indent}  ");
    for child in all.iter().filter(|s| s.parent_span_id == id) {
        render(child, all, &child_indent, out);
    }
}
