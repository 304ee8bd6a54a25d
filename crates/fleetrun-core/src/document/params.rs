//! Parameter values: checking what a caller supplied (SSM's `Parameters: map<string, list<string>>`)
//! against a document's declarations, filling in defaults, and the typed [`ParamValue`]s that
//! result.
//!
//! This is the service's first defence against injection through parameters, so the rules are
//! strict: every value is checked against `allowedValues`, `allowedPattern` (as a whole-string
//! match) and the length limits, and values are checked in the form they will be rendered in.
//! Reading declarations from a document is `decl.rs`; putting values into steps is `render.rs`.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::{Document, ParamDecl, ParamType, ParameterError};

/// A whole `{{ssm:name}}` or `{{ssm:name:version}}` reference, as the agent recognises them.
static SSM_REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\{\{\s*ssm:[/\w.:-]+\s*\}\}$").expect("valid regex"));

/// A parameter's value, typed by its declaration.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    String(String),
    StringList(Vec<String>),
    Integer(i64),
    Boolean(bool),
    StringMap(Map<String, Value>),
    MapList(Vec<Value>),
}

impl ParamValue {
    /// The value as JSON: what a step input that is exactly `{{ name }}` becomes.
    pub fn to_json(&self) -> Value {
        match self {
            Self::String(text) => Value::String(text.clone()),
            Self::StringList(items) => items.iter().cloned().map(Value::String).collect(),
            Self::Integer(number) => Value::from(*number),
            Self::Boolean(flag) => Value::Bool(*flag),
            Self::StringMap(map) => Value::Object(map.clone()),
            Self::MapList(items) => Value::Array(items.clone()),
        }
    }

    /// The value as text: what an embedded `{{ name }}` becomes. Strings are used as they are;
    /// everything else is written as JSON.
    pub fn to_text(&self) -> String {
        match self {
            Self::String(text) => text.clone(),
            Self::Integer(number) => number.to_string(),
            Self::Boolean(flag) => flag.to_string(),
            other => other.to_json().to_string(),
        }
    }

    /// The value as SSM's `list<string>`: a StringList's items, otherwise one text.
    pub fn to_wire(&self) -> Vec<String> {
        match self {
            Self::StringList(items) => items.clone(),
            other => vec![other.to_text()],
        }
    }
}

/// Every declared parameter of a document with its value, supplied or defaulted.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedParameters {
    // Invariant: in declaration order, one entry per declared parameter.
    values: Vec<(String, ParamValue)>,
}

impl ResolvedParameters {
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, value)| value)
    }

    /// Names and values in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.values.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// What SSM echoes back in `Command.Parameters`: every declared parameter, defaults included.
    pub fn to_wire(&self) -> BTreeMap<String, Vec<String>> {
        self.values.iter().map(|(name, value)| (name.clone(), value.to_wire())).collect()
    }
}

/// Checks `supplied` against `doc`'s declarations and fills in defaults.
///
/// Parameters are checked in declaration order, then undeclared names in sorted order; the
/// first failure is returned. An empty list for a parameter that has a default means "use the
/// default"; for a required parameter it is the same as leaving it out.
pub fn resolve_parameters(
    doc: &Document,
    supplied: &BTreeMap<String, Vec<String>>,
) -> Result<ResolvedParameters, ParameterError> {
    let mut values = Vec::with_capacity(doc.parameters.len());
    for decl in &doc.parameters {
        let default = default_value(decl)?;
        let value = match (supplied.get(&decl.name), default) {
            // Supplying exactly the default's wire form means the default, so that what
            // `to_wire` echoes resolves to the same values again (even an `{{ssm:...}}` default).
            (Some(texts), Some(default)) if texts.is_empty() || *texts == default.to_wire() => default,
            (Some(texts), _) if !texts.is_empty() => {
                let value = supplied_value(decl, texts)?;
                check_constraints(decl, &value)?;
                value
            }
            (_, Some(default)) => default,
            (_, None) => {
                return Err(ParameterError::Required { name: decl.name.clone() });
            }
        };
        values.push((decl.name.clone(), value));
    }
    let declared: HashSet<&str> = doc.parameters.iter().map(|decl| decl.name.as_str()).collect();
    if let Some(name) = supplied.keys().find(|name| !declared.contains(name.as_str())) {
        return Err(ParameterError::NotDeclared { name: name.clone() });
    }
    Ok(ResolvedParameters { values })
}

/// The default of `decl` as a value, checked against the declaration's own constraints unless
/// it is an `{{ssm:...}}` reference (whose real value is not known yet). `Ok(None)` when the
/// parameter has no default.
pub(super) fn default_value(decl: &ParamDecl) -> Result<Option<ParamValue>, ParameterError> {
    let Some(default) = &decl.default else {
        return Ok(None);
    };
    let mismatch = |expected| ParameterError::InvalidDefault { name: decl.name.clone(), expected };
    if let Value::String(text) = default
        && SSM_REFERENCE.is_match(text)
    {
        return match decl.kind {
            ParamType::String => Ok(Some(ParamValue::String(text.clone()))),
            // The agent splits a StringList Parameter Store value on commas when it resolves it.
            ParamType::StringList => Ok(Some(ParamValue::StringList(vec![text.clone()]))),
            _ => Err(mismatch(expected_default(decl.kind))),
        };
    }
    let value = match (decl.kind, default) {
        (ParamType::String, Value::String(text)) => ParamValue::String(text.clone()),
        (ParamType::StringList, Value::Array(items)) => ParamValue::StringList(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| mismatch(expected_default(decl.kind)))?,
        ),
        (ParamType::Integer, Value::Number(number)) if number.is_i64() || number.is_u64() => {
            ParamValue::Integer(number.as_i64().ok_or_else(|| mismatch("an integer that fits in 64 bits"))?)
        }
        (ParamType::Boolean, Value::Bool(flag)) => ParamValue::Boolean(*flag),
        (ParamType::StringMap, Value::Object(map)) => ParamValue::StringMap(map.clone()),
        (ParamType::MapList, Value::Array(items)) if items.iter().all(Value::is_object) => {
            ParamValue::MapList(items.clone())
        }
        _ => return Err(mismatch(expected_default(decl.kind))),
    };
    check_constraints(decl, &value)?;
    Ok(Some(value))
}

