//! Owners come and go: the identity provider keeps Warden's list of people
//! over SCIM 2.0 with requests shaped as Okta and Microsoft Entra ID send
//! them. A deactivated person's tokens are revoked at once and nothing
//! they hold signs in; their apps are flagged as orphaned until an admin
//! transfers them; every step is audited.

use crate::support;
use serde_json::{Value, json};
use support::admin_api::{Admin, admin_with, deploy_body};
use warden_runtime::admin::tokens::Role;

/// A SCIM request as an IdP sends it: `application/scim+json`.
fn scim(
    admin: &Admin,
    token: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> (u16, String, Value) {
    let auth = format!("Bearer {token}");
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let reply = support::block_on(support::serving::send_with(
        admin.addr,
        method,
        path,
        &text,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/scim+json; charset=utf-8"),
            ("accept", "application/scim+json"),
        ],
    ));
    let kind = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (
        reply.status,
        kind,
        serde_json::from_str(&reply.body).unwrap_or(Value::Null),
    )
}

/// A User as Okta creates it.
fn okta_user(user: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user,
        "name": { "givenName": "Ada", "familyName": "Lovelace" },
        "emails": [{ "primary": true, "value": user, "type": "work" }],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": "00u1a2b3c4D5e6F7g8h9",
        "groups": [],
        "password": "not-kept",
        "active": true
    })
}

/// A User as Microsoft Entra ID creates it.
fn entra_user(user: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "bob",
        "userName": user,
        "active": true,
        "addresses": [{ "primary": true, "type": "work", "country": "NL" }],
        "displayName": "Bob Builder",
        "emails": [{ "primary": true, "type": "work", "value": user }],
        "meta": { "resourceType": "User" },
        "name": { "familyName": "Builder", "givenName": "Bob" },
        "roles": [],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Ops" }
    })
}

fn kinds(admin: &Admin, kind: &str) -> Vec<Value> {
    let (status, log) = admin.call(
        Some(Role::Auditor),
        "GET",
        &format!("/v1/audit?kind={kind}&limit=1000"),
        "",
    );
    assert_eq!(status, 200, "{log}");
    log["entries"].as_array().unwrap().clone()
}

fn app_row(admin: &Admin, app: &str) -> Value {
    let (status, apps) = admin.call(Some(Role::Admin), "GET", "/v1/apps", "");
    assert_eq!(status, 200, "{apps}");
    apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == app)
        .cloned()
        .unwrap_or_else(|| panic!("{app} in {apps}"))
}

