//! Warden's integration tests, as one test binary.
//!
//! Each file in this folder is one module here rather than its own crate:
//! every test binary links the whole runtime with wasmtime (about 200 MB),
//! and thirty-odd of them filled CI's disk and spent most of the suite's
//! time in the linker. Run one file's tests with
//! `cargo test -p warden-runtime --test integration MODULE::`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admin;
mod anomalies;
mod attestations;
mod audit_backends;
mod audit_checkpoints;
mod audit_export;
mod audit_forward;
mod busy_guests;
mod cli;
mod compliance;
mod config_changes;
mod containment;
mod containment_rules;
mod costs;
mod credentials_age;
mod dashboard;
mod demo;
mod deploy_bounds;
mod deploy_restart;
mod deploys;
mod drills;
mod egress;
mod fixtures_used;
mod foreign;
mod guest_answers;
mod host;
mod host_log;
mod js_sdk;
mod kv_backends;
mod lifecycle_reviews;
mod loading;
mod names;
mod new;
mod no_internals;
mod nodes;
mod nodes_audit;
mod nodes_processes;
mod nodes_quota;
mod nodes_registry;
mod nodes_slo;
mod observe;
mod oidc;
mod one_cli;
mod orphans;
mod otlp;
mod policy;
mod python_sdk;
mod review;
mod rust_sdk;
mod scim;
mod serve;
mod shared_schema;
mod shared_state;
mod slo;
mod slow_clients;
mod state_copy;
mod storage;
mod tls;
mod tokens;
mod traces;
mod tracing;
mod usage_backends;
mod wasi_config;
mod worlds;
