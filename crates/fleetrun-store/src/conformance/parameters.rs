//! The Parameter Store part of the conformance suite: versions, labels, limits, listing, deletion, and the
//! sealed values and key checks of master-key rotation. Not the SSM rules (name syntax, patterns,
//! encryption): the façade applies those, and the store is given plain data.
//!
//! Every check works under its own name prefix (`/conformance/<check>/…`), because the whole suite
//! shares one store.

use crate::*;

/// Runs every Parameter Store check.
pub(super) async fn parameter_store(store: &dyn Store) {
    put_get_and_overwrite(store).await;
    concurrent_writes_serialize(store).await;
    labels_move_and_are_limited(store).await;
    versions_are_limited(store).await;
    list_by_prefix_and_pages(store).await;
    delete_removes_everything(store).await;
    sealed_values_for_rotation(store).await;
    master_key_checks(store).await;
}

fn parameter(name: &str, value: StoredValue) -> NewParameter {
    NewParameter {
        name: name.into(),
        param_type: if matches!(value, StoredValue::Sealed(_)) { "SecureString" } else { "String" }.into(),
        value,
        description: None,
        allowed_pattern: None,
        key_id: None,
        tier: "Standard".into(),
        data_type: "text".into(),
        tags: Vec::new(),
        user: "conformance".into(),
        now_ms: 1_000,
    }
}

fn plain(name: &str, value: &str) -> NewParameter {
    parameter(name, StoredValue::Plain(value.into()))
}

/// Writes the version after `latest` (creating the parameter when `latest` is 0), which must succeed.
async fn put(store: &dyn Store, p: NewParameter, latest: i64) -> ParameterVersion {
    let written = store.put_parameter(&p, latest > 0, latest).await.unwrap();
    assert_eq!(written.version, latest + 1, "{written:?}");
    written
}