#[test]
fn a_deactivated_owner_loses_every_token_and_their_apps_are_orphaned_until_transferred() {
    let admin = admin_with(&support::shared_state(), &[]);
    let okta = admin.token("okta", Role::Scim);
    let ada = admin.token("ada@example.com", Role::Creator);
    let body = deploy_body("lunch", "1.0.0", &support::fixture("noop_handler"), "");
    let (status, out) = admin.call_with(Some(&ada), "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");

    // The IdP looks for the user before it creates it, as Okta does.
    let find =
        "/scim/v2/Users?filter=userName%20eq%20%22ada%40example.com%22&startIndex=1&count=100";
    let (status, kind, list) = scim(&admin, &okta, "GET", find, &Value::Null);
    assert_eq!(
        (status, list["totalResults"].clone()),
        (200, json!(0)),
        "{list}"
    );
    assert!(kind.starts_with("application/scim+json"), "{kind}");
    let (status, kind, made) = scim(
        &admin,
        &okta,
        "POST",
        "/scim/v2/Users",
        &okta_user("ada@example.com"),
    );
    assert_eq!(status, 201, "{made}");
    assert!(kind.starts_with("application/scim+json"), "{kind}");
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["meta"]["resourceType"], "User");
    assert_eq!(made["active"], true);
    assert!(
        made.get("password").is_some(),
        "the resource comes back as sent"
    );
    let (status, _, twice) = scim(
        &admin,
        &okta,
        "POST",
        "/scim/v2/Users",
        &okta_user("ADA@example.com"),
    );
    assert_eq!(status, 409, "{twice}");
    assert_eq!(twice["scimType"], "uniqueness");
    assert_eq!(
        twice["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let (_, _, list) = scim(&admin, &okta, "GET", find, &Value::Null);
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["id"], id.as_str());
    let (status, _, config) = scim(
        &admin,
        &okta,
        "GET",
        "/scim/v2/ServiceProviderConfig",
        &Value::Null,
    );
    assert_eq!(
        (status, config["patch"]["supported"].clone()),
        (200, json!(true))
    );

    // The scim role calls nothing else; other roles but admin no SCIM.
    for path in ["/v1/apps", "/v1/costs", "/v1/tokens", "/v1/audit"] {
        assert_eq!(
            admin.call_with(Some(&okta), "GET", path, "").0,
            403,
            "{path}"
        );
    }
    assert_eq!(
        scim(&admin, &ada, "GET", "/scim/v2/Users", &Value::Null).0,
        403
    );
    assert_eq!(admin.call_with(Some(&ada), "GET", "/v1/apps", "").0, 200);
    assert!(
        app_row(&admin, "lunch")["orphaned"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Okta deactivates: a PATCH of `active` without a path.
    let deactivate = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "value": { "active": false } }]
    });
    let (status, _, off) = scim(
        &admin,
        &okta,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &deactivate,
    );
    assert_eq!(
        (status, off["active"].clone()),
        (200, json!(false)),
        "{off}"
    );
    // At once, whatever she holds: her token is refused.
    let (status, refused) = admin.call_with(Some(&ada), "GET", "/v1/apps", "");
    assert_eq!(status, 401, "{refused}");
    // A token made for her name afterwards signs in no one either.
    let again = admin.token("ada@example.com", Role::Creator);
    let (status, refused) = admin.call_with(Some(&again), "GET", "/v1/apps", "");
    assert_eq!(status, 401, "{refused}");
    assert!(refused.to_string().contains("deactivated"), "{refused}");
    let deactivated = kinds(&admin, "person.deactivated");
    assert_eq!(deactivated.len(), 1, "{deactivated:?}");
    let details = &deactivated[0]["details"];
    assert_eq!(deactivated[0]["actor"], "scim:okta");
    assert_eq!(details["user_name"], "ada@example.com");
    assert_eq!(details["orphaned_apps"], json!(["lunch"]));
    assert_eq!(
        details["revoked_tokens"].as_array().unwrap().len(),
        1,
        "{details}"
    );
    let revoked = kinds(&admin, "token.revoked");
    assert!(
        revoked.iter().any(|e| e["actor"] == "scim:okta"),
        "{revoked:?}"
    );
    // Her app is flagged, with why, in the list and in inspect.
    let row = app_row(&admin, "lunch");
    assert_eq!(row["orphaned"][0]["kind"], "owner-deactivated", "{row}");
    assert!(
        row["orphaned_because"][0]
            .as_str()
            .unwrap()
            .contains("ada@example.com"),
        "{row}"
    );
    let (_, inspected) = admin.call(Some(Role::Auditor), "GET", "/v1/apps/lunch", "");
    assert_eq!(
        inspected["orphaned"][0]["kind"], "owner-deactivated",
        "{inspected}"
    );

    // Not to someone who left; to Grace, audited, and no longer orphaned.
    let transfer = |to: &str| {
        admin.call(
            Some(Role::Admin),
            "POST",
            "/v1/apps/lunch/transfer",
            &json!({ "to": to, "reason": "ada left; grace runs the lunch orders" }).to_string(),
        )
    };
    assert_eq!(transfer("ada@example.com").0, 409);
    assert_eq!(transfer("not a name!").0, 400);
    let (status, moved) = transfer("Grace@example.com");
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (moved["from"].clone(), moved["to"].clone()),
        (json!("ada@example.com"), json!("grace@example.com"))
    );
    let row = app_row(&admin, "lunch");
    assert_eq!(row["owner"], "grace@example.com", "{row}");
    assert!(row["orphaned"].as_array().unwrap().is_empty(), "{row}");
    let transferred = kinds(&admin, "app.transferred");
    assert_eq!(transferred[0]["details"]["from"], "ada@example.com");
    assert_eq!(transferred[0]["actor"], "token:admin-user");
    // Grace, a creator, sees her app now.
    let grace = admin.token("grace@example.com", Role::Creator);
    let (status, seen) = admin.call_with(Some(&grace), "GET", "/v1/apps/lunch", "");
    assert_eq!(status, 200, "{seen}");
    let (status, versions) = admin.call_with(Some(&grace), "GET", "/v1/apps/lunch/versions", "");
    assert_eq!(status, 200, "{versions}");

    // Deleted by the IdP: gone from SCIM, the name still deactivated.
    let (status, _, _) = scim(
        &admin,
        &okta,
        "DELETE",
        &format!("/scim/v2/Users/{id}"),
        &Value::Null,
    );
    assert_eq!(status, 204);
    let (status, _, missing) = scim(
        &admin,
        &okta,
        "GET",
        &format!("/scim/v2/Users/{id}"),
        &Value::Null,
    );
    assert_eq!(status, 404, "{missing}");
    assert_eq!(admin.call_with(Some(&again), "GET", "/v1/apps", "").0, 401);
    assert_eq!(kinds(&admin, "person.deleted").len(), 1);
}

