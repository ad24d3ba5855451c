//! `warden.quota.utilization`: how much of each quota each served app has
//! used (0..1, per `warden.quota`), read when the metrics are collected.

use super::Server;
use crate::telemetry::keys;
use opentelemetry::KeyValue;
use std::sync::Arc;

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
                for q in crate::quota_use::quota_use(&app) {
                    if let Some(share) = q.utilization() {
                        observer.observe(
                            share,
                            &[
                                KeyValue::new(keys::APP, app.name().to_string()),
                                KeyValue::new("warden.quota", q.quota),
                            ],
                        );
                    }
                }
            }
        })
        .build();
}
