//! SCIM PATCH (RFC 7644 §3.5.2) on a stored User resource: `add`,
//! `replace` and `remove`, with a path (`active`, `name.givenName`,
//! `emails[type eq "work"].value`) or without one (the value an object
//! of attributes). Operation names and attribute names are matched
//! without regard to case, as identity providers differ: Okta sends
//! `{"op":"replace","value":{"active":false}}`, Microsoft Entra ID
//! `{"op":"Replace","path":"active","value":"False"}`.

use super::ScimError;
use serde_json::{Map, Value};

/// Applies the `Operations` of a PatchOp body to `resource`.
///
/// # Errors
/// A body without operations, an unknown `op`, a path that does not
/// parse (400 `invalidPath`), a remove without a path (`noTarget`), or an
/// attribute the server sets (`mutability`).
pub fn apply(resource: &mut Value, body: &Value) -> Result<(), ScimError> {
    let operations = body["Operations"]
        .as_array()
        .or_else(|| body["operations"].as_array())
        .ok_or_else(|| {
            ScimError::invalid("invalidSyntax", "a PatchOp has an `Operations` array")
        })?;
    for operation in operations {
        let op = operation["op"].as_str().unwrap_or("").to_ascii_lowercase();
        let path = operation["path"]
            .as_str()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let value = &operation["value"];
        match (op.as_str(), path) {
            ("remove", None) => {
                return Err(ScimError::invalid("noTarget", "a remove needs a path"));
            }
            ("remove", Some(path)) => at_path(resource, path, None)?,
            ("add" | "replace", None) => {
                let Some(fields) = value.as_object() else {
                    return Err(ScimError::invalid(
                        "invalidValue",
                        "an operation without a path has an object of attributes as its value",
                    ));
                };
                for (name, v) in fields {
                    at_path(resource, name, Some((v, op == "add")))?;
                }
            }
            ("add" | "replace", Some(path)) => at_path(resource, path, Some((value, op == "add")))?,
            (other, _) => {
                return Err(ScimError::invalid(
                    "invalidSyntax",
                    format!("op `{other}` is not add, replace or remove"),
                ));
            }
        }
    }
    Ok(())
}

