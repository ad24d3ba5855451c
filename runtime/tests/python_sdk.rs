//! A Python app on Warden's SDK (`sdk/python`), built by `warden build`
//! (componentize-py against the WIT Warden ships): the lunch-bot example keeps orders in its
//! `internal` bucket, posts the day's summary through the `chat` connector
//! (a real server on loopback, the credential added by the host), answers
//! a caller's mistake with a 400 it reads, and a Python exception shows as
//! the exception's type, message and line.

use crate::support;
use serde_json::Value;

use support::process::{Host, set_secret, warden_with};
use support::sdk_apps::{assert_fails_in_its_own_words, build};
use support::serving::request;
use support::upstream::Upstream;

#[test]
fn the_python_lunch_bot_orders_posts_a_summary_and_says_what_failed() {
    let manifest = build("lunch-bot");
    let upstream = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[connectors]]
name = "chat"
base_url = "{chat}"
auth = {{ kind = "bearer", secret = "chat-token" }}
max_class = "internal"
vendor = {{ dpa = true, residency = "eu", incident_notification = "72h" }}
scopes = {{ post = ["POST /messages"] }}

[egress]
allow_cidrs = ["127.0.0.1/32"]

# A componentize-py component on a busy machine can take minutes to compile.
[deploys]
compile_timeout = "10m"
{state}"#,
            chat = upstream.url("/chat"),
            state = support::shared_state(),
        ),
    )
    .unwrap();
    set_secret(&data, Some(&config), "chat-token", "s3cr3t-chat");
    let mut host = Host::start(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--app",
            manifest.to_str().unwrap(),
        ],
    );
    let ask = |body: &str| request(host.app_addr, "POST", "/lunch", body);

    let mut day = String::new();
    for (name, dish) in [("ada", "soup"), ("bob", "salad")] {
        let ordered = ask(&format!(r#"{{"name":"{name}","dish":"{dish}"}}"#));
        assert_eq!(ordered.status, 200, "{}", ordered.body);
        let answer: Value = serde_json::from_str(&ordered.body).unwrap();
        assert_eq!(answer["ordered"], dish);
        // The first order's day (the bot keys orders by UTC day).
        if day.is_empty() {
            day = answer["day"].as_str().unwrap().to_string();
        }
    }
    let summary = ask(&format!(r#"{{"summary":true,"day":"{day}"}}"#));
    assert_eq!(summary.status, 200, "{}", summary.body);
    let answer: Value = serde_json::from_str(&summary.body).unwrap();
    assert_eq!(
        (answer["orders"].clone(), answer["posted"].clone()),
        (Value::from(2), Value::from(true)),
        "{answer}"
    );
    let posted: Vec<_> = upstream
        .seen()
        .into_iter()
        .filter(|s| s.path == "/chat/messages")
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        posted[0].body.contains("ada: soup; bob: salad")
            && posted[0].body.contains(r##""channel": "#lunch-eu""##),
        "{posted:?}"
    );
    assert!(
        posted[0]
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer s3cr3t-chat"),
        "the host added the credential: {posted:?}"
    );
    // A caller's mistake: a 400 they read.
    for mistake in ["{}", "[1]", "not json"] {
        let refused = ask(mistake);
        assert_eq!(refused.status, 400, "{mistake}: {}", refused.body);
    }
    // A bug: a plain 500 to the caller; the Python error to the operator.
    assert_eq!(ask(r#"{"fail":true}"#).status, 500);
    assert!(
        host.wait_line("(app.py:", std::time::Duration::from_secs(10)),
        "the 500 is logged with the Python error and its line"
    );
    let log = host.stop();
    let failure = log.iter().find(|l| l.contains("(app.py:")).unwrap();
    assert!(
        failure.contains("ValueError: the kitchen is on fire") && failure.contains("lunch-bot"),
        "{failure}"
    );
    // Python looks for host directories as it starts; an invocation that
    // succeeded without them was refused nothing.
    let ok = warden_with(
        &config,
        &data,
        &[
            "run",
            manifest.to_str().unwrap(),
            "--input",
            r#"{"name":"cy","dish":"tea"}"#,
        ],
    );
    let said = support::said(&ok);
    assert!(ok.status.success(), "{said}");
    assert!(!said.contains("denied"), "{said}");
    assert_fails_in_its_own_words(
        &config,
        &data,
        &manifest,
        "ValueError: the kitchen is on fire (app.py:",
        "[limits]\nmemory = \"8MiB\"\n",
        "limits.memory",
    );
}
