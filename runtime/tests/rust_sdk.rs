//! A Rust app on Warden's SDK, built by `warden build` (cargo for
//! wasm32-wasip2): the expense reminder reads the CRM through a connector
//! with a read scope, posts one reminder per person to the chat (the stand-in
//! SaaS the main job starts, on loopback) and keeps who was reminded in its
//! `internal` bucket, so a second run the same day reminds nobody twice; a
//! caller's mistake is a 400 they read.

use crate::support;
use serde_json::Value;
use support::library::LibHost;
use support::sdk_apps::{DemoSaas, build, demo_platform};
use support::serving::request;

#[test]
fn the_rust_expense_reminder_reminds_each_person_once_a_day() {
    let manifest = build("expense-reminder");
    let saas = DemoSaas::start();
    let (_dir, config, data) = demo_platform(&saas);
    let host = LibHost::start(&data, Some(&config), &[&manifest]);
    let ask = |body: &str| request(host.app_addr, "POST", "/remind", body);

    let first = ask(r#"{"day":"2026-12-01"}"#);
    assert_eq!(first.status, 200, "{}", first.body);
    let done: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(
        (&done["reminded"], &done["already"]),
        (&Value::from(2), &Value::from(0)),
        "{done}"
    );
    let messages = saas.chat_messages();
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts.len(), 2, "{messages}");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("EXP-101, EXP-103") && t.contains("1510.50")),
        "{messages}"
    );
    assert!(texts.iter().all(|t| !t.contains('@')), "{messages}");
    assert_eq!(messages[0]["channel"], "#finance");

    // The same day again: everyone was reminded; nothing is posted.
    let again: Value = serde_json::from_str(&ask(r#"{"day":"2026-12-01"}"#).body).unwrap();
    assert_eq!(
        (&again["reminded"], &again["already"]),
        (&Value::from(0), &Value::from(2)),
        "{again}"
    );
    assert_eq!(saas.chat_messages().as_array().unwrap().len(), 2);

    // A caller's mistake: a 400 they read.
    let refused = ask("[1]");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("send {}"), "{}", refused.body);
    host.stop();
}