#[test]
fn entra_style_requests_deactivate_reactivate_and_replace_a_user() {
    let admin = admin_with(&support::shared_state(), &[]);
    let entra = admin.token("entra", Role::Scim);
    let (status, _, bob) = scim(
        &admin,
        &entra,
        "POST",
        "/scim/v2/Users",
        &entra_user("bob@example.com"),
    );
    assert_eq!(status, 201, "{bob}");
    let id = bob["id"].as_str().unwrap().to_string();
    let token = admin.token("bob@example.com", Role::Reviewer);
    assert_eq!(
        admin.call_with(Some(&token), "GET", "/v1/reviews", "").0,
        200
    );
    // Entra: a capitalized op, a path, and the value as a string.
    let set_active = |value: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Replace", "path": "active", "value": value }]
        })
    };
    let (status, _, off) = scim(
        &admin,
        &entra,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &set_active("False"),
    );
    assert_eq!(
        (status, off["active"].clone()),
        (200, json!(false)),
        "{off}"
    );
    assert_eq!(
        admin.call_with(Some(&token), "GET", "/v1/reviews", "").0,
        401
    );
    let (status, _, on) = scim(
        &admin,
        &entra,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &set_active("True"),
    );
    assert_eq!((status, on["active"].clone()), (200, json!(true)), "{on}");
    // Back, with a new token (the old one stays revoked).
    assert_eq!(
        admin.call_with(Some(&token), "GET", "/v1/reviews", "").0,
        401
    );
    let fresh = admin.token("bob@example.com", Role::Reviewer);
    assert_eq!(
        admin.call_with(Some(&fresh), "GET", "/v1/reviews", "").0,
        200
    );
    // Entra's attribute updates, with filtered paths.
    let update = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            { "op": "Replace", "path": "displayName", "value": "Bob B." },
            { "op": "Add", "path": "emails[type eq \"work\"].value", "value": "bob.b@example.com" },
            { "op": "Remove", "path": "addresses[type eq \"work\"]" }
        ]
    });
    let (status, _, changed) = scim(
        &admin,
        &entra,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &update,
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["displayName"], "Bob B.");
    assert_eq!(changed["emails"][0]["value"], "bob.b@example.com");
    assert_eq!(changed["addresses"], json!([]));
    let (status, _, bad) = scim(
        &admin,
        &entra,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &json!({"Operations": [{"op": "Replace", "path": "id", "value": "mine"}]}),
    );
    assert_eq!(
        (status, bad["scimType"].clone()),
        (400, json!("mutability")),
        "{bad}"
    );
    // A PUT replaces the whole resource; its active false deactivates.
    let mut replaced = entra_user("bob@example.com");
    replaced["active"] = json!(false);
    let (status, _, put) = scim(
        &admin,
        &entra,
        "PUT",
        &format!("/scim/v2/Users/{id}"),
        &replaced,
    );
    assert_eq!(
        (status, put["active"].clone()),
        (200, json!(false)),
        "{put}"
    );
    assert_eq!(
        admin.call_with(Some(&fresh), "GET", "/v1/reviews", "").0,
        401
    );
    let (status, _, unknown) = scim(&admin, &entra, "GET", "/scim/v2/Users/nope", &Value::Null);
    assert_eq!((status, unknown["status"].clone()), (404, json!("404")));
    let (status, _, filter) = scim(
        &admin,
        &entra,
        "GET",
        "/scim/v2/Users?filter=title%20co%20%22x%22",
        &Value::Null,
    );
    assert_eq!(
        (status, filter["scimType"].clone()),
        (400, json!("invalidFilter"))
    );
    let (status, _, syntax) = scim(
        &admin,
        &entra,
        "POST",
        "/scim/v2/Users",
        &json!("not a user"),
    );
    assert_eq!(status, 400, "{syntax}");
    let kinds_seen: Vec<String> = ["person.created", "person.updated", "person.deactivated"]
        .iter()
        .filter(|k| !kinds(&admin, k).is_empty())
        .map(|k| k.to_string())
        .collect();
    assert_eq!(kinds_seen.len(), 3, "{kinds_seen:?}");
}

