//! Targets: which nodes a command goes to (`InstanceIds`, or `Targets` with `InstanceIds`, `tag:<Name>`, `tag-key`).
//!
//! Several targets are AND-ed, several values of one target are OR-ed (SSM's rule). Resolution against the node
//! inventory happens once, when the command is sent; this module only parses and matches.

use std::collections::BTreeMap;
use std::fmt;

/// One parsed target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `Key=InstanceIds` (case-insensitive key).
    InstanceIds(Vec<String>),
    /// `Key=tag:<Name>`: the node has tag `Name` with one of the values.
    Tag { key: String, values: Vec<String> },
    /// `Key=tag-key`: the node has one of these tag keys.
    TagKey(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

pub const MAX_TARGETS: usize = 5;
pub const MAX_TARGET_VALUES: usize = 50;

/// Parses SSM `Targets` (`[{Key, Values}]`).
pub fn parse_targets(raw: &[(String, Vec<String>)]) -> Result<Vec<Target>, TargetError> {
    if raw.len() > MAX_TARGETS {
        return Err(TargetError(format!("At most {MAX_TARGETS} targets may be given, not {}", raw.len())));
    }
    raw.iter().map(|(key, values)| parse_one(key, values)).collect()
}

fn parse_one(key: &str, values: &[String]) -> Result<Target, TargetError> {
    if values.is_empty() {
        return Err(TargetError(format!("Target '{key}' has no values")));
    }
    if values.len() > MAX_TARGET_VALUES {
        return Err(TargetError(format!("Target '{key}' has more than {MAX_TARGET_VALUES} values")));
    }
    if key.eq_ignore_ascii_case("InstanceIds") {
        if values.iter().any(|v| v == "*") {
            return Err(TargetError("Target InstanceIds=* is not supported; list the instance ids".to_string()));
        }
        return Ok(Target::InstanceIds(values.to_vec()));
    }
    if key == "tag-key" {
        return Ok(Target::TagKey(values.to_vec()));
    }
    if let Some(tag) = key.strip_prefix("tag:") {
        if tag.is_empty() {
            return Err(TargetError("Target 'tag:' needs a tag name after the colon".to_string()));
        }
        return Ok(Target::Tag { key: tag.to_string(), values: values.to_vec() });
    }
    Err(TargetError(format!("Target key '{key}' is not supported: use InstanceIds, tag:<Name> or tag-key")))
}

/// Whether a node with this id and these tags is selected by all targets. No targets select nothing.
pub fn matches(targets: &[Target], instance_id: &str, tags: &BTreeMap<String, String>) -> bool {
    !targets.is_empty()
        && targets.iter().all(|target| match target {
            Target::InstanceIds(ids) => ids.iter().any(|id| id == instance_id),
            Target::Tag { key, values } => tags.get(key).is_some_and(|value| values.iter().any(|v| v == value)),
            Target::TagKey(keys) => keys.iter().any(|key| tags.contains_key(key)),
        })
}

/// Whether `id` has the form of an SSM instance id: `i-` + 8 or 17 word characters, or `mi-` + 17.
pub fn is_instance_id(id: &str) -> bool {
    let word = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if let Some(rest) = id.strip_prefix("mi-") {
        return rest.len() == 17 && word(rest);
    }
    if let Some(rest) = id.strip_prefix("i-") {
        return (rest.len() == 8 || rest.len() == 17) && word(rest);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn parse_keys() {
        let parsed =
            parse_targets(&raw(&[("instanceids", &["i-abcd1234"]), ("tag:Env", &["prod"]), ("tag-key", &["Role"])]))
                .unwrap();
        assert_eq!(parsed[0], Target::InstanceIds(vec!["i-abcd1234".into()]));
        assert_eq!(parsed[1], Target::Tag { key: "Env".into(), values: vec!["prod".into()] });
        assert_eq!(parsed[2], Target::TagKey(vec!["Role".into()]));
        for bad in [
            &raw(&[("tag:", &["x"])]),
            &raw(&[("resource-groups:Name", &["x"])]),
            &raw(&[("tag:Env", &[])]),
            &raw(&[("InstanceIds", &["*"])]),
        ] {
            assert!(parse_targets(bad).is_err(), "{bad:?}");
        }
        let six: Vec<_> = (0..6).map(|i| (format!("tag:k{i}"), vec!["v".to_string()])).collect();
        assert!(parse_targets(&six).is_err());
    }

    #[test]
    fn and_across_or_within() {
        let tags: BTreeMap<String, String> =
            [("Env".to_string(), "prod".to_string()), ("Role".to_string(), "web".to_string())].into();
        let t = |pairs: &[(&str, &[&str])]| parse_targets(&raw(pairs)).unwrap();
        assert!(matches(&t(&[("tag:Env", &["dev", "prod"])]), "mi-1", &tags));
        assert!(matches(&t(&[("tag:Env", &["prod"]), ("tag:Role", &["web"])]), "mi-1", &tags));
        assert!(!matches(&t(&[("tag:Env", &["prod"]), ("tag:Role", &["db"])]), "mi-1", &tags));
        assert!(matches(&t(&[("tag-key", &["Nope", "Role"])]), "mi-1", &tags));
        assert!(!matches(&t(&[("tag-key", &["Nope"])]), "mi-1", &tags));
        assert!(matches(&t(&[("InstanceIds", &["mi-1", "mi-2"]), ("tag:Env", &["prod"])]), "mi-1", &tags));
        assert!(!matches(&[], "mi-1", &tags));
    }

    #[test]
    fn instance_id_pattern() {
        for good in ["i-abcd1234", "i-0123456789abcdef0", "mi-0123456789abcdef0"] {
            assert!(is_instance_id(good), "{good}");
        }
        for bad in ["i-abc", "mi-abcd1234", "x-abcd1234", "i-abcd12345", "i-abcd-234", "", "i-abcd1234\n"] {
            assert!(!is_instance_id(bad), "{bad:?}");
        }
    }
}
