//! Deploys, reviews, quota overrides, secrets and templates through the
//! admin API on loopback, next to the host that serves the apps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::admin_api::{Admin, admin_with, deploy_body};
use support::fixture;
use support::serving::request;
use warden_runtime::admin::tokens::Role;

fn host() -> Admin {
    admin_with(
        "",
        &[(
            "other",
            fixture("noop_handler"),
            "owner = \"someone-else\"\n[http]\nroute = \"/other\"",
        )],
    )
}

fn app_extra(route: &str, more: &str) -> String {
    format!("[http]\nroute = \"{route}\"\n{more}")
}

fn served(a: &Admin, path: &str) -> u16 {
    request(a.running.addr, "POST", path, "x").status
}

fn audit_kinds(a: &Admin, app: &str) -> Vec<(String, String)> {
    let (_, audit) = a.call(
        Some(Role::Auditor),
        "GET",
        &format!("/v1/audit?app={app}"),
        "",
    );
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn approval_is_for_other_peoples_apps_and_unlocks_regulated_storage() {
    let a = host();
    let body = deploy_body(
        "hr-notes",
        "1.0.0",
        &fixture("noop_handler"),
        &app_extra(
            "/hr",
            "[[storage]]\nbucket = \"notes\"\nclass = \"regulated\"",
        ),
    );
    let (status, held) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 202, "{held}");
    assert_eq!(held["status"], "pending");
    assert!(
        held["reasons"][0].as_str().unwrap().contains("regulated"),
        "{held}"
    );
    assert_eq!(served(&a, "/hr"), 404, "a held deploy is not served");
    let (_, queue) = a.call(Some(Role::Reviewer), "GET", "/v1/reviews", "");
    assert_eq!(queue["pending"][0]["app"], "hr-notes", "{queue}");

    // The creator made a reviewer (one name holds one role: the creator
    // token is revoked in the same step) still cannot approve their own app.
    let own = a.token("creator-user", Role::Reviewer);
    let (status, refused) = a.call_with(Some(&own), "POST", "/v1/apps/hr-notes/approve", "{}");
    assert_eq!(status, 403, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("own apps"));
    assert_eq!(served(&a, "/hr"), 404);
    let (status, refused) = a.call(Some(Role::Creator), "GET", "/v1/apps", "");
    assert_eq!(status, 401);
    assert!(
        refused["error"].as_str().unwrap().contains("revoked"),
        "{refused}"
    );

    let (status, approved) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/hr-notes/approve",
        r#"{"note":"HR confirmed retention"}"#,
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(served(&a, "/hr"), 200, "approved and served");
    let (_, inspect) = a.call(Some(Role::Admin), "GET", "/v1/apps/hr-notes", "");
    assert_eq!(inspect["approved"], true);
    let (_, queue) = a.call(Some(Role::Reviewer), "GET", "/v1/reviews", "");
    assert_eq!(queue["pending"].as_array().map(Vec::len), Some(0));
    let (_, versions) = a.call(Some(Role::Auditor), "GET", "/v1/apps/hr-notes/versions", "");
    assert_eq!(versions["versions"][0]["status"], "active");
    assert_eq!(versions["versions"][0]["reviewed_by"], "reviewer-user");
    assert_eq!(
        versions["versions"][0]["review_note"],
        "HR confirmed retention"
    );
    let kinds = audit_kinds(&a, "hr-notes");
    assert!(
        kinds.contains(&("app.deployed".into(), "token:creator-user".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("app.approved".into(), "token:reviewer-user".into())),
        "{kinds:?}"
    );
}

#[test]
fn a_rejected_deploy_is_never_served_and_the_creator_sees_why() {
    let a = host();
    let body = deploy_body(
        "fetcher",
        "1.0.0",
        &fixture("noop_handler"),
        &app_extra(
            "/fetch",
            "[egress]\nallowed_hosts = [\"https://api.example.com\"]",
        ),
    );
    let (status, _) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 202);
    let (status, _) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/fetcher/reject",
        "{}",
    );
    assert_eq!(status, 400, "a rejection needs a note");
    let (status, _) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/fetcher/reject",
        r#"{"note":"use the crm connector instead of a raw host"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(served(&a, "/fetch"), 404);
    let (_, versions) = a.call(Some(Role::Creator), "GET", "/v1/apps/fetcher/versions", "");
    assert_eq!(versions["versions"][0]["status"], "rejected");
    assert_eq!(
        versions["versions"][0]["review_note"],
        "use the crm connector instead of a raw host"
    );
    let (status, _) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/fetcher/approve",
        "{}",
    );
    assert_eq!(status, 404, "nothing is pending any more");
    assert!(
        audit_kinds(&a, "fetcher").contains(&("app.rejected".into(), "token:reviewer-user".into()))
    );
}

