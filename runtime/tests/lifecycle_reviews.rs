//! Periodic reviews: each live app's risk tier from its grants, reviews
//! that come due by tier (`[lifecycle] review_every`), listed by
//! `GET /v1/reviews/due` and `warden reviews due`, and recorded by a
//! reviewer who is not the app's owner — audited.

use crate::support;
use support::admin_api::{admin_with, deploy_body};
use warden_runtime::admin::tokens::Role;

const CONFIG: &str = r#"
[[connectors]]
name = "crm"
base_url = "https://crm.example.com"
scopes = { read = ["GET /contacts/*"] }

[lifecycle]
review_every = { high = "2s", medium = "1h", low = "400d" }
notice = "2h"
grace = "1h"
"#;

fn due(admin: &support::admin_api::Admin, query: &str) -> Vec<serde_json::Value> {
    let (status, body) = admin.call(
        Some(Role::Reviewer),
        "GET",
        &format!("/v1/reviews/due{query}"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    body["apps"].as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [serde_json::Value], app: &str) -> Option<&'a serde_json::Value> {
    rows.iter().find(|r| r["app"] == app)
}

#[test]
fn reviews_come_due_by_risk_tier_and_a_reviewer_records_them() {
    // On the embedded store, or PostgreSQL in `scripts/test.sh`'s second pass.
    let admin = admin_with(&format!("{CONFIG}{}", support::shared_state()), &[]);
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
    std::thread::sleep(std::time::Duration::from_millis(2100));

    // High: two seconds, past; medium: within the notice; low: not due.
    let rows = due(&admin, "");
    let ledger = row(&rows, "ledger").expect("ledger is due");
    assert_eq!(
        (ledger["tier"].as_str(), ledger["status"].as_str()),
        (Some("high"), Some("overdue")),
        "{ledger}"
    );
    assert!(
        ledger["reasons"]
            .to_string()
            .contains("bucket `pay` holds regulated data"),
        "{ledger}"
    );
    assert!(ledger["last_review"].is_null());
    let notes = row(&rows, "notes").expect("notes is due");
    assert_eq!(
        (notes["tier"].as_str(), notes["status"].as_str()),
        (Some("medium"), Some("due")),
        "{notes}"
    );
    assert!(row(&rows, "plain").is_none(), "{rows:?}");
    let all = due(&admin, "?all=true");
    let plain = row(&all, "plain").expect("every live app with all=true");
    assert_eq!(
        (plain["tier"].as_str(), plain["status"].as_str()),
        (Some("low"), Some("ok")),
        "{plain}"
    );
    assert!(plain["days_left"].as_i64() >= Some(399), "{plain}");

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
    assert!(out["next_due_at"].is_string(), "{out}");

    // The clock starts again from the review (two seconds for high).
    let ledger = row(&due(&admin, "?all=true"), "ledger").cloned().unwrap();
    assert_eq!(
        ledger["last_review"]["reviewer"], "reviewer-user",
        "{ledger}"
    );
    assert_eq!(ledger["last_review"]["note"], "payroll bucket still needed");
    assert_ne!(ledger["status"], "overdue", "{ledger}");

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
    assert_eq!(last["details"]["was"], "overdue");
    assert_eq!(last["details"]["note"], "payroll bucket still needed");

    // The CLI lists the same through the admin API.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "reviews",
            "due",
            "--server",
            &format!("http://{}", admin.addr),
        ])
        .env("WARDEN_TOKEN", admin.token_of(Role::Reviewer))
        .output()
        .unwrap();
    let said = support::said(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("notes") && said.contains("medium") && said.contains("due"),
        "{said}"
    );
    assert!(!said.contains("plain"), "{said}");
}
