//! The main job's platform (`examples/warden.toml`, which
//! `scripts/serve-examples.sh` serves the examples under) grants every
//! example it serves: each passes the publish policy and would go live.

use crate::support;
use std::process::Command;
use support::guests::{build_guests, examples_dir, repo_root};
use support::said;
use support::sdk_apps::build;

#[test]
fn the_demo_platform_lets_every_served_example_go_live() {
    build_guests();
    let mut manifests = vec![
        examples_dir().join("hello-http/app.toml"),
        examples_dir().join("report-formatter/app.toml"),
    ];
    for name in ["expense-reminder", "lunch-bot", "expense-dashboard"] {
        manifests.push(build(name));
    }
    let config = examples_dir().join("warden.toml");
    let data = tempfile::tempdir().unwrap();
    for manifest in manifests {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["policy", "check"])
            .arg(&manifest)
            .arg("--config")
            .arg(&config)
            .env("WARDEN_DATA_DIR", data.path())
            .current_dir(repo_root())
            .output()
            .expect("warden policy check");
        assert!(
            out.status.success() && said(&out).contains("would go live"),
            "{}: {}",
            manifest.display(),
            said(&out)
        );
    }
}