#[test]
fn a_deploy_within_its_template_goes_live_and_one_beyond_it_waits() {
    let a = host();
    let (status, _) = a.call(
        Some(Role::Admin),
        "PUT",
        "/v1/templates/external-reader",
        r#"{"description":"reads one partner API","allowed_hosts":["https://api.example.com"],"max_class":"confidential"}"#,
    );
    assert_eq!(status, 200);
    let within = deploy_body(
        "reader",
        "1.0.0",
        &fixture("noop_handler"),
        &format!(
            "template = \"external-reader\"\n{}",
            app_extra(
                "/reader",
                "[egress]\nallowed_hosts = [\"https://api.example.com\"]\n[[storage]]\nbucket = \"cache\"\nclass = \"confidential\""
            )
        ),
    );
    let (status, live) = a.call(Some(Role::Creator), "POST", "/v1/apps", &within);
    assert_eq!(status, 201, "{live}");
    assert_eq!(served(&a, "/reader"), 200);
    let beyond = deploy_body(
        "reader",
        "1.1.0",
        &fixture("noop_handler"),
        &format!(
            "template = \"external-reader\"\n{}",
            app_extra(
                "/reader",
                "[egress]\nallowed_hosts = [\"https://api.example.com\", \"https://other.example.com\"]"
            )
        ),
    );
    let (status, held) = a.call(Some(Role::Creator), "POST", "/v1/apps", &beyond);
    assert_eq!(status, 202, "{held}");
    // Beyond the template, and (the default policy's rule for every
    // redeploy) a grant the live version does not have.
    assert_eq!(
        held["reasons"],
        serde_json::json!([
            "egress host `https://other.example.com` is new since version 1.0.0",
            "egress host `https://other.example.com` is not in template `external-reader`"
        ])
    );
    let (_, inspect) = a.call(Some(Role::Admin), "GET", "/v1/apps/reader", "");
    assert_eq!(
        inspect["version"], "1.0.0",
        "the live version keeps serving"
    );
    let (_, templates) = a.call(Some(Role::Creator), "GET", "/v1/templates", "");
    assert_eq!(templates["templates"]["external-reader"]["source"], "api");
}

#[test]
fn a_new_version_replaces_the_old_one_which_is_kept_as_superseded() {
    let a = host();
    for version in ["1.0.0", "1.1.0"] {
        let body = deploy_body(
            "notes",
            version,
            &fixture("noop_handler"),
            &app_extra("/notes", ""),
        );
        let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
        assert_eq!(status, 201, "{out}");
        assert_eq!(served(&a, "/notes"), 200);
    }
    let (_, versions) = a.call(Some(Role::Auditor), "GET", "/v1/apps/notes/versions", "");
    let states: Vec<(&str, &str)> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(states, vec![("1.1.0", "active"), ("1.0.0", "superseded")]);
    let (_, inspect) = a.call(Some(Role::Admin), "GET", "/v1/apps/notes", "");
    assert_eq!(inspect["version"], "1.1.0");
    assert_eq!(
        inspect["artifact"], "cached",
        "the same component is compiled once"
    );
}

