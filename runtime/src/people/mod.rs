//! Warden's list of people, kept by the company's identity provider over
//! SCIM 2.0 (RFC 7643 resources, RFC 7644 protocol; `crate::admin::scim`
//! serves it). What the list is for: a person the IdP deactivates or
//! deletes loses their Warden tokens at once, can no longer sign in (a
//! token or an OIDC sign-in under any of their names is refused), and the
//! apps they own are flagged as orphaned (`crate::lifecycle::orphans`).
//!
//! A person's names are their `userName` and every email; an app's
//! `owner` and a principal's name are compared with them, lowercased.
//! This module holds the rules (what a User resource must hold, how a
//! PATCH applies); [`store`] keeps the rows.

pub mod patch;
pub mod store;

use serde_json::{Value, json};
use store::{PeopleStore, PersonRow, StoreError};

/// The SCIM core User schema (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// A request the SCIM rules refuse, as RFC 7644 §3.12 reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimError {
    pub status: u16,
    /// `uniqueness`, `invalidValue`, `invalidFilter`, `invalidPath`,
    /// `noTarget`, `invalidSyntax`, `mutability`.
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn invalid(scim_type: &'static str, detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    pub fn not_found(id: &str) -> ScimError {
        ScimError {
            status: 404,
            scim_type: None,
            detail: format!("no User with id `{id}`"),
        }
    }

    fn store(e: StoreError) -> ScimError {
        match e {
            StoreError::Taken(name) => ScimError {
                status: 409,
                scim_type: Some("uniqueness"),
                detail: format!("userName `{name}` is taken by another User"),
            },
            e => ScimError {
                status: 500,
                scim_type: None,
                detail: format!("the list of people could not be read or written: {e}"),
            },
        }
    }
}

/// A resource's `active`: a boolean, or the strings `"True"`/`"False"`
/// some providers send (Microsoft Entra ID does); absent means active.
fn active_of(resource: &Value) -> Result<bool, ScimError> {
    match &resource["active"] {
        Value::Null => Ok(true),
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::invalid(
            "invalidValue",
            format!("active is {other}, not true or false"),
        )),
    }
}

/// The resource as stored: without what the server sets (`id`, `meta`,
/// `schemas`), `active` a boolean, and a `userName`.
fn normalized(mut resource: Value) -> Result<(Value, String, bool), ScimError> {
    let Some(fields) = resource.as_object_mut() else {
        return Err(ScimError::invalid(
            "invalidSyntax",
            "a User is a JSON object",
        ));
    };
    for key in ["id", "meta", "schemas"] {
        fields.remove(key);
    }
    let active = active_of(&resource)?;
    resource["active"] = json!(active);
    let user_name = resource["userName"]
        .as_str()
        .map(|u| u.trim().to_lowercase())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ScimError::invalid("invalidValue", "userName is required"))?;
    Ok((resource, user_name, active))
}

