//! Spend and budgets on a live host: a connector that costs money, a
//! platform price per invocation, a team budget the app crosses — alerted
//! at 80% and 100% (audit, webhook) once, across a restart — and, with
//! `block-paid-calls`, paid calls refused before they leave while free
//! ones go on; `GET /v1/costs` and `warden costs` (from the host and from
//! the data directory) tell the same figures.

use crate::support;
use serde_json::Value;
use std::path::Path;
use support::admin_api::call_as;
use support::library::LibHost;
use support::process::{set_secret, token_with, warden_with};
use support::serving::request;
use support::until;
use support::upstream::Upstream;

fn config(upstream: &Upstream) -> String {
    format!(
        r#"
[[connectors]]
name = "crm"
base_url = "{crm}"
auth = {{ kind = "bearer", secret = "crm-token" }}
max_class = "internal"
vendor = {{ dpa = true, residency = "eu", incident_notification = "72h" }}
scopes = {{ read = ["GET /contacts/**"] }}
cost_per_call = 0.25

[[connectors]]
name = "billing"
base_url = "{billing}"
scopes = {{ read = ["GET /**"] }}

[egress]
allow_cidrs = ["127.0.0.1/32"]

[costs]
currency = "EUR"
per_invocation = 0.001
check_interval = "1s"
alert_webhook = "{hook}"

[[costs.budgets]]
team = "ops"
monthly = 1.0
on_exceeded = "block-paid-calls"

[[costs.budgets]]
cost_center = "CC-9"
monthly = 100.0
{state}"#,
        crm = upstream.url("/api"),
        billing = upstream.url("/billing"),
        hook = upstream.url("/hook"),
        state = support::shared_state(),
    )
}

fn app(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("buyer.toml");
    std::fs::write(
        &path,
        format!(
            "[app]\nname = \"buyer\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\nteam = \"ops\"\ncost_center = \"CC-9\"\n[http]\nroute = \"/buyer\"\n[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n[[connectors]]\nname = \"billing\"\nscopes = [\"read\"]\n",
            support::fixture("connector_call").display()
        ),
    )
    .unwrap();
    path
}

const PAID: &str = r#"{"connector":"crm","method":"GET","path":"/contacts/1"}"#;
const FREE: &str = r#"{"connector":"billing","method":"GET","path":"/invoices"}"#;

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

fn crossed(host: &LibHost, admin: &str) -> Vec<Value> {
    let (status, body) = call_as(host.admin_addr(), admin, "GET", "/v1/audit?limit=1000", "");
    assert_eq!(status, 200, "{body}");
    let log: Value = serde_json::from_str(&body).unwrap();
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "budget.crossed")
        .cloned()
        .collect()
}