#[test]
fn bad_deploys_are_refused_with_a_clear_error_and_change_nothing() {
    let a = host();
    let deploy = |body: &str| a.call(Some(Role::Creator), "POST", "/v1/apps", body);
    let good = deploy_body(
        "mine",
        "1.0.0",
        &fixture("noop_handler"),
        &app_extra("/mine", ""),
    );
    let mut not_base64: serde_json::Value = serde_json::from_str(&good).unwrap();
    not_base64["component"] = "%%%".into();
    let (status, out) = deploy(&not_base64.to_string());
    assert_eq!(status, 400);
    assert!(
        out["error"].as_str().unwrap().contains("not base64"),
        "{out}"
    );

    let text_file = std::env::temp_dir().join(format!("warden-not-wasm-{}", std::process::id()));
    std::fs::write(&text_file, "hello").unwrap();
    let (status, out) = deploy(&deploy_body(
        "mine",
        "1.0.0",
        &text_file,
        &app_extra("/mine", ""),
    ));
    let _ = std::fs::remove_file(&text_file);
    assert_eq!(status, 400);
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains("app.component") && error.contains("not a WebAssembly file"),
        "{error}"
    );

    let (status, out) = deploy(&deploy_body(
        "Bad Name",
        "1.0.0",
        &fixture("noop_handler"),
        "",
    ));
    assert_eq!(status, 400);
    assert!(out["error"].as_str().unwrap().contains("app.name"), "{out}");

    let (status, out) = deploy(&deploy_body(
        "mine",
        "1.0.0",
        &fixture("noop_handler"),
        "owner = \"mallory\"",
    ));
    assert_eq!(status, 403, "{out}");
    let (status, out) = deploy(&deploy_body("other", "2.0.0", &fixture("noop_handler"), ""));
    assert_eq!(status, 403, "another owner's app: {out}");
    let (status, out) = a.call(
        Some(Role::Admin),
        "POST",
        "/v1/apps",
        &deploy_body(
            "takeover",
            "1.0.0",
            &fixture("noop_handler"),
            &format!("owner = \"platform\"\n{}", app_extra("/other", "")),
        ),
    );
    assert_eq!(status, 409, "route taken: {out}");
    assert!(
        out["error"].as_str().unwrap().contains("own route"),
        "{out}"
    );

    let (_, versions) = a.call(Some(Role::Creator), "GET", "/v1/apps/mine/versions", "");
    let failed = versions["versions"].as_array().unwrap();
    assert!(failed.iter().all(|v| v["status"] == "failed"), "{versions}");
    assert_eq!(served(&a, "/other"), 200, "the served app is untouched");
    assert_eq!(served(&a, "/mine"), 404);
    let (status, _) = deploy(&good);
    assert_eq!(status, 201, "a good deploy after bad ones works");
}

#[test]
fn a_quota_override_applies_to_the_next_request_and_is_audited() {
    let a = host();
    let (status, out) = a.call(
        Some(Role::Admin),
        "PUT",
        "/v1/apps/other/quota",
        r#"{"requests_per_minute":1}"#,
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["effective"]["requests_per_minute"], 1);
    assert_eq!(served(&a, "/other"), 200);
    // The next request in the same minute is refused (a minute boundary
    // between two requests allows one more).
    let refused = (0..3).any(|_| served(&a, "/other") == 429);
    assert!(refused, "requests_per_minute = 1 refuses a second request");
    // The refusal says the limit is an admin's override, not the manifest's.
    use warden_host_apis::metering::QuotaSource;
    let app = a.running.server.loaded("other").unwrap();
    let sources = app.meter.limits().sources;
    assert_eq!(sources.requests_per_minute, QuotaSource::Override);
    assert_eq!(sources.storage_bytes, QuotaSource::PlatformDefault);
    // A refusal made now says so; only a new minute may let it pass.
    let minute = warden_host_apis::metering::Window::minute_now();
    match support::block_on(app.meter.check_invocation()) {
        Err(err) => assert!(
            err.to_string()
                .contains("an admin override of `requests_per_minute`"),
            "{err}"
        ),
        Ok(()) => assert_ne!(
            warden_host_apis::metering::Window::minute_now().key(),
            minute.key(),
            "within the minute, the override refuses"
        ),
    }
    let (status, _) = a.call(Some(Role::Admin), "PUT", "/v1/apps/nope/quota", "{}");
    assert_eq!(status, 404);
    let (status, _) = a.call(
        Some(Role::Admin),
        "PUT",
        "/v1/apps/other/quota",
        r#"{"requests_per_hour":1}"#,
    );
    assert_eq!(status, 422, "unknown quota fields are refused");
    assert!(audit_kinds(&a, "other").contains(&("quota.set".into(), "token:admin-user".into())));
}