/// A person is revoked by their names only: an email that spells another
/// token's id, or the provider's own token name, revokes nothing else.
#[test]
fn a_deactivation_revokes_tokens_by_name_only() {
    let admin = admin_with(&support::shared_state(), &[]);
    let okta = admin.token("okta", Role::Scim);
    let (_, tokens) = admin.call(Some(Role::Admin), "GET", "/v1/tokens", "");
    let admin_id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "admin")
        .map(|t| t["id"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{tokens}"));
    let (status, _, eve) = scim(
        &admin,
        &okta,
        "POST",
        "/scim/v2/Users",
        &json!({
            "userName": "eve@example.com",
            "emails": [{ "value": admin_id }, { "value": "okta" }],
            "active": true
        }),
    );
    assert_eq!(status, 201, "{eve}");
    let path = format!("/scim/v2/Users/{}", eve["id"].as_str().unwrap());
    let off = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(scim(&admin, &okta, "PATCH", &path, &off).0, 200);
    assert_eq!(
        admin.call(Some(Role::Admin), "GET", "/v1/tokens", "").0,
        200
    );
    assert_eq!(
        scim(&admin, &okta, "GET", "/scim/v2/Users", &Value::Null).0,
        200
    );
}

/// A transfer that would put the app's route under a path another owner
/// holds is refused before anything changes.
#[test]
fn a_transfer_that_breaks_the_route_rules_changes_nothing() {
    let admin = admin_with(&support::shared_state(), &[]);
    let ada = admin.token("ada", Role::Creator);
    let noop = support::fixture("noop_handler");
    let lunch = deploy_body("lunch", "1.0.0", &noop, "[http]\nroute = \"/lunch/...\"\n");
    assert_eq!(
        admin.call_with(Some(&ada), "POST", "/v1/apps", &lunch).0,
        201
    );
    // An admin put Bea's menu under Ada's path (admins may).
    let menu = deploy_body(
        "menu",
        "1.0.0",
        &noop,
        "owner = \"bea\"\n[http]\nroute = \"/lunch/menu\"\n",
    );
    let (status, out) = admin.call(Some(Role::Admin), "POST", "/v1/apps", &menu);
    assert_eq!(status, 201, "{out}");
    let (status, refused) = admin.call(
        Some(Role::Admin),
        "POST",
        "/v1/apps/lunch/transfer",
        &json!({ "to": "cy", "reason": "reorg" }).to_string(),
    );
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused.to_string().contains("nothing was changed"),
        "{refused}"
    );
    assert_eq!(app_row(&admin, "lunch")["owner"], "ada");
    assert!(kinds(&admin, "app.transferred").is_empty());
}
