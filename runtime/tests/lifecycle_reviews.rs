//! Periodic reviews: each live app's risk tier from its grants, reviews
//! that come due by tier (`[lifecycle] review_every`, the defaults here),
//! listed by `GET /v1/reviews/due` and `warden reviews due` as they stand
//! now or at a later date (`at`, so nothing here waits for a clock), and
//! recorded by a reviewer who is not the app's owner — audited.

use crate::support;
use std::time::{Duration, SystemTime};
use support::admin_api::{Admin, admin_with, deploy_body};
use warden_runtime::admin::tokens::Role;

const CATALOG: &str = r#"
[[connectors]]
name = "crm"
base_url = "https://crm.example.com"
scopes = { read = ["GET /contacts/*"] }
"#;

/// RFC 3339 for `days` from now.
fn in_days(days: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(days * 86_400))
        .to_string()
}

fn due(admin: &Admin, query: &str) -> Vec<serde_json::Value> {
    let (status, body) = admin.call(
        Some(Role::Reviewer),
        "GET",
        &format!("/v1/reviews/due{query}"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    body["apps"].as_array().unwrap().clone()
}

/// `(tier, status)` of `app` among `rows`.
fn standing(rows: &[serde_json::Value], app: &str) -> Option<(String, String)> {
    rows.iter().find(|r| r["app"] == app).map(|r| {
        (
            r["tier"].as_str().unwrap().to_string(),
            r["status"].as_str().unwrap().to_string(),
        )
    })
}

fn pair(tier: &str, status: &str) -> Option<(String, String)> {
    Some((tier.to_string(), status.to_string()))
}

#[test]
fn reviews_come_due_by_risk_tier_and_a_reviewer_records_them() {
    // On the embedded store, or PostgreSQL in `scripts/test.sh`'s second pass.
    let admin = admin_with(&format!("{CATALOG}{}", support::shared_state()), &[]);
    for (app, extra) in [
        (
            "ledger",
            "[[storage]]\nbucket = \"pay\"\nclass = \"regulated\"\n",
        ),
        (
            "notes",
            "[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n",
        ),
        ("plain", ""),
    ] {
        let body = deploy_body(app, "1.0.0", &support::fixture("noop_handler"), extra);
        let (status, out) = admin.call(Some(Role::Creator), "POST", "/v1/apps", &body);
        assert!(status == 201 || status == 202, "{app}: {out}");
        if status == 202 {
            let (status, out) = admin.call(
                Some(Role::Reviewer),
                "POST",
                &format!("/v1/apps/{app}/approve"),
                r#"{"note":"fine"}"#,
            );
            assert_eq!(status, 200, "{app}: {out}");
        }
    }

    // Just deployed: nothing is due.
    assert_eq!(due(&admin, ""), Vec::<serde_json::Value>::new());
    // In 35 days the high tier (30 days) is overdue, within its 14 days'
    // grace; in 85 the medium tier (90 days) is within its 7 days' notice
    // and the high one lapsed; the low tier (180 days) is not due.
    let day35 = due(&admin, &format!("?at={}", in_days(35)));
    assert_eq!(
        standing(&day35, "ledger"),
        pair("high", "overdue"),
        "{day35:?}"
    );
    assert_eq!(standing(&day35, "notes"), None);
    let day85 = due(&admin, &format!("?at={}", in_days(85)));
    assert_eq!(standing(&day85, "ledger"), pair("high", "lapsed"));
    assert_eq!(standing(&day85, "notes"), pair("medium", "due"));
    assert_eq!(standing(&day85, "plain"), None);
    let ledger = day85.iter().find(|r| r["app"] == "ledger").unwrap();
    assert!(
        ledger["reasons"]
            .to_string()
            .contains("bucket `pay` holds regulated data"),
        "{ledger}"
    );
    assert!(ledger["last_review"].is_null());
    assert_eq!(ledger["state"], "active");
    let all = due(&admin, &format!("?all=true&at={}", in_days(85)));
    assert_eq!(standing(&all, "plain"), pair("low", "ok"));
    let plain = all.iter().find(|r| r["app"] == "plain").unwrap();
    assert!(
        (94..=95).contains(&plain["days_left"].as_i64().unwrap()),
        "{plain}"
    );
    let (status, out) = admin.call(
        Some(Role::Reviewer),
        "GET",
        "/v1/reviews/due?at=someday",
        "",
    );
    assert_eq!(status, 400, "{out}");

    // Who may list and who may record.
    let (status, _) = admin.call(Some(Role::Auditor), "GET", "/v1/reviews/due", "");
    assert_eq!(status, 200);
    let (status, _) = admin.call(Some(Role::Creator), "GET", "/v1/reviews/due", "");
    assert_eq!(status, 403);
    let review = |role, app: &str, body: &str| {
        admin.call(Some(role), "POST", &format!("/v1/apps/{app}/review"), body)
    };
    assert_eq!(review(Role::Creator, "ledger", r#"{"note":"mine"}"#).0, 403);
    let (status, out) = review(Role::Reviewer, "ledger", r#"{"note":"  "}"#);
    assert_eq!(status, 400, "{out}");
    let (status, out) = review(Role::Reviewer, "ghost", r#"{"note":"x"}"#);
    assert_eq!(status, 404, "{out}");
    let (status, out) = review(
        Role::Reviewer,
        "ledger",
        r#"{"note":"payroll bucket still needed"}"#,
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["tier"], "high");
    let next = out["next_due_at"].as_str().unwrap();
    assert!(next > out["at"].as_str().unwrap(), "{out}");

    // The clock starts again from the review.
    let all = due(&admin, "?all=true");
    let ledger = all.iter().find(|r| r["app"] == "ledger").unwrap();
    assert_eq!(ledger["since"], out["at"], "{ledger}");
    assert_eq!(ledger["due_at"], next);
    assert_eq!(ledger["last_review"]["reviewer"], "reviewer-user");
    assert_eq!(ledger["last_review"]["note"], "payroll bucket still needed");

    // The owner may not review their own app, whatever their role now.
    let owner_as_reviewer = admin.token("creator-user", Role::Reviewer);
    let (status, out) = admin.call_with(
        Some(&owner_as_reviewer),
        "POST",
        "/v1/apps/notes/review",
        r#"{"note":"looks fine to me"}"#,
    );
    assert_eq!(status, 403, "{out}");
    assert!(out["error"].as_str().unwrap().contains("own apps"), "{out}");

    // Audited, with what it was and what the reviewer said.
    let (status, log) = admin.call(Some(Role::Auditor), "GET", "/v1/audit?app=ledger", "");
    assert_eq!(status, 200);
    let last = log["entries"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["kind"], "app.reviewed", "{last}");
    assert_eq!(last["actor"], "token:reviewer-user");
    assert_eq!(last["details"]["was"], "ok");
    assert_eq!(last["details"]["tier"], "high");
    assert_eq!(last["details"]["next_due_at"], next);
    assert_eq!(last["details"]["note"], "payroll bucket still needed");

    // The CLI lists the same through the admin API, at a date too.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args([
                "reviews",
                "due",
                "--server",
                &format!("http://{}", admin.addr),
            ])
            .args(args)
            .env("WARDEN_TOKEN", admin.token_of(Role::Reviewer))
            .output()
            .unwrap();
        (out.status.code(), support::said(&out))
    };
    let (code, said) = cli(&["--at", &in_days(85)]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("notes") && said.contains("medium"), "{said}");
    assert!(!said.contains("plain"), "{said}");
    let (code, said) = cli(&["--at", "someday"]);
    assert_eq!(code, Some(2), "{said}");
}

/// With `suspend_lapsed`, the serving host suspends an app whose review
/// lapsed — its kill switch, pulled as `warden:lifecycle` — and a
/// recorded review lifts it; a kill by an admin stays.
#[test]
fn a_lapsed_app_is_suspended_until_a_reviewer_records_its_review() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "{CATALOG}\n[lifecycle]\nreview_every = {{ high = \"1s\", medium = \"1h\", low = \"400d\" }}\nnotice = \"500ms\"\ngrace = \"1s\"\nsuspend_lapsed = true\ncheck_interval = \"200ms\"\n{}",
            support::shared_state()
        ),
    )
    .unwrap();
    let token = |name: &str, role: &str| support::process::token_with(&config, &data, name, role);
    let (creator, reviewer, admin) = (
        token("cora", "creator"),
        token("rey", "reviewer"),
        token("ops", "admin"),
    );
    let host = support::library::LibHost::start(&data, Some(&config), &[]);
    let call = |token: &str, method: &str, path: &str, body: &str| {
        let (status, body) =
            support::admin_api::call_as(host.admin_addr(), token, method, path, body);
        (
            status,
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    for (app, extra) in [
        // Deployed first, so it lapses first: when `ledger` is seen
        // suspended, the check has looked at `payroll` lapsed too.
        (
            "payroll",
            "[[storage]]\nbucket = \"pay\"\nclass = \"regulated\"\n",
        ),
        (
            "ledger",
            "[[storage]]\nbucket = \"pay\"\nclass = \"regulated\"\n",
        ),
        (
            "notes",
            "[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n",
        ),
    ] {
        let extra = format!("{extra}[http]\nroute = \"/{app}\"\n");
        let body = deploy_body(app, "1.0.0", &support::fixture("noop_handler"), &extra);
        let (status, out) = call(&creator, "POST", "/v1/apps", &body);
        assert!(status == 201 || status == 202, "{app}: {out}");
        if status == 202 {
            let path = format!("/v1/apps/{app}/approve");
            let (status, out) = call(&reviewer, "POST", &path, r#"{"note":"fine"}"#);
            assert_eq!(status, 200, "{app}: {out}");
        }
    }
    // An operator's kill, made before the review lapses: the suspension
    // never takes it over.
    let (status, _) = call(
        &admin,
        "POST",
        "/v1/apps/payroll/kill",
        r#"{"reason":"incident 7"}"#,
    );
    assert_eq!(status, 200);
    let row = |app: &str| {
        let (status, out) = call(&reviewer, "GET", "/v1/reviews/due?all=true", "");
        assert_eq!(status, 200, "{out}");
        out["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["app"] == app)
            .cloned()
            .unwrap()
    };
    let ledger = || row("ledger");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ledger()["suspended"] != true {
        assert!(std::time::Instant::now() < deadline, "{}", ledger());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ledger()["state"], "killed");
    let payroll = row("payroll");
    assert_eq!(payroll["status"], "lapsed", "{payroll}");
    assert_eq!(payroll["state"], "killed", "{payroll}");
    assert_eq!(payroll["suspended"], false, "{payroll}");
    let (status, out) = call(
        &reviewer,
        "POST",
        "/v1/apps/payroll/review",
        r#"{"note":"ok"}"#,
    );
    assert_eq!(
        (status, &out["suspension_lifted"]),
        (200, &false.into()),
        "{out}"
    );
    assert_eq!(
        support::serving::request(host.app_addr, "POST", "/payroll", "ok").status,
        503,
        "the operator's kill stays"
    );
    let refused = support::serving::request(host.app_addr, "POST", "/ledger", "ok");
    assert_eq!(refused.status, 503, "a suspended app is not served");
    let (_, log) = call(&admin, "GET", "/v1/audit?app=ledger", "");
    let suspension = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "app.killed")
        .cloned()
        .unwrap();
    assert_eq!(suspension["actor"], "warden:lifecycle");
    assert!(
        suspension["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("periodic review"),
        "{suspension}"
    );

    // An admin's kill is not lifted by a review.
    let (status, _) = call(
        &admin,
        "POST",
        "/v1/apps/notes/kill",
        r#"{"reason":"incident"}"#,
    );
    assert_eq!(status, 200);
    let (status, out) = call(
        &reviewer,
        "POST",
        "/v1/apps/notes/review",
        r#"{"note":"ok"}"#,
    );
    assert_eq!(
        (status, &out["suspension_lifted"]),
        (200, &false.into()),
        "{out}"
    );
    // The suspension is.
    let (status, out) = call(
        &reviewer,
        "POST",
        "/v1/apps/ledger/review",
        r#"{"note":"still needed"}"#,
    );
    assert_eq!(
        (status, &out["suspension_lifted"]),
        (200, &true.into()),
        "{out}"
    );
    let (_, log) = call(&admin, "GET", "/v1/audit", "");
    let kinds: Vec<(String, String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["app"].as_str().unwrap_or("").to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let at = |kind: &str, app: &str| kinds.iter().rposition(|(k, a, _)| k == kind && a == app);
    let reviewed = at("app.reviewed", "ledger").unwrap();
    let lifted = at("app.unkilled", "ledger").unwrap();
    assert!(reviewed < lifted, "{kinds:?}");
    assert_eq!(kinds[lifted].2, "token:rey");
    assert!(at("app.unkilled", "notes").is_none(), "{kinds:?}");
    host.stop();
}