/// `\nname\n…` for the person's `userName` and every email, and
/// `#externalId`: an OIDC sign-in is named `<issuer>#<sub>` (with the
/// default `name_claim`), and identity providers give SCIM the user's id
/// as `externalId` — Okta's is the `sub` of its ID tokens.
fn aliases(resource: &Value, user_name: &str) -> String {
    let mut names = vec![user_name.to_string()];
    for email in resource["emails"].as_array().into_iter().flatten() {
        if let Some(v) = email["value"].as_str() {
            names.push(v.trim().to_lowercase());
        }
    }
    if let Some(id) = resource["externalId"]
        .as_str()
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        names.push(format!("#{}", id.to_lowercase()));
    }
    names.retain(|n| !n.is_empty());
    format!("\n{}\n", names.join("\n"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn new_id() -> Result<String, ScimError> {
    warden_host_apis::aead::random_key()
        .map(|k| hex::encode(&k[..16]))
        .map_err(|e| ScimError {
            status: 500,
            scim_type: None,
            detail: format!("no random id: {e}"),
        })
}

/// What a change did: the person before (none for a creation) and after.
#[derive(Debug, Clone)]
pub struct Change {
    pub before: Option<PersonRow>,
    pub after: PersonRow,
}

impl Change {
    /// The person was active (or new) and is not now.
    pub fn deactivated(&self) -> bool {
        !self.after.active && self.before.as_ref().is_some_and(|b| b.active)
    }

    /// The person was inactive and is active again.
    pub fn reactivated(&self) -> bool {
        self.after.active && self.before.as_ref().is_some_and(|b| !b.active)
    }
}

/// Creates a person from a SCIM User (`POST /Users`).
///
/// # Errors
/// No `userName`, a bad `active`, or the name is another person's (409).
pub fn create(store: &PeopleStore, resource: Value) -> Result<Change, ScimError> {
    let (resource, user_name, active) = normalized(resource)?;
    let at = now();
    let row = PersonRow {
        id: new_id()?,
        aliases: aliases(&resource, &user_name),
        user_name,
        active,
        deleted: false,
        resource: resource.to_string(),
        created_at: at,
        updated_at: at,
        version: 1,
    };
    store.insert(&row).map_err(ScimError::store)?;
    Ok(Change {
        before: None,
        after: row,
    })
}

/// The person `id`, not deleted.
///
/// # Errors
/// 404 when there is none.
pub fn get(store: &PeopleStore, id: &str) -> Result<PersonRow, ScimError> {
    store
        .get(id)
        .map_err(ScimError::store)?
        .filter(|p| !p.deleted)
        .ok_or_else(|| ScimError::not_found(id))
}

/// Applies `change` to the stored resource of `id` and stores it, once:
/// a change another request made meanwhile is read again and `change`
/// applied to it (a few tries), so none is lost.
fn modify(
    store: &PeopleStore,
    id: &str,
    change: impl Fn(&PersonRow) -> Result<Value, ScimError>,
    delete: bool,
) -> Result<Change, ScimError> {
    for _ in 0..5 {
        let before = get(store, id)?;
        let mut changed = change(&before)?;
        // A change that drops `active` (a PATCH removing it, a PUT
        // leaving it out) leaves it as it was: never a silent
        // reactivation.
        if changed.is_object() && changed["active"].is_null() {
            changed["active"] = json!(before.active);
        }
        let (resource, user_name, active) = normalized(changed)?;
        let after = PersonRow {
            aliases: aliases(&resource, &user_name),
            user_name,
            active: active && !delete,
            deleted: delete,
            resource: resource.to_string(),
            updated_at: now(),
            version: before.version + 1,
            ..before.clone()
        };
        if store
            .update(&after, before.version)
            .map_err(ScimError::store)?
        {
            return Ok(Change {
                before: Some(before),
                after,
            });
        }
    }
    Err(ScimError {
        status: 409,
        scim_type: None,
        detail: format!("User `{id}` kept changing under this request; send it again"),
    })
}

/// Replaces a person's resource (`PUT /Users/{id}`).
///
/// # Errors
/// 404, or what [`create`] refuses.
pub fn replace(store: &PeopleStore, id: &str, resource: Value) -> Result<Change, ScimError> {
    modify(store, id, |_| Ok(resource.clone()), false)
}

/// Applies a PatchOp (`PATCH /Users/{id}`, RFC 7644 §3.5.2).
///
/// # Errors
/// 404, an operation that does not apply (400 with its scimType).
pub fn patch(store: &PeopleStore, id: &str, body: &Value) -> Result<Change, ScimError> {
    modify(
        store,
        id,
        |before| {
            let mut resource: Value =
                serde_json::from_str(&before.resource).unwrap_or_else(|_| json!({}));
            patch::apply(&mut resource, body)?;
            Ok(resource)
        },
        false,
    )
}

/// Deletes a person (`DELETE /Users/{id}`): gone from SCIM, kept as
/// deactivated.
///
/// # Errors
/// 404.
pub fn delete(store: &PeopleStore, id: &str) -> Result<Change, ScimError> {
    modify(
        store,
        id,
        |before| Ok(serde_json::from_str(&before.resource).unwrap_or_else(|_| json!({}))),
        true,
    )
}

/// A person as a SCIM User resource.
pub fn to_scim(row: &PersonRow) -> Value {
    let mut resource: Value = serde_json::from_str(&row.resource).unwrap_or_else(|_| json!({}));
    let rfc3339 = |s: u64| crate::admin::token_store::rfc3339(s);
    resource["schemas"] = json!([USER_SCHEMA]);
    resource["id"] = json!(row.id);
    resource["active"] = json!(row.active);
    resource["meta"] = json!({
        "resourceType": "User",
        "created": rfc3339(row.created_at),
        "lastModified": rfc3339(row.updated_at),
        "version": format!("W/\"{}\"", row.version),
        "location": format!("/scim/v2/Users/{}", row.id),
    });
    resource
}

/// The people a SCIM `filter` selects (RFC 7644 §3.4.2.2): `userName`,
/// `externalId`, `id` or `emails.value` with `eq`, which is what identity
/// providers send to find a User before creating it; no filter lists all.
///
/// # Errors
/// Any other filter (400 `invalidFilter`).
pub fn filtered(store: &PeopleStore, filter: Option<&str>) -> Result<Vec<PersonRow>, ScimError> {
    let people: Vec<PersonRow> = store
        .all()
        .map_err(ScimError::store)?
        .into_iter()
        .filter(|p| !p.deleted)
        .collect();
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(people);
    };
    let bad = || {
        ScimError::invalid(
            "invalidFilter",
            format!(
                "filter `{filter}` is not understood; use userName, externalId, id or emails.value with eq, e.g. userName eq \"ada@example.com\""
            ),
        )
    };
    let mut words = filter.splitn(3, ' ');
    let (Some(attr), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
        return Err(bad());
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(bad());
    }
    let value: String = serde_json::from_str(value.trim()).map_err(|_| bad())?;
    let wanted = value.to_lowercase();
    let matches = |p: &PersonRow| -> bool {
        let resource: Value = serde_json::from_str(&p.resource).unwrap_or_default();
        match attr.to_ascii_lowercase().as_str() {
            "username" => p.user_name == wanted,
            "externalid" => resource["externalId"].as_str() == Some(value.as_str()),
            "id" => p.id == value,
            "emails.value" | "emails" => p.aliases.contains(&format!("\n{wanted}\n")),
            _ => false,
        }
    };
    match attr.to_ascii_lowercase().as_str() {
        "username" | "externalid" | "id" | "emails.value" | "emails" => {
            Ok(people.into_iter().filter(matches).collect())
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, PeopleStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let store = PeopleStore::new(dir.path());
        (dir, store)
    }

    fn okta_user(name: &str) -> Value {
        json!({
            "schemas": [USER_SCHEMA],
            "userName": name,
            "name": { "givenName": "Ada", "familyName": "Lovelace" },
            "emails": [{ "primary": true, "value": "ada.work@example.com", "type": "work" }],
            "displayName": "Ada Lovelace",
            "locale": "en-US",
            "externalId": "00u1abcd",
            "groups": [],
            "password": "ignored",
            "active": true
        })
    }

    #[test]
    fn a_user_is_created_found_and_deactivated_under_every_name() {
        let (_dir, store) = store();
        let made =
            create(&store, okta_user("Ada@Example.com")).unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(made.after.user_name, "ada@example.com");
        let again = create(&store, okta_user("ada@example.com")).expect_err("taken");
        assert_eq!((again.status, again.scim_type), (409, Some("uniqueness")));
        let found = filtered(&store, Some("userName eq \"ADA@example.com\"")).unwrap_or_default();
        assert_eq!(found.len(), 1);
        assert_eq!(
            filtered(&store, Some("emails.value eq \"ada.work@example.com\"")).map(|f| f.len()),
            Ok(1)
        );
        assert_eq!(
            filtered(&store, Some("title sw \"x\"")).map_err(|e| e.scim_type),
            Err(Some("invalidFilter"))
        );
        assert_eq!(
            store.is_deactivated("ada.work@example.com").ok(),
            Some(false)
        );
        let off = patch(
            &store,
            &made.after.id,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(off.deactivated() && !off.reactivated());
        // Her emails, and her OIDC sign-in by the default `sub` name, whose
        // subject is the IdP's user id (the SCIM externalId).
        for name in [
            "ada@example.com",
            "ADA.work@example.com",
            "https://idp.example.com#00u1abcd",
        ] {
            assert_eq!(store.is_deactivated(name).ok(), Some(true), "{name}");
        }
        assert_eq!(
            store.is_deactivated("https://idp.example.com#someone").ok(),
            Some(false)
        );
        assert_eq!(store.is_deactivated("someone-else").ok(), Some(false));
        // A PATCH that drops `active` does not bring her back.
        let dropped = patch(
            &store,
            &made.after.id,
            &json!({"Operations": [{"op": "remove", "path": "active"}]}),
        )
        .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(!dropped.after.active && !dropped.reactivated());
        let scim = to_scim(&off.after);
        assert_eq!(scim["active"], false);
        assert_eq!(scim["meta"]["version"], "W/\"2\"");
        assert_eq!(scim["name"]["givenName"], "Ada");
        // Deleted: gone from SCIM, still deactivated; the name is free.
        let gone = delete(&store, &made.after.id).unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(gone.after.deleted);
        assert_eq!(get(&store, &made.after.id).map_err(|e| e.status), Err(404));
        assert_eq!(store.is_deactivated("ada@example.com").ok(), Some(true));
        let back =
            create(&store, okta_user("ada@example.com")).unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(back.after.active);
        assert_eq!(store.is_deactivated("ada@example.com").ok(), Some(false));
    }

    #[test]
    fn a_user_needs_a_user_name_and_a_real_active() {
        let (_dir, store) = store();
        let e = create(&store, json!({"active": true})).expect_err("no userName");
        assert_eq!(e.scim_type, Some("invalidValue"));
        let e = create(&store, json!({"userName": "x", "active": "maybe"})).expect_err("active");
        assert!(e.detail.contains("active"), "{e:?}");
        let e = create(&store, json!(["not", "an", "object"])).expect_err("shape");
        assert_eq!(e.scim_type, Some("invalidSyntax"));
    }
}