#[test]
fn a_budget_crossed_alerts_once_and_blocks_paid_calls_only() {
    let upstream = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config_path = dir.path().join("warden.toml");
    std::fs::write(&config_path, config(&upstream)).unwrap();
    set_secret(&data, Some(&config_path), "crm-token", "s3cr3t-costs");
    let app = app(dir.path());
    let admin = token_with(&config_path, &data, "ops", "admin");
    let host = LibHost::start(&data, Some(&config_path), &[&app]);
    let costs = |host: &LibHost, query: &str| -> Value {
        let (status, body) = call_as(
            host.admin_addr(),
            &admin,
            "GET",
            &format!("/v1/costs{query}"),
            "",
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let ask = |host: &LibHost, input: &str| request(host.app_addr, "POST", "/buyer", input).status;

    // Three paid calls and a free one: 0.75 for the crm, 0.004 for the
    // four invocations; 75.4% of the team's budget.
    for input in [PAID, PAID, PAID, FREE] {
        assert_eq!(ask(&host, input), 200);
    }
    let report = until(
        "the spend is counted",
        || costs(&host, ""),
        |r| close(&r["total"], 0.754),
    );
    assert_eq!(report["currency"], "EUR");
    assert_eq!(report["by"], "team");
    let ops = &report["groups"][0];
    assert_eq!(ops["name"], "ops", "{report}");
    assert_eq!(ops["apps"], serde_json::json!(["buyer"]));
    assert_eq!(ops["connectors"]["crm"]["calls"], 3, "{report}");
    assert!(close(&ops["connectors"]["crm"]["cost"], 0.75), "{report}");
    assert_eq!(ops["connectors"]["billing"]["calls"], 1, "{report}");
    assert!(
        close(&ops["connectors"]["billing"]["cost"], 0.0),
        "{report}"
    );
    assert_eq!(ops["platform"]["invocations"], 4, "{report}");
    assert!(ops["platform"]["fuel"].as_u64().unwrap() > 0, "{report}");
    assert!(close(&ops["platform"]["cost"], 0.004), "{report}");
    assert_eq!(ops["budget"]["state"], "ok", "{report}");
    assert!(close(&ops["budget"]["used_pct"], 75.4), "{report}");
    assert!(crossed(&host, &admin).is_empty());

    // The fourth paid call spends the budget: both thresholds at once.
    assert_eq!(ask(&host, PAID), 200);
    let report = until(
        "paid calls are blocked",
        || costs(&host, ""),
        |r| r["paid_calls_blocked"] == serde_json::json!(["buyer"]),
    );
    let team = report["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "ops")
        .unwrap();
    assert_eq!(team["state"], "exceeded", "{report}");
    assert_eq!(team["blocking_paid_calls"], true, "{report}");
    let center = report["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "CC-9")
        .unwrap();
    assert_eq!(center["state"], "ok", "{report}");
    let alerts = crossed(&host, &admin);
    let thresholds: Vec<&Value> = alerts
        .iter()
        .map(|e| &e["details"]["threshold_pct"])
        .collect();
    assert_eq!(thresholds, [80, 100], "{alerts:?}");
    assert!(
        alerts
            .iter()
            .all(|e| e["actor"] == "warden:costs" && e["details"]["name"] == "ops")
    );
    assert_eq!(alerts[1]["details"]["paid_calls_blocked"], true);
    let hooked = until(
        "both alerts reach the webhook",
        || serde_json::json!(upstream.hits("/hook")),
        |n| n == 2,
    );
    assert_eq!(hooked, 2);

    // A paid call is refused before it leaves; a free one goes on.
    let crm_before = upstream.hits("/api");
    assert_eq!(ask(&host, PAID), 500);
    assert_eq!(upstream.hits("/api"), crm_before, "{:?}", upstream.seen());
    assert_eq!(ask(&host, FREE), 200);
    let traces = until(
        "the refusal is traced",
        || {
            let (_, body) = call_as(
                host.admin_addr(),
                &admin,
                "GET",
                "/v1/apps/buyer/traces?errors=true",
                "",
            );
            serde_json::from_str(&body).unwrap_or_default()
        },
        |t| t.to_string().contains("over-budget"),
    );
    assert!(
        traces
            .to_string()
            .contains("team `ops` budget (1.00 EUR for"),
        "{traces}"
    );

    // By app: whose it is, and the CLI says the same.
    let by_app = costs(&host, "?by=app");
    assert_eq!(by_app["groups"][0]["name"], "buyer");
    assert_eq!(by_app["groups"][0]["attribution"]["cost_center"], "CC-9");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["costs", "--by", "app", "--server", &host.admin])
        .env("WARDEN_TOKEN", &admin)
        .output()
        .unwrap();
    let said = support::said(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("buyer") && said.contains("EUR"), "{said}");
    assert!(
        said.contains("team ops") && said.contains("paid calls blocked"),
        "{said}"
    );
    let bad = costs_status(&host, &admin, "?month=2026-13");
    assert_eq!(bad, 400);

    // Restarted, the host blocks again at once and alerts nothing twice.
    host.stop();
    let host = LibHost::start(&data, Some(&config_path), &[&app]);
    until(
        "paid calls are blocked after a restart",
        || costs(&host, ""),
        |r| r["paid_calls_blocked"] == serde_json::json!(["buyer"]),
    );
    assert_eq!(crossed(&host, &admin).len(), 2);
    assert_eq!(ask(&host, PAID), 500);
    assert_eq!(upstream.hits("/api"), crm_before);
    let spent = until(
        "the last invocations are counted",
        || costs(&host, ""),
        // 4 paid calls; 8 invocations (the refused paid ones ran too).
        |r| close(&r["total"], 1.008),
    );
    host.stop();

    // From the data directory, with no host: the same month. An app
    // served only from its file is not known there to be the team's.
    let out = warden_with(&config_path, &data, &["costs", "--by", "app", "--json"]);
    let said = support::said(&out);
    assert!(out.status.success(), "{said}");
    let local: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(local["total"], spent["total"], "{local}");
    assert_eq!(local["groups"][0]["name"], "buyer", "{local}");
    let out = warden_with(&config_path, &data, &["costs"]);
    let said = support::said(&out);
    assert!(
        said.contains("(no team)") && said.contains("--server"),
        "{said}"
    );
    let out = warden_with(&config_path, &data, &["costs", "--month", "December"]);
    assert_eq!(out.status.code(), Some(2), "{}", support::said(&out));
    assert!(support::said(&out).contains("YYYY-MM"));
}

fn costs_status(host: &LibHost, token: &str, query: &str) -> u16 {
    call_as(
        host.admin_addr(),
        token,
        "GET",
        &format!("/v1/costs{query}"),
        "",
    )
    .0
}

/// A creator sees what their own apps cost, and no team's budget.
#[test]
fn a_creator_sees_only_their_own_apps_costs() {
    let upstream = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config_path = dir.path().join("warden.toml");
    std::fs::write(&config_path, config(&upstream)).unwrap();
    let app = app(dir.path());
    let mine = dir.path().join("mine.toml");
    std::fs::write(
        &mine,
        format!(
            "[app]\nname = \"mine\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\nowner = \"cora\"\nteam = \"ops\"\n[http]\nroute = \"/mine\"\n",
            support::fixture("noop_handler").display()
        ),
    )
    .unwrap();
    let creator = token_with(&config_path, &data, "cora", "creator");
    let host = LibHost::start(&data, Some(&config_path), &[&app, &mine]);
    assert_eq!(request(host.app_addr, "POST", "/buyer", FREE).status, 200);
    assert_eq!(request(host.app_addr, "POST", "/mine", "hi").status, 200);
    let report = until(
        "cora's app is counted",
        || {
            let (status, body) =
                call_as(host.admin_addr(), &creator, "GET", "/v1/costs?by=app", "");
            assert_eq!(status, 200, "{body}");
            serde_json::from_str(&body).unwrap()
        },
        |r| close(&r["total"], 0.001),
    );
    // `buyer` names no owner: not cora's; `mine` is.
    let names: Vec<&Value> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["name"])
        .collect();
    assert_eq!(names, ["mine"], "{report}");
    assert_eq!(report["budgets"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["paid_calls_blocked"],
        serde_json::json!([]),
        "{report}"
    );
}