#[test]
fn secrets_set_through_the_api_are_listed_and_audited_without_their_value() {
    let a = host();
    let value = "tok-7f3a9c-never-shown";
    for _ in 0..2 {
        let (status, out) = a.call(
            Some(Role::Admin),
            "PUT",
            "/v1/secrets/crm-token",
            &format!(r#"{{"value":"{value}"}}"#),
        );
        assert_eq!(status, 200, "{out}");
        assert!(!out.to_string().contains(value));
    }
    let (_, list) = a.call(Some(Role::Auditor), "GET", "/v1/secrets", "");
    assert_eq!(list["secrets"][0]["name"], "crm-token");
    assert_eq!(list["secrets"][0]["version"], 2);
    assert!(!list.to_string().contains(value));
    let dir = a.running.server.runtime().data_dir();
    // The sealed entries as stored: secrets.json, or PostgreSQL's rows.
    let sealed = match &a.running.server.runtime().platform().state.url {
        Some(url) => {
            let rows = support::postgres::rows(url, "SELECT sealed FROM secrets");
            assert!(!rows.is_empty(), "the secret is in the shared database");
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<String>()
        }
        None => std::fs::read_to_string(dir.join("secrets.json")).unwrap(),
    };
    assert!(
        !sealed.contains(value),
        "the store holds the secret in clear"
    );
    // The log as stored (a file, or PostgreSQL's rows), every entry.
    let (stored, _) = a.running.server.runtime().audit().read_blocking().unwrap();
    let stored = serde_json::to_string(&stored).unwrap();
    assert!(
        !stored.contains(value),
        "the audit log holds the secret in clear"
    );
    let (_, audit) = a.call(Some(Role::Auditor), "GET", "/v1/audit", "");
    let kinds: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"secret.set") && kinds.contains(&"secret.rotated"),
        "{kinds:?}"
    );
    let (status, _) = a.call(
        Some(Role::Admin),
        "PUT",
        "/v1/secrets/Bad%20Name",
        r#"{"value":"x"}"#,
    );
    assert_eq!(status, 400);
}

#[test]
fn a_creator_cannot_take_or_enclose_another_owners_route_or_the_root() {
    let a = host();
    let alice = a.token_of(Role::Creator);
    let body = deploy_body(
        "hello",
        "1.0.0",
        &fixture("noop_handler"),
        &app_extra("/hello/...", ""),
    );
    let (status, out) = a.call_with(Some(&alice), "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    let mallory = a.token("mallory", Role::Creator);
    for (n, route) in ["/hello/ada", "/hello", "/hello/...", "/...", "/"]
        .iter()
        .enumerate()
    {
        let body = deploy_body(
            &format!("grab{n}"),
            "1.0.0",
            &fixture("noop_handler"),
            &app_extra(route, ""),
        );
        let (status, out) = a.call_with(Some(&mallory), "POST", "/v1/apps", &body);
        assert_eq!(status, 403, "{route}: {out}");
        assert!(
            out["error"].as_str().unwrap().contains("http.route"),
            "{out}"
        );
    }
    // The owner may nest her own apps; an admin may place any route.
    let body = deploy_body(
        "hello-ada",
        "1.0.0",
        &fixture("noop_handler"),
        &app_extra("/hello/ada", ""),
    );
    let (status, out) = a.call_with(Some(&alice), "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    let body = deploy_body(
        "front",
        "1.0.0",
        &fixture("noop_handler"),
        &format!("owner = \"platform\"\n{}", app_extra("/...", "")),
    );
    let (status, out) = a.call(Some(Role::Admin), "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    assert_eq!(request(a.running.addr, "POST", "/hello/bob", "x").body, "x");
}

#[test]
fn a_deployed_version_never_changes_and_an_approval_names_what_was_reviewed() {
    let a = host();
    let creator = a.token_of(Role::Creator);
    let held = |version: &str, hosts: &str| {
        deploy_body(
            "kv",
            version,
            &fixture("noop_handler"),
            &app_extra("/kv", &format!("[egress]\nallowed_hosts = [{hosts}]")),
        )
    };
    let (status, first) = a.call_with(
        Some(&creator),
        "POST",
        "/v1/apps",
        &held("1.0.0", "\"https://api.example.com\""),
    );
    assert_eq!(status, 202, "{first}");
    // The issue's input: the same version again, now with an exfiltration host.
    let (status, again) = a.call_with(
        Some(&creator),
        "POST",
        "/v1/apps",
        &held("1.0.0", "\"https://exfil.example.com\""),
    );
    assert_eq!(status, 409, "{again}");
    assert!(
        again["error"].as_str().unwrap().contains("app.version"),
        "{again}"
    );
    // A newer version replaces the pending one; the older can no longer be approved.
    let (status, second) = a.call_with(
        Some(&creator),
        "POST",
        "/v1/apps",
        &held("1.0.1", "\"https://api.example.com\""),
    );
    assert_eq!(status, 202, "{second}");
    let (status, _) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/kv/approve",
        r#"{"version":"1.0.0"}"#,
    );
    assert_eq!(status, 404, "the replaced deploy is not pending any more");
    let wrong =
        serde_json::json!({ "deploy": second["deploy"], "digest": "00".repeat(32) }).to_string();
    let (status, out) = a.call(Some(Role::Reviewer), "POST", "/v1/apps/kv/approve", &wrong);
    assert_eq!(status, 409, "{out}");
    let exact =
        serde_json::json!({ "deploy": second["deploy"], "digest": second["digest"] }).to_string();
    let (status, out) = a.call(Some(Role::Reviewer), "POST", "/v1/apps/kv/approve", &exact);
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["version"], "1.0.1");
}

