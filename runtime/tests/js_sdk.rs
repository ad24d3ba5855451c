//! A JavaScript app on Warden's SDK (`sdk/js`), built by `warden build`
//! with componentize-js: the expense dashboard reads the CRM through a
//! connector with a read scope (a real server on loopback, the credential
//! added by the host), caches the answer in its `internal` bucket, posts a
//! summary to the chat with the submitters' emails redacted by the
//! platform's DLP, and a JavaScript error shows as its name, message and
//! line in `warden run` and in the log of the HTTP 500.

use crate::support;
use serde_json::Value;
use support::process::{Host, warden_with};
use support::sdk_apps::{DemoSaas, assert_fails_in_its_own_words, build, demo_platform};
use support::serving::request;

#[test]
fn the_js_expense_dashboard_reads_caches_posts_redacted_and_says_what_failed() {
    let manifest = build("expense-dashboard");
    let saas = DemoSaas::start();
    // The main job's platform (examples/warden.toml), pointed at this
    // test's stand-in SaaS.
    let (_dir, config, data) = demo_platform(&saas);
    let mut host = Host::start(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--app",
            manifest.to_str().unwrap(),
        ],
    );
    let ask = |body: &str| request(host.app_addr, "POST", "/expenses", body);

    let first = ask("{}");
    assert_eq!(first.status, 200, "{}", first.body);
    let summary: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(
        (&summary["count"], &summary["total"], &summary["cached"]),
        (&Value::from(3), &Value::from(1600.4), &Value::from(false)),
        "{summary}"
    );
    assert_eq!(summary["bySubmitter"]["ada@example.com"], 1510.5);
    // The second answer comes from the bucket, not the CRM.
    let second: Value = serde_json::from_str(&ask("{}").body).unwrap();
    assert_eq!(second["cached"], true, "{second}");

    let posted = ask(r#"{"post":true}"#);
    assert_eq!(posted.status, 200, "{}", posted.body);
    let messages = saas.chat_messages();
    let text = messages[0]["text"].as_str().unwrap_or_default();
    assert_eq!(messages[0]["channel"], "#finance", "{messages}");
    assert!(
        text.contains("most from [REDACTED:email:") && !text.contains("@example.com"),
        "the chat got the summary with the email redacted: {messages}"
    );

    // A write the app has no scope for: refused before it leaves.
    let approve = ask(r#"{"approve":"EXP-101"}"#);
    assert_eq!(approve.status, 403, "{}", approve.body);
    assert!(approve.body.contains("scope-denied"), "{}", approve.body);

    // A caller's mistake: a 400 they read; a bug: a plain 500.
    let refused = ask("[1]");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("send a JSON object"),
        "{}",
        refused.body
    );
    assert_eq!(ask(r#"{"fail":true}"#).status, 500);
    assert!(
        host.wait_line("(app.js:", std::time::Duration::from_secs(10)),
        "the 500 is logged with the JavaScript error and its line"
    );
    let log = host.stop();
    let failure = log.iter().find(|l| l.contains("(app.js:")).unwrap();
    assert!(
        failure.contains("TypeError") && failure.contains("expense-dashboard"),
        "{failure}"
    );

    let traces = warden_with(&config, &data, &["traces", "expense-dashboard", "--errors"]);
    let said = support::said(&traces);
    assert!(said.contains("warden.denial=scope-denied"), "{said}");

    assert_fails_in_its_own_words(
        &config,
        &data,
        &manifest,
        "TypeError: can't access property \"total\" of null (app.js:",
        "[limits]\nfuel = 1_000_000\n",
        "limits.fuel",
    );
}