async fn version(store: &dyn Store, name: &str, selector: ParamSelector<'_>) -> Option<i64> {
    store.get_parameter(name, selector).await.unwrap().map(|v| v.version)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn put_get_and_overwrite(store: &dyn Store) {
    let name = "/conformance/put/db-host";
    let first = NewParameter {
        description: Some("first".into()),
        tags: vec![("Env".into(), "prod".into())],
        ..plain(name, "a")
    };
    let v1 = store.put_parameter(&first, false, 0).await.unwrap();
    assert_eq!((v1.version, v1.description.as_deref(), v1.labels.len()), (1, Some("first"), 0));
    assert_eq!(store.get_parameter(name, ParamSelector::Latest).await.unwrap(), Some(v1.clone()));
    assert_eq!(store.list_tags("Parameter", name).await.unwrap(), vec![("Env".to_string(), "prod".to_string())]);
    let again = |overwrite, latest| {
        let p = plain(name, "b");
        async move { store.put_parameter(&p, overwrite, latest).await }
    };
    assert!(matches!(again(false, 1).await, Err(StoreError::AlreadyExists(_))), "no overwrite");
    assert!(matches!(again(false, 0).await, Err(StoreError::AlreadyExists(_))), "AlreadyExists comes first");
    assert!(matches!(again(true, 0).await, Err(StoreError::Conflict(_))), "a stale expected_latest");
    assert!(matches!(again(true, 2).await, Err(StoreError::Conflict(_))), "a future expected_latest");

    // Type, pattern and key are the version's own; a None description keeps the previous one.
    let second = NewParameter {
        param_type: "StringList".into(),
        allowed_pattern: Some("^[a-z,]+$".into()),
        now_ms: 2_000,
        user: "admin".into(),
        ..plain(name, "b,c")
    };
    let v2 = put(store, second, 1).await;
    assert_eq!((v2.description.as_deref(), v2.param_type.as_str()), (Some("first"), "StringList"));
    let v3 = put(store, NewParameter { description: Some(String::new()), ..plain(name, "d") }, 2).await;
    assert_eq!(v3.description.as_deref(), Some(""), "an empty description clears it");

    let latest = store.get_parameter(name, ParamSelector::Latest).await.unwrap().unwrap();
    assert_eq!((latest.version, latest.value), (3, StoredValue::Plain("d".into())));
    let old = store.get_parameter(name, ParamSelector::Version(2)).await.unwrap().unwrap();
    assert_eq!(old, v2);
    assert_eq!(
        (old.allowed_pattern.as_deref(), old.modified_ms, old.modified_user.as_str()),
        (Some("^[a-z,]+$"), 2_000, "admin")
    );
    assert_eq!(store.get_parameter(name, ParamSelector::Version(1)).await.unwrap().unwrap().param_type, "String");
    assert_eq!(version(store, name, ParamSelector::Version(4)).await, None);
    assert_eq!(version(store, name, ParamSelector::Label("none")).await, None);
    assert_eq!(version(store, "/conformance/put/missing", ParamSelector::Latest).await, None);
    assert!(store.parameter_history("/conformance/put/missing").await.unwrap().is_empty());

    // Creating with overwrite is allowed; a create expecting versions that are not there is a Conflict.
    let created = store.put_parameter(&plain("/conformance/put/new", "x"), true, 0).await.unwrap();
    assert_eq!(created.version, 1);
    let ghost = store.put_parameter(&plain("/conformance/put/ghost", "x"), true, 2).await;
    assert!(matches!(ghost, Err(StoreError::Conflict(_))), "{ghost:?}");
    assert_eq!(version(store, "/conformance/put/ghost", ParamSelector::Latest).await, None, "nothing was written");

    // A sealed value comes back byte for byte, and with its key.
    let secret = NewParameter {
        key_id: Some("alias/fleetrun".into()),
        ..parameter("/conformance/put/secret", StoredValue::Sealed(vec![0, 1, 2, 255]))
    };
    put(store, secret, 0).await;
    let got = store.get_parameter("/conformance/put/secret", ParamSelector::Latest).await.unwrap().unwrap();
    assert_eq!((got.value, got.key_id.as_deref()), (StoredValue::Sealed(vec![0, 1, 2, 255]), Some("alias/fleetrun")));
    assert_eq!(got.param_type, "SecureString");
}

async fn concurrent_writes_serialize(store: &dyn Store) {
    let name = "/conformance/race/p";
    let (a, b) = (plain(name, "a"), plain(name, "b"));
    let (first, second) = tokio::join!(store.put_parameter(&a, false, 0), store.put_parameter(&b, false, 0));
    assert!(
        matches!(
            (&first, &second),
            (Err(StoreError::AlreadyExists(_)), Ok(_)) | (Ok(_), Err(StoreError::AlreadyExists(_)))
        ),
        "one create wins, the other sees the parameter: {first:?} {second:?}"
    );
    let (first, second) = tokio::join!(store.put_parameter(&a, true, 1), store.put_parameter(&b, true, 1));
    assert!(
        matches!((&first, &second), (Err(StoreError::Conflict(_)), Ok(_)) | (Ok(_), Err(StoreError::Conflict(_)))),
        "two writers expecting version 1: one writes 2, the other must re-read: {first:?} {second:?}"
    );
    assert_eq!(store.parameter_history(name).await.unwrap().len(), 2);
}

async fn labels_move_and_are_limited(store: &dyn Store) {
    let name = "/conformance/labels/p";
    for latest in 0..3 {
        put(store, plain(name, &format!("v{}", latest + 1)), latest).await;
    }
    assert_eq!(store.label_parameter_version(name, None, &strings(&["prod"]), 5_000).await.unwrap(), 3);
    assert_eq!(version(store, name, ParamSelector::Label("prod")).await, Some(3));
    // Moving a label takes it off the version that had it.
    assert_eq!(store.label_parameter_version(name, Some(1), &strings(&["prod", "old"]), 5_000).await.unwrap(), 1);
    assert_eq!(version(store, name, ParamSelector::Label("prod")).await, Some(1));
    let labels: Vec<Vec<String>> = store.parameter_history(name).await.unwrap().into_iter().map(|v| v.labels).collect();
    assert_eq!(labels, vec![strings(&["old", "prod"]), vec![], vec![]], "sorted, on their own version only");
    assert_eq!(store.get_parameter(name, ParamSelector::Version(1)).await.unwrap().unwrap().labels.len(), 2);

    let missing = store.label_parameter_version("/conformance/labels/missing", None, &strings(&["x"]), 1).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    let no_version = store.label_parameter_version(name, Some(7), &strings(&["x"]), 1).await;
    assert!(matches!(&no_version, Err(StoreError::NotFound(m)) if m.contains("version")), "{no_version:?}");

    // Ten labels per version; the call that would make eleven changes nothing.
    let ten: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
    store.label_parameter_version(name, Some(2), &ten, 6_000).await.unwrap();
    store.label_parameter_version(name, Some(2), &strings(&["l0"]), 6_000).await.unwrap();
    let limited = |result: Result<i64>| {
        assert!(
            matches!(&result, Err(StoreError::LimitExceeded(m)) if m.starts_with("ParameterVersionLabelLimitExceeded")),
            "{result:?}"
        )
    };
    limited(store.label_parameter_version(name, Some(2), &strings(&["l10"]), 6_000).await);
    limited(store.label_parameter_version(name, Some(2), &strings(&["prod"]), 6_000).await);
    assert_eq!(version(store, name, ParamSelector::Label("prod")).await, Some(1), "a refused move leaves the label");
    assert_eq!(version(store, name, ParamSelector::Label("l10")).await, None);
    let eleven: Vec<String> = (0..11).map(|i| format!("m{i}")).collect();
    limited(store.label_parameter_version(name, None, &eleven, 6_000).await);
    assert!(store.get_parameter(name, ParamSelector::Latest).await.unwrap().unwrap().labels.is_empty(), "all or none");
}

async fn versions_are_limited(store: &dyn Store) {
    let name = "/conformance/versions/p";
    put(store, plain(name, "1"), 0).await;
    store.label_parameter_version(name, Some(1), &strings(&["first"]), 1).await.unwrap();
    for latest in 1..MAX_PARAMETER_VERSIONS {
        put(store, plain(name, &(latest + 1).to_string()), latest).await;
    }
    // The oldest version has a label, so there is no room for version 101.
    let full = store.put_parameter(&plain(name, "101"), true, 100).await;
    assert!(
        matches!(&full, Err(StoreError::LimitExceeded(m)) if m.starts_with("ParameterMaxVersionLimitExceeded")),
        "{full:?}"
    );
    assert_eq!(version(store, name, ParamSelector::Latest).await, Some(100));
    assert_eq!(version(store, name, ParamSelector::Version(1)).await, Some(1));
    // Without the label the oldest version makes room, and the next write drops the next oldest.
    store.label_parameter_version(name, Some(50), &strings(&["first"]), 2).await.unwrap();
    put(store, plain(name, "101"), 100).await;
    put(store, plain(name, "102"), 101).await;
    let history = store.parameter_history(name).await.unwrap();
    let kept: Vec<i64> = history.iter().map(|v| v.version).collect();
    assert_eq!(kept, (3..=102).collect::<Vec<i64>>());
    assert_eq!(version(store, name, ParamSelector::Version(1)).await, None);
    assert_eq!(version(store, name, ParamSelector::Label("first")).await, Some(50));
}

async fn list_by_prefix_and_pages(store: &dyn Store) {
    // Bytewise order: '%' < 'X' < '_' < 'b' < 'é', and '/' < 'c'.
    let inside = [
        "/conformance/list/a%b/1",
        "/conformance/list/aXb/1",
        "/conformance/list/a_b/1",
        "/conformance/list/a_bc",
        "/conformance/list/ab",
        "/conformance/list/é",
    ];
    // Just outside the prefix "/conformance/list/", on either side ('.' < '/' < '0').
    let outside = ["/conformance/list.x", "/conformance/list0"];
    for name in inside.iter().rev().chain(&outside) {
        put(store, plain(name, "1"), 0).await;
    }
    put(store, plain("/conformance/list/ab", "2"), 1).await;
    store.label_parameter_version("/conformance/list/ab", None, &strings(&["current"]), 1).await.unwrap();

    let list = |prefix: Option<&str>, after: Option<&str>, limit| {
        let query = ParameterQuery { prefix: prefix.map(Into::into), after: after.map(Into::into), limit };
        async move {
            let page = store.list_parameters(&query).await.unwrap();
            page.into_iter().map(|v| (v.name, v.version, v.labels)).collect::<Vec<_>>()
        }
    };
    let names = |page: Vec<(String, i64, Vec<String>)>| page.into_iter().map(|(name, ..)| name).collect::<Vec<_>>();
    let all = list(Some("/conformance/list/"), None, 100).await;
    assert_eq!(names(all.clone()), strings(&inside));
    assert_eq!(all[4], ("/conformance/list/ab".to_string(), 2, strings(&["current"])), "the latest version, labelled");
    // `_` and `%` are plain characters in a prefix, not LIKE wildcards.
    assert_eq!(names(list(Some("/conformance/list/a_b"), None, 100).await), strings(&inside[2..4]));
    assert_eq!(names(list(Some("/conformance/list/a%"), None, 100).await), strings(&inside[..1]));
    assert_eq!(names(list(Some("/conformance/list/é"), None, 100).await), strings(&inside[5..]));
    assert!(list(Some("/conformance/list/zz"), None, 100).await.is_empty());
    // Keyset pages.
    let first = names(list(Some("/conformance/list/"), None, 4).await);
    assert_eq!(first, strings(&inside[..4]));
    let second = names(list(Some("/conformance/list/"), Some(&first[3]), 4).await);
    assert_eq!(second, strings(&inside[4..]));
    assert!(list(Some("/conformance/list/"), Some(&second[1]), 4).await.is_empty());
    assert_eq!(names(list(None, Some(inside[3]), 3).await), strings(&[inside[4], inside[5], outside[1]]));
    assert!(list(Some("/conformance/list/"), None, 0).await.is_empty());
}

async fn delete_removes_everything(store: &dyn Store) {
    let (a, b) = ("/conformance/delete/a", "/conformance/delete/b");
    put(store, NewParameter { tags: vec![("Team".into(), "ops".into())], ..plain(a, "1") }, 0).await;
    put(store, plain(a, "2"), 1).await;
    store.label_parameter_version(a, Some(1), &strings(&["keep"]), 1).await.unwrap();
    put(store, parameter(b, StoredValue::Sealed(vec![7])), 0).await;
    let asked = strings(&[a, "/conformance/delete/missing", b, a]);
    assert_eq!(store.delete_parameters(&asked).await.unwrap(), strings(&[a, b]), "the ones that existed, once");
    assert_eq!(version(store, a, ParamSelector::Latest).await, None);
    assert!(store.parameter_history(a).await.unwrap().is_empty());
    assert!(store.list_tags("Parameter", a).await.unwrap().is_empty());
    assert!(store.delete_parameters(&strings(&[a])).await.unwrap().is_empty());
    assert!(store.delete_parameters(&[]).await.unwrap().is_empty());
    // A new parameter of the same name starts over: version 1, no labels, no tags.
    let reborn = store.put_parameter(&plain(a, "new"), false, 0).await.unwrap();
    assert_eq!(reborn.version, 1);
    assert_eq!(version(store, a, ParamSelector::Label("keep")).await, None);
    assert!(store.list_tags("Parameter", a).await.unwrap().is_empty());
}

async fn sealed_values_for_rotation(store: &dyn Store) {
    let (a, b) = ("/conformance/sealed/a", "/conformance/sealed/b");
    put(store, parameter(a, StoredValue::Sealed(vec![1])), 0).await;
    put(store, plain(a, "clear"), 1).await;
    put(store, parameter(a, StoredValue::Sealed(vec![3])), 2).await;
    put(store, parameter(b, StoredValue::Sealed(vec![4])), 0).await;
    // One at a time, from just before the prefix until past it.
    let mut walked = Vec::new();
    let mut after = ("/conformance/sealed/".to_string(), 0);
    loop {
        let page = store.sealed_values(Some((&after.0, after.1)), 1).await.unwrap();
        let Some((name, version, bytes)) = page.into_iter().next() else { break };
        if !name.starts_with("/conformance/sealed/") {
            break;
        }
        after = (name.clone(), version);
        walked.push((name, version, bytes));
    }
    let expected = vec![(a.to_string(), 1, vec![1]), (a.to_string(), 3, vec![3]), (b.to_string(), 1, vec![4])];
    assert_eq!(walked, expected, "only sealed values, in (name, version) order");
    assert_eq!(store.sealed_values(Some((a, 1)), 2).await.unwrap(), expected[1..]);
    assert_eq!(store.sealed_values(None, 1).await.unwrap().len(), 1);

    assert!(store.replace_sealed(a, 1, &[1], &[9, 9]).await.unwrap());
    let got = store.get_parameter(a, ParamSelector::Version(1)).await.unwrap().unwrap();
    assert_eq!(got.value, StoredValue::Sealed(vec![9, 9]));
    assert!(!store.replace_sealed(a, 1, &[1], &[8]).await.unwrap(), "the value changed meanwhile");
    assert!(!store.replace_sealed(a, 2, b"clear", &[8]).await.unwrap(), "a plain value is not sealed");
    assert_eq!(version(store, a, ParamSelector::Version(2)).await, Some(2));
    let plain_kept = store.get_parameter(a, ParamSelector::Version(2)).await.unwrap().unwrap().value;
    assert_eq!(plain_kept, StoredValue::Plain("clear".into()));
    assert!(!store.replace_sealed("/conformance/sealed/missing", 1, &[1], &[8]).await.unwrap());
}

async fn master_key_checks(store: &dyn Store) {
    let name = "conformance-key";
    let mine = |checks: Vec<(String, u32, Vec<u8>)>| checks.into_iter().filter(|c| c.0 == name).collect::<Vec<_>>();
    assert!(store.put_master_key_check(name, 1, b"check-1").await.unwrap());
    assert!(!store.put_master_key_check(name, 1, b"other").await.unwrap(), "an existing check is kept");
    assert!(store.put_master_key_check(name, 2, b"check-2").await.unwrap());
    assert_eq!(
        mine(store.master_key_checks().await.unwrap()),
        vec![(name.to_string(), 1, b"check-1".to_vec()), (name.to_string(), 2, b"check-2".to_vec())]
    );
    store.delete_master_key_check(name, 1).await.unwrap();
    store.delete_master_key_check(name, 1).await.unwrap();
    assert_eq!(mine(store.master_key_checks().await.unwrap()), vec![(name.to_string(), 2, b"check-2".to_vec())]);
    assert!(store.put_master_key_check(name, 1, b"check-1b").await.unwrap(), "a deleted check can be stored again");
}
