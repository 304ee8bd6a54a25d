//! Parameter declarations: the `parameters` section of a document, read into [`ParamDecl`]s and
//! checked for internal consistency (known type, compilable pattern, sane limits, a default that
//! fits its own type and constraints).
//!
//! Checking the values a caller supplies against these declarations is `params.rs`.

use std::sync::LazyLock;

use regex::Regex;

use super::params::{default_value, full_match_regex};
use super::parse::Fields;
use super::tree::Node;
use super::{DocumentError, ParameterError};

/// Parameter names fleetrun accepts: ASCII letters and digits only.
///
/// SSM itself accepts more at create time, but the agent silently drops any parameter whose name
/// does not match this pattern when interpolating (`{{ my-param }}` would stay literal in the
/// script). Refusing such names up front is stricter and keeps interpolation unambiguous.
static PARAM_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9]+$").expect("valid regex"));

/// The type of a document parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    String,
    StringList,
    Integer,
    Boolean,
    StringMap,
    MapList,
}

impl ParamType {
    const ALL: [ParamType; 6] =
        [Self::String, Self::StringList, Self::Integer, Self::Boolean, Self::StringMap, Self::MapList];

    /// Parses SSM's spelling (case-sensitive), e.g. `"StringList"`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::StringList => "StringList",
            Self::Integer => "Integer",
            Self::Boolean => "Boolean",
            Self::StringMap => "StringMap",
            Self::MapList => "MapList",
        }
    }
}

/// One declared parameter, as validated by [`parse_document`](super::parse_document).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDecl {
    /// Matches `^[a-zA-Z0-9]+$`.
    pub name: String,
    pub kind: ParamType,
    /// Empty when the declaration has none.
    pub description: String,
    /// `None` means the parameter is required. A default of the form `{{ssm:name}}` is kept as
    /// written; it is resolved against Parameter Store elsewhere, later.
    pub default: Option<serde_json::Value>,
    /// Empty means any value is allowed.
    pub allowed_values: Vec<String>,
    /// Each value must match the whole pattern (Java `matches()` semantics, like SSM).
    pub allowed_pattern: Option<String>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    /// Counted in characters, not bytes.
    pub min_chars: Option<u64>,
    pub max_chars: Option<u64>,
    /// `"textfield"` or `"textarea"`; a hint for consoles.
    pub display_type: Option<String>,
}

impl ParamDecl {
    /// A parameter without a default must be supplied.
    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

/// Reads the `parameters` mapping, keeping declaration order.
pub(super) fn parse_declarations(parameters: &Fields<'_>) -> Result<Vec<ParamDecl>, DocumentError> {
    parameters
        .entries()
        .map(|(name, node)| {
            if !PARAM_NAME.is_match(name) {
                return Err(DocumentError::InvalidParameterName { name: name.to_owned() });
            }
            parse_declaration(name, &parameters.child(node, name)?)
        })
        .collect()
}

fn parse_declaration(name: &str, fields: &Fields<'_>) -> Result<ParamDecl, DocumentError> {
    let type_name = fields.req_str("type")?;
    let kind = ParamType::parse(type_name).ok_or_else(|| DocumentError::UnknownParameterType {
        name: name.to_owned(),
        type_name: type_name.to_owned(),
    })?;
    let allowed_values = match fields.opt("allowedValues") {
        None => Vec::new(),
        Some(Node::List(items)) => items
            .iter()
            .map(|item| match item {
                Node::String(text) => Ok(text.clone()),
                _ => Err(fields.wrong_type("allowedValues", "a list of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(fields.wrong_type("allowedValues", "a list of strings")),
    };
    let allowed_pattern = fields.opt_str("allowedPattern")?.map(str::to_owned);
    if let Some(pattern) = &allowed_pattern {
        full_match_regex(pattern).map_err(|source| DocumentError::InvalidAllowedPattern {
            name: name.to_owned(),
            pattern: pattern.clone(),
            source: Box::new(source),
        })?;
    }
    let display_type = fields.opt_str("displayType")?.map(str::to_owned);
    if let Some(display_type) = &display_type
        && !matches!(display_type.as_str(), "textfield" | "textarea")
    {
        return Err(DocumentError::InvalidDisplayType { name: name.to_owned(), display_type: display_type.clone() });
    }
    let decl = ParamDecl {
        name: name.to_owned(),
        kind,
        description: fields.opt_str("description")?.unwrap_or_default().to_owned(),
        default: fields.opt("default").map(Node::to_json),
        allowed_values,
        allowed_pattern,
        min_items: limit(name, fields, "minItems")?,
        max_items: limit(name, fields, "maxItems")?,
        min_chars: limit(name, fields, "minChars")?,
        max_chars: limit(name, fields, "maxChars")?,
        display_type,
    };
    check_order(&decl, ("minItems", decl.min_items), ("maxItems", decl.max_items))?;
    check_order(&decl, ("minChars", decl.min_chars), ("maxChars", decl.max_chars))?;
    // A default that the caller could not have supplied themselves is a bug in the document.
    default_value(&decl).map_err(|error| match error {
        ParameterError::InvalidDefault { expected, .. } => {
            DocumentError::DefaultTypeMismatch { name: name.to_owned(), expected }
        }
        source => DocumentError::DefaultViolatesConstraint { name: name.to_owned(), source },
    })?;
    Ok(decl)
}

/// A `minItems`-style limit: a non-negative integer, written as a number or as numeric text.
fn limit(name: &str, fields: &Fields<'_>, field: &'static str) -> Result<Option<u64>, DocumentError> {
    let value = match fields.opt(field) {
        None => return Ok(None),
        Some(Node::Number(number)) => number.as_u64(),
        Some(Node::String(text)) => text.parse::<u64>().ok(),
        Some(_) => None,
    };
    match value {
        Some(value) => Ok(Some(value)),
        None => Err(DocumentError::InvalidLimit { name: name.to_owned(), field }),
    }
}

fn check_order(
    decl: &ParamDecl,
    (min_field, min): (&'static str, Option<u64>),
    (max_field, max): (&'static str, Option<u64>),
) -> Result<(), DocumentError> {
    match (min, max) {
        (Some(min), Some(max)) if min > max => {
            Err(DocumentError::LimitsReversed { name: decl.name.clone(), min_field, min, max_field, max })
        }
        _ => Ok(()),
    }
}
