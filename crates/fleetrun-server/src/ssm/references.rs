//! `{{ssm:name}}` and `{{ssm-secure:name}}` in a command, at SendCommand time.
//!
//! `{{ssm:…}}` (String and StringList parameters) is replaced by the value when the command is sent, so the
//! command's `Parameters` and steps show it like any value (a StringList as its comma-joined text).
//! `{{ssm-secure:…}}` stays as written: only its existence and type are checked here, and the agent asks
//! for the plaintext when it runs the step (`agent_api::secure_parameters`). Either kind naming a
//! missing parameter, or the wrong type, refuses the command before anything is stored.

use super::error::SsmError;
use super::parameters;
use crate::app::AppState;
use fleetrun_core::parameter::{ReferenceKind, find_references, replace_references};
use fleetrun_store::StoredValue;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Replaces every `{{ssm:…}}` in the strings of `values` and checks every `{{ssm-secure:…}}`.
pub(crate) async fn resolve(state: &AppState, values: &mut [&mut Value]) -> Result<(), SsmError> {
    let mut wanted = BTreeSet::new();
    for value in values.iter() {
        visit(value, &mut |text| {
            for r in find_references(text) {
                wanted.insert((r.kind == ReferenceKind::Secure, r.target));
            }
        });
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let mut plain = BTreeMap::new();
    for (secure, target) in wanted {
        let written = if secure { format!("{{{{ssm-secure:{target}}}}}") } else { format!("{{{{ssm:{target}}}}}") };
        let refused = |why: String| SsmError::new("InvalidParameters", format!("{written}: {why}"));
        let (version, _) = parameters::find(state, &target).await.map_err(|e| refused(e.message))?;
        match (&version.value, secure) {
            (StoredValue::Plain(text), false) => {
                plain.insert(target, text.clone());
            }
            (StoredValue::Sealed(_), true) => {}
            (StoredValue::Sealed(_), false) => {
                return Err(refused(format!(
                    "parameter {} is a SecureString; reference it as {{{{ssm-secure:{target}}}}} so that its value is resolved only on the node",
                    version.name
                )));
            }
            (StoredValue::Plain(_), true) => {
                return Err(refused(format!(
                    "parameter {} is a {}, not a SecureString; reference it as {{{{ssm:{target}}}}}",
                    version.name, version.param_type
                )));
            }
        }
    }
    for value in values.iter_mut() {
        replace_strings(value, &mut |text| {
            replace_references(text, |r| -> Result<String, ()> {
                Ok(match r.kind {
                    ReferenceKind::Plain => plain.get(&r.target).cloned().unwrap_or_default(),
                    ReferenceKind::Secure => text[r.span.clone()].to_string(),
                })
            })
            .unwrap_or_else(|()| text.to_string())
        });
    }
    Ok(())
}

/// The `{{ssm-secure:…}}` targets anywhere in `value`'s strings.
pub(crate) fn secure_targets(value: &Value) -> BTreeSet<String> {
    let mut targets = BTreeSet::new();
    visit(value, &mut |text| {
        targets.extend(find_references(text).into_iter().filter(|r| r.kind == ReferenceKind::Secure).map(|r| r.target))
    });
    targets
}

fn visit(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(text) => f(text),
        Value::Array(items) => items.iter().for_each(|v| visit(v, f)),
        Value::Object(map) => map.values().for_each(|v| visit(v, f)),
        _ => {}
    }
}

fn replace_strings(value: &mut Value, f: &mut impl FnMut(&str) -> String) {
    match value {
        Value::String(text) => *text = f(text),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_strings(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_strings(v, f)),
        _ => {}
    }
}