/// Retiring ends an app's life without deleting it: not served at once,
/// listed as retired, a step of its version's history and the audit log;
/// an admin puts it back; a newer version going live supersedes it.
#[test]
fn a_retired_app_is_not_served_is_listed_and_an_admin_puts_it_back() {
    let a = host();
    let deploy = |version: &str| {
        let body = deploy_body(
            "lunch",
            version,
            &fixture("noop_handler"),
            &app_extra("/lunch", ""),
        );
        a.call(Some(Role::Creator), "POST", "/v1/apps", &body)
    };
    let lifecycle = |role: Role, verb: &str, body: &str| {
        a.call(Some(role), "POST", &format!("/v1/apps/lunch/{verb}"), body)
    };
    let version = |v: &str| {
        let (_, shown) = a.call(
            Some(Role::Auditor),
            "GET",
            &format!("/v1/apps/lunch/versions/{v}"),
            "",
        );
        shown
    };
    assert_eq!(deploy("1.0.0").0, 201);
    assert_eq!(served(&a, "/lunch"), 200);

    let why = r#"{"reason":"the owner left; unused since March"}"#;
    assert_eq!(lifecycle(Role::Creator, "retire", why).0, 403);
    let (status, out) = lifecycle(Role::Admin, "retire", r#"{"reason":" "}"#);
    assert_eq!(status, 400, "{out}");
    assert_eq!(
        served(&a, "/lunch"),
        200,
        "a refused retire changes nothing"
    );
    let (status, out) = lifecycle(Role::Admin, "retire", why);
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "retired");
    assert_eq!(served(&a, "/lunch"), 404);
    let shown = version("1.0.0");
    assert_eq!(shown["status"], "retired", "{shown}");
    let last = shown["history"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("active"), Some("retired"))
    );
    assert_eq!(last["by"], "token:admin-user");
    assert_eq!(last["why"], "the owner left; unused since March");
    let (_, apps) = a.call(Some(Role::Creator), "GET", "/v1/apps", "");
    let listed = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "lunch")
        .cloned()
        .unwrap_or_else(|| panic!("a retired app is listed: {apps}"));
    assert_eq!(listed["state"], "retired", "{listed}");
    assert!(
        listed["next"]
            .as_str()
            .unwrap()
            .contains("warden unretire lunch"),
        "{listed}"
    );
    let (status, _) = lifecycle(Role::Admin, "retire", why);
    assert_eq!(status, 409, "nothing live to retire");

    let (status, out) = lifecycle(
        Role::Admin,
        "unretire",
        r#"{"reason":"the team still uses it"}"#,
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "active");
    assert_eq!(served(&a, "/lunch"), 200);
    let kinds: Vec<String> = audit_kinds(&a, "lunch")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        kinds.contains(&"app.retired".to_string()) && kinds.contains(&"app.unretired".to_string()),
        "{kinds:?}"
    );

    // Retired again: its creator cannot bring it back alone — a new version
    // waits for a reviewer (`retired-app`); once approved it supersedes the
    // retired one, and there is nothing left to put back.
    assert_eq!(lifecycle(Role::Admin, "retire", why).0, 200);
    let (status, out) = deploy("1.1.0");
    assert_eq!(status, 202, "{out}");
    assert!(
        out.to_string().contains("was retired at version 1.0.0"),
        "{out}"
    );
    assert_eq!(served(&a, "/lunch"), 404);
    let (status, out) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/lunch/approve",
        r#"{"note":"the team needs it again"}"#,
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(served(&a, "/lunch"), 200);
    assert!(
        audit_kinds(&a, "lunch")
            .iter()
            .any(|(k, _)| k == "version.superseded"),
        "the retired version's end is on record"
    );
    assert_eq!(version("1.0.0")["status"], "superseded");
    let (status, out) = lifecycle(Role::Admin, "unretire", r#"{"reason":"again"}"#);
    assert_eq!(status, 409, "{out}");
}
