//! `wasi:config/store` end to end: a real guest reads the app's `[config]`
//! and the platform's `[config.apps.NAME]` through the standard interface;
//! secrets and credential-looking values are refused at load, naming the
//! field.

use crate::support;
use support::{TestHost, block_on, fixture, text};
use warden_runtime::invoke::InvocationRequest;

fn read(host: &TestHost, manifest: &std::path::Path, args: &[&str]) -> String {
    let app = host.load(manifest);
    let report = block_on(host.runtime.invoke(
        &app,
        InvocationRequest::cli(Vec::new()).with_args(args.iter().map(|a| a.to_string()).collect()),
    ));
    assert!(report.result.is_ok(), "{:?}", report.result);
    text(&report.stdout)
}

#[test]
fn a_guest_reads_its_values_and_the_platforms_win() {
    let host = TestHost::with_config(
        "[config.apps.config-reader]\nenvironment = \"production\"\nregion = \"eu-west-1\"\n",
    );
    let manifest = host.manifest(
        "config-reader",
        &fixture("config_reader"),
        "[config]\ngreeting = \"hello\"\npage_size = 20\nenvironment = \"staging\"\n",
    );
    assert_eq!(read(&host, &manifest, &["get", "greeting"]), "hello\n");
    assert_eq!(read(&host, &manifest, &["get", "page_size"]), "20\n");
    assert_eq!(
        read(&host, &manifest, &["get", "environment"]),
        "production\n",
        "the platform's value takes precedence"
    );
    assert_eq!(read(&host, &manifest, &["get", "no_such_key"]), "none\n");
    assert_eq!(
        read(&host, &manifest, &["all"]),
        "environment=production\ngreeting=hello\npage_size=20\nregion=eu-west-1\n"
    );
}

#[test]
fn an_app_without_config_reads_nothing() {
    let host = TestHost::with_config("[config.apps.someone-else]\ntoken_url = \"https://x\"\n");
    let manifest = host.manifest("config-reader", &fixture("config_reader"), "");
    assert_eq!(read(&host, &manifest, &["all"]), "");
    assert_eq!(read(&host, &manifest, &["get", "token_url"]), "none\n");
}

#[test]
fn a_secret_is_never_a_config_value() {
    let host = TestHost::new();
    let cases = [
        (
            "[config]\napi_key = { secret = \"crm-token\" }\n",
            "config.api_key",
        ),
        (
            "[config]\ntoken = \"${secret:crm-token}\"\n",
            "config.token",
        ),
        (
            "[config]\nstripe = \"sk_live_4eC39HqLyjWDarjtT1zdp7dc\"\n",
            "`config.stripe`: the key or value looks like a credential (api-key)",
        ),
    ];
    for (extra, field) in cases {
        let manifest = host.manifest("config-reader", &fixture("config_reader"), extra);
        let err = host.load_error(&manifest);
        assert!(err.contains(field), "{extra}: {err}");
        assert!(err.contains("connector"), "the fix names connectors: {err}");
    }
    // A key reaches the guest too (get-all): a credential as a key is
    // refused, and the error does not repeat it.
    let manifest = host.manifest(
        "config-reader",
        &fixture("config_reader"),
        "[config]
sk_live_4eC39HqLyjWDarjtT1zdp7dc = \"x\"\n",
    );
    let err = host.load_error(&manifest);
    assert!(err.contains("looks like a credential (api-key)"), "{err}");
    assert!(err.contains("`config.[REDACTED:api-key]`"), "{err}");
    assert!(!err.contains("sk_live_4eC39HqLyjWDarjtT1zdp7dc"), "{err}");
}

#[test]
fn reviewers_and_auditors_see_config_change() {
    use warden_runtime::registry::compare::{diff, grants};
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = |greeting: &str| {
        let path = dir.path().join(format!("{greeting}.toml"));
        std::fs::write(
            &path,
            format!(
                "[app]\nname = \"a\"\nversion = \"1.0.0\"\ncomponent = \"a.wasm\"\n[config]\ngreeting = \"{greeting}\"\n"
            ),
        )
        .expect("write");
        warden_runtime::config::AppManifest::load(&path).expect("manifest")
    };
    let changes = diff(&grants(&manifest("hello")), &grants(&manifest("howdy")));
    assert!(
        changes
            .iter()
            .any(|c| c.path == "config.greeting" && c.change == "changed"),
        "{changes:?}"
    );
    let platform = |value: &str| {
        let path = dir.path().join("warden.toml");
        std::fs::write(
            &path,
            format!("[config.apps.a]\nenvironment = \"{value}\"\n"),
        )
        .expect("write");
        warden_runtime::config::PlatformConfig::load(&path).expect("warden.toml")
    };
    let before = warden_runtime::config_changes::governance_view(&platform("staging"));
    let after = warden_runtime::config_changes::governance_view(&platform("production"));
    assert_eq!(before["config"]["a"]["environment"], "staging");
    assert_ne!(
        before, after,
        "a platform value change is a governance change"
    );
}

#[test]
fn the_platform_cannot_hand_out_a_credential_either() {
    // Refused as warden.toml is parsed: before the host starts, audits its
    // settings or serves anything — a credential as a key included, which
    // the error names without repeating.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("warden.toml");
    let cases = [
        (
            "[config.apps.config-reader]\nkey = \"sk_live_4eC39HqLyjWDarjtT1zdp7dc\"\n",
            "`config.apps.config-reader.key`: the key or value looks like a credential (api-key)",
        ),
        (
            "[config.apps.config-reader]\nsk_live_4eC39HqLyjWDarjtT1zdp7dc = \"x\"\n",
            "`config.apps.config-reader.[REDACTED:api-key]`",
        ),
        (
            "[config.apps.hello]\nkey = { secret = \"crm\" }\n",
            "`config.apps.hello.key` names a secret",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, text).expect("write");
        let err = warden_runtime::config::PlatformConfig::load(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{text}: {err}");
        assert!(err.contains("warden.toml"), "{err}");
        assert!(
            !err.contains("4eC39HqLyjWDarjtT1zdp7dc"),
            "never repeated: {err}"
        );
    }
}
