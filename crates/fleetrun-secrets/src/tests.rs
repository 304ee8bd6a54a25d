//! Unit tests for the keyring, the sealed format and the key file; they use temporary directories only.

use crate::{AWS_MANAGED_ALIAS, Error, Keyring, Sealed, parameter_context};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const SECRET: &[u8] = b"hunter2-correct-horse-battery-staple";

fn context() -> Vec<u8> {
    parameter_context("/prod/db/password", 3)
}

/// Every key's material, base64-encoded, so tests can assert it appears nowhere.
fn materials(keyring: &Keyring) -> Vec<String> {
    keyring.keys.values().flat_map(|versions| versions.values()).map(|m| STANDARD.encode(m.as_slice())).collect()
}

fn write_file(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[track_caller]
fn key_file_reason(result: crate::Result<Keyring>) -> String {
    match result {
        Err(Error::KeyFile { reason, .. }) => reason,
        other => panic!("expected a key file error, got {other:?}"),
    }
}

#[test]
fn seal_then_open_round_trips() {
    let keyring = Keyring::generate();
    let sealed = keyring.seal("default", SECRET, &context()).unwrap();
    assert_eq!(sealed.key_name(), "default");
    assert_eq!(sealed.key_version(), 1);
    assert_eq!(keyring.open(&sealed, &context()).unwrap().as_slice(), SECRET);

    let parsed = Sealed::from_bytes(&sealed.to_bytes()).unwrap();
    assert_eq!(parsed, sealed);
    let parsed = Sealed::from_opaque_string(&sealed.to_opaque_string()).unwrap();
    assert_eq!(keyring.open(&parsed, &context()).unwrap().as_slice(), SECRET);

    let empty = keyring.seal("default", b"", b"").unwrap();
    assert_eq!(keyring.open(&empty, b"").unwrap().as_slice(), b"");
}

#[test]
fn sealing_twice_gives_different_ciphertexts() {
    let keyring = Keyring::generate();
    let a = keyring.seal("default", SECRET, &context()).unwrap();
    let b = keyring.seal("default", SECRET, &context()).unwrap();
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_ne!(a.wrapped_key, b.wrapped_key);
}

#[test]
fn wrong_context_fails() {
    let keyring = Keyring::generate();
    let sealed = keyring.seal("default", SECRET, &parameter_context("/a", 1)).unwrap();
    assert!(matches!(keyring.open(&sealed, &parameter_context("/a", 2)), Err(Error::Decrypt)));
    assert!(matches!(keyring.open(&sealed, &parameter_context("/b", 1)), Err(Error::Decrypt)));
    assert!(matches!(keyring.open(&sealed, b""), Err(Error::Decrypt)));
    assert!(matches!(keyring.rewrap(&sealed, &parameter_context("/b", 1)), Err(Error::Decrypt)));
}

#[test]
fn tampering_fails() {
    let keyring = Keyring::generate();
    let sealed = keyring.seal("default", SECRET, &context()).unwrap();
    let tampered: [fn(&mut Sealed); 5] = [
        |s| s.ciphertext[0] ^= 1,
        |s| *s.ciphertext.last_mut().unwrap() ^= 1,
        |s| s.wrapped_key[5] ^= 1,
        |s| s.wrap_nonce[0] ^= 1,
        |s| s.value_nonce[11] ^= 1,
    ];
    for tamper in tampered {
        let mut copy = sealed.clone();
        tamper(&mut copy);
        assert!(matches!(keyring.open(&copy, &context()), Err(Error::Decrypt)));
    }

    // Swapping in another value's wrapped key is tampering too.
    let other = keyring.seal("default", b"other", &context()).unwrap();
    let mut swapped = sealed.clone();
    swapped.wrapped_key = other.wrapped_key.clone();
    swapped.wrap_nonce = other.wrap_nonce;
    assert!(matches!(keyring.open(&swapped, &context()), Err(Error::Decrypt)));

    // So is a byte flipped in the stored encoding.
    let mut bytes = sealed.to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    assert!(matches!(keyring.open(&Sealed::from_bytes(&bytes).unwrap(), &context()), Err(Error::Decrypt)));
}

#[test]
fn rotate_rewrap_retire() {
    let mut keyring = Keyring::generate();
    let old = keyring.seal("default", SECRET, &context()).unwrap();
    assert_eq!(keyring.rotate("default").unwrap(), 2);
    assert_eq!(keyring.newest_version("default").unwrap(), 2);

    // Old values still open; new ones use the new version.
    assert_eq!(keyring.open(&old, &context()).unwrap().as_slice(), SECRET);
    assert_eq!(keyring.seal("default", SECRET, &context()).unwrap().key_version(), 2);

    let moved = keyring.rewrap(&old, &context()).unwrap();
    assert_eq!(moved.key_version(), 2);
    assert_eq!(moved.ciphertext, old.ciphertext);
    assert_eq!(moved.value_nonce, old.value_nonce);

    assert_eq!(keyring.retire_versions_below("default", 2).unwrap(), 1);
    assert_eq!(keyring.versions(), vec![("default".to_string(), 2)]);
    assert_eq!(keyring.open(&moved, &context()).unwrap().as_slice(), SECRET);
    assert!(matches!(
        keyring.open(&old, &context()),
        Err(Error::UnknownKeyVersion { name, version: 1 }) if name == "default"
    ));
    assert!(matches!(keyring.rewrap(&old, &context()), Err(Error::UnknownKeyVersion { .. })));

    // Retiring below a version that is not there would leave nothing to seal with.
    assert!(matches!(keyring.retire_versions_below("default", 3), Err(Error::UnknownKeyVersion { version: 3, .. })));
    assert_eq!(keyring.retire_versions_below("default", 2).unwrap(), 0);
}

#[test]
fn a_different_keyring_cannot_open() {
    let sealed = Keyring::generate().seal("default", SECRET, &context()).unwrap();
    let other = Keyring::generate();
    let error = other.open(&sealed, &context()).unwrap_err();
    assert!(matches!(error, Error::Decrypt));
    assert!(error.to_string().contains("master key does not match"), "{error}");
}

#[test]
fn several_named_keys() {
    let mut keyring = Keyring::generate();
    keyring.add_key("team/payments").unwrap();
    let sealed = keyring.seal("team/payments", SECRET, &context()).unwrap();
    assert_eq!(sealed.key_name(), "team/payments");
    assert_eq!(keyring.open(&sealed, &context()).unwrap().as_slice(), SECRET);

    // A value sealed under one name does not open if relabeled with another.
    let mut relabeled = sealed.clone();
    relabeled.key_name = "default".into();
    assert!(matches!(keyring.open(&relabeled, &context()), Err(Error::Decrypt)));

    assert!(matches!(keyring.add_key("team/payments"), Err(Error::KeyExists(_))));
    for bad in ["", "has space", AWS_MANAGED_ALIAS, &"k".repeat(257), "é"] {
        assert!(matches!(keyring.add_key(bad), Err(Error::InvalidKeyName(_))), "{bad:?}");
    }
    keyring.add_key(&"k".repeat(256)).unwrap();
    keyring.add_key("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab_34cd").unwrap();
}

#[test]
fn alias_and_none_resolve_to_the_default() {
    let mut keyring = Keyring::generate();
    keyring.add_key("second").unwrap();
    assert_eq!(keyring.resolve_key_id(None).unwrap(), "default");
    assert_eq!(keyring.resolve_key_id(Some(AWS_MANAGED_ALIAS)).unwrap(), "default");
    assert_eq!(keyring.resolve_key_id(Some("second")).unwrap(), "second");

    keyring.set_default("second").unwrap();
    assert_eq!(keyring.resolve_key_id(None).unwrap(), "second");
    let sealed = keyring.seal(AWS_MANAGED_ALIAS, SECRET, &context()).unwrap();
    assert_eq!(sealed.key_name(), "second");

    // The stored name is the resolved one, so a later default change does not strand the value.
    keyring.set_default("default").unwrap();
    assert_eq!(keyring.open(&sealed, &context()).unwrap().as_slice(), SECRET);
}

#[test]
fn unknown_key_ids_fail() {
    let mut keyring = Keyring::generate();
    assert!(matches!(keyring.resolve_key_id(Some("nope")), Err(Error::UnknownKey(n)) if n == "nope"));
    assert!(matches!(keyring.seal("nope", SECRET, b""), Err(Error::UnknownKey(_))));
    assert!(matches!(keyring.set_default("nope"), Err(Error::UnknownKey(_))));
    assert!(matches!(keyring.rotate("nope"), Err(Error::UnknownKey(_))));
    assert!(matches!(keyring.retire_versions_below("nope", 1), Err(Error::UnknownKey(_))));
    assert!(matches!(keyring.check_value("nope", 1), Err(Error::UnknownKey(_))));

    let mut other = Keyring::generate();
    other.add_key("elsewhere").unwrap();
    let sealed = other.seal("elsewhere", SECRET, b"").unwrap();
    assert!(matches!(keyring.open(&sealed, b""), Err(Error::UnknownKey(n)) if n == "elsewhere"));
}

#[test]
fn opaque_string_hides_the_plaintext() {
    let keyring = Keyring::generate();
    let sealed = keyring.seal("default", SECRET, &context()).unwrap();
    let opaque = sealed.to_opaque_string();
    let plaintext = std::str::from_utf8(SECRET).unwrap();
    assert!(!opaque.contains(plaintext));
    assert!(!opaque.contains(&STANDARD.encode(SECRET)));
    assert!(!String::from_utf8_lossy(&sealed.to_bytes()).contains(plaintext));
    assert!(!format!("{sealed:?}").contains(plaintext));
}

#[test]
fn from_bytes_rejects_garbage_without_panicking() {
    let sealed = Keyring::generate().seal("default", SECRET, &context()).unwrap();
    let bytes = sealed.to_bytes();
    for len in 0..bytes.len() - SECRET.len() {
        assert!(matches!(Sealed::from_bytes(&bytes[..len]), Err(Error::Format(_))), "prefix of {len} bytes");
    }
    let mut wrong_version = bytes.clone();
    wrong_version[0] = 9;
    let error = Sealed::from_bytes(&wrong_version).unwrap_err();
    assert!(error.to_string().contains("unsupported format version 9"), "{error}");

    let mut bad_name = bytes.clone();
    bad_name[3] = b' ';
    assert!(matches!(Sealed::from_bytes(&bad_name), Err(Error::Format(_))));

    for garbage in [&b"\x01\xff\xff"[..], b"\x01\x00\x00", &[0xff; 100], b"plain text value"] {
        assert!(Sealed::from_bytes(garbage).is_err());
    }
    assert!(matches!(Sealed::from_opaque_string("not base64!"), Err(Error::Format(_))));
}

#[test]
fn check_values_detect_a_different_key() {
    let mut keyring = Keyring::generate();
    let check = keyring.check_value("default", 1).unwrap();
    assert!(keyring.verify_check("default", 1, &check).unwrap());
    assert!(keyring.verify_check(AWS_MANAGED_ALIAS, 1, &check).unwrap());

    let other = Keyring::generate();
    assert!(!other.verify_check("default", 1, &check).unwrap());
    assert!(!keyring.verify_check("default", 1, b"").unwrap());
    assert!(!keyring.verify_check("default", 1, &check[..10]).unwrap());
    let mut flipped = check.clone();
    flipped[20] ^= 1;
    assert!(!keyring.verify_check("default", 1, &flipped).unwrap());

    // A check value is bound to its name and version, and reveals no material.
    keyring.rotate("default").unwrap();
    assert!(!keyring.verify_check("default", 2, &check).unwrap());
    assert!(matches!(keyring.verify_check("default", 7, &check), Err(Error::UnknownKeyVersion { .. })));
    let check_text = STANDARD.encode(&check);
    for material in materials(&keyring) {
        assert!(!check_text.contains(&material));
    }
}

#[test]
fn debug_and_errors_show_no_material() {
    let mut keyring = Keyring::generate();
    keyring.rotate("default").unwrap();
    keyring.add_key("other").unwrap();
    let debug = format!("{keyring:?}");
    assert_eq!(debug, r#"Keyring { default: "default", keys: {"default": [1, 2], "other": [1]} }"#);
    let alternate = format!("{keyring:#?}");
    for material in materials(&keyring) {
        assert!(!debug.contains(&material) && !alternate.contains(&material));
    }
    let raw: &[u8; 32] = &keyring.keys["default"][&1];
    assert!(!debug.contains(&format!("{raw:?}")) && !debug.contains(&format!("{:?}", &raw[..4])));
}

#[test]
fn load_or_create_creates_a_private_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.keys");
    let created = Keyring::load_or_create(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(created.versions(), vec![("default".to_string(), 1)]);

    let loaded = Keyring::load_or_create(&path).unwrap();
    let sealed = created.seal(AWS_MANAGED_ALIAS, SECRET, &context()).unwrap();
    assert_eq!(loaded.open(&sealed, &context()).unwrap().as_slice(), SECRET);
    let check = created.check_value("default", 1).unwrap();
    assert!(loaded.verify_check("default", 1, &check).unwrap());

    // The text format round trips through from_text too.
    let text = std::fs::read_to_string(&path).unwrap();
    let from_text = Keyring::from_text(&text).unwrap();
    assert_eq!(from_text.open(&sealed, &context()).unwrap().as_slice(), SECRET);

    let missing_dir = dir.path().join("no/such/dir/master.keys");
    let reason = key_file_reason(Keyring::load_or_create(&missing_dir));
    assert!(reason.contains("cannot create"), "{reason}");
}

#[test]
fn save_replaces_the_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.keys");
    let mut keyring = Keyring::load_or_create(&path).unwrap();
    let old = keyring.seal("default", SECRET, &context()).unwrap();
    keyring.rotate("default").unwrap();
    keyring.add_key("other").unwrap();
    keyring.set_default("other").unwrap();
    keyring.save(&path).unwrap();

    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("master.keys")]);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    let loaded = Keyring::load(&path).unwrap();
    assert_eq!(loaded.versions(), keyring.versions());
    assert_eq!(loaded.default_key_name(), "other");
    assert_eq!(loaded.open(&old, &context()).unwrap().as_slice(), SECRET);
}

