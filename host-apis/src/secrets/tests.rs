use super::*;

fn store() -> (tempfile::TempDir, SecretStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SecretStore::open(dir.path(), MasterKey::from_bytes([7; 32]));
    (dir, store)
}

#[test]
fn a_secret_round_trips_and_lists_without_its_value() {
    let (_dir, store) = store();
    store.set("airtable-token", b"tok-123").expect("set");
    assert_eq!(
        store.get("airtable-token").expect("get").expose(),
        b"tok-123"
    );
    let listed = store.list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, 1);
    assert!(format!("{listed:?}").find("tok-123").is_none());
}

#[test]
fn values_are_not_stored_in_plaintext() {
    let (_dir, store) = store();
    store.set("db", b"hunter2-plaintext").expect("set");
    let raw = std::fs::read_to_string(store.path()).expect("read");
    assert!(!raw.contains("hunter2"), "{raw}");
}

#[test]
fn rotation_bumps_the_version_and_replaces_the_value() {
    let (_dir, store) = store();
    assert!(matches!(
        store.rotate("db", b"x"),
        Err(SecretError::Missing(_))
    ));
    store.set("db", b"one").expect("set");
    let info = store.rotate("db", b"two").expect("rotate");
    assert_eq!(info.version, 2);
    assert!(info.rotated.is_some());
    assert_eq!(store.get("db").expect("get").expose(), b"two");
}

#[test]
fn a_wrong_master_key_cannot_open_secrets() {
    let (dir, store) = store();
    store.set("db", b"value").expect("set");
    let other = SecretStore::open(dir.path(), MasterKey::from_bytes([8; 32]));
    assert!(matches!(other.get("db"), Err(SecretError::Decrypt(_))));
}

#[test]
fn a_ciphertext_moved_to_another_name_does_not_open() {
    let (_dir, store) = store();
    store.set("a", b"value-a").expect("set");
    store.set("b", b"value-b").expect("set");
    let text = std::fs::read_to_string(store.path()).expect("read");
    let mut all: serde_json::Value = serde_json::from_str(&text).expect("json");
    let a = all["a"]["ciphertext"].clone();
    let a_nonce = all["a"]["nonce"].clone();
    all["b"]["ciphertext"] = a;
    all["b"]["nonce"] = a_nonce;
    std::fs::write(store.path(), serde_json::to_vec(&all).expect("json")).expect("write");
    assert!(matches!(store.get("b"), Err(SecretError::Decrypt(_))));
}

#[test]
fn secret_values_never_print() {
    let value = SecretValue::new(b"abc".to_vec());
    assert_eq!(format!("{value:?}"), "SecretValue(***)");
}

#[test]
fn the_master_key_comes_from_env_then_file_then_a_created_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let default = dir.path().join("master.key");
    let from_env = MasterKey::resolve(Some("11".repeat(32)), None, &default).expect("env key");
    assert_eq!(format!("{from_env:?}"), "MasterKey(***)");
    assert!(!default.exists());
    assert!(MasterKey::resolve(Some("zz".into()), None, &default).is_err());
    let created = MasterKey::resolve(None, None, &default).expect("created");
    assert!(default.exists());
    let again = MasterKey::resolve(None, None, &default).expect("read back");
    let sealed_by_first = SecretStore::open(dir.path(), created);
    sealed_by_first.set("k", b"v").expect("set");
    let opened_by_second = SecretStore::open(dir.path(), again);
    assert_eq!(opened_by_second.get("k").expect("same key").expose(), b"v");
    assert!(MasterKey::resolve(None, Some(&dir.path().join("missing.key")), &default).is_err());
}

#[test]
fn a_derived_key_is_fixed_per_master_key_and_purpose_and_differs_between_them() {
    let a = MasterKey::from_bytes([1; 32]);
    let b = MasterKey::from_bytes([2; 32]);
    let seal = a.derive(b"warden artifact seal v1").expect("derive");
    assert_eq!(seal, a.derive(b"warden artifact seal v1").expect("derive"));
    assert_ne!(seal, a.derive(b"another purpose").expect("derive"));
    assert_ne!(seal, b.derive(b"warden artifact seal v1").expect("derive"));
    assert_ne!(seal, [1; 32], "never the master key itself");
}
