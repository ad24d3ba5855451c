//! `warden.quota.utilization`: how much of each quota each served app has
//! used (0..1, per `warden.quota`), read when the metrics are collected.

use super::Server;
use crate::telemetry::keys;
use opentelemetry::KeyValue;
use std::sync::Arc;
use warden_host_apis::metering::{ALL, Window};

/// Registers the gauge on the global meter provider for `server`'s apps.
pub fn register(server: &Arc<Server>) {
    let server = Arc::downgrade(server);
    let _gauge = opentelemetry::global::meter("warden")
        .f64_observable_gauge("warden.quota.utilization")
        .with_description("Share of each quota used in its window")
        .with_callback(move |observer| {
            let Some(server) = server.upgrade() else {
                return;
            };
            for app in server.all_apps() {
                let meter = &app.egress.meter;
                let limits = meter.limits();
                let day = meter.usage(ALL, &Window::day_now());
                let minute = meter.usage(ALL, &Window::minute_now());
                let quotas = [
                    (
                        "egress_bytes",
                        day.bytes_out + day.bytes_in,
                        limits.egress_bytes,
                    ),
                    ("connector_calls", day.calls, limits.connector_calls),
                    (
                        "requests_per_minute",
                        minute.invocations,
                        limits.requests_per_minute,
                    ),
                ];
                for (quota, used, limit) in quotas {
                    if let Some(limit) = limit.filter(|l| *l > 0) {
                        observer.observe(
                            used as f64 / limit as f64,
                            &[
                                KeyValue::new(keys::APP, app.name().to_string()),
                                KeyValue::new("warden.quota", quota),
                            ],
                        );
                    }
                }
            }
        })
        .build();
}