/// The key of `object` that is `name` without regard to case (the name
/// itself when there is none).
fn key_of(object: &Map<String, Value>, name: &str) -> String {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

/// A value filter on a multi-valued attribute: `type eq "work"`.
fn value_filter(text: &str) -> Result<(String, String), ScimError> {
    let bad = || {
        ScimError::invalid(
            "invalidPath",
            format!("`[{text}]` is not `attribute eq \"value\"`"),
        )
    };
    let mut words = text.trim().splitn(3, ' ');
    let (Some(attr), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
        return Err(bad());
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(bad());
    }
    let value = match serde_json::from_str::<Value>(value.trim()).map_err(|_| bad())? {
        Value::String(s) => s,
        other => other.to_string(),
    };
    Ok((attr.to_string(), value))
}

fn matches(element: &Value, (attr, wanted): &(String, String)) -> bool {
    let Some(object) = element.as_object() else {
        return false;
    };
    match object.get(&key_of(object, attr)) {
        Some(Value::String(s)) => s.eq_ignore_ascii_case(wanted),
        Some(other) => serde_json::from_str::<Value>(wanted).is_ok_and(|w| w == *other),
        None => false,
    }
}

/// Sets (`Some((value, add))`) or removes (`None`) what `path` names.
fn at_path(resource: &mut Value, path: &str, set: Option<(&Value, bool)>) -> Result<(), ScimError> {
    // A path may carry the schema URN before the attribute.
    let path = path
        .strip_prefix(super::USER_SCHEMA)
        .map(|p| p.trim_start_matches(':'))
        .unwrap_or(path);
    let first = path.split(['.', '[']).next().unwrap_or("");
    if ["id", "meta", "schemas"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(first))
    {
        return Err(ScimError::invalid(
            "mutability",
            format!("`{first}` is set by Warden"),
        ));
    }
    if first.is_empty() {
        return Err(ScimError::invalid(
            "invalidPath",
            format!("`{path}` names no attribute"),
        ));
    }
    if !resource.is_object() {
        *resource = Value::Object(Map::new());
    }
    let Some(root) = resource.as_object_mut() else {
        return Ok(());
    };
    if let Some((attr, rest)) = path.split_once('[') {
        let (filter, sub) = rest
            .split_once(']')
            .ok_or_else(|| ScimError::invalid("invalidPath", format!("`{path}` has no `]`")))?;
        let filter = value_filter(filter)?;
        let sub = sub.strip_prefix('.').filter(|s| !s.is_empty());
        let key = key_of(root, attr);
        let list = root.entry(key).or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        let Some(items) = list.as_array_mut() else {
            return Ok(());
        };
        match (set, sub) {
            (None, None) => items.retain(|e| !matches(e, &filter)),
            (None, Some(sub)) => {
                for e in items.iter_mut().filter(|e| matches(e, &filter)) {
                    if let Some(o) = e.as_object_mut() {
                        let k = key_of(o, sub);
                        o.remove(&k);
                    }
                }
            }
            (Some((value, _)), sub) => {
                if !items.iter().any(|e| matches(e, &filter)) {
                    let mut fresh = Map::new();
                    fresh.insert(filter.0.clone(), Value::String(filter.1.clone()));
                    items.push(Value::Object(fresh));
                }
                for e in items.iter_mut().filter(|e| matches(e, &filter)) {
                    match (sub, e.as_object_mut()) {
                        (Some(sub), Some(o)) => {
                            let k = key_of(o, sub);
                            o.insert(k, value.clone());
                        }
                        _ => *e = value.clone(),
                    }
                }
            }
        }
        return Ok(());
    }
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    let mut object = root;
    for part in parts {
        let key = key_of(object, part);
        let next = object
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Some(inner) = next.as_object_mut() else {
            return Ok(());
        };
        object = inner;
    }
    let key = key_of(object, last);
    match set {
        None => {
            object.remove(&key);
        }
        // `add` of values to a multi-valued attribute appends them.
        Some((Value::Array(values), true)) if object.get(&key).is_some_and(Value::is_array) => {
            if let Some(Value::Array(items)) = object.get_mut(&key) {
                items.extend(values.iter().cloned());
            }
        }
        Some((value, _)) => {
            object.insert(key, value.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(resource: Value, ops: Value) -> Result<Value, ScimError> {
        let mut resource = resource;
        apply(&mut resource, &json!({ "Operations": ops }))?;
        Ok(resource)
    }

    #[test]
    fn okta_and_entra_deactivations_both_apply() {
        let user = json!({"userName": "ada", "active": true});
        let okta = patched(
            user.clone(),
            json!([{"op": "replace", "value": {"active": false}}]),
        );
        assert_eq!(okta.map(|r| r["active"].clone()), Ok(json!(false)));
        let entra = patched(
            user,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        );
        assert_eq!(entra.map(|r| r["active"].clone()), Ok(json!("False")));
    }

    #[test]
    fn paths_reach_sub_attributes_and_filtered_values() {
        let user = json!({
            "userName": "ada",
            "name": {"givenName": "Ada"},
            "emails": [{"type": "work", "value": "ada@old.example"}, {"type": "home", "value": "a@home"}]
        });
        let out = patched(
            user,
            json!([
                {"op": "replace", "path": "name.familyName", "value": "King"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@new.example"},
                {"op": "remove", "path": "emails[type eq \"home\"]"},
                {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:title", "value": "Countess"},
                {"op": "add", "value": {"displayName": "Ada King", "name.givenName": "Augusta"}}
            ]),
        )
        .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(
            out["name"],
            json!({"givenName": "Augusta", "familyName": "King"})
        );
        assert_eq!(
            out["emails"],
            json!([{"type": "work", "value": "ada@new.example"}])
        );
        assert_eq!(out["title"], "Countess");
        assert_eq!(out["displayName"], "Ada King");
    }

    #[test]
    fn what_cannot_apply_is_refused_with_its_scim_type() {
        let user = json!({"userName": "ada"});
        let cases = [
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "move", "path": "active", "value": true}]),
                "invalidSyntax",
            ),
            (
                json!([{"op": "replace", "path": "emails[type gt 1].value", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "value": "not an object"}]),
                "invalidValue",
            ),
        ];
        for (ops, kind) in cases {
            let e = patched(user.clone(), ops.clone()).expect_err("refused");
            assert_eq!(e.scim_type, Some(kind), "{ops}: {e:?}");
        }
        let mut resource = user;
        assert!(apply(&mut resource, &json!({"schemas": []})).is_err());
    }
}
