//! How a read names a parameter: `name`, `name:3` (a version), `name:label`, or the same behind a
//! Parameter Store ARN, and how a name becomes an ARN.
//!
//! A name can't contain `:`, so the first `:` after the name starts the selector. An ARN drops a
//! name's leading `/`: `arn:aws:ssm:us-east-1:111122223333:parameter/a/b` is `/a/b`, and
//! `…:parameter/name` is `name` (which is the same parameter as `/name`). Looking the parameter up
//! is the store's job; this file only says what was asked for.

use std::fmt;

use super::ParameterError;
use super::name::validate_reference_name;

/// Which version of a parameter a read asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// No selector: the newest version.
    Latest,
    /// `name:3`.
    Version(i64),
    /// `name:label`. Not checked against the label rules: a label that could never be attached
    /// simply matches no version.
    Label(String),
}

impl Selector {
    /// Parses the text after the `:` leniently: digits are a version, anything else a label.
    /// Digits too large for a version become a label, which matches nothing.
    fn from_text(text: &str) -> Self {
        match text.parse() {
            Ok(version) if text.bytes().all(|b| b.is_ascii_digit()) => Self::Version(version),
            _ => Self::Label(text.to_owned()),
        }
    }
}

/// The `Selector` member of a GetParameter response: empty, `:3` or `:label`.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => Ok(()),
            Self::Version(version) => write!(f, ":{version}"),
            Self::Label(label) => write!(f, ":{label}"),
        }
    }
}

/// Where an ARN says a parameter lives. The caller decides whether that is this server's region
/// and account (if not, the parameter is not found).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArnScope {
    pub partition: String,
    pub region: String,
    pub account: String,
}

/// A parameter and version as a read names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterRef {
    /// The name, with the leading `/` an ARN leaves out put back for hierarchical names.
    pub name: String,
    pub selector: Selector,
    /// Present when the read used an ARN.
    pub arn: Option<ArnScope>,
}

impl ParameterRef {
    /// Parses what GetParameter's `Name` or an item of GetParameters' `Names` holds, and checks the
    /// name with [`validate_reference_name`].
    ///
    /// As AWS does, a selector that can't be one (`name:`, `name:2:3`) is `ParameterNotFound` for
    /// the whole text, and digits too large for a version are `ParameterVersionNotFound`.
    pub fn parse(text: &str) -> Result<Self, ParameterError> {
        let not_found = || ParameterError::NotFound { name: text.to_owned() };
        let (name, selector, arn) = if text.starts_with("arn:") {
            let (scope, rest) = split_arn(text).ok_or_else(|| ParameterError::InvalidArn { arn: text.to_owned() })?;
            let (name, selector) = split_selector(rest);
            (name_from_arn(name), selector, Some(scope))
        } else {
            let (name, selector) = split_selector(text);
            (name.to_owned(), selector, None)
        };
        validate_reference_name(&name)?;
        let selector = match selector {
            None => Selector::Latest,
            Some(selector) if selector.is_empty() || selector.contains(':') => return Err(not_found()),
            Some(selector) => match Selector::from_text(selector) {
                Selector::Label(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                    return Err(ParameterError::VersionNotFound { name, version: digits });
                }
                selector => selector,
            },
        };
        Ok(Self { name, selector, arn })
    }

    /// Parses the target of a `{{ssm:...}}` reference without refusing anything: whatever can't be
    /// a parameter turns into a name or label that matches nothing, so resolving it fails later
    /// with the reference's own text in the message, as the agent's resolution does.
    pub(super) fn parse_lenient(text: &str) -> Self {
        if let Some((scope, rest)) = split_arn(text) {
            let (name, selector) = split_selector(rest);
            let selector = selector.map_or(Selector::Latest, Selector::from_text);
            return Self { name: name_from_arn(name), selector, arn: Some(scope) };
        }
        let (name, selector) = split_selector(text);
        let selector = selector.map_or(Selector::Latest, Selector::from_text);
        Self { name: name.to_owned(), selector, arn: None }
    }
}

/// `name`, `name:3` or `name:label`: the form GetParameters accepts, without the ARN.
impl fmt::Display for ParameterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.selector)
    }
}

/// The ARN of parameter `name` in `region` and `account`, as GetParameter's `ARN` member gives it:
/// `arn:aws:ssm:us-east-1:111122223333:parameter/a/b` for `/a/b`, `…:parameter/name` for `name`.
pub fn arn(region: &str, account: &str, name: &str) -> String {
    let name = name.strip_prefix('/').unwrap_or(name);
    format!("arn:{}:ssm:{region}:{account}:parameter/{name}", partition(region))
}

/// The AWS partition a region belongs to: `aws-cn` for `cn-*`, `aws-us-gov` for `us-gov-*`,
/// otherwise `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Splits `arn:<partition>:ssm:<region>:<account>:parameter/<rest>` into its scope and `<rest>`
/// (the name without its leading `/`, perhaps followed by `:selector`). `None` when `text` is not
/// a Parameter Store ARN or a part is empty.
fn split_arn(text: &str) -> Option<(ArnScope, &str)> {
    let mut parts = text.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("ssm"), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let rest = resource.strip_prefix("parameter/")?;
    if [partition, region, account, rest].iter().any(|part| part.is_empty()) {
        return None;
    }
    let scope = ArnScope { partition: partition.to_owned(), region: region.to_owned(), account: account.to_owned() };
    Some((scope, rest))
}

/// Splits at the first `:`: names can't contain one.
fn split_selector(text: &str) -> (&str, Option<&str>) {
    match text.split_once(':') {
        Some((name, selector)) => (name, Some(selector)),
        None => (text, None),
    }
}

/// The name an ARN's resource part stands for: hierarchical names get their leading `/` back.
fn name_from_arn(name: &str) -> String {
    if name.contains('/') { format!("/{name}") } else { name.to_owned() }
}