fn expected_default(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "a string",
        ParamType::StringList => "a list of strings",
        ParamType::Integer => "an integer",
        ParamType::Boolean => "true or false",
        ParamType::StringMap => "a mapping",
        ParamType::MapList => "a list of mappings",
    }
}

/// Parses the texts a caller supplied for `decl` (at least one) into a typed value.
fn supplied_value(decl: &ParamDecl, texts: &[String]) -> Result<ParamValue, ParameterError> {
    let name = || decl.name.clone();
    if decl.kind == ParamType::StringList {
        return Ok(ParamValue::StringList(texts.to_vec()));
    }
    let [text] = texts else {
        return Err(ParameterError::NotSingleValue { name: name(), count: texts.len() });
    };
    let value = match decl.kind {
        ParamType::String | ParamType::StringList => ParamValue::String(text.clone()),
        ParamType::Integer => text
            .parse()
            .map(ParamValue::Integer)
            .map_err(|_| ParameterError::NotAnInteger { name: name(), value: text.clone() })?,
        ParamType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => ParamValue::Boolean(true),
            "false" => ParamValue::Boolean(false),
            _ => {
                return Err(ParameterError::NotABoolean { name: name(), value: text.clone() });
            }
        },
        ParamType::StringMap => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => ParamValue::StringMap(map),
            _ => {
                return Err(ParameterError::NotAStringMap { name: name(), value: text.clone() });
            }
        },
        ParamType::MapList => match serde_json::from_str(text) {
            Ok(Value::Array(items)) if items.iter().all(Value::is_object) => ParamValue::MapList(items),
            _ => {
                return Err(ParameterError::NotAMapList { name: name(), value: text.clone() });
            }
        },
    };
    Ok(value)
}

/// Checks `value` against `decl`'s item counts, then each of its texts (in the form
/// [`ParamValue::to_wire`] gives, which is the form that will be rendered) against
/// `allowedValues`, `allowedPattern`, `minChars` and `maxChars`, in that order.
fn check_constraints(decl: &ParamDecl, value: &ParamValue) -> Result<(), ParameterError> {
    let name = || decl.name.clone();
    let count = match value {
        ParamValue::StringList(items) => Some(items.len()),
        ParamValue::MapList(items) => Some(items.len()),
        _ => None,
    };
    if let Some(count) = count {
        if let Some(min) = decl.min_items.filter(|min| (count as u64) < *min) {
            return Err(ParameterError::TooFewItems { name: name(), min, count });
        }
        if let Some(max) = decl.max_items.filter(|max| (count as u64) > *max) {
            return Err(ParameterError::TooManyItems { name: name(), max, count });
        }
    }
    let pattern = match &decl.allowed_pattern {
        Some(pattern) => Some((
            pattern,
            full_match_regex(pattern)
                .map_err(|_| ParameterError::InvalidPattern { name: name(), pattern: pattern.clone() })?,
        )),
        None => None,
    };
    for text in value.to_wire() {
        if !decl.allowed_values.is_empty() && !decl.allowed_values.contains(&text) {
            return Err(ParameterError::NotAllowedValue {
                name: name(),
                value: text,
                allowed: decl.allowed_values.clone(),
            });
        }
        if let Some((pattern, regex)) = &pattern
            && !regex.is_match(&text)
        {
            let pattern = (*pattern).clone();
            return Err(ParameterError::PatternMismatch { name: name(), value: text, pattern });
        }
        let chars = text.chars().count() as u64;
        if let Some(min) = decl.min_chars.filter(|min| chars < *min) {
            return Err(ParameterError::TooShort { name: name(), value: text, min });
        }
        if let Some(max) = decl.max_chars.filter(|max| chars > *max) {
            return Err(ParameterError::TooLong { name: name(), value: text, max });
        }
    }
    Ok(())
}

/// Compiles `pattern` so that it must match a whole value, as Java's `String.matches` (which
/// SSM's service uses) does. Without this, `200000; rm -rf /` would pass a pattern meant to
/// allow only numbers, because a search finds `200000` at its start.
///
/// The pattern must also compile on its own: a pattern such as `a)|(b` would otherwise escape
/// the anchoring group. Matching uses the `regex` crate, so classes such as `\d` and `\w` are
/// Unicode-aware where Java's are ASCII-only, and look-around and back-references are refused.
pub(super) fn full_match_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)?;
    Regex::new(&format!("^(?:{pattern})$"))
}
