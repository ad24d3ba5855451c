//! A publish decision with the default bundle: input assembly (component
//! facts from the bytes, the input document) and evaluation, without
//! secret scanning or compilation.
//!
//! Target: p50 <= 5 ms. Also the publish secret scan's throughput on one
//! core (target >= 100 MB/s) and its time on the Python hello component
//! (`scripts/build-foreign-examples.sh` builds it).
//! Run with `cargo bench -p warden-benches --bench policy`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{guests, micros, percentile, sample};
use warden_runtime::config::{AppManifest, PlatformConfig};
use warden_runtime::policy::{self, PolicyBundle, component, input};

fn main() -> anyhow::Result<()> {
    let platform = PlatformConfig::builtin();
    let bundle = PolicyBundle::load(&platform.policy, &policy::sample_input(&platform))?;
    let bytes = std::fs::read(guests::fixture("kv_app"))?;
    let text = "[app]\nname = \"expenses\"\nversion = \"1.0.0\"\ncomponent = \"app.wasm\"\nowner = \"ada\"\nteam = \"tools\"\ncost_center = \"cc-1\"\nrunbook = { contact = \"oncall@example.com\" }\n[egress]\nallowed_hosts = [\"https://api.example.com\"]\n[[storage]]\nbucket = \"cache\"\nclass = \"internal\"\nttl = \"1d\"\n";
    let manifest: AppManifest = toml::from_str(text)?;
    let table: toml::Table = toml::from_str(text)?;
    let decide = || {
        let facts = component::facts(&bytes).unwrap();
        let now = chrono::Utc::now();
        let document = input::build(
            &input::Publish {
                request: input::PublishRequest {
                    who: "ada".into(),
                    role: "creator".into(),
                    team: Some("tools".into()),
                    time: policy::now_rfc3339(now),
                    dry_run: false,
                },
                manifest: &manifest,
                manifest_table: &table,
                owner: Some("ada"),
                component: Some(&facts),
                template: None,
                secrets: &[],
                previous: Some(input::Previous {
                    version: "0.9.0",
                    status: "active",
                    manifest: &manifest,
                }),
            },
            &platform,
        );
        bundle.decide("expenses", &document, now).unwrap()
    };
    let decision = decide();
    assert_eq!(decision.verdict, policy::Verdict::Held, "{decision:?}");
    let samples = sample(500, 50, || {
        decide();
    });
    println!(
        "publish decision, default bundle ({} KiB component)  p50 {:>8.1} µs  p99 {:>8.1} µs",
        bytes.len() / 1024,
        micros(percentile(&samples, 50.0)),
        micros(percentile(&samples, 99.0))
    );
    println!("(target: p50 <= 5000 µs)");

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let foreign = root.join("examples/target/foreign");
    for name in ["hello_py.wasm", "hello_js.wasm"] {
        let path = foreign.join(name);
        let Ok(bytes) = std::fs::read(&path) else {
            println!("{name}: not built (run scripts/build-foreign-examples.sh)");
            continue;
        };
        let runs = sample(10, 2, || {
            let found = policy::secrets::scan_component(&bytes).unwrap();
            assert!(found.is_empty(), "{found:?}");
        });
        let p50 = percentile(&runs, 50.0).as_secs_f64();
        println!(
            "secret scan of {name} ({:.1} MB): p50 {:.1} ms = {:.0} MB/s",
            bytes.len() as f64 / 1e6,
            p50 * 1e3,
            bytes.len() as f64 / 1e6 / p50
        );
    }
    println!("(target: >= 100 MB/s on one core)");
    Ok(())
}
