//! W3C trace context (`traceparent`) on incoming requests: an invocation
//! continues the caller's trace, so a company's tracing shows Warden's
//! spans inside its own. Outbound calls carry the invocation's context
//! (see `InvocationContext::trace`).

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The remote span context in `headers`, if a valid `traceparent` is there.
pub fn extract(headers: &http::HeaderMap) -> Option<SpanContext> {
    headers.get("traceparent")?;
    let cx = TraceContextPropagator::new().extract(&Headers(headers));
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_continued_and_garbage_is_ignored() {
        let mut headers = http::HeaderMap::new();
        assert!(extract(&headers).is_none());
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        let cx = extract(&headers).unwrap_or_else(|| unreachable!());
        assert_eq!(
            cx.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(cx.is_remote() && cx.is_sampled());
        headers.insert("traceparent", http::HeaderValue::from_static("00-zz-yy-01"));
        assert!(extract(&headers).is_none());
    }
}