#[test]
fn readable_key_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.keys");
    Keyring::generate().save(&path).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let error = Keyring::load_or_create(&path).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&format!("{mode:04o}")) && message.contains("chmod 600"), "{message}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    Keyring::load(&path).unwrap();
}

#[test]
fn malformed_key_files_are_refused_with_clear_messages() {
    let material = STANDARD.encode([7u8; 32]);
    let key = |name: &str, version: u32| format!(r#"{{"name":"{name}","version":{version},"material":"{material}"}}"#);
    let cases = [
        ("", "ends too early"),
        ("{not json", "is not valid JSON"),
        (r#"{"default":"default"}"#, "missing field `keys`"),
        (r#"{"default":"default","keys":[]}"#, "holds no keys"),
        (&format!(r#"{{"default":"default","keys":[{}],"extra":1}}"#, key("default", 1)), "unknown field `extra`"),
        (&format!(r#"{{"default":"missing","keys":[{}]}}"#, key("default", 1)), r#"default key "missing" is not"#),
        (
            &format!(r#"{{"default":"default","keys":[{},{}]}}"#, key("default", 1), key("default", 1)),
            r#"key "default" version 1 appears more than once"#,
        ),
        (&format!(r#"{{"default":"default","keys":[{}]}}"#, key("default", 0)), "version 0"),
        (&format!(r#"{{"default":"default","keys":[{}]}}"#, key("bad name", 1)), "key #1 has an invalid name"),
        (&format!(r#"{{"default":"default","keys":[{}]}}"#, key(AWS_MANAGED_ALIAS, 1)), "invalid name"),
        (
            &format!(r#"{{"default":"default","keys":[{{"name":"default","version":1,"material":"{}"}}]}}"#, "AAAA"),
            r#"key "default" version 1: material is 3 bytes, expected 32"#,
        ),
        (
            r#"{"default":"default","keys":[{"name":"default","version":1,"material":"not*base64"}]}"#,
            "material is not valid base64",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.keys");
    for (text, expected) in cases {
        write_file(&path, text, 0o600);
        let reason = key_file_reason(Keyring::load_or_create(&path));
        assert!(reason.contains(expected), "{text}: {reason}");
        // The file is never replaced by a fresh key.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        let error = Keyring::from_text(text).unwrap_err();
        assert!(matches!(&error, Error::Format(m) if m.contains(expected)), "{error}");
    }
}

#[test]
fn malformed_key_file_errors_do_not_quote_material() {
    let material = STANDARD.encode([9u8; 32]);
    // Fields mixed up, so serde_json's own message would quote the material.
    let texts = [
        format!(r#"{{"default":"default","keys":[{{"name":"default","version":"{material}","material":"x"}}]}}"#),
        format!(r#"{{"default":"default","keys":"{material}"}}"#),
        format!(r#"{{"default":"default","keys":[{{"name":"{material}","version":1,"material":"{material}"}}]}}"#),
        format!(r#"{{"default":"{material}","keys":[{{"name":"default","version":1,"material":"{material}"}}]}}"#),
        format!(r#"{{"default":"default","keys":[{{"name":"default","version":1,"material":"{material}!"}}]}}"#),
    ];
    for text in texts {
        let message = Keyring::from_text(&text).unwrap_err().to_string();
        assert!(!message.contains(&material[..20]), "{message}");
    }
}
