//! Platform settings that matter for governance: templates are checked
//! against the connector catalog (file and API), and a change of the
//! catalog, address rules, class rules or templates between two starts is
//! audited as `config.changed` with a digest and what changed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::admin_api::admin_with;
use support::process::Host;
use warden_runtime::admin::tokens::Role;
use warden_runtime::config::PlatformConfig;

const CATALOG: &str = r#"
[[connectors]]
name = "crm"
base_url = "https://crm.example.com/api"
scopes = { read = ["GET /contacts/**"], write = ["POST /contacts"] }
"#;

#[test]
fn a_template_naming_an_unknown_connector_or_scope_is_refused_where_it_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.toml");
    for (template, field) in [
        (
            "connectors = [{ name = \"erp\", scopes = [\"read\"] }]",
            "templates.dash.connectors[0].name",
        ),
        (
            "connectors = [{ name = \"crm\", scopes = [\"read\", \"delete\"] }]",
            "templates.dash.connectors[0].scopes",
        ),
        (
            "allowed_hosts = [\"not a url\"]",
            "templates.dash.allowed_hosts[0]",
        ),
    ] {
        std::fs::write(&path, format!("{CATALOG}\n[templates.dash]\n{template}\n")).unwrap();
        let err = PlatformConfig::load(&path).expect_err(template);
        assert_eq!(err.field(), Some(field), "{err}");
    }
    std::fs::write(
        &path,
        format!("{CATALOG}\n[templates.dash]\nconnectors = [{{ name = \"crm\", scopes = [\"read\"] }}]\n"),
    )
    .unwrap();
    PlatformConfig::load(&path).expect("a template within the catalog");

    let a = admin_with(CATALOG, &[]);
    let (status, out) = a.call(
        Some(Role::Admin),
        "PUT",
        "/v1/templates/dash",
        r#"{"connectors":[{"name":"crm","scopes":["drop-tables"]}]}"#,
    );
    assert_eq!(status, 400, "{out}");
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains("connectors[0].scopes") && error.contains("no scope `drop-tables`"),
        "{error}"
    );
    let (status, out) = a.call(
        Some(Role::Admin),
        "PUT",
        "/v1/templates/dash",
        r#"{"connectors":[{"name":"crm","scopes":["read"]}]}"#,
    );
    assert_eq!(status, 200, "{out}");
}

fn config_changes(data: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(data.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "config.changed")
        .collect()
}

#[test]
fn a_change_of_the_governance_settings_between_starts_is_audited_with_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("warden.toml");
    let app = support::process::noop_app(dir.path(), "noop", "");
    let start = || {
        Host::start(
            &data,
            &[
                "--config",
                config.to_str().unwrap(),
                "--app",
                app.to_str().unwrap(),
            ],
        )
        .stop()
    };
    std::fs::write(&config, CATALOG).unwrap();
    start();
    let seen = config_changes(&data);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["details"]["first_start"], true);
    assert_eq!(seen[0]["actor"], "warden");

    start();
    assert_eq!(config_changes(&data).len(), 1, "same settings, nothing new");

    std::fs::write(
        &config,
        format!(
            "{CATALOG}\n[egress]\nallow_cidrs = [\"10.0.0.0/8\"]\n[templates.dash]\nconnectors = [{{ name = \"crm\", scopes = [\"read\"] }}]\n"
        ),
    )
    .unwrap();
    let lines = start();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("governance settings changed")),
        "{lines:?}"
    );
    let seen = config_changes(&data);
    assert_eq!(seen.len(), 2, "{seen:?}");
    let changed = &seen[1]["details"];
    assert_eq!(changed["first_start"], false);
    assert_eq!(changed["previous"], seen[0]["details"]["digest"]);
    assert_ne!(changed["digest"], changed["previous"]);
    let paths: Vec<&str> = changed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"egress.allow_cidrs"), "{paths:?}");
    assert!(paths.contains(&"templates.dash"), "{paths:?}");

    // What an older Warden kept (no `audit`, no `lifecycle` governed):
    // the upgrade alone is not a change.
    let seen_file = data.join("config.governance.json");
    let mut kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&seen_file).unwrap()).unwrap();
    for key in ["audit", "lifecycle"] {
        kept["view"].as_object_mut().unwrap().remove(key);
    }
    kept["digest"] = "from-an-older-warden".into();
    std::fs::write(&seen_file, kept.to_string()).unwrap();
    start();
    assert_eq!(config_changes(&data).len(), 2, "an upgrade is not a change");

    // A sink added, then removed: each is a change (a witness gone).
    let settings = std::fs::read_to_string(&config).unwrap();
    let port = support::siem::free_port();
    std::fs::write(
        &config,
        format!(
            "{settings}\n[[audit.sinks]]\nname = \"siem\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/a\"\nheaders = {{ X-Key = \"s3cret\" }}\n"
        ),
    )
    .unwrap();
    start();
    std::fs::write(&config, settings).unwrap();
    start();
    let seen = config_changes(&data);
    assert_eq!(seen.len(), 4, "{seen:?}");
    for (entry, change) in [(&seen[2], "added"), (&seen[3], "removed")] {
        let listed = &entry["details"]["changes"];
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["path"] == "audit.sinks.siem" && c["change"] == change),
            "{listed}"
        );
        assert!(
            !entry.to_string().contains("s3cret"),
            "no header value in the log"
        );
    }
}
